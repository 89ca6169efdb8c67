/**
 * Watch one ECS deployment until it has rolled out, has failed, or the deadline passes. Watches the
 * deployment itself rather than "service stable": its rolloutState and reason, its task counts, the
 * service events since the update, and the tasks of the deployment that stopped, so a failure is
 * reported as soon as ECS knows it, with the reason.
 */
import {
  DescribeServicesCommand,
  DescribeTasksCommand,
  ListTasksCommand,
  type Deployment,
  type ECSClient,
  type Service,
  type ServiceDeployment,
} from '@aws-sdk/client-ecs';
import { poll, type Clock, type Step, type Timing } from '../poll.js';
import type { Logger } from '../logger.js';
import { awsErrorName, awsErrorText, isThrottling } from '../aws.js';
import { formatDuration } from '../duration.js';
import {
  circuitBreakerOf,
  describeDeployment,
  isCircuitBreakerRollback,
  isRolledOut,
  isTaskFailure,
  newEvents,
  primaryDeployment,
  progressText,
  reportsStoppedTasks,
  stoppedTaskFrom,
  stoppedTaskLine,
  type SeenEvent,
  type StoppedTask,
} from './deployment.js';
import { failureReason, stateOf } from './service-deployment.js';

/** The part of the ECS client the library uses; an ECSClient or a mock of one. */
export type EcsApi = Pick<ECSClient, 'send'>;

/** DescribeServices is cheap: every 2 s catches a change within 2 s. */
export const POLL_INTERVAL_MS = 2000;
/**
 * Reads in a row that must show our deployment replaced (or gone) before the verdict is
 * `superseded`: DescribeServices is eventually consistent, and one stale answer from before the
 * update shows the old deployment as PRIMARY without ours.
 */
const SUPERSEDED_READS = 2;
/** Backoff ceiling, only reached while ECS keeps throttling us. */
export const MAX_THROTTLED_INTERVAL_MS = 30_000;

/** What following one deployment takes, whichever way it is followed (watch or follow.ts). */
export interface EcsWaitOptions extends Timing {
  ecs: EcsApi;
  cluster: string;
  /** Name or ARN, as given. */
  service: string;
  /** How log lines name the service. */
  label: string;
  /** The `ecs-svc/<n>` id of the deployment UpdateService started. */
  deploymentId: string;
  /** Ids of events already seen (and printed); new ones are added. */
  seenEventIds: Set<string>;
  /** What ran before the update: a rollback goes back to it. */
  previousTaskDefinition: string;
  timeoutMs: number;
  clock: Clock;
  logger: Logger;
  /** After every attempt, with the latest progress line (the caller's heartbeat uses it). */
  onAttempt?: (progress: string) => void;
}

export interface WatchOptions extends EcsWaitOptions {
  /** False when the update started no deployment (only the count changed): then we wait for the counts. */
  isNewDeployment: boolean;
  /** Deployments that existed before the update; anything else that turns PRIMARY replaced ours. */
  knownDeploymentIds: ReadonlySet<string>;
  maxTaskFailures: number;
  /**
   * The service deployment of ours, when it can be read: it confirms at once that ours was
   * replaced (no second read needed), and quotes why a failed rollout failed (alarms, rollback).
   */
  serviceDeployment?: () => Promise<ServiceDeployment | undefined>;
}

export type WatchOutcome =
  | 'completed'
  | 'failed'
  | 'rolled-back-by-ecs'
  /** Another deployment, not started by this action, replaced ours. */
  | 'superseded'
  | 'timed-out'
  | 'cancelled'
  | 'error'
  /** ECS rolled the deployment back, and its rollback failed (service deployments only). */
  | 'ecs-rollback-failed'
  /** The service deployment was stopped before it finished (service deployments only). */
  | 'stopped';

/** A lifecycle stage reached (or a traffic shift within one), ms after the update. */
export interface StageChange {
  stage: string;
  atMs: number;
  traffic?: string;
}

