/**
 * Deploy an image to EC2 instances through SSM Run Command: wait for the agents, send the host
 * script (src/ssm/remote-script.ts) and turn each instance's result line into an outcome:
 * deployed, rolled back to the previous image, or failed.
 */
import { formatDuration } from '../duration.js';
import type { SSMClient } from '@aws-sdk/client-ssm';
import { systemClock } from '../poll.js';
import { silentLogger } from '../logger.js';
import { invocationState } from './statuses.js';
import { describeOffline, waitForAgents, type NotOnline } from './agents.js';
import { renderDeployScript } from './remote-script.js';
import {
  rolloutStoppedBy,
  runPreDeploy,
  type PreDeployOptions,
  type PreDeployReport,
} from './pre-deploy.js';
import { parseDeployResult, type DeployOutcome, type DeployResult } from './result.js';
import {
  runCommand,
  sendSettingsOf,
  snapshotInvocations,
  type CommandOutputOptions,
  type InvocationReport,
  type RunCommandOptions,
  type RunCommandResult,
  type SendSettings,
} from './run-command.js';
import { MAX_COMMANDS_BYTES, utf8Bytes, wrapForRunShellScript } from './shell-wrapper.js';
import { DEFAULT_STATE_DIR, type DeploySpec } from './spec.js';
import { instancesOf, MAX_INSTANCE_IDS, type RolloutTargets } from './targets.js';

export interface DeployCommand {
  /** The bash script each host runs (what print-script shows). */
  script: string;
  /** The `commands` element sent to SSM: the script inside its sh wrapper. */
  commands: string;
}

/**
 * The spec as the hosts get it: without a `region` input, the AWS CLI on the host works in the
 * instances' own region (for env-from-ssm parameters), whatever its configuration says.
 */
export function hostSpec(spec: DeploySpec, region: string | undefined): DeploySpec {
  return spec.region === undefined && region ? { ...spec, region } : spec;
}

/** Render and wrap the host script; throws when it is larger than SSM accepts. */
export function prepareDeployCommand(spec: DeploySpec): DeployCommand {
  const script = renderDeployScript(spec);
  const commands = wrapForRunShellScript(script, spec.stateDir ?? DEFAULT_STATE_DIR);
  const bytes = utf8Bytes(commands);
  if (bytes > MAX_COMMANDS_BYTES) {
    throw new Error(
      `the deploy script is ${bytes} bytes, more than the ${MAX_COMMANDS_BYTES} SSM accepts in one command: ` +
        `shorten 'env' or 'run-options', or move values to 'env-from-ssm'`,
    );
  }
  return { script, commands };
}

/** The wait settings are the tracking's (the defaults suit real SSM). */
export interface DeployEc2SsmOptions extends SendSettings {
  spec: DeploySpec;
  /**
   * The command rendered from `hostSpec(spec, region)`, when the caller rendered it already (the
   * adapter does, before any AWS call); else it is rendered here.
   */
  command?: DeployCommand;
  targets: RolloutTargets;
  maxConcurrency: string;
  maxErrors: string;
  comment: string;
  /** Deadline from sending the command until every instance has finished. */
  timeoutMs: number;
  /** Bound on the script on each instance. */
  executionTimeoutMs: number;
  /** Deadline for the SSM agents to be Online before sending; 0 skips the check. */
  waitForAgentMs: number;
  /** Instances whose agent is offline are skipped either way; true makes that a success. */
  skipOffline?: boolean;
  /** pre-deploy-command: run once on one host first; the rollout happens only if it exits 0. */
  preDeploy?: PreDeployOptions;
}

