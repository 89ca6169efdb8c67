/**
 * Follow one service deployment of a BLUE_GREEN, LINEAR or CANARY service until ECS says how it
 * ended: SUCCESSFUL after its bake times, or a rollback (alarm, lifecycle hook, circuit breaker),
 * or stopped. Logs one line per lifecycle stage, with the traffic weights and the bake time left;
 * DescribeServices is still read, less often, for the service events.
 */
import {
  DescribeServicesCommand,
  type DeploymentConfiguration,
  type ServiceDeployment,
} from '@aws-sdk/client-ecs';
import type { Step } from '../poll.js';
import { awsErrorName, awsErrorText, isThrottling } from '../aws.js';
import { formatDuration } from '../duration.js';
import { newEvents, type SeenEvent } from './deployment.js';
import {
  bakeText,
  countsText,
  failureReason,
  findServiceDeployment,
  stateOf,
  strategyName,
  trafficText,
  unavailableApi,
  DESCRIBE_PERMISSION,
  LIST_PERMISSION,
  type ServiceDeploymentReader,
  type Strategy,
} from './service-deployment.js';
import {
  pollForVerdict,
  type EcsWaitOptions,
  type StageChange,
  type WatchResult,
  type WatchVerdict,
} from './watch.js';

/** Service events are context here, not the verdict: read them every few polls. */
export const EVENTS_EVERY_POLLS = 3;

export interface FollowOptions extends EcsWaitOptions {
  reader: ServiceDeploymentReader;
  strategy: Strategy;
  config: DeploymentConfiguration | undefined;
  /** Just before UpdateService: the service deployment was created after this. */
  startedAfter: Date;
  waitForRollback: boolean;
}

