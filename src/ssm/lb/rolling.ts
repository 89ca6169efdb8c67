/**
 * A rollout behind ELBv2 target groups, batch by batch, so that no request reaches a host while it
 * deploys: take the batch out of every group (deregister, wait for the drain), deploy it through
 * SSM, put back every host that serves, and wait until each is healthy in every group before the
 * next batch leaves. Each host taken out is reported through `onOutOfService` before the
 * deregistration, so a cancelled run's post step can put back every host that serves.
 */
import type { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { awsErrorText, isThrottling } from '../../aws.js';
import { formatDuration } from '../../duration.js';
import { poll, systemClock, type Clock, type Step } from '../../poll.js';
import { silentLogger, type Logger } from '../../logger.js';
import {
  preDeployFirst,
  baseOf,
  reachInstances,
  withPreDeploy,
  sendAndFollow,
  withSkipped,
  type DeployEc2SsmOptions,
  type DeployRollout,
  type InstanceOutcome,
  type RolloutStatus,
} from '../deploy.js';
import { invocationState } from '../statuses.js';
import { instancesOf } from '../targets.js';
import { describeDowntime, planBatches, type BatchPlan, type GroupRegistration } from './plan.js';
import {
  describeHealth,
  describeTargetHealth,
  isDrained,
  isSettledHealthy,
  readTargetGroups,
  moveTargets,
  targetGroupProblems,
  type Registration,
  type TargetGroup,
  type TargetHealth,
} from './target-groups.js';

/**
 * Load balancers keep routing to a deregistered target for a few seconds after DeregisterTargets
 * returns, whatever the deregistration delay: no drain wait is shorter than this.
 */
export const MIN_DRAIN_MS = 5_000;

/** Default cadence of the drain and health reads: target health moves every few seconds. */
const LB_INTERVAL_MS = 3000;

/** A host taken out of a group by this run, until it is put back. */
export interface OutOfService extends GroupRegistration {
  instanceId: string;
  /** The deploy command sent to it, once sent. */
  commandId?: string;
}

export interface RollingOptions extends DeployEc2SsmOptions {
  elb: ElasticLoadBalancingV2Client;
  targetGroupArns: string[];
  /** Cap on each batch's drain wait. */
  drainTimeoutMs: number;
  /** The host's health-timeout: part of how long a re-registered host may take to turn healthy. */
  healthTimeoutMs: number;
  /** false: `timeout` was left to its default, and grows to cover the plan. */
  timeoutExplicit: boolean;
  /** Every change of the hosts this run holds out of service, saved before each deregistration. */
  onOutOfService?: (hosts: OutOfService[]) => void;
  minDrainMs?: number;
  /** Cadence of the drain and health reads (defaults suit real ELBv2). */
  lbIntervalMs?: number;
}

export type BatchOutcome =
  /** Every host of the batch serves and is healthy in every group. */
  | 'healthy'
  /** Some host failed its deploy, or did not turn healthy, or cannot be put back. */
  | 'failed'
  /** Stopped by the deadline or a cancel while running. */
  | 'interrupted'
  /** Never started: an earlier batch spent the error budget, or time ran out. */
  | 'not-started';

export interface BatchReport {
  /** 1-based. */
  index: number;
  instanceIds: string[];
  outcome: BatchOutcome;
  drainMs?: number;
  /** The drain was cut short by drain-timeout. */
  drainCut?: boolean;
  deployMs?: number;
  healthyMs?: number;
  /** Why the batch failed, in words. */
  reason?: string;
  /** ELBv2 calls this batch made. */
  lbCalls: number;
}

export interface RollingRollout extends DeployRollout {
  batches: BatchReport[];
  /** Warnings raised while planning (also logged as warnings). */
  warnings: string[];
  /** Hosts still out of their groups: they serve nothing, or their state is unknown. */
  outOfService: OutOfService[];
}

export async function deployBehindTargetGroups(opts: RollingOptions): Promise<RollingRollout> {
  const clock = opts.clock ?? systemClock;
  // Warnings (downtime, timeout coverage, a drain cut short) go to the log and the summary.
  const warnings: string[] = [];
  const given = opts.logger ?? silentLogger;
  const logger: Logger = {
    ...given,
    warning: (line) => {
      warnings.push(line);
      given.warning(line);
    },
  };
  const started = clock.now();

  // The one-off runs before any host leaves its groups: if it fails, nothing was touched.
  const pre = await preDeployFirst(opts);
  if ('stopped' in pre) return { ...pre.stopped, batches: [], warnings, outOfService: [] };
  const reach = await reachInstances(opts, true);
  if (!reach.ready)
    return { ...withPreDeploy(reach.rollout, pre.report), batches: [], warnings, outOfService: [] };
  const instanceIds = reach.instanceIds ?? [];
  if (opts.targets.kind === 'tags')
    logger.info(
      `resolved the tag targets to ${instanceIds.length} instance(s) with an online SSM agent`,
    );

  // Refused before anything changes: nothing is deregistered from a group this cannot follow.
  const groups = await readTargetGroups(opts.elb, opts.targetGroupArns);
  const problems = targetGroupProblems(groups, opts.targetGroupArns);
  if (problems.length > 0) throw new Error(`input 'target-groups': ${problems.join('; ')}`);
  const plan = planBatches(instanceIds, opts.maxConcurrency, groups);
  describePlan(plan, groups, logger);
  for (const w of plan.downtime) logger.warning(describeDowntime(w, plan.batches.length));

  const timeoutMs = planTimeout(opts, plan, groups, logger);
  const deadline = started + timeoutMs;
  const allowedErrors = instancesOf(opts.maxErrors, instanceIds.length);
  const out = new OutOfServiceBook(opts.onOutOfService);
  const outcomes: InstanceOutcome[] = [];
  const batches: BatchReport[] = [];
  const commandIds: string[] = [];
  const batchRollouts: DeployRollout[] = [];
  let failed = 0;
  let stop: { status: RolloutStatus; reason: string } | undefined;

  for (const [i, batch] of plan.batches.entries()) {
    const label = `batch ${i + 1}/${plan.batches.length}`;
    if (stop === undefined && opts.signal?.aborted)
      stop = { status: 'cancelled', reason: 'the workflow was cancelled' };
    if (stop === undefined && clock.now() >= deadline)
      stop = { status: 'timed-out', reason: `timeout (${formatDuration(timeoutMs)}) passed` };
    if (stop !== undefined) {
      batches.push({ index: i + 1, instanceIds: batch, outcome: 'not-started', lbCalls: 0 });
      continue;
    }
    const report = await runBatch({
      opts,
      label,
      index: i + 1,
      batch,
      plan,
      groups,
      out,
      deadline,
      allowedErrors: allowedErrors - failed,
      clock,
      logger,
      onSent: (id) => commandIds.push(id),
      onRollout: (r) => batchRollouts.push(r),
    });
    batches.push(report.batch);
    outcomes.push(...report.outcomes);
    failed += report.failedHosts;
    if (report.batch.outcome === 'interrupted')
      stop = {
        status: opts.signal?.aborted ? 'cancelled' : 'timed-out',
        reason: report.batch.reason ?? 'interrupted',
      };
    else if (failed > allowedErrors)
      stop = {
        status: 'failed',
        reason: `${failed} host(s) failed, more than max-errors (${opts.maxErrors}) allows: no further batch started; the instances not yet reached stay registered and untouched`,
      };
  }

  const succeeded = outcomes.filter((o) => o.succeeded && o.result !== 'outdated').length;
  const outdated = outcomes.filter((o) => o.succeeded && o.result === 'outdated').length;
  let status: RolloutStatus = stop?.status ?? (failed > 0 ? 'failed' : 'succeeded');
  if (stop === undefined && batches.some((b) => b.outcome === 'failed')) status = 'failed';
  const reason =
    stop?.reason ??
    (status === 'failed'
      ? batches
          .filter((b) => b.outcome === 'failed')
          .map((b) => `batch ${b.index}: ${b.reason ?? 'failed'}`)
          .join('; ')
      : undefined);
  const consoleUrl = batchRollouts.find((r) => r.consoleUrl)?.consoleUrl;
  const cancelErrors = batchRollouts.flatMap((r) => (r.cancelError ? [r.cancelError] : []));
  const rollout: DeployRollout = {
    ...baseOf(opts),
    status,
    ...(consoleUrl ? { consoleUrl } : {}),
    ...(commandIds[0] ? { commandId: commandIds[0] } : {}),
    ...(commandIds.length > 1 ? { commandIds } : {}),
    instances: outcomes.sort((a, b) => a.instanceId.localeCompare(b.instanceId)),
    succeeded,
    outdated,
    failed: outcomes.length - succeeded - outdated,
    ...(reason ? { reason } : {}),
    elapsedMs: clock.now() - started,
    ...(cancelErrors.length > 0 ? { cancelError: cancelErrors.join('; ') } : {}),
  };
  return {
    ...withPreDeploy(
      withSkipped(rollout, reach.offline, opts.spec.image, opts.skipOffline === true),
      pre.report,
    ),
    batches,
    warnings,
    outOfService: out.hosts,
  };
}

/**
 * The hosts this run holds out of service, kept in step with the caller's state: each is added
 * before its deregistration and removed once it is registered again.
 */
class OutOfServiceBook {
  hosts: OutOfService[] = [];
  constructor(private readonly save?: (hosts: OutOfService[]) => void) {}
  add(hosts: OutOfService[]): void {
    this.hosts.push(...hosts);
    this.save?.([...this.hosts]);
  }
  sentTo(instanceIds: readonly string[], commandId: string): void {
    for (const h of this.hosts) if (instanceIds.includes(h.instanceId)) h.commandId ??= commandId;
    this.save?.([...this.hosts]);
  }
  putBack(instanceIds: readonly string[]): void {
    this.hosts = this.hosts.filter((h) => !instanceIds.includes(h.instanceId));
    this.save?.([...this.hosts]);
  }
}

interface BatchContext {
  opts: RollingOptions;
  label: string;
  index: number;
  batch: string[];
  plan: BatchPlan;
  groups: TargetGroup[];
  out: OutOfServiceBook;
  deadline: number;
  allowedErrors: number;
  clock: Clock;
  logger: Logger;
  onSent: (commandId: string) => void;
  /** Each batch's deploy report (its console link, a failed cancel). */
  onRollout: (rollout: DeployRollout) => void;
}

async function runBatch(ctx: BatchContext): Promise<{
  batch: BatchReport;
  outcomes: InstanceOutcome[];
  failedHosts: number;
}> {
  const { opts, label, batch, clock, logger } = ctx;
  const report: BatchReport = {
    index: ctx.index,
    instanceIds: batch,
    outcome: 'healthy',
    lbCalls: 0,
  };
  const registered = batch.flatMap((id) =>
    (ctx.plan.registrations.get(id) ?? []).map((r) => ({ ...r, instanceId: id })),
  );
  const groupNames = [...new Set(registered.map((r) => r.groupName))];

  // 1. Out of every group, recorded first.
  if (registered.length > 0) {
    logger.info(`${label}: draining ${batch.length} host(s) from ${groupNames.join(', ')}`);
    ctx.out.add(registered);
    const drainStart = clock.now();
    for (const [arn, regs] of byGroup(registered)) {
      await moveTargets(opts.elb, 'deregister', arn, regs);
      report.lbCalls++;
    }
    const drain = await waitForDrain(ctx, registered, report);
    report.drainMs = clock.now() - drainStart;
    if (drain === 'interrupted') {
      // Nothing was sent: every host serves its old version and goes back at once.
      await putBack(ctx, registered, report);
      return {
        batch: { ...report, outcome: 'interrupted', reason: 'cancelled while draining' },
        outcomes: [],
        failedHosts: 0,
      };
    }
    logger.info(
      `${label}: drained in ${formatDuration(report.drainMs)}${report.drainCut ? ' (cut short by drain-timeout)' : ''}; deploying`,
    );
  } else logger.info(`${label}: ${batch.length} host(s) in no target group; deploying`);

  // 2. The deploy, to this batch only.
  const deployStart = clock.now();
  const rollout = await sendAndFollow(
    {
      ...opts,
      // A batch of more than 50 goes out as one command per 50: each host gets its own.
      onSent: (commandId, instanceIds) => {
        ctx.onSent(commandId);
        ctx.out.sentTo(instanceIds ?? batch, commandId);
        opts.onSent?.(commandId, instanceIds);
      },
    },
    { kind: 'instances', instanceIds: batch },
    {
      maxConcurrency: String(batch.length),
      maxErrors: String(Math.max(0, ctx.allowedErrors)),
      timeoutMs: Math.max(1, ctx.deadline - clock.now()),
    },
  );
  report.deployMs = clock.now() - deployStart;
  ctx.onRollout(rollout);
  const failedHosts = rollout.instances.filter((o) => !o.succeeded).length;

  // 3. Back in every group: the hosts that serve (new or previous version).
  const serving = new Set(rollout.instances.filter(servesAfter).map((o) => o.instanceId));
  const back = registered.filter((r) => serving.has(r.instanceId));
  const stayOut = [
    ...new Set(registered.filter((r) => !serving.has(r.instanceId)).map((r) => r.instanceId)),
  ];
  if (back.length > 0) await putBack(ctx, back, report);
  if (stayOut.length > 0)
    logger.info(
      `${label}: ${stayOut.join(', ')} serve(s) nothing known to be healthy and stay out of their groups`,
    );

  if (rollout.status === 'cancelled' || rollout.status === 'timed-out')
    return {
      batch: { ...report, outcome: 'interrupted', reason: rollout.reason ?? rollout.status },
      outcomes: rollout.instances,
      failedHosts,
    };

  // 4. Healthy in every group before the next batch leaves.
  if (back.length > 0) {
    const healthStart = clock.now();
    const unhealthy = await waitForHealthy(ctx, back, report);
    report.healthyMs = clock.now() - healthStart;
    if (unhealthy !== undefined) {
      report.outcome = 'failed';
      report.reason = unhealthy.reason;
      logger.info(`${label}: ${unhealthy.reason}`);
      // A host that deployed but does not turn healthy in the group failed all the same.
      const outcomes = rollout.instances.map((o) =>
        unhealthy.hosts.has(o.instanceId) && o.succeeded
          ? {
              ...o,
              succeeded: false,
              reason: `not healthy in its target group: ${unhealthy.reason}`,
            }
          : o,
      );
      return {
        batch: report,
        outcomes,
        failedHosts: outcomes.filter((o) => !o.succeeded).length,
      };
    }
    logger.info(
      `${label}: registered, ${new Set(back.map((r) => r.instanceId)).size}/${batch.length} healthy in ${groupNames.join(', ')} after ${formatDuration(report.healthyMs)}`,
    );
  }
  if (failedHosts > 0 || stayOut.length > 0) {
    report.outcome = 'failed';
    report.reason = `${failedHosts} host(s) failed to deploy${stayOut.length ? `; ${stayOut.length} left out of their groups` : ''}`;
  }
  return { batch: report, outcomes: rollout.instances, failedHosts };
}

/** Serves after its deploy: the new version, the previous one, or untouched. */
export function servesAfter(o: InstanceOutcome): boolean {
  switch (o.result) {
    case 'deployed':
    case 'outdated':
    case 'rejected':
    case 'rolled-back':
      return true;
    case 'failed':
      // Stopped before it changed anything, so the container it had still serves; unless it had
      // none, or the rollback itself failed.
      return o.previousImage !== undefined && o.failedStep !== 'rollback';
    case 'failed-no-previous':
    case 'skipped':
      return false;
    case undefined:
      // Never started there: untouched. Started without a result: unknown, so it stays out.
      return !invocationState(o.status).ran;
  }
}

async function putBack(
  ctx: BatchContext,
  regs: OutOfService[],
  report: BatchReport,
): Promise<void> {
  for (const [arn, group] of byGroup(regs)) {
    await moveTargets(ctx.opts.elb, 'register', arn, group);
    report.lbCalls++;
  }
  ctx.out.putBack([...new Set(regs.map((r) => r.instanceId))]);
}

function byGroup<T extends GroupRegistration & Registration>(regs: readonly T[]): Map<string, T[]> {
  const map = new Map<string, T[]>();
  for (const r of regs) map.set(r.groupArn, [...(map.get(r.groupArn) ?? []), r]);
  return map;
}

/** Until every target of the batch is gone from its group: at least MIN_DRAIN_MS, at most drain-timeout. */
async function waitForDrain(
  ctx: BatchContext,
  regs: OutOfService[],
  report: BatchReport,
): Promise<'drained' | 'cut' | 'interrupted'> {
  const { opts, clock } = ctx;
  const start = clock.now();
  const minMs = opts.minDrainMs ?? MIN_DRAIN_MS;
  const delayMs = Math.max(
    ...ctx.groups
      .filter((g) => regs.some((r) => r.groupArn === g.arn))
      .map((g) => g.deregistrationDelayMs),
  );
  const capMs = Math.min(opts.drainTimeoutMs, Math.max(0, ctx.deadline - clock.now()));
  const result = await poll<void>({
    timeoutMs: Math.max(minMs, capMs),
    ...lbCadence(ctx, 3),
    attempt: async (): Promise<Step<void>> => {
      const left = await readNotYet(ctx, regs, report, (t) => !isDrained(t));
      if (left instanceof Error) return throttledOrFail(left, 'reading the drain');
      if (left.length === 0 && clock.now() - start >= minMs)
        return { kind: 'done', value: undefined };
      const draining = left.length
        ? `${left.length} target(s) still draining`
        : 'drained; waiting out the minimum drain';
      return {
        kind: 'wait',
        reason: `${draining} (deregistration delay ${formatDuration(delayMs)})`,
        minDelayMs: left.length === 0 ? minMs - (clock.now() - start) : 0,
      };
    },
  });
  if (result.outcome === 'done') return 'drained';
  if (result.outcome === 'aborted') return 'interrupted';
  if (result.outcome === 'failed') throw new Error(result.reason);
  report.drainCut = true;
  ctx.logger.warning(
    `${ctx.label}: drain-timeout (${formatDuration(opts.drainTimeoutMs)}) cut the drain short: ${result.reason}; requests still in flight to these hosts may fail`,
  );
  return 'cut';
}

/** How the drain and health reads poll ELBv2: every lbIntervalMs, backing off to `slowest` times it. */
function lbCadence(ctx: BatchContext, slowest: number) {
  const intervalMs = ctx.opts.lbIntervalMs ?? LB_INTERVAL_MS;
  const { random, signal } = ctx.opts;
  return { intervalMs, maxIntervalMs: intervalMs * slowest, clock: ctx.clock, random, signal };
}

/** undefined when every re-registered target is healthy in each group in time, else why not. */
async function waitForHealthy(
  ctx: BatchContext,
  regs: OutOfService[],
  report: BatchReport,
): Promise<{ reason: string; hosts: Set<string> } | undefined> {
  const { opts, clock } = ctx;
  const checkMs = Math.max(
    ...ctx.groups.filter((g) => regs.some((r) => r.groupArn === g.arn)).map((g) => g.healthCheckMs),
  );
  const budget = opts.healthTimeoutMs + checkMs;
  let last: Array<OutOfService & { health: TargetHealth }> = [];
  const result = await poll<void>({
    timeoutMs: Math.min(budget, Math.max(0, ctx.deadline - clock.now())),
    ...lbCadence(ctx, 2),
    attempt: async (): Promise<Step<void>> => {
      const notYet = await readNotYet(
        ctx,
        regs,
        report,
        (t) => t === undefined || !isSettledHealthy(t),
      );
      if (notYet instanceof Error) return throttledOrFail(notYet, 'reading target health');
      last = notYet;
      if (notYet.length === 0) return { kind: 'done', value: undefined };
      return {
        kind: 'wait',
        reason: `${notYet.length} target(s) not healthy yet: ${notYet
          .slice(0, 5)
          .map((t) => `${t.instanceId} in ${t.groupName}: ${describeHealth(t.health)}`)
          .join('; ')}`,
      };
    },
  });
  if (result.outcome === 'done') return undefined;
  const hosts = new Set(last.map((t) => t.instanceId));
  const who = last
    .map((t) => `${t.instanceId} in ${t.groupName}: ${describeHealth(t.health)}`)
    .join('; ');
  if (result.outcome === 'deadline')
    return {
      reason: `not healthy within health-timeout + the group's health checks (${formatDuration(budget)}): ${who}`,
      hosts,
    };
  return { reason: result.reason, hosts };
}

/** The targets of `regs` whose health matches `notYet`, reading each group once; an Error on failure. */
async function readNotYet(
  ctx: BatchContext,
  regs: OutOfService[],
  report: BatchReport,
  notYet: (t: TargetHealth | undefined) => boolean,
): Promise<Array<OutOfService & { health: TargetHealth }> | Error> {
  const found: Array<OutOfService & { health: TargetHealth }> = [];
  try {
    for (const [arn, group] of byGroup(regs)) {
      const health = await describeTargetHealth(ctx.opts.elb, arn, group);
      report.lbCalls++;
      for (const r of group) {
        const h = health.find((t) => t.instanceId === r.instanceId && t.port === r.port);
        if (notYet(h)) found.push({ ...r, health: h ?? { ...r, state: 'unused' } });
      }
    }
  } catch (error) {
    return error instanceof Error ? error : new Error(String(error));
  }
  return found;
}

function throttledOrFail(error: Error, doing: string): Step<void> {
  if (isThrottling(error))
    return { kind: 'wait', reason: 'ELBv2 is throttling; backing off', backoff: true };
  return {
    kind: 'fail',
    reason: `${doing} failed (elasticloadbalancing:DescribeTargetHealth): ${awsErrorText(error)}`,
  };
}

function describePlan(plan: BatchPlan, groups: TargetGroup[], logger: Logger): void {
  const count = plan.batches.flat().length;
  logger.info(
    `${count} instance(s) in ${plan.batches.length} batch(es) of at most ${plan.batchSize}, behind ` +
      groups
        .map(
          (g) =>
            `${g.name} (${g.targets.filter(isSettledHealthy).length}/${g.targets.length} healthy, ` +
            `deregistration delay ${formatDuration(g.deregistrationDelayMs)}, health checks ${formatDuration(g.healthCheckMs)})`,
        )
        .join(', '),
  );
  if (plan.notInAnyGroup.length > 0)
    logger.info(`in no target group, deployed without draining: ${plan.notInAnyGroup.join(', ')}`);
}

/** The worst case of one batch: drain, the host's whole deploy, then the group's health checks. */
function worstBatchMs(
  opts: Pick<
    RollingOptions,
    'drainTimeoutMs' | 'executionTimeoutMs' | 'healthTimeoutMs' | 'minDrainMs'
  >,
  groups: readonly TargetGroup[],
): { drainMs: number; healthMs: number; totalMs: number } {
  const delay = Math.max(0, ...groups.map((g) => g.deregistrationDelayMs));
  const drainMs = Math.max(opts.minDrainMs ?? MIN_DRAIN_MS, Math.min(delay, opts.drainTimeoutMs));
  const healthMs = opts.healthTimeoutMs + Math.max(0, ...groups.map((g) => g.healthCheckMs));
  return { drainMs, healthMs, totalMs: drainMs + opts.executionTimeoutMs + healthMs };
}

function planTimeout(
  opts: RollingOptions,
  plan: BatchPlan,
  groups: TargetGroup[],
  logger: Logger,
): number {
  const worst = worstBatchMs(opts, groups);
  const needed = plan.batches.length * worst.totalMs;
  const arithmetic =
    `${plan.batches.length} batch(es) × (drain ${formatDuration(worst.drainMs)} + execution-timeout ${formatDuration(opts.executionTimeoutMs)} ` +
    `+ health ${formatDuration(worst.healthMs)}) = ${formatDuration(needed)}`;
  if (needed <= opts.timeoutMs) return opts.timeoutMs;
  if (!opts.timeoutExplicit) {
    logger.info(`timeout grows to ${formatDuration(needed)} to cover the plan: ${arithmetic}`);
    return needed;
  }
  logger.warning(
    `timeout (${formatDuration(opts.timeoutMs)}) may not cover the plan at worst: ${arithmetic}. ` +
      'Batches not started by then are left registered and untouched.',
  );
  return opts.timeoutMs;
}
