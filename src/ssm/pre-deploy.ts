/**
 * deploy-ec2-ssm's `pre-deploy-command`: before the rollout, the new image runs once, on one host,
 * with the command as its arguments (`<engine> run --rm IMAGE ARGS…`, the ENTRYPOINT kept) and
 * the service container's env, env-from-ssm, run-options and registry login. It goes through the
 * host script itself (src/ssm/host/deploy.sh with mode=one-off): the same lock, sweep, login and
 * pull, env-file and detached run with a deadline as a deploy. The host is the first targeted
 * instance, in sorted order, whose SSM agent is Online. Anything but exit code 0 stops the action
 * before any deploy command is sent.
 */
import { awsErrorText } from '../aws.js';
import { formatDuration } from '../duration.js';
import { systemClock } from '../poll.js';
import { errorMessage } from '../errors.js';
import { silentLogger } from '../logger.js';
import { heading } from '../summary/markdown.js';
import { describeNotOnline, listPingStatuses, waitForAgents, type Ping } from './agents.js';
import type { DeployRollout } from './deploy.js';
import { renderDeployScript } from './remote-script.js';
import { fence } from './report.js';
import { RESULT_MARKER } from './result.js';
import {
  runCommand,
  sendSettingsOf,
  type InvocationReport,
  type SendSettings,
} from './run-command.js';
import { MAX_COMMANDS_BYTES, utf8Bytes, wrapForRunShellScript } from './shell-wrapper.js';
import { DEFAULT_STATE_DIR, type DeploySpec } from './spec.js';
import type { RolloutTargets } from './targets.js';

export interface PreDeployOptions {
  /** The arguments after the image. */
  command: readonly string[];
  /** The one-off on its host (lock, pull and the run) ends within this. */
  timeoutMs: number;
  /** prepareOneOffCommand's `commands`, when the caller rendered it already (before any AWS call). */
  commands?: string;
}

/**
 * SSM's executionTimeout for the one-off is the host's own deadline plus this: the host script
 * stops the command and reports before SSM would kill the launcher that prints the result.
 */
const EXECUTION_SLACK_S = 30;
/** The runner follows the command this much longer than the host's deadline (delivery, polls). */
const TRACKING_SLACK_MS = 60_000;
const TAIL_LINES = 15;

export interface PreDeployReport {
  /** succeeded: exit code 0. Anything else: nothing was deployed. */
  status: 'succeeded' | 'failed' | 'timed-out' | 'cancelled';
  /** The host it ran on (or was sent to). */
  instanceId?: string;
  commandId?: string;
  consoleUrl?: string;
  /** The command's exit code, when it ran to an exit. */
  exitCode?: number;
  /** The end of the command's output (or of the host's, when the command did not run). */
  outputTail?: string;
  /** Why it did not succeed, in words. */
  reason?: string;
  /** Online instances passed over because they came later in sorted order are not listed. */
  skipped: Array<{ instanceId: string; pingStatus: string }>;
  elapsedMs: number;
}

/**
 * The host of the one-off: the first of `candidates` in sorted order whose agent is Online;
 * those before it that are not Online are skipped (and reported).
 */
export function firstOnlineInstance(
  candidates: readonly string[],
  pings: ReadonlyMap<string, Ping>,
): { instanceId?: string; skipped: Array<{ instanceId: string; pingStatus: string }> } {
  const skipped: Array<{ instanceId: string; pingStatus: string }> = [];
  for (const id of [...new Set(candidates)].sort()) {
    const status = pings.get(id)?.status ?? 'not registered';
    if (status === 'Online') return { instanceId: id, skipped };
    skipped.push({ instanceId: id, pingStatus: status });
  }
  return { skipped };
}

/** The `commands` element of the one-off: the host script in mode=one-off, in its sh wrapper. */
export function prepareOneOffCommand(
  spec: DeploySpec,
  pre: PreDeployOptions,
): { script: string; commands: string } {
  const script = renderDeployScript(spec, {
    command: pre.command,
    timeoutSeconds: Math.ceil(pre.timeoutMs / 1000),
  });
  const commands = wrapForRunShellScript(script, spec.stateDir ?? DEFAULT_STATE_DIR);
  const bytes = utf8Bytes(commands);
  if (bytes > MAX_COMMANDS_BYTES)
    throw new Error(
      `the pre-deploy script is ${bytes} bytes, more than the ${MAX_COMMANDS_BYTES} SSM accepts in one command: ` +
        `shorten 'pre-deploy-command', 'env' or 'run-options'`,
    );
  return { script, commands };
}

