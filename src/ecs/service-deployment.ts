/**
 * Service deployments: ECS's own record of one deployment of a service, for every strategy of the
 * ECS controller (ROLLING, BLUE_GREEN, LINEAR, CANARY). Its status, lifecycle stage, rollback,
 * circuit breaker and alarms are the truth that the `deployments` array of DescribeServices cannot
 * tell for the traffic-shifting strategies. Finding it (ListServiceDeployments), reading many of
 * them in one call (DescribeServiceDeployments), and what they say, in words.
 */
import {
  DescribeServiceDeploymentsCommand,
  ListServiceDeploymentsCommand,
  type DeploymentConfiguration,
  type Service,
  type ServiceDeployment,
  type ServiceDeploymentStatus,
} from '@aws-sdk/client-ecs';
import type { Clock } from '../poll.js';
import { awsErrorName } from '../aws.js';
import { formatDuration } from '../duration.js';
import type { EcsApi } from './watch.js';

export type Strategy = 'ROLLING' | 'BLUE_GREEN' | 'LINEAR' | 'CANARY';

/** DescribeServiceDeployments takes at most this many ARNs per call. */
const DESCRIBE_SERVICE_DEPLOYMENTS_BATCH = 20;
/** An answer younger than this serves every service that asks (one call per poll for all). */
const SHARED_READ_MS = 1000;

export const LIST_PERMISSION = 'ecs:ListServiceDeployments';
export const DESCRIBE_PERMISSION = 'ecs:DescribeServiceDeployments';

const MINUTE = 60_000;

export function strategyOf(service: Service): Strategy {
  const s = service.deploymentConfiguration?.strategy;
  return s === 'BLUE_GREEN' || s === 'LINEAR' || s === 'CANARY' ? s : 'ROLLING';
}

/** How log lines name a strategy. */
export function strategyName(strategy: Strategy): string {
  switch (strategy) {
    case 'ROLLING':
      return 'rolling';
    case 'BLUE_GREEN':
      return 'blue/green';
    case 'LINEAR':
      return 'linear';
    case 'CANARY':
      return 'canary';
  }
}

/**
 * The time a healthy deployment spends baking, from the service's deployment configuration: the
 * final bake, plus the canary bake or the bakes between linear steps. Added to `timeout`, so a
 * deployment that is only baking never runs into the deadline.
 */
export function bakeTime(
  strategy: Strategy,
  config: DeploymentConfiguration | undefined,
): { ms: number; text: string } {
  const parts: string[] = [];
  let ms = 0;
  const bake = config?.bakeTimeInMinutes ?? 0;
  if (bake > 0) {
    ms += bake * MINUTE;
    parts.push(`${bake} min bake time`);
  }
  if (strategy === 'CANARY') {
    const canary = config?.canaryConfiguration?.canaryBakeTimeInMinutes ?? 0;
    if (canary > 0) {
      ms += canary * MINUTE;
      parts.push(`${canary} min canary bake`);
    }
  }
  if (strategy === 'LINEAR') {
    const step = config?.linearConfiguration?.stepBakeTimeInMinutes ?? 0;
    const percent = config?.linearConfiguration?.stepPercent ?? 0;
    if (step > 0 && percent > 0) {
      const steps = Math.ceil(100 / percent);
      ms += steps * step * MINUTE;
      parts.push(`${steps} linear steps × ${step} min`);
    }
  }
  return { ms, text: parts.join(' + ') };
}

/** The API is missing (an old endpoint) or not allowed (IAM): which permission, in one line. */
export function unavailableApi(error: unknown, permission: string): string | undefined {
  const name = awsErrorName(error);
  if (/^(UnknownOperation(Exception)?|AccessDenied(Exception)?)$/.test(name)) {
    return `${permission} is not available (${name})`;
  }
  return undefined;
}

/**
 * Whether this caller can follow service deployments of a service, checked before any change:
 * list them, and describe the newest one if there is one. Returns the problem, or undefined.
 */
