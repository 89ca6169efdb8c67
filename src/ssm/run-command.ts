/**
 * Send one Run Command and follow it to the end on every instance, with a deadline.
 *
 * Cost of tracking: each poll lists the invocations with ListCommandInvocations (50 per page,
 * without output), so the calls per poll grow with pages, not instances. An instance's output is
 * read once, with GetCommandInvocation, when it reaches a final state. With tag targets, which SSM
 * resolves as the rollout goes, ListCommands (the command as a whole) is asked once every listed
 * invocation is final, at the start of the next poll, to learn whether SSM has more to add.
 *
 * When the deadline passes or the signal aborts, the command is cancelled so that no instance goes
 * on with a half-done rollout after we stopped watching.
 */
import {
  CancelCommandCommand,
  GetCommandInvocationCommand,
  paginateListCommandInvocations,
  ListCommandsCommand,
  SendCommandCommand,
  type SSMClient,
} from '@aws-sdk/client-ssm';
import { awsErrorName, awsErrorText, isThrottling } from '../aws.js';
import { errorMessage } from '../errors.js';
import { formatDuration } from '../duration.js';
import { poll, systemClock, type WaitSettings } from '../poll.js';
import { ssmCadence } from './cadence.js';
import { ProgressLog } from '../progress.js';
import { silentLogger, type Logger } from '../logger.js';
import {
  commandStateWords,
  invocationState,
  isCommandFinished,
  type InvocationState,
} from './statuses.js';
import { sendCommandTargets, type RolloutTargets } from './targets.js';

export interface CommandOutputOptions {
  /** Full output of every instance to S3 (SSM keeps only 24,000 characters of stdout). */
  s3BucketName?: string;
  s3KeyPrefix?: string;
  /** Full output to this CloudWatch Logs group. */
  cloudWatchLogGroup?: string;
}

/** What a caller carries on to each command it sends: where, which document, who hears of it. */
export interface SendSettings extends WaitSettings {
  ssm: SSMClient;
  /** The client's region: the console link, and the default of the host's AWS CLI. */
  region: string;
  documentName: string;
  output?: CommandOutputOptions;
  /**
   * Called as soon as SSM accepted a command (the adapter saves the ID for its post step), with
   * the instances it went to when they were given by ID.
   */
  onSent?: (commandId: string, instanceIds?: readonly string[]) => void;
  logger?: Logger;
}

/** The SendSettings part of a caller's options, to spread into the options of a send. */
export function sendSettingsOf(o: SendSettings): SendSettings {
  const { ssm, region, documentName, output, onSent, logger } = o;
  const { clock, random, signal, intervalMs, maxIntervalMs } = o;
  return {
    ssm,
    region,
    documentName,
    output,
    onSent,
    logger,
    clock,
    random,
    signal,
    intervalMs,
    maxIntervalMs,
  };
}

export interface RunCommandOptions extends SendSettings {
  targets: RolloutTargets;
  /** The one element of the document's `commands` parameter. */
  commands: string;
  executionTimeoutSeconds: number;
  maxConcurrency: string;
  maxErrors: string;
  /** At most 100 characters (SSM's limit); longer text is cut. */
  comment: string;
  /** From sending until every instance is final; also the delivery timeout given to SSM. */
  timeoutMs: number;
  /** Called once per instance when it reaches a final state and its output was read. */
  onInstanceDone?: (invocation: InvocationReport) => void;
  /** GetCommandInvocation calls in flight at once. */
  readConcurrency?: number;
}

export interface InvocationReport {
  instanceId: string;
  state: InvocationState;
  /** Standard output as SSM keeps it (its first 24,000 characters); undefined when not read. */
  stdout?: string;
  /** Standard error (its first 8,000 characters). */
  stderr?: string;
  /** SSM cut stdout or stderr; the full text is only in S3 or CloudWatch Logs, when configured. */
  truncated: boolean;
  durationMs?: number;
  /** Why the output could not be read, when it could not. */
  readError?: string;
}

export type RunOutcome =
  /** Every instance reached a final state. */
  | 'finished'
  /** The deadline passed; the command was cancelled. */
  | 'deadline'
  /** The signal aborted (the workflow was cancelled); the command was cancelled. */
  | 'cancelled'
  /** The command could not be followed (permissions); it goes on without us. */
  | 'tracking-failed';

export interface RunCommandResult {
  commandId: string;
  outcome: RunOutcome;
  /** Why it did not finish, for every outcome but `finished`. */
  reason?: string;
  /** The command as a whole, in words, when ListCommands was asked. */
  commandStatus?: string;
  /** Every command sent, when the targets took more than one (at most 50 instance IDs each). */
  commandIds?: string[];
  /** Sorted by instance ID. */
  invocations: InvocationReport[];
  cancel?: { error?: string };
  elapsedMs: number;
  consoleUrl: string;
}