export interface WatchResult {
  outcome: WatchOutcome;
  /** What happened, in one line: `rollout FAILED: ECS deployment circuit breaker: ...`. */
  headline: string;
  elapsedMs: number;
  /** Service events seen while watching, oldest first. */
  events: SeenEvent[];
  /** Tasks of the deployment that stopped and count as failures. */
  stoppedTasks: StoppedTask[];
  /** The last progress line (`2/4 new tasks running, rollout IN_PROGRESS`). */
  progress: string;
  /** When ECS rolled back: the deployment it started and what it runs. */
  ecsRollback?: {
    deploymentId?: string;
    taskDefinition?: string;
    serviceRevisionArn?: string;
    /** Who in ECS: the circuit breaker seen in DescribeServices, or a service deployment. */
    by?: 'ecs-circuit-breaker' | 'ecs';
    /** Whether ECS's rollback had finished when the watch ended; unknown for the circuit breaker. */
    outcome?: 'in-progress' | 'completed' | 'failed';
  };
  /** Lifecycle stages seen, oldest first (service deployments only). */
  stages?: StageChange[];
  serviceDeploymentArn?: string;
}

/** How a watch ended, carried out of the poll as its value (a failure is a verdict too). */
export type WatchVerdict = Pick<WatchResult, 'outcome' | 'headline' | 'ecsRollback'>;