export async function probeServiceDeployments(
  ecs: EcsApi,
  cluster: string,
  service: string,
): Promise<string | undefined> {
  let arns: string[];
  try {
    const out = await ecs.send(new ListServiceDeploymentsCommand({ cluster, service }));
    arns = (out.serviceDeployments ?? []).flatMap((d) =>
      d.serviceDeploymentArn ? [d.serviceDeploymentArn] : [],
    );
  } catch (error) {
    const missing = unavailableApi(error, LIST_PERMISSION);
    if (missing) return missing;
    throw error;
  }
  if (arns.length === 0) return undefined;
  try {
    await ecs.send(new DescribeServiceDeploymentsCommand({ serviceDeploymentArns: [arns[0]!] }));
  } catch (error) {
    const missing = unavailableApi(error, DESCRIBE_PERMISSION);
    if (missing) return missing;
    throw error;
  }
  return undefined;
}

/** `ecs-svc/5302453249348823924` → `5302453249348823924`; the service revision ARN ends in it. */
function revisionNumber(arnOrId: string): string {
  return arnOrId.split('/').pop() ?? '';
}

/**
 * The service deployment an UpdateService started: among those created after `after` (the list
 * order is not documented), the one whose target service revision has the number of the PRIMARY
 * deployment's `ecs-svc/<n>` id. Undefined while ECS does not list it yet.
 */
export async function findServiceDeployment(
  ecs: EcsApi,
  cluster: string,
  service: string,
  after: Date,
  deploymentId: string,
): Promise<string | undefined> {
  const wanted = revisionNumber(deploymentId);
  let nextToken: string | undefined;
  do {
    const out = await ecs.send(
      new ListServiceDeploymentsCommand({
        cluster,
        service,
        createdAt: { after },
        ...(nextToken ? { nextToken } : {}),
      }),
    );
    const match = (out.serviceDeployments ?? []).find(
      (d) => revisionNumber(d.targetServiceRevisionArn ?? '') === wanted,
    );
    if (match?.serviceDeploymentArn) return match.serviceDeploymentArn;
    nextToken = out.nextToken;
  } while (nextToken);
  return undefined;
}

/**
 * Reads the followed service deployments of every service together: a read asks for all of them
 * (20 ARNs per call), and an answer younger than SHARED_READ_MS serves the other services of the
 * same poll, so N services polled together cost ⌈N/20⌉ calls per poll.
 */
export class ServiceDeploymentReader {
  private readonly followed = new Set<string>();
  private readonly latest = new Map<string, { sd: ServiceDeployment; at: number }>();
  private inFlight: Promise<void> | undefined;
  /** DescribeServiceDeployments calls made (for the bench and tests). */
  calls = 0;

  constructor(
    private readonly ecs: EcsApi,
    private readonly clock: Clock,
  ) {}

  follow(arn: string): void {
    this.followed.add(arn);
  }

  unfollow(arn: string): void {
    this.followed.delete(arn);
    this.latest.delete(arn);
  }

  async read(arn: string): Promise<ServiceDeployment | undefined> {
    this.follow(arn);
    const cached = this.latest.get(arn);
    if (cached && this.clock.now() - cached.at < SHARED_READ_MS) return cached.sd;
    // Join a read under way; if it did not include this ARN, make another.
    if (this.inFlight) await this.inFlight;
    const joined = this.latest.get(arn);
    if (joined && this.clock.now() - joined.at < SHARED_READ_MS) return joined.sd;
    this.inFlight ??= this.readAll().finally(() => (this.inFlight = undefined));
    await this.inFlight;
    return this.latest.get(arn)?.sd;
  }

  private async readAll(): Promise<void> {
    const arns = [...this.followed];
    const at = this.clock.now();
    for (let i = 0; i < arns.length; i += DESCRIBE_SERVICE_DEPLOYMENTS_BATCH) {
      this.calls++;
      const out = await this.ecs.send(
        new DescribeServiceDeploymentsCommand({
          serviceDeploymentArns: arns.slice(i, i + DESCRIBE_SERVICE_DEPLOYMENTS_BATCH),
        }),
      );
      for (const sd of out.serviceDeployments ?? []) {
        if (sd.serviceDeploymentArn) this.latest.set(sd.serviceDeploymentArn, { sd, at });
      }
    }
  }
}