/** SSM appends this to output it cut. */
const TRUNCATION_MARK = '--output truncated--';
const MIN_DELIVERY_TIMEOUT_S = 30;
const MAX_DELIVERY_TIMEOUT_S = 2_592_000;
const PAGE_SIZE = 50;
/** After a cancel, how long the outputs of started instances are read (the runner gives ~7.5 s). */
const LAST_LOOK_MS = 4_000;

export function consoleUrl(region: string, commandId: string): string {
  return `https://${region}.console.aws.amazon.com/systems-manager/run-command/${encodeURIComponent(commandId)}?region=${region}`;
}

/** Send the command. Throws, naming SSM's error, when SSM refuses it (nothing ran then). */
async function sendCommand(opts: RunCommandOptions): Promise<string> {
  const output = opts.output ?? {};
  const deliveryTimeoutS = Math.min(
    MAX_DELIVERY_TIMEOUT_S,
    Math.max(MIN_DELIVERY_TIMEOUT_S, Math.ceil(opts.timeoutMs / 1000)),
  );
  let sent;
  try {
    sent = await opts.ssm.send(
      new SendCommandCommand({
        DocumentName: opts.documentName,
        ...sendCommandTargets(opts.targets),
        Parameters: {
          commands: [opts.commands],
          executionTimeout: [String(opts.executionTimeoutSeconds)],
        },
        // No instance starts the script after our deadline: it would run unwatched.
        TimeoutSeconds: deliveryTimeoutS,
        MaxConcurrency: opts.maxConcurrency,
        MaxErrors: opts.maxErrors,
        Comment: opts.comment.slice(0, 100),
        ...(output.s3BucketName
          ? {
              OutputS3BucketName: output.s3BucketName,
              ...(output.s3KeyPrefix ? { OutputS3KeyPrefix: output.s3KeyPrefix } : {}),
            }
          : {}),
        ...(output.cloudWatchLogGroup
          ? {
              CloudWatchOutputConfig: {
                CloudWatchLogGroupName: output.cloudWatchLogGroup,
                CloudWatchOutputEnabled: true,
              },
            }
          : {}),
      }),
    );
  } catch (error) {
    throw new Error(
      `SSM refused the command (SendCommand ${awsErrorName(error)}): ${errorMessage(error)}`,
    );
  }
  const commandId = sent.Command?.CommandId;
  if (!commandId) throw new Error('SSM accepted the command but returned no command ID');
  return commandId;
}

/** Send, then follow every instance until all are final, the deadline passes or the signal aborts. */
export async function runCommand(opts: RunCommandOptions): Promise<RunCommandResult> {
  const commandId = await sendCommand(opts);
  opts.onSent?.(
    commandId,
    opts.targets.kind === 'instances' ? opts.targets.instanceIds : undefined,
  );
  return trackCommand(opts, commandId);
}

