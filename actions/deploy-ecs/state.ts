/** What the main step hands its post step (core.saveState / core.getState), by name. */
export const STATE = {
  /** JSON object: service → ID of the CodeDeploy deployment this run created, saved as soon as created. */
  codeDeployDeployments: 'codedeploy-deployments',
  /** The pre-deploy one-off task while it runs; '' once it stopped (or main stopped it). */
  preDeployTaskArn: 'pre-deploy-task-arn',
  cluster: 'cluster',
  region: 'region',
  /** 'true' once the main step stopped following on its own (and stopped what it cancelled). */
  finished: 'finished',
} as const;