/** What a service deployment's status means for the action. */
export type DeploymentState =
  | { kind: 'in-progress' }
  | { kind: 'successful' }
  /** ECS is rolling back (alarm, lifecycle hook, circuit breaker, or asked to). */
  | { kind: 'rolling-back' }
  | { kind: 'rolled-back' }
  | { kind: 'rollback-failed' }
  /** Stopped without a rollback (StopServiceDeployment, or replaced by a newer deployment). */
  | { kind: 'stopped' };

/** What each status ECS gives a service deployment means here; a status added to the SDK fails to compile. */
const STATE_OF_STATUS: Record<ServiceDeploymentStatus, DeploymentState['kind']> = {
  PENDING: 'in-progress',
  IN_PROGRESS: 'in-progress',
  SUCCESSFUL: 'successful',
  ROLLBACK_REQUESTED: 'rolling-back',
  ROLLBACK_IN_PROGRESS: 'rolling-back',
  ROLLBACK_SUCCESSFUL: 'rolled-back',
  ROLLBACK_FAILED: 'rollback-failed',
  STOPPED: 'stopped',
  STOP_REQUESTED: 'stopped',
};

/** No status yet, or one this SDK does not know (from a newer API): still in progress. */
export function stateOf(sd: ServiceDeployment): DeploymentState {
  return { kind: (sd.status && STATE_OF_STATUS[sd.status]) || 'in-progress' };
}

/**
 * Why a service deployment failed, in one line: the status reason, the rollback reason, the
 * alarms that fired, the lifecycle hook that failed (with the stage it ran in) and the circuit
 * breaker's count, without repeating the same text.
 */
export function failureReason(sd: ServiceDeployment, hookStage?: string): string {
  const parts: string[] = [];
  const add = (text: string | undefined) => {
    if (text && !parts.some((p) => p.includes(text))) parts.push(text);
  };
  add(sd.statusReason);
  add(sd.rollback?.reason);
  const alarms = sd.alarms?.triggeredAlarmNames ?? [];
  if (alarms.length > 0) add(`alarm${alarms.length > 1 ? 's' : ''} ${alarms.join(', ')} in ALARM`);
  for (const hook of sd.lifecycleHookDetails ?? []) {
    if (hook.status === 'FAILED' || hook.status === 'TIMED_OUT') {
      add(
        `lifecycle hook ${hook.targetArn ?? hook.hookId ?? '?'} ${hook.status}${hookStage ? ` in ${hookStage}` : ''}`,
      );
    }
  }
  const cb = sd.deploymentCircuitBreaker;
  if (cb?.status === 'TRIGGERED') {
    add(
      `circuit breaker triggered: ${cb.failureCount ?? '?'} of ${cb.threshold ?? '?'} tasks failed`,
    );
  }
  return parts.length > 0 ? parts.join('; ') : `status ${sd.status ?? 'unknown'}`;
}

/** `production traffic 10%, test traffic 100%`: the target revision's requested weights. */
export function trafficText(sd: ServiceDeployment): string {
  const target = sd.targetServiceRevision;
  const parts: string[] = [];
  if (target?.requestedProductionTrafficWeight !== undefined) {
    parts.push(`production traffic ${target.requestedProductionTrafficWeight}%`);
  }
  if (target?.requestedTestTrafficWeight !== undefined) {
    parts.push(`test traffic ${target.requestedTestTrafficWeight}%`);
  }
  return parts.join(', ');
}

/** `2/4 new tasks running, 1 pending`: the target revision's counts. */
export function countsText(sd: ServiceDeployment): string {
  const t = sd.targetServiceRevision;
  const text = `${t?.runningTaskCount ?? 0}/${t?.requestedTaskCount ?? 0} new tasks running`;
  return t?.pendingTaskCount ? `${text}, ${t.pendingTaskCount} pending` : text;
}

/** `bake 10 min`, or while baking `bake 7m 30s left`. */
export function bakeText(
  config: DeploymentConfiguration | undefined,
  bakingSinceMs: number | undefined,
  nowMs: number,
): string {
  const bake = config?.bakeTimeInMinutes;
  if (!bake) return '';
  if (bakingSinceMs === undefined) return `bake ${bake} min`;
  const left = Math.max(0, bakingSinceMs + bake * MINUTE - nowMs);
  return `bake ${formatDuration(left)} left`;
}