export interface InstanceOutcome {
  instanceId: string;
  /** SSM's status of the invocation, without spaces: `Success`, `Failed`, `Undeliverable`... */
  status: string;
  /** That status in words. */
  statusWords: string;
  succeeded: boolean;
  /** What the host script reported (or `skipped`: nothing was sent); undefined without a result. */
  result?: DeployOutcome | 'skipped';
  previousImage?: string;
  newImage?: string;
  rolledBack: boolean;
  durationMs?: number;
  /** Why the host script failed, from its result line. */
  reason?: string;
  /** The step it failed at, from its result line (`pull`, `health`, `rollback`...). */
  failedStep?: string;
  /** The end of the instance's output (stdout, then stderr), for failed instances. */
  outputTail?: string;
  /** SSM kept only the start of the output. */
  truncated: boolean;
  /**
   * The last step the host reported (its latest `==>` line) when it gave no result: where a
   * cancelled or timed-out host was when the action stopped following it.
   */
  lastStep?: string;
}

/** partial: every reached host deployed, but offline ones were skipped (a failure unless skip-offline). */
export type RolloutStatus = 'succeeded' | 'partial' | 'failed' | 'timed-out' | 'cancelled';

export interface DeployRollout {
  status: RolloutStatus;
  region: string;
  commandId?: string;
  /** Every command sent, when there were several. */
  commandIds?: string[];
  consoleUrl?: string;
  /** Sorted by instance ID. */
  instances: InstanceOutcome[];
  /** Hosts on the new image. */
  succeeded: number;
  /** Hosts a newer workflow run had deployed to: nothing applied, not a failure. */
  outdated: number;
  /** Hosts whose SSM agent was offline: nothing sent to them. */
  skipped?: number;
  failed: number;
  /** Why the rollout as a whole did not succeed, beyond the failed instances. */
  reason?: string;
  /** Where the complete output of each instance is, when configured. */
  fullOutput?: string;
  elapsedMs: number;
  /** The command could not be cancelled at the deadline or on cancellation. */
  cancelError?: string;
  /** How the pre-deploy-command went, when there was one. */
  preDeploy?: PreDeployReport;
}

const TAIL_LINES = 30;

export async function deployEc2Ssm(opts: DeployEc2SsmOptions): Promise<DeployRollout> {
  const pre = await preDeployFirst(opts);
  if ('stopped' in pre) return pre.stopped;
  const reach = await reachInstances(opts);
  if (!reach.ready) return withPreDeploy(reach.rollout, pre.report);
  const rollout = await sendAndFollow(opts, reach.targets, {
    maxErrors: opts.maxErrors,
    timeoutMs: opts.timeoutMs,
  });
  const done = withSkipped(
    { ...rollout, elapsedMs: reach.elapsedMs + rollout.elapsedMs },
    reach.offline,
    opts.spec.image,
    opts.skipOffline === true,
  );
  return withPreDeploy(done, pre.report);
}

/**
 * pre-deploy-command, before any host is touched (and before any is taken out of a load
 * balancer): the rollout that did not happen when it did not exit 0, else its report.
 */
export async function preDeployFirst(
  opts: DeployEc2SsmOptions,
): Promise<{ stopped: DeployRollout } | { report?: PreDeployReport }> {
  if (!opts.preDeploy) return {};
  const spec = hostSpec(opts.spec, opts.region);
  const report = await runPreDeploy({ ...opts, spec, pre: opts.preDeploy });
  if (report.status !== 'succeeded') return { stopped: rolloutStoppedBy(report, baseOf(opts)) };
  return { report };
}

export function withPreDeploy<T extends DeployRollout>(rollout: T, report?: PreDeployReport): T {
  return report ? { ...rollout, preDeploy: report } : rollout;
}

export type Reach =
  | {
      ready: true;
      /** What to send to: the targets as given, or the online instances by ID. */
      targets: RolloutTargets;
      /** Instance IDs, when known (given, or resolved from tags while waiting for agents). */
      instanceIds?: string[];
      offline: NotOnline[];
      elapsedMs: number;
    }
  | { ready: false; rollout: DeployRollout };