async function trackCommand(opts: RunCommandOptions, commandId: string): Promise<RunCommandResult> {
  const clock = opts.clock ?? systemClock;
  const progress = new ProgressLog(opts.logger ?? silentLogger, clock);
  const url = consoleUrl(opts.region, commandId);
  progress.say(`sent command ${commandId}: ${url}`);

  const state = new CommandProgress(opts.targets);
  const observe = async (): Promise<void> => {
    for (const done of state.record(await listInvocations(opts.ssm, commandId)))
      opts.onInstanceDone?.(done);
  };

  const result = await poll<void>({
    ...ssmCadence(opts),
    timeoutMs: opts.timeoutMs,
    attempt: async () => {
      let readsThrottled = false;
      try {
        // Tag targets, once every listed instance was final: one call tells whether SSM is done
        // or still has instances to add, before paying for the pages again.
        if (state.needsConfirmation) {
          const command = await describeCommand(opts.ssm, commandId);
          if (command)
            state.recordCommand(command.Status, command.StatusDetails, command.TargetCount);
          if (state.verdict().finished) return { kind: 'done', value: undefined };
        }
        await observe();
        readsThrottled = await readOutputs(opts, commandId, state.reports, state.unread);
      } catch (error) {
        const waiting = isThrottling(error)
          ? 'SSM is throttling; backing off'
          : isNotVisibleYet(error)
            ? 'the command is not visible in SSM yet'
            : undefined;
        if (waiting) {
          progress.state(state.lastLine ? `${state.lastLine} (${waiting})` : waiting);
          return { kind: 'wait', reason: waiting, backoff: isThrottling(error) };
        }
        return {
          kind: 'fail',
          reason: `could not follow command ${commandId} (${awsErrorText(error)}); it goes on running: ${url}`,
        };
      }
      const { line, progressed } = state.countLine();
      progress.state(line);
      const verdict = state.verdict();
      if (verdict.finished) return { kind: 'done', value: undefined };
      return { kind: 'wait', reason: verdict.reason, backoff: !progressed || readsThrottled };
    },
  });

  const report = (outcome: RunOutcome, reason?: string, cancel?: { error?: string }) => ({
    commandId,
    outcome,
    ...(reason !== undefined ? { reason } : {}),
    ...(state.commandStatus !== undefined ? { commandStatus: state.commandStatus } : {}),
    invocations: [...state.reports.values()].sort((a, b) =>
      a.instanceId.localeCompare(b.instanceId),
    ),
    ...(cancel ? { cancel } : {}),
    elapsedMs: result.elapsedMs,
    consoleUrl: url,
  });

  if (result.outcome === 'done') return report('finished');
  if (result.outcome === 'failed') return report('tracking-failed', result.reason);

  const why =
    result.outcome === 'deadline'
      ? `the rollout did not finish within ${formatDuration(opts.timeoutMs)} (timeout): ${result.reason}`
      : 'the workflow was cancelled';
  progress.say(`${why}; cancelling command ${commandId}`);
  const cancel = await cancelCommand(opts.ssm, commandId);
  if (cancel.error) progress.say(`could not cancel command ${commandId}: ${cancel.error}`);
  // One last look, so the report says where each instance was when we stopped, with the output
  // so far of those that had started (it tells how far each got), read for a few seconds at most.
  try {
    await observe();
    const started = new Set(
      [...state.reports.values()]
        .filter((r) => r.state.ran && r.stdout === undefined)
        .map((r) => r.instanceId),
    );
    await Promise.race([
      readOutputs({ ...opts, onInstanceDone: undefined }, commandId, state.reports, started),
      clock.sleep(LAST_LOOK_MS),
    ]);
  } catch {
    /* the report keeps the statuses of the last poll */
  }
  return report(result.outcome === 'deadline' ? 'deadline' : 'cancelled', why, cancel);
}

/**
 * Where a command stands: each instance's report, the outputs still to read, and SSM's own word
 * on the command. `verdict()` is the one place that says whether the rollout is finished, and
 * if not, why.
 */
class CommandProgress {
  readonly reports = new Map<string, InvocationReport>();
  /** Final instances whose output is still to be read. */
  readonly unread = new Set<string>();
  /** The command as a whole, in words, once ListCommands was asked. */
  commandStatus?: string;
  /** The last count line, for messages while SSM throttles. */
  lastLine = '';
  /**
   * SSM said the command is finished, for this many targets. Valid only until the next listing:
   * the confirmation is asked for, and used, before the pages are read again.
   */
  private confirmedTargets?: number;
  /** At least one listing was taken in: before it, "every listed instance" means nothing. */
  private listedOnce = false;

  constructor(private readonly targets: RolloutTargets) {}

  /** Take in a listing; returns the instances that became final without running (no output). */
  record(
    invocations: ReadonlyArray<{ InstanceId?: string; Status?: string; StatusDetails?: string }>,
  ) {
    this.confirmedTargets = undefined;
    this.listedOnce = true;
    const doneWithoutOutput: InvocationReport[] = [];
    for (const inv of invocations) {
      if (!inv.InstanceId) continue;
      if (this.reports.get(inv.InstanceId)?.state.terminal) continue;
      const state = invocationState(inv.Status, inv.StatusDetails);
      const report: InvocationReport = { instanceId: inv.InstanceId, state, truncated: false };
      this.reports.set(inv.InstanceId, report);
      if (state.terminal && state.ran) this.unread.add(inv.InstanceId);
      else if (state.terminal) doneWithoutOutput.push(report);
    }
    return doneWithoutOutput;
  }

  /** SSM's status of the command as a whole (ListCommands). */
  recordCommand(status?: string, details?: string, targetCount?: number): void {
    this.commandStatus = commandStateWords(status, details);
    this.confirmedTargets = isCommandFinished(status) ? (targetCount ?? 0) : undefined;
  }

  /** Every instance listed so far is final, and its output read. */
  private get listedDone(): boolean {
    return [...this.reports.values()].every((r) => r.state.terminal) && this.unread.size === 0;
  }

  /** Tag targets only: SSM may still add instances, so its word is needed before finishing. */
  get needsConfirmation(): boolean {
    return this.targets.kind === 'tags' && this.listedOnce && this.listedDone;
  }

  /** `412/1000 instances done, 3 failed, 50 running`, and whether it changed since last time. */
  countLine(): { line: string; progressed: boolean } {
    const all = [...this.reports.values()];
    const final = all.filter((r) => r.state.terminal);
    const failed = final.filter((r) => !r.state.succeeded).length;
    const running = all.filter((r) => r.state.key === 'InProgress').length;
    const line =
      `${final.length}/${all.length} instances done, ${failed} failed` +
      (running ? `, ${running} running` : '');
    const progressed = line !== this.lastLine;
    this.lastLine = line;
    return { line, progressed };
  }

