/**
 * The post step, for a main step that was stopped (the job was cancelled or timed out) before it
 * could clean up after itself:
 *  - a pre-deploy one-off task still running is stopped, so no migration goes on unwatched;
 *  - CodeDeploy deployments still running are stopped with automatic rollback, so none goes on
 *    unwatched. Services on the ECS controller need nothing: an interrupted ECS deployment is
 *    ECS's to finish.
 * It does nothing when the main step saw its task stop and finished on its own.
 */
import * as core from '@actions/core';
import { ECSClient } from '@aws-sdk/client-ecs';
import { awsClientConfig } from '../../src/aws.js';
import { errorMessage } from '../../src/errors.js';
import { stopIfStillRunning } from '../../src/ecs/one-off-task.js';
import { STATE } from './state.js';

export async function post(): Promise<void> {
  const region = core.getState(STATE.region);
  await stopPreDeployTask(region);
  if (core.getState(STATE.finished) === 'true') return;
  await stopCodeDeployDeployments(region);
}

async function stopPreDeployTask(region: string): Promise<void> {
  const taskArn = core.getState(STATE.preDeployTaskArn);
  if (taskArn === '') return;
  const ecs = new ECSClient(awsClientConfig(region ? { region } : {}));
  try {
    core.info(await stopIfStillRunning(ecs, core.getState(STATE.cluster), taskArn));
  } catch (error) {
    core.warning(`could not stop the pre-deploy task ${taskArn}: ${errorMessage(error)}`);
  }
}

async function stopCodeDeployDeployments(region: string): Promise<void> {
  const deployments = deploymentsOf(core.getState(STATE.codeDeployDeployments));
  if (deployments.length === 0) return;
  // Loaded only here: the CodeDeploy SDK is a chunk of its own.
  const [{ CodeDeployClient }, { stopDeployment }] = await Promise.all([
    import('@aws-sdk/client-codedeploy'),
    import('../../src/ecs/codedeploy/rollout.js'),
  ]);
  const client = new CodeDeployClient(awsClientConfig(region ? { region } : {}));
  for (const [service, id] of deployments) {
    core.info(`${service}: the deploy step stopped while CodeDeploy deployment ${id} was running`);
    const stop = await stopDeployment(client, id);
    if (stop.stopped) core.info(`${service}: ${stop.text}`);
    else core.warning(`${service}: ${stop.text}`);
  }
}

function deploymentsOf(json: string): Array<[string, string]> {
  try {
    const parsed = JSON.parse(json) as unknown;
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
      return Object.entries(parsed).filter(
        (e): e is [string, string] => typeof e[1] === 'string' && /^d-[A-Z0-9]+$/.test(e[1]),
      );
    }
  } catch {
    /* nothing saved */
  }
  return [];
}
