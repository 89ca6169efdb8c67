/** The deploy-ecs adapter: read inputs, roll out, write outputs and the job summary. */
import * as core from '@actions/core';
import { ECSClient } from '@aws-sdk/client-ecs';
import { readInputs } from '../../src/inputs/deploy-ecs.js';
import { deployEcs, describeFailures } from '../../src/ecs/rollout.js';
import { deployOutputs, deploySummary } from '../../src/ecs/summary.js';
import { awsClientConfig } from '../../src/aws.js';
import { cancelOnSignals } from '../../src/signals.js';
import { coreLogger, failWith, writeSummary } from '../shared/io.js';
import { STATE } from './state.js';

export async function run(): Promise<void> {
  try {
    // Inputs first: a typo fails here, before a client exists or anything changes.
    const { region, preDeploy, ...inputs } = readInputs((name) => core.getInput(name));
    const ecs = new ECSClient(awsClientConfig({ region }));

    const stopOnSignal = cancelOnSignals();
    const created: Record<string, string> = {};
    const result = await deployEcs({
      ...inputs,
      ...(preDeploy
        ? {
            preDeploy: {
              ...preDeploy,
              startedBy: startedBy(),
              // Saved at once: if this step is killed while the task runs, the post step stops it.
              onStarted: (taskArn) => {
                core.saveState(STATE.preDeployTaskArn, taskArn);
                core.saveState(STATE.cluster, inputs.cluster);
                core.saveState(STATE.region, region || (process.env.AWS_REGION ?? ''));
              },
              onSettled: () => core.saveState(STATE.preDeployTaskArn, ''),
            },
          }
        : {}),
      ecs,
      codeDeploy: {
        ...inputs.codeDeploy,
        // Only for services on the CODE_DEPLOY controller: the SDK is a chunk of its own.
        client: async () => {
          const { CodeDeployClient } = await import('@aws-sdk/client-codedeploy');
          return new CodeDeployClient(awsClientConfig({ region }));
        },
        // Before waiting: if this step dies, the post step stops what it started.
        onDeploymentCreated: (service, deploymentId) => {
          created[service] = deploymentId;
          core.saveState(STATE.codeDeployDeployments, JSON.stringify(created));
          core.saveState(STATE.region, region);
        },
      },
      logger: coreLogger,
      signal: stopOnSignal.signal,
    }).finally(() => stopOnSignal.dispose());
    core.saveState(STATE.finished, 'true');

    for (const [name, value] of Object.entries(deployOutputs(result))) core.setOutput(name, value);
    await writeSummary(deploySummary(result));
    if (!result.ok) core.setFailed(describeFailures(result));
  } catch (error) {
    failWith(error);
  }
}

/**
 * `shipyard/<run id>-<attempt>` (at most 34 of ECS's 36 characters): which run started the
 * one-off task; undefined outside a workflow run, and the library's default applies.
 */
function startedBy(): string | undefined {
  const run = process.env.GITHUB_RUN_ID ?? '';
  const attempt = process.env.GITHUB_RUN_ATTEMPT ?? '';
  if (!/^\d{1,20}$/.test(run)) return undefined;
  return `shipyard/${run}${/^\d{1,4}$/.test(attempt) ? `-${attempt}` : ''}`;
}
