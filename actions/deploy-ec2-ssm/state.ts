/** What the main step hands its post step (core.saveState / core.getState), by name. */
export const STATE = {
  /** Saved as soon as SSM accepted the command. */
  commandId: 'command-id',
  region: 'region',
  image: 'image',
  /** 'true' once the main step stopped following the command on its own (cancelling it if needed). */
  finished: 'finished',
} as const;
