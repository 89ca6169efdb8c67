/**
 * The post step: when the main step was stopped while following CodeDeploy deployments (the job
 * was cancelled or timed out, and main died before it could stop them itself), stop each with
 * automatic rollback, so that no deployment goes on unwatched. Services on the ECS controller need
 * nothing: an interrupted ECS deployment is ECS's to finish. It does nothing when the main step
 * finished, whatever the outcome.
 */
import * as core from '@actions/core';
import { awsClientConfig } from '../../src/aws.js';
import { STATE } from './state.js';

export async function post(): Promise<void> {
  if (core.getState(STATE.finished) === 'true') return;
  const deployments = deploymentsOf(core.getState(STATE.codeDeployDeployments));
  if (deployments.length === 0) return;
  // Loaded only here: the CodeDeploy SDK is a chunk of its own.
  const [{ CodeDeployClient }, { stopDeployment }] = await Promise.all([
    import('@aws-sdk/client-codedeploy'),
    import('../../src/ecs/codedeploy/rollout.js'),
  ]);
  const region = core.getState(STATE.region);
  const client = new CodeDeployClient(awsClientConfig(region ? { region } : {}));
  for (const [service, id] of deployments) {
    core.info(`${service}: the deploy step stopped while CodeDeploy deployment ${id} was running`);
    const said = await stopDeployment(client, id);
    if (said.startsWith('stopped')) core.info(`${service}: ${said}`);
    else core.warning(`${service}: ${said}`);
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
