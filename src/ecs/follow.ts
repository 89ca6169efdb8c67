/**
 * Follow one service deployment of a BLUE_GREEN, LINEAR or CANARY service until ECS says how it
 * ended: SUCCESSFUL after its bake times, or a rollback (alarm, lifecycle hook, circuit breaker),
 * or stopped. Logs one line per lifecycle stage, with the traffic weights and the bake time left;
 * DescribeServices is still read, less often, for the service events.
 */
import type { DeploymentConfiguration, ServiceDeployment } from '@aws-sdk/client-ecs';
import type { Step } from '../poll.js';
import { awsErrorName, awsErrorText, isThrottling } from '../aws.js';
import { formatDuration } from '../duration.js';
import { DeploymentTimeline } from './timeline.js';
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
  const kind = strategyName(opts.strategy);
  const timeline = new DeploymentTimeline(label, opts.logger, start, 'stage');
  let arn: string | undefined;
  let progress = 'waiting for ECS to list the service deployment';
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

  /** Log a change of lifecycle stage or of traffic weights; keep the stage timeline. */
  function noteStage(sd: ServiceDeployment): void {
    const stage = sd.lifecycleStage ?? 'PENDING';
    const traffic = opts.strategy === 'BLUE_GREEN' ? '' : trafficText(sd);
    const now = clock.now();
    const detail = [kind, bakeText(opts.config, undefined, now), traffic];
    if (timeline.note(stage, traffic, now, detail) && stage === 'BAKE_TIME') bakingSince = now;
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

  const hookStage = () => timeline.stageBeforeRollback();

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
    if (attempts % EVENTS_EVERY_POLLS === 1 || state.kind !== 'in-progress')
      await timeline.readEvents(ecs, {
        cluster,
        service: opts.service,
        seenEventIds: opts.seenEventIds,
      });

    const rollbackTo = {
      taskDefinition: opts.previousTaskDefinition,
      ...(sd.rollback?.serviceRevisionArn
        ? { serviceRevisionArn: sd.rollback.serviceRevisionArn }
        : {}),
    };
    const why = failureReason(sd, hookStage());
    /** ECS's own rollback: where it stands, and the verdict that goes with it. */
    const byEcs = (
      outcome: 'rolled-back-by-ecs' | 'ecs-rollback-failed',
      headline: string,
      rollback: 'in-progress' | 'completed' | 'failed',
    ): Step<WatchVerdict> => ({
      kind: 'done',
      value: { outcome, headline, ecsRollback: { ...rollbackTo, by: 'ecs', outcome: rollback } },
    });
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
        if (!opts.waitForRollback)
          return byEcs('rolled-back-by-ecs', `ECS is rolling back: ${why}`, 'in-progress');
        if (!rollbackAnnounced) {
          opts.logger.info(
            `${label}: ECS is rolling back: ${why}; waiting for the rollback (wait-for-rollback)`,
          );
          rollbackAnnounced = true;
        }
        return { kind: 'wait', reason: progress };
      case 'rolled-back':
        return byEcs('rolled-back-by-ecs', `rolled back by ECS: ${why}`, 'completed');
      case 'rollback-failed':
        return byEcs(
          'ecs-rollback-failed',
          `the deployment failed and ECS's rollback FAILED too: ${why}`,
          'failed',
        );
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
    events: timeline.events,
    stoppedTasks: [],
    progress,
    stages: timeline.stages,
    ...(arn ? { serviceDeploymentArn: arn } : {}),
    ...verdict,
  };
}