/**
 * Wait for the SSM agents (unless wait-for-agent is 0 and no instance list is needed): the
 * instances to send to, with those whose agent has long been offline set aside.
 * `resolveTags` resolves tag targets to instance IDs even without waiting.
 */
export async function reachInstances(
  opts: DeployEc2SsmOptions,
  resolveTags = false,
): Promise<Reach> {
  const logger = opts.logger ?? silentLogger;
  const base = baseOf(opts);
  const given = opts.targets.kind === 'instances' ? opts.targets.instanceIds : undefined;
  if (opts.waitForAgentMs <= 0 && (given || !resolveTags))
    return {
      ready: true,
      targets: opts.targets,
      ...(given ? { instanceIds: given } : {}),
      offline: [],
      elapsedMs: 0,
    };
  const agents = await waitForAgents({
    ssm: opts.ssm,
    targets: opts.targets,
    region: opts.region,
    // One look is enough to resolve tags when waiting was turned off.
    timeoutMs: Math.max(0, opts.waitForAgentMs),
    clock: opts.clock,
    random: opts.random,
    signal: opts.signal,
    logger,
  });
  if (!agents.ready) {
    const cancelled = opts.signal?.aborted === true;
    return {
      ready: false,
      rollout: {
        ...base,
        status: cancelled ? 'cancelled' : 'failed',
        instances: [],
        succeeded: 0,
        outdated: 0,
        failed: 0,
        reason: cancelled
          ? 'the workflow was cancelled before the command was sent'
          : `nothing was sent: ${agents.reason}`,
        elapsedMs: agents.elapsedMs,
      },
    };
  }
  // Instances whose agent has long been offline would hold the rollout until its deadline:
  // they are skipped, and the online ones get the command by ID.
  if (agents.offline.length > 0) {
    logger.info(
      `skipping ${agents.offline.length} instance(s) whose SSM agent is offline: ${agents.offline.map(describeOffline).join(', ')}; ` +
        `sending to the ${agents.instanceIds.length} online instance(s) by ID`,
    );
    return {
      ready: true,
      targets: { kind: 'instances', instanceIds: agents.instanceIds },
      instanceIds: agents.instanceIds,
      offline: agents.offline,
      elapsedMs: agents.elapsedMs,
    };
  }
  return {
    ready: true,
    targets: opts.targets,
    instanceIds: agents.instanceIds,
    offline: [],
    elapsedMs: agents.elapsedMs,
  };
}

/** Send the deploy to `targets` (one command per 50 IDs) and follow it to every host's outcome. */
export async function sendAndFollow(
  opts: DeployEc2SsmOptions,
  targets: RolloutTargets,
  limits: { maxConcurrency?: string; maxErrors: string; timeoutMs: number },
): Promise<DeployRollout> {
  const logger = opts.logger ?? silentLogger;
  const spec = hostSpec(opts.spec, opts.region);
  const { commands } = opts.command ?? prepareDeployCommand(spec);
  const run = await runInChunks({
    ...sendSettingsOf(opts),
    targets,
    commands,
    executionTimeoutSeconds: Math.ceil(opts.executionTimeoutMs / 1000),
    maxConcurrency: limits.maxConcurrency ?? opts.maxConcurrency,
    maxErrors: limits.maxErrors,
    comment: opts.comment,
    timeoutMs: limits.timeoutMs,
    onInstanceDone: (inv) => {
      const outcome = instanceOutcome(inv, spec.image);
      if (!outcome.succeeded) logger.info(`${inv.instanceId}: ${describeInstanceFailure(outcome)}`);
    },
  });
  return rolloutOf(run, spec.image, baseOf(opts));
}

/** What every rollout report carries: the region, and where the complete output is. */
export function baseOf(opts: DeployEc2SsmOptions): { region: string; fullOutput?: string } {
  const fullOutput = describeFullOutput(opts.output);
  return { region: opts.region, ...(fullOutput ? { fullOutput } : {}) };
}