  /** Is the rollout finished, and if not, why. */
  verdict(): { finished: true } | { finished: false; reason: string } {
    const size = this.reports.size;
    if (this.listedDone) {
      if (this.targets.kind === 'instances' && size >= this.targets.instanceIds.length)
        return { finished: true };
      if (
        this.targets.kind === 'tags' &&
        this.confirmedTargets !== undefined &&
        this.confirmedTargets <= size
      )
        return { finished: true };
      if (this.targets.kind === 'tags')
        return {
          finished: false,
          reason: `${size} instances done; waiting for SSM to confirm there are no more`,
        };
    }
    const open = [...this.reports.values()].filter((r) => !r.state.terminal).length;
    return {
      finished: false,
      reason: `${open + this.unread.size} of ${size || 'the'} instances not finished`,
    };
  }
}

/** Cancel every invocation of a command that has not finished. Never throws. */
export async function cancelCommand(
  ssm: SSMClient,
  commandId: string,
): Promise<{ error?: string }> {
  try {
    await ssm.send(new CancelCommandCommand({ CommandId: commandId }));
    return {};
  } catch (error) {
    return { error: `${awsErrorText(error)}` };
  }
}

/**
 * Every invocation of a command as it stands now, with the output so far of up to `maxReads` of
 * those that started: where each host is, for a report after the command was cancelled.
 */
export async function snapshotInvocations(
  ssm: SSMClient,
  commandId: string,
  maxReads = 50,
): Promise<InvocationReport[]> {
  const reports = (await listInvocations(ssm, commandId))
    .filter((inv) => inv.InstanceId)
    .map((inv): InvocationReport => ({
      instanceId: inv.InstanceId as string,
      state: invocationState(inv.Status, inv.StatusDetails),
      truncated: false,
    }))
    .sort((a, b) => a.instanceId.localeCompare(b.instanceId));
  await Promise.all(
    reports
      .filter((r) => r.state.ran)
      .slice(0, maxReads)
      .map(async (r) => {
        try {
          const out = await ssm.send(
            new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: r.instanceId }),
          );
          r.stdout = out.StandardOutputContent ?? '';
          r.stderr = out.StandardErrorContent ?? '';
        } catch (error) {
          r.readError = `${awsErrorText(error)}`;
        }
      }),
  );
  return reports;
}

async function listInvocations(ssm: SSMClient, commandId: string) {
  const all = [];
  const pages = paginateListCommandInvocations(
    { client: ssm, pageSize: PAGE_SIZE },
    { CommandId: commandId, Details: false },
  );
  for await (const page of pages) all.push(...(page.CommandInvocations ?? []));
  return all;
}

async function describeCommand(ssm: SSMClient, commandId: string) {
  const out = await ssm.send(new ListCommandsCommand({ CommandId: commandId }));
  return out.Commands?.[0];
}

/**
 * Read the output of final instances, a few at a time; what cannot be read yet waits for the next
 * poll. True when SSM throttled a read.
 */
async function readOutputs(
  opts: RunCommandOptions,
  commandId: string,
  reports: Map<string, InvocationReport>,
  unread: Set<string>,
): Promise<boolean> {
  const queue = [...unread];
  let throttled = false;
  const worker = async () => {
    for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
      const report = reports.get(id) as InvocationReport;
      try {
        const out = await opts.ssm.send(
          new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: id }),
        );
        report.stdout = out.StandardOutputContent ?? '';
        report.stderr = out.StandardErrorContent ?? '';
        report.truncated = [report.stdout, report.stderr].some((t) =>
          t.trimEnd().endsWith(TRUNCATION_MARK),
        );
        const duration = durationOf(out.ExecutionStartDateTime, out.ExecutionEndDateTime);
        if (duration !== undefined) report.durationMs = duration;
      } catch (error) {
        // Not visible yet, or throttled: try again at the next poll.
        if (isThrottling(error)) throttled = true;
        if (isThrottling(error) || isNotVisibleYet(error)) continue;
        report.readError = `${awsErrorText(error)}`;
      }
      unread.delete(id);
      opts.onInstanceDone?.(report);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, opts.readConcurrency ?? 4) }, worker));
  return throttled;
}

/** Right after SendCommand the command and its invocations may not be visible yet. */
function isNotVisibleYet(error: unknown): boolean {
  return ['InvocationDoesNotExist', 'InvalidCommandId'].includes(awsErrorName(error));
}

function durationOf(start?: string, end?: string): number | undefined {
  const ms = Date.parse(end ?? '') - Date.parse(start ?? '');
  return Number.isFinite(ms) && ms >= 0 ? ms : undefined;
}
