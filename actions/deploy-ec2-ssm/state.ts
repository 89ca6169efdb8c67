/** What the main step hands its post step (core.saveState / core.getState), by name. */
export const STATE = {
  /** Saved as soon as SSM accepted the command. */
  commandId: 'command-id',
  /** JSON list of every command sent (one per 50 instances when tags were resolved to IDs). */
  commandIds: 'command-ids',
  region: 'region',
  image: 'image',
  /** 'true' once the main step stopped following the command on its own (cancelling it if needed). */
  finished: 'finished',
} as const;