/** What the host script reports at the end of a one-off. */
export interface OneOffResult {
  outcome: 'succeeded' | 'failed' | 'outdated';
  exitCode?: number;
  reason?: string;
  failedStep?: string;
  outputTail?: string;
}

/** The last complete result line of a one-off in `output`; undefined when there is none. */
export function parseOneOffResult(output: string): OneOffResult | undefined {
  const lines = output.split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = (lines[i] as string).replace(/\r$/, '');
    if (!line.startsWith(RESULT_MARKER)) continue;
    let v: Record<string, unknown>;
    try {
      v = JSON.parse(line.slice(RESULT_MARKER.length)) as Record<string, unknown>;
    } catch {
      continue;
    }
    if (typeof v !== 'object' || v === null) continue;
    if (!['succeeded', 'failed', 'outdated'].includes(v.outcome as string)) continue;
    const result: OneOffResult = { outcome: v.outcome as OneOffResult['outcome'] };
    if (typeof v.exitCode === 'number') result.exitCode = v.exitCode;
    for (const field of ['reason', 'failedStep', 'outputTail'] as const) {
      const x = v[field];
      if (typeof x === 'string' && x !== '') result[field] = x;
    }
    return result;
  }
  return undefined;
}

export interface RunPreDeployOptions extends SendSettings {
  /** The spec as the hosts get it (hostSpec). */
  spec: DeploySpec;
  targets: RolloutTargets;
  pre: PreDeployOptions;
  comment: string;
  /** Wait this long for the targets' agents first (as the rollout does); 0 looks once. */
  waitForAgentMs: number;
}

/**
 * Choose the host, run the one-off there, and say whether the rollout may go on; the verdict and
 * the output tail are logged.
 */
export async function runPreDeploy(opts: RunPreDeployOptions): Promise<PreDeployReport> {
  const report = await runOneOff(opts);
  const logger = opts.logger ?? silentLogger;
  logger.info(describePreDeploy(report));
  if (report.outputTail)
    logger.info(`last lines of its output:\n${report.outputTail.replace(/^/gm, '  | ')}`);
  return report;
}

async function runOneOff(opts: RunPreDeployOptions): Promise<PreDeployReport> {
  const logger = opts.logger ?? silentLogger;
  const clock = opts.clock ?? systemClock;
  const started = clock.now();
  const commands = opts.pre.commands ?? prepareOneOffCommand(opts.spec, opts.pre).commands;
  const stopped = (
    status: PreDeployReport['status'],
    reason: string,
    more: Partial<PreDeployReport> = {},
  ): PreDeployReport => ({
    status,
    reason,
    skipped: [],
    ...more,
    elapsedMs: clock.now() - started,
  });

  // The host: the agents are waited for as the rollout waits for them, then looked at once.
  if (opts.waitForAgentMs > 0) {
    const agents = await waitForAgents({
      ssm: opts.ssm,
      targets: opts.targets,
      region: opts.region,
      timeoutMs: opts.waitForAgentMs,
      clock,
      random: opts.random,
      signal: opts.signal,
      logger,
    });
    if (!agents.ready)
      return opts.signal?.aborted
        ? stopped('cancelled', 'the workflow was cancelled before the pre-deploy-command was sent')
        : stopped('failed', `the pre-deploy-command was not sent: ${agents.reason}`);
  }
  let pings: Map<string, Ping>;
  try {
    pings = await listPingStatuses(opts.ssm, opts.targets);
  } catch (error) {
    return stopped(
      'failed',
      `could not list SSM agents to choose the pre-deploy host (ssm:DescribeInstanceInformation): ${awsErrorText(error)}`,
    );
  }
  const candidates =
    opts.targets.kind === 'instances' ? opts.targets.instanceIds : [...pings.keys()];
  const { instanceId, skipped } = firstOnlineInstance(candidates, pings);
  if (skipped.length > 0)
    logger.info(
      `pre-deploy-command: passing over ${skipped.map((s) => describeNotOnline(s)).join(', ')}`,
    );
  if (instanceId === undefined)
    return stopped(
      'failed',
      candidates.length === 0
        ? 'no instance registered with SSM matches the targets: the pre-deploy-command was not run'
        : 'no targeted instance has an Online SSM agent: the pre-deploy-command was not run',
      { skipped },
    );

  logger.info(
    `pre-deploy-command: running ${opts.spec.image} once on ${instanceId} (deadline ${formatDuration(opts.pre.timeoutMs)})`,
  );
  let run;
  try {
    run = await runCommand({
      ...sendSettingsOf(opts),
      targets: { kind: 'instances', instanceIds: [instanceId] },
      commands,
      executionTimeoutSeconds: Math.ceil(opts.pre.timeoutMs / 1000) + EXECUTION_SLACK_S,
      maxConcurrency: '1',
      maxErrors: '0',
      comment: `pre-deploy: ${opts.comment}`,
      timeoutMs: opts.pre.timeoutMs + TRACKING_SLACK_MS,
    });
  } catch (error) {
    return stopped('failed', errorMessage(error), { instanceId, skipped });
  }
  const sent = { instanceId, skipped, commandId: run.commandId, consoleUrl: run.consoleUrl };
  const inv = run.invocations.find((i) => i.instanceId === instanceId);
  const result = inv ? resultOf(inv) : undefined;
  const outputTail = result?.outputTail ?? (inv ? hostTail(inv) : undefined);
  const more = {
    ...sent,
    ...(result?.exitCode !== undefined ? { exitCode: result.exitCode } : {}),
    ...(outputTail ? { outputTail } : {}),
  };
  if (run.outcome === 'deadline' || run.outcome === 'cancelled')
    return stopped(
      run.outcome === 'deadline' ? 'timed-out' : 'cancelled',
      `${run.reason ?? run.outcome}; the one-off goes on detached on ${instanceId} and is stopped and removed at pre-deploy-timeout at the latest`,
      more,
    );
  if (run.outcome === 'tracking-failed')
    return stopped('failed', run.reason ?? 'the command could not be followed', more);
  if (result?.outcome === 'succeeded' && result.exitCode === 0 && inv?.state.succeeded)
    return { status: 'succeeded', ...more, elapsedMs: clock.now() - started };
  const why =
    result?.reason ??
    (result?.outcome === 'outdated'
      ? 'a newer workflow run deployed this host'
      : `no result from the host (SSM status: ${inv?.state.words ?? 'no invocation'})`);
  return stopped('failed', why, more);
}

