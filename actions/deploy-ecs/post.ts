/**
 * The post step: when the main step was stopped while its pre-deploy one-off task ran (the job was
 * cancelled or timed out), stop that task so that no migration goes on unwatched after the run.
 * It does nothing when the main step saw the task stop, or stopped it itself.
 */
import * as core from '@actions/core';
import { ECSClient } from '@aws-sdk/client-ecs';
import { awsClientConfig } from '../../src/aws.js';
import { errorMessage } from '../../src/errors.js';
import { stopIfStillRunning } from '../../src/ecs/one-off-task.js';
import { STATE } from './state.js';

export async function post(): Promise<void> {
  const taskArn = core.getState(STATE.preDeployTaskArn);
  if (taskArn === '') return;
  const region = core.getState(STATE.region);
  const ecs = new ECSClient(awsClientConfig(region ? { region } : {}));
  try {
    core.info(await stopIfStillRunning(ecs, core.getState(STATE.cluster), taskArn));
  } catch (error) {
    core.warning(`could not stop the pre-deploy task ${taskArn}: ${errorMessage(error)}`);
  }
}