export async function watchDeployment(opts: WatchOptions): Promise<WatchResult> {
  const { ecs, cluster, label, deploymentId, clock } = opts;
  const start = clock.now();
  const events: SeenEvent[] = [];
  const stoppedTasks: StoppedTask[] = [];
  const describedTasks = new Set<string>();
  let progress = 'waiting for the first answer from ECS';
  let lastLogged = '';
  let failedTasksSeen = 0;
  let stoppedEventPending = false;
  let checkedAfterFailure = false;
  // Whether ListTasks must filter by service name (when startedBy cannot be combined with a status).
  let listByService = false;
  // Consecutive reads that showed our deployment replaced or missing.
  let replacedReads = 0;
  // Whether our service deployment says it ended without success (confirms a replacement).
  let confirmed = false;
  // Why our service deployment failed, when it says more than the deployments array.
  let serviceDeploymentReason = '';

  const logState = (text: string) => {
    if (text === lastLogged) return;
    lastLogged = text;
    opts.logger.info(`${label}: ${text}`);
  };
  const conclude = (verdict: WatchVerdict): Step<WatchVerdict> => ({
    kind: 'done',
    value: verdict,
  });
  const throttled = (error: unknown): Step<WatchVerdict> => {
    logState(`ECS is throttling requests (${awsErrorName(error)}); backing off`);
    return { kind: 'wait', reason: progress, backoff: true };
  };
  const apiError = (operation: string, error: unknown): Step<WatchVerdict> =>
    conclude({
      outcome: 'error',
      headline: `${operation} failed: ${awsErrorText(error)}`,
    });

  async function stoppedTaskArns(serviceName: string): Promise<string[]> {
    if (!listByService) {
      try {
        const out = await ecs.send(
          new ListTasksCommand({ cluster, startedBy: deploymentId, desiredStatus: 'STOPPED' }),
        );
        return out.taskArns ?? [];
      } catch (error) {
        if (awsErrorName(error) !== 'InvalidParameterException') throw error;
        listByService = true;
      }
    }
    const out = await ecs.send(
      new ListTasksCommand({ cluster, serviceName, desiredStatus: 'STOPPED' }),
    );
    return out.taskArns ?? [];
  }

  /** Describe the stopped tasks not described yet; keep those of our deployment that failed. */
  async function collectStoppedTasks(serviceName: string): Promise<void> {
    const fresh = (await stoppedTaskArns(serviceName)).filter((arn) => !describedTasks.has(arn));
    if (fresh.length === 0) return;
    const out = await ecs.send(new DescribeTasksCommand({ cluster, tasks: fresh.slice(0, 100) }));
    for (const task of out.tasks ?? []) {
      describedTasks.add(task.taskArn ?? '');
      if (task.startedBy !== deploymentId || !isTaskFailure(task)) continue;
      const stopped = stoppedTaskFrom(task);
      stoppedTasks.push(stopped);
      opts.logger.info(`${label}: task ${stopped.taskId} stopped: ${stoppedTaskLine(stopped)}`);
    }
  }

  /** The service deployment, at the moments it decides something; failures to read it are ignored. */
  async function readServiceDeployment(): Promise<void> {
    let sd: ServiceDeployment | undefined;
    try {
      sd = await opts.serviceDeployment?.();
    } catch {
      return;
    }
    if (!sd) return;
    const state = stateOf(sd).kind;
    confirmed = state !== 'in-progress' && state !== 'successful';
    if (confirmed) serviceDeploymentReason = failureReason(sd);
  }
  /** The headline, with what the service deployment adds to it (alarms, circuit breaker count). */
  const withReason = (headline: string) => {
    const more = serviceDeploymentReason
      .split('; ')
      .filter((part) => part !== '' && !headline.includes(part));
    return more.length > 0 ? `${headline} (service deployment: ${more.join('; ')})` : headline;
  };

  function judge(service: Service, mine: Deployment | undefined): Step<WatchVerdict> | undefined {
    const deployments = service.deployments ?? [];
    const primary = primaryDeployment(deployments);
    const replacement =
      primary && primary.id !== deploymentId && !opts.knownDeploymentIds.has(primary.id ?? '')
        ? primary
        : undefined;
    const cb = circuitBreakerOf(service);
    // A finished rollback no longer says "rolling back", but it runs what ran before.
    const rolledBackByEcs =
      (replacement !== undefined &&
        (isCircuitBreakerRollback(replacement) ||
          (cb.rollback && replacement.taskDefinition === opts.previousTaskDefinition))) ||
      (mine?.rolloutState === 'FAILED' && cb.rollback);

    if (rolledBackByEcs) {
      return conclude({
        outcome: 'rolled-back-by-ecs',
        headline: withReason(
          `rolled back by the ECS circuit breaker: ${mine?.rolloutStateReason ?? replacement?.rolloutStateReason ?? 'rollout FAILED'}`,
        ),
        ecsRollback: {
          by: 'ecs-circuit-breaker',
          ...(replacement?.id ? { deploymentId: replacement.id } : {}),
          taskDefinition: replacement?.taskDefinition ?? opts.previousTaskDefinition,
        },
      });
    }
    if (mine?.rolloutState === 'FAILED') {
      return conclude({
        outcome: 'failed',
        headline: withReason(`rollout FAILED: ${mine.rolloutStateReason ?? 'ECS gave no reason'}`),
      });
    }
    if (!mine || replacement) {
      replacedReads++;
      if (replacedReads < SUPERSEDED_READS && !confirmed) return { kind: 'wait', reason: progress };
      return conclude({
        outcome: 'superseded',
        headline: replacement
          ? `deployment ${deploymentId} was replaced by deployment ${describeDeployment(replacement)}, which this action did not start`
          : `deployment ${deploymentId} is no longer among the service's deployments (PRIMARY: ${describeDeployment(primary)})`,
      });
    }
    replacedReads = 0;
    if (stoppedTasks.length >= opts.maxTaskFailures) {
      return conclude({
        outcome: 'failed',
        headline: `${stoppedTasks.length} tasks of the new deployment stopped (max-task-failures: ${opts.maxTaskFailures})`,
      });
    }
    if (isRolledOut(service, mine, opts.isNewDeployment)) {
      return conclude({
        outcome: 'completed',
        headline: `rolled out in ${formatDuration(clock.now() - start)}`,
      });
    }
    return undefined;
  }

  /** One look at the service: log what changed, and judge. */
  async function observe(): Promise<Step<WatchVerdict>> {
    let service: Service | undefined;
    try {
      const out = await ecs.send(
        new DescribeServicesCommand({ cluster, services: [opts.service] }),
      );
      service = out.services?.[0];
    } catch (error) {
      return isThrottling(error) ? throttled(error) : apiError('DescribeServices', error);
    }
    if (!service) {
      return conclude({
        outcome: 'failed',
        headline: `service '${opts.service}' no longer exists in cluster '${cluster}'`,
      });
    }

    for (const event of newEvents(service.events, opts.seenEventIds)) {
      events.push(event);
      opts.logger.info(`${label} event: ${event.message}`);
      if (reportsStoppedTasks(event.message)) stoppedEventPending = true;
    }
    const mine = (service.deployments ?? []).find((d) => d.id === deploymentId);
    if (mine) progress = progressText(mine, service.deployments ?? []);
    logState(progress);

    // Stopped tasks cost two calls: look only when ECS signals that tasks stopped.
    const failedTasks = mine?.failedTasks ?? 0;
    const failedNow = mine?.rolloutState === 'FAILED' && !checkedAfterFailure;
    if (mine && (failedTasks > failedTasksSeen || stoppedEventPending || failedNow)) {
      try {
        await collectStoppedTasks(service.serviceName ?? opts.service);
      } catch (error) {
        return isThrottling(error) ? throttled(error) : apiError('ListTasks/DescribeTasks', error);
      }
      failedTasksSeen = failedTasks;
      stoppedEventPending = false;
      checkedAfterFailure ||= failedNow;
    }

    // A rollout FAILED in place: its service deployment adds only the alarms that fired, so it is
    // read only when the service has alarms. A replacement or a rollback is always confirmed.
    const failedWithAlarms =
      mine?.rolloutState === 'FAILED' && service.deploymentConfiguration?.alarms?.enable === true;
    const suspicious =
      !mine ||
      failedWithAlarms ||
      (primaryDeployment(service.deployments ?? [])?.id ?? deploymentId) !== deploymentId;
    if (suspicious && opts.serviceDeployment) await readServiceDeployment();
    return judge(service, mine) ?? { kind: 'wait', reason: progress };
  }

  const verdict = await pollForVerdict(opts, observe, () => progress);
  return { elapsedMs: clock.now() - start, events, stoppedTasks, progress, ...verdict };
}