export async function followServiceDeployment(opts: FollowOptions): Promise<WatchResult> {
  const { ecs, cluster, label, clock, reader } = opts;
  const start = clock.now();
  const events: SeenEvent[] = [];
  const stages: StageChange[] = [];
  const kind = strategyName(opts.strategy);
  let arn: string | undefined;
  let progress = 'waiting for ECS to list the service deployment';
  let lastStage: string | undefined;
  let lastTraffic = '';
  let bakingSince: number | undefined;
  let rollbackAnnounced = false;
  let attempts = 0;

  const throttled = (error: unknown): Step<WatchVerdict> => {
    opts.logger.info(`${label}: ECS is throttling requests (${awsErrorName(error)}); backing off`);
    return { kind: 'wait', reason: progress, backoff: true };
  };
  const apiError = (operation: string, permission: string, error: unknown): Step<WatchVerdict> => {
    if (isThrottling(error)) return throttled(error);
    const missing = unavailableApi(error, permission);
    return {
      kind: 'done',
      value: {
        outcome: 'error',
        headline: missing
          ? `${missing}: deploy-ecs follows ${kind} deployments through service deployments; allow ${LIST_PERMISSION} and ${DESCRIBE_PERMISSION}`
          : `${operation} failed: ${awsErrorText(error)}`,
      },
    };
  };

  async function readEvents(): Promise<void> {
    const out = await ecs.send(new DescribeServicesCommand({ cluster, services: [opts.service] }));
    for (const event of newEvents(out.services?.[0]?.events, opts.seenEventIds)) {
      events.push(event);
      opts.logger.info(`${label} event: ${event.message}`);
    }
  }

  /** Log a change of lifecycle stage or of traffic weights; keep the stage timeline. */
  function noteStage(sd: ServiceDeployment): void {
    const stage = sd.lifecycleStage ?? 'PENDING';
    const traffic = opts.strategy === 'BLUE_GREEN' ? '' : trafficText(sd);
    const now = clock.now();
    if (stage !== lastStage) {
      if (stage === 'BAKE_TIME') bakingSince = now;
      const detail = [kind, bakeText(opts.config, undefined, now), traffic]
        .filter((t) => t !== '')
        .join(', ');
      stages.push({
        stage,
        atMs: now - start,
        ...(traffic && traffic !== lastTraffic ? { traffic } : {}),
      });
      opts.logger.info(`${label}: ${lastStage ? `${lastStage} → ` : 'stage '}${stage} (${detail})`);
      lastStage = stage;
    } else if (traffic !== lastTraffic && traffic !== '') {
      stages.push({ stage, atMs: now - start, traffic });
      opts.logger.info(`${label}: ${stage}: ${traffic}`);
    }
    lastTraffic = traffic;
  }

  function progressOf(sd: ServiceDeployment): string {
    const parts = [`stage ${sd.lifecycleStage ?? 'PENDING'}`, countsText(sd)];
    const traffic = opts.strategy === 'BLUE_GREEN' ? '' : trafficText(sd);
    if (traffic) parts.push(traffic);
    if (sd.lifecycleStage === 'BAKE_TIME')
      parts.push(bakeText(opts.config, bakingSince, clock.now()));
    parts.push(`status ${sd.status ?? 'unknown'}`);
    return parts.filter((p) => p !== '').join(', ');
  }

  /** The stage a failing hook ran in: the last one before ECS started rolling back. */
  const hookStage = () => [...stages].reverse().find((s) => !/ROLLBACK/.test(s.stage))?.stage;

  async function attempt(): Promise<Step<WatchVerdict>> {
    attempts++;
    if (arn === undefined) {
      try {
        arn = await findServiceDeployment(
          ecs,
          cluster,
          opts.service,
          opts.startedAfter,
          opts.deploymentId,
        );
      } catch (error) {
        return apiError('ListServiceDeployments', LIST_PERMISSION, error);
      }
      if (arn === undefined) return { kind: 'wait', reason: progress };
      opts.logger.info(`${label}: following service deployment ${arn.split('/').pop()}`);
    }
    let sd: ServiceDeployment | undefined;
    try {
      sd = await reader.read(arn);
    } catch (error) {
      return apiError('DescribeServiceDeployments', DESCRIBE_PERMISSION, error);
    }
    if (!sd) return { kind: 'wait', reason: progress };
    noteStage(sd);
    progress = progressOf(sd);
    const state = stateOf(sd);
    if (attempts % EVENTS_EVERY_POLLS === 1 || state.kind !== 'in-progress') {
      try {
        await readEvents();
      } catch (error) {
        // Events are context: a failed read does not change the verdict.
        if (!isThrottling(error))
          opts.logger.info(`${label}: could not read service events (${awsErrorName(error)})`);
      }
    }

    const rollbackTo = {
      taskDefinition: opts.previousTaskDefinition,
      ...(sd.rollback?.serviceRevisionArn
        ? { serviceRevisionArn: sd.rollback.serviceRevisionArn }
        : {}),
    };
    switch (state.kind) {
      case 'in-progress':
        return { kind: 'wait', reason: progress };
      case 'successful':
        return {
          kind: 'done',
          value: {
            outcome: 'completed',
            headline: `rolled out in ${formatDuration(clock.now() - start)} (${kind})`,
          },
        };
      case 'rolling-back':
        if (opts.waitForRollback) {
          if (!rollbackAnnounced) {
            opts.logger.info(
              `${label}: ECS is rolling back: ${failureReason(sd, hookStage())}; waiting for the rollback (wait-for-rollback)`,
            );
            rollbackAnnounced = true;
          }
          return { kind: 'wait', reason: progress };
        }
        return {
          kind: 'done',
          value: {
            outcome: 'rolled-back-by-ecs',
            headline: `ECS is rolling back: ${failureReason(sd, hookStage())}`,
            ecsRollback: { ...rollbackTo, by: 'ecs', outcome: 'in-progress' },
          },
        };
      case 'rolled-back':
        return {
          kind: 'done',
          value: {
            outcome: 'rolled-back-by-ecs',
            headline: `rolled back by ECS: ${failureReason(sd, hookStage())}`,
            ecsRollback: { ...rollbackTo, by: 'ecs', outcome: 'completed' },
          },
        };
      case 'rollback-failed':
        return {
          kind: 'done',
          value: {
            outcome: 'ecs-rollback-failed',
            headline: `the deployment failed and ECS's rollback FAILED too: ${failureReason(sd, hookStage())}`,
            ecsRollback: { ...rollbackTo, by: 'ecs', outcome: 'failed' },
          },
        };
      case 'stopped':
        return {
          kind: 'done',
          value: {
            outcome: 'stopped',
            headline: `the service deployment was STOPPED before it finished: ${failureReason(sd)}`,
          },
        };
    }
  }

  const verdict = await pollForVerdict(opts, attempt, () => progress);
  if (arn) reader.unfollow(arn);
  return {
    elapsedMs: clock.now() - start,
    events,
    stoppedTasks: [],
    progress,
    stages,
    ...(arn ? { serviceDeploymentArn: arn } : {}),
    ...verdict,
  };
}
