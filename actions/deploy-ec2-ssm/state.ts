/** What the main step hands its post step (core.saveState / core.getState), by name. */
export const STATE = {
  /** Saved as soon as SSM accepted the command. */
  commandId: 'command-id',
  /** JSON list of every command sent (one per 50 instances, one per batch behind target groups). */
  commandIds: 'command-ids',
  region: 'region',
  image: 'image',
  /** 'true' once the main step stopped following the command on its own (cancelling it if needed). */
  finished: 'finished',
  /**
   * JSON list of the hosts taken out of their target groups and not yet put back (OutOfService),
   * saved before each deregistration: the post step puts back those that serve.
   */
  outOfService: 'out-of-service',
  /** What the post step needs to ask a host for its result. */
  hostSettings: 'host-settings',
} as const;