/**
 * Poll ECS at the watch's cadence until `attempt` reaches a verdict, and say how the wait ended
 * otherwise: cancelled or out of time, with the last progress line. Shared by the watch of a
 * rolling deployment and the follow of a service deployment.
 */
export async function pollForVerdict(
  opts: Pick<EcsWaitOptions, 'timeoutMs' | 'clock' | 'random' | 'signal' | 'onAttempt'>,
  attempt: () => Promise<Step<WatchVerdict>>,
  progress: () => string,
): Promise<WatchVerdict> {
  const result = await poll<WatchVerdict>({
    timeoutMs: opts.timeoutMs,
    intervalMs: POLL_INTERVAL_MS,
    maxIntervalMs: MAX_THROTTLED_INTERVAL_MS,
    clock: opts.clock,
    random: opts.random,
    signal: opts.signal,
    attempt: async () => {
      const step = await attempt();
      opts.onAttempt?.(progress());
      return step;
    },
  });
  switch (result.outcome) {
    case 'done':
      return result.value;
    case 'aborted':
      return { outcome: 'cancelled', headline: `cancelled while waiting: ${progress()}` };
    case 'deadline':
      return {
        outcome: 'timed-out',
        headline: `not rolled out within ${formatDuration(opts.timeoutMs)}: ${progress()}`,
      };
    case 'failed':
      // No attempt fails: every conclusion, failures included, is a verdict.
      return { outcome: 'error', headline: result.reason };
  }
}