/**
 * Send to more than 50 instance IDs as one command per 50, one after the other, so that
 * max-concurrency holds within each and max-errors across all: each command may fail only as
 * many hosts as are left of the budget, and no command is sent once it is spent.
 */
async function runInChunks(opts: RunCommandOptions): Promise<RunCommandResult> {
  if (opts.targets.kind !== 'instances' || opts.targets.instanceIds.length <= MAX_INSTANCE_IDS)
    return runCommand(opts);
  const clock = opts.clock ?? systemClock;
  const ids = opts.targets.instanceIds;
  const allowed = instancesOf(opts.maxErrors, ids.length);
  const started = clock.now();
  const results: RunCommandResult[] = [];
  let failed = 0;
  for (let i = 0; i < ids.length; i += MAX_INSTANCE_IDS) {
    const left = opts.timeoutMs - (clock.now() - started);
    if (failed > allowed || left <= 0 || opts.signal?.aborted) break;
    const r = await runCommand({
      ...opts,
      targets: { kind: 'instances', instanceIds: ids.slice(i, i + MAX_INSTANCE_IDS) },
      maxErrors: String(allowed - failed),
      timeoutMs: left,
    });
    results.push(r);
    failed += r.invocations.filter((inv) => inv.state.terminal && !inv.state.succeeded).length;
    if (r.outcome !== 'finished') break;
  }
  const sent = new Set(results.flatMap((r) => r.invocations.map((inv) => inv.instanceId)));
  const notSent: InvocationReport[] = ids
    .filter((id) => !sent.has(id))
    .map((instanceId) => ({ instanceId, state: invocationState('Terminated'), truncated: false }));
  const last = results.at(-1) as RunCommandResult;
  return {
    ...last,
    commandId: results[0]?.commandId ?? last.commandId,
    commandIds: results.flatMap((r) => r.commandIds ?? [r.commandId]),
    invocations: [...results.flatMap((r) => r.invocations), ...notSent].sort((a, b) =>
      a.instanceId.localeCompare(b.instanceId),
    ),
    elapsedMs: clock.now() - started,
    consoleUrl: results[0]?.consoleUrl ?? last.consoleUrl,
  };
}

