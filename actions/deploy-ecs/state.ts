/** What the main step hands its post step (core.saveState / core.getState), by name. */
export const STATE = {
  /** The pre-deploy one-off task while it runs; '' once it stopped (or main stopped it). */
  preDeployTaskArn: 'pre-deploy-task-arn',
  cluster: 'cluster',
  region: 'region',
} as const;