function resultOf(inv: InvocationReport): OneOffResult | undefined {
  // stderr holds only the result line; stdout has it last, unless SSM cut stdout short.
  const sources = inv.truncated ? [inv.stderr, inv.stdout] : [inv.stdout, inv.stderr];
  let parsed: OneOffResult | undefined;
  for (const text of sources) parsed ??= parseOneOffResult(text ?? '');
  return parsed;
}

/** The end of the host's output, when the command itself gave none. */
function hostTail(inv: InvocationReport): string | undefined {
  const text = (inv.stdout ?? '').trimEnd();
  return text === '' ? undefined : text.split('\n').slice(-TAIL_LINES).join('\n');
}

/** One line: where it ran, how it ended. */
function describePreDeploy(pre: PreDeployReport): string {
  const where = pre.instanceId ? ` on ${pre.instanceId}` : '';
  const code = pre.exitCode !== undefined ? ` (exit code ${pre.exitCode})` : '';
  if (pre.status === 'succeeded') return `pre-deploy-command succeeded${where}${code}`;
  return `pre-deploy-command ${pre.status === 'failed' ? 'failed' : pre.status.replace('-', ' ')}${where}${code}: ${pre.reason ?? 'no reason given'}; nothing was deployed`;
}

/** The rollout that did not happen because the one-off did not succeed. */
export function rolloutStoppedBy(
  pre: PreDeployReport,
  base: { region: string; fullOutput?: string },
): DeployRollout {
  const status =
    pre.status === 'timed-out' ? 'timed-out' : pre.status === 'cancelled' ? 'cancelled' : 'failed';
  const tail = pre.outputTail
    ? `\n${pre.outputTail.trimEnd().split('\n').slice(-5).join('\n')}`
    : '';
  return {
    ...base,
    status,
    instances: [],
    succeeded: 0,
    outdated: 0,
    failed: 0,
    reason: `${describePreDeploy(pre)}${tail}`,
    elapsedMs: pre.elapsedMs,
    preDeploy: pre,
  };
}

/** The job summary's section on the one-off. */
export function preDeploySummary(pre: PreDeployReport): string {
  let md = heading(describePreDeploy(pre));
  if (pre.commandId && pre.consoleUrl)
    md += `Command [${pre.commandId}](${pre.consoleUrl}), ${formatDuration(pre.elapsedMs)}.\n\n`;
  if (pre.outputTail) md += `Last lines of its output:\n\n${fence(pre.outputTail)}\n`;
  return md;
}