/** The offline instances, each reported as skipped; `partial` unless skip-offline allows them. */
export function withSkipped(
  rollout: DeployRollout,
  offline: NotOnline[],
  image: string,
  skipOffline: boolean,
): DeployRollout {
  if (offline.length === 0) return rollout;
  const skipped: InstanceOutcome[] = offline.map((n) => ({
    instanceId: n.instanceId,
    status: 'Skipped',
    statusWords: `skipped: its SSM agent is offline (${describeOffline(n).replace(`${n.instanceId} (`, '').replace(/\)$/, '')})`,
    succeeded: false,
    newImage: image,
    rolledBack: false,
    truncated: false,
    result: 'skipped',
  }));
  const status: RolloutStatus =
    rollout.status === 'succeeded' && !skipOffline ? 'partial' : rollout.status;
  return {
    ...rollout,
    status,
    instances: [...rollout.instances, ...skipped].sort((a, b) =>
      a.instanceId.localeCompare(b.instanceId),
    ),
    skipped: skipped.length,
    ...(status === 'partial'
      ? {
          reason: `${skipped.length} instance(s) were skipped because their SSM agent is offline; set skip-offline: true if that is acceptable`,
        }
      : {}),
  };
}

function rolloutOf(
  run: RunCommandResult,
  image: string,
  base: { region: string; fullOutput?: string },
): DeployRollout {
  const instances = run.invocations.map((inv) => instanceOutcome(inv, image));
  const outdated = instances.filter((i) => i.succeeded && i.result === 'outdated').length;
  const succeeded = instances.filter((i) => i.succeeded).length - outdated;
  const failed = instances.length - succeeded - outdated;
  let status: RolloutStatus;
  let reason = run.reason;
  if (run.outcome === 'deadline') status = 'timed-out';
  else if (run.outcome === 'cancelled') status = 'cancelled';
  else if (run.outcome === 'tracking-failed') status = 'failed';
  else if (instances.length === 0) {
    status = 'failed';
    reason = `no instance matched the targets (SSM: ${run.commandStatus ?? 'no invocation'})`;
  } else status = failed > 0 ? 'failed' : 'succeeded';
  if (status === 'timed-out' || status === 'cancelled') {
    // Started: its output shows a step, or SSM still has it running.
    const midDeploy = instances.filter(
      (i) => i.result === undefined && (i.lastStep !== undefined || i.status === 'InProgress'),
    ).length;
    if (midDeploy > 0)
      reason = `${reason ?? status}; ${midDeploy} host(s) were mid-deploy: ${DETACHED_NOTE}. Hosts that had not started were cancelled.`;
  }
  return {
    ...base,
    status,
    commandId: run.commandId,
    ...(run.commandIds ? { commandIds: run.commandIds } : {}),
    consoleUrl: run.consoleUrl,
    instances,
    succeeded,
    outdated,
    failed,
    ...(reason !== undefined ? { reason } : {}),
    elapsedMs: run.elapsedMs,
    ...(run.cancel?.error ? { cancelError: run.cancel.error } : {}),
  };
}

export function instanceOutcome(inv: InvocationReport, image: string): InstanceOutcome {
  // stderr holds only the result line; stdout has it last, unless SSM cut stdout short.
  const sources = inv.truncated ? [inv.stderr, inv.stdout] : [inv.stdout, inv.stderr];
  let parsed: DeployResult | undefined;
  for (const text of sources) parsed ??= parseDeployResult(text ?? '');
  const outcome: InstanceOutcome = {
    instanceId: inv.instanceId,
    status: inv.state.key,
    statusWords: inv.state.words,
    succeeded: inv.state.succeeded,
    rolledBack: parsed?.outcome === 'rolled-back',
    newImage: parsed?.newImage || image,
    truncated: inv.truncated,
  };
  if (parsed) outcome.result = parsed.outcome;
  if (parsed?.previousImage) outcome.previousImage = parsed.previousImage;
  if (parsed?.reason) outcome.reason = parsed.reason;
  if (parsed?.failedStep) outcome.failedStep = parsed.failedStep;
  if (!parsed) {
    const step = lastStepOf(inv.stdout ?? '');
    if (step) outcome.lastStep = step;
  }
  if (inv.durationMs !== undefined) outcome.durationMs = inv.durationMs;
  if (!inv.state.succeeded) {
    const tail = tailOf(inv);
    if (tail) outcome.outputTail = tail;
    if (inv.readError) outcome.reason ??= `its output could not be read (${inv.readError})`;
  }
  return outcome;
}

/** One line: status in words, the script's reason, and whether the previous version runs again. */
export function describeInstanceFailure(o: InstanceOutcome): string {
  const parts = [o.statusWords];
  if (o.reason) parts.push(o.reason);
  if (o.result === 'rolled-back')
    parts.push(`rolled back: ${o.previousImage ?? 'the previous image'} runs again`);
  else if (o.result === 'rejected')
    parts.push(
      `rejected as a candidate: ${o.previousImage ?? 'the previous container'} kept serving throughout`,
    );
  else if (o.result === 'failed-no-previous')
    parts.push('no previous container to roll back to: nothing runs');
  else if (o.result === undefined && o.status !== 'Success' && isNotRun(o.status))
    parts.push('nothing was changed on it');
  else if (o.result === undefined && o.lastStep)
    parts.push(`last seen: ${o.lastStep}; ${DETACHED_NOTE}`);
  // The script surely started: SSM still runs it, or killed it at execution-timeout.
  else if (o.result === undefined && ['InProgress', 'ExecutionTimedOut'].includes(o.status))
    parts.push(DETACHED_NOTE);
  else if (o.result === undefined) parts.push('no result line: state of the host unknown');
  if (o.truncated) parts.push('SSM truncated its output');
  return parts.join('; ');
}

/** Where each host of a cancelled command is: its result if it has one, else its last step. */
export async function readCancelledHosts(
  ssm: SSMClient,
  commandId: string,
  image: string,
): Promise<InstanceOutcome[]> {
  return (await snapshotInvocations(ssm, commandId)).map((inv) => instanceOutcome(inv, image));
}

/** The text of the last progress line (`==> 12:00:01 stopping ...`) of a host's output. */
function lastStepOf(stdout: string): string | undefined {
  const steps = [...stdout.matchAll(/^==> \d\d:\d\d:\d\d (.+)$/gm)];
  return steps.at(-1)?.[1]?.slice(0, 200);
}

/** What a host whose launcher was stopped mid-deploy does next: the promise, in words. */
const DETACHED_NOTE =
  'the deploy goes on detached on the host and ends on the new version or the previous one within execution-timeout';

/** Instances the script never started on (the `ran: false` rows of the status table). */
function isNotRun(status: string): boolean {
  return !invocationState(status).ran;
}

/**
 * How many waves SSM needs for `instanceCount` instances at `maxConcurrency` (a number or a
 * percentage); undefined when it cannot be told (a number of instances unknown for tag targets).
 */
export function rolloutWaves(maxConcurrency: string, instanceCount?: number): number | undefined {
  const percent = /^(\d+)%$/.exec(maxConcurrency);
  if (percent) {
    const pct = Math.max(1, Number(percent[1]));
    if (instanceCount === undefined) return Math.ceil(100 / pct);
    return Math.ceil(instanceCount / Math.max(1, instancesOf(`${pct}%`, instanceCount)));
  }
  if (instanceCount === undefined) return undefined;
  return Math.ceil(instanceCount / Math.max(1, Number(maxConcurrency)));
}

/**
 * A warning when `timeout` cannot cover the waves `max-concurrency` implies, each as long as
 * `execution-timeout` at worst. Only a warning: how SSM rounds percentages is not documented.
 */
export function timeoutCoverageWarning(opts: {
  timeoutMs: number;
  executionTimeoutMs: number;
  maxConcurrency: string;
  instanceCount?: number;
}): string | undefined {
  const waves = rolloutWaves(opts.maxConcurrency, opts.instanceCount);
  if (waves === undefined || waves * opts.executionTimeoutMs <= opts.timeoutMs) return undefined;
  const of = opts.instanceCount === undefined ? '' : ` of ${opts.instanceCount} instances`;
  return (
    `timeout (${formatDuration(opts.timeoutMs)}) may not cover the rollout: max-concurrency ${opts.maxConcurrency}${of} ` +
    `means ${waves} waves, and ${waves} × execution-timeout (${formatDuration(opts.executionTimeoutMs)}) = ` +
    `${formatDuration(waves * opts.executionTimeoutMs)}. Hosts of the last waves would be cancelled before they start; ` +
    'raise timeout or max-concurrency.'
  );
}

function tailOf(inv: InvocationReport): string | undefined {
  const text = [inv.stdout ?? '', inv.stderr ? `--- stderr ---\n${inv.stderr}` : '']
    .filter((t) => t.trim() !== '')
    .join('\n');
  if (text === '') return undefined;
  return text.trimEnd().split('\n').slice(-TAIL_LINES).join('\n');
}

function describeFullOutput(output: CommandOutputOptions | undefined): string | undefined {
  const where: string[] = [];
  if (output?.s3BucketName)
    where.push(`s3://${output.s3BucketName}/${output.s3KeyPrefix ? `${output.s3KeyPrefix}/` : ''}`);
  if (output?.cloudWatchLogGroup) where.push(`CloudWatch Logs group ${output.cloudWatchLogGroup}`);
  return where.length ? where.join(' and ') : undefined;
}
