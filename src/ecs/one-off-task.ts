/**
 * `pre-deploy-command`: the new revision, run once as a one-off task (RunTask) with the command of
 * one container overridden, after the revision is registered and before any service is updated.
 * It runs where the service runs (its cluster, subnets, security groups, capacity provider
 * strategy or launch type, platform version), so it reaches what the service reaches (a database
 * in a private subnet) with the service's task role. Success is that container exiting 0;
 * anything else stops the rollout before any UpdateService.
 */
import {
  DescribeTaskDefinitionCommand,
  DescribeTasksCommand,
  RunTaskCommand,
  StopTaskCommand,
  type ContainerDefinition,
  type KeyValuePair,
  type RunTaskCommandInput,
  type Service,
  type Task,
} from '@aws-sdk/client-ecs';
import { poll, type Clock, type Timing } from '../poll.js';
import type { Logger } from '../logger.js';
import { ProgressLog } from '../progress.js';
import { awsErrorText, isThrottling } from '../aws.js';
import { formatDuration } from '../duration.js';
import { shortTaskDefinition } from './task-definition.js';
import type { EcsApi } from './watch.js';

export interface PreDeployOverrides {
  environment?: KeyValuePair[];
  /** CPU units for the container. */
  cpu?: number;
  /** Hard memory limit of the container, MiB. */
  memory?: number;
}

export interface PreDeployOptions {
  /** Arguments replacing the image's CMD (its ENTRYPOINT stays), already split. */
  command: string[];
  /** `pre-deploy-container`; default: the container being updated, or the only essential one. */
  container?: string;
  timeoutMs: number;
  overrides?: PreDeployOverrides;
  /** The task's `startedBy`, naming the run (ECS: up to 36 letters, digits, -, _ and /). */
  startedBy?: string;
  /** Called as soon as RunTask returned the task: the caller records it for its post step. */
  onStarted?: (taskArn: string) => void;
  /** Called once the task is known to be stopped (or stopping, after our StopTask). */
  onSettled?: (taskArn: string) => void;
}

/** What the rollout knows of a revision before anything is registered. */
export interface PreDeployCandidate {
  /** The registration's key, or the current task definition's ARN when nothing is registered. */
  key: string;
  /** For messages: `task definition 'api:12' of service 'api'`. */
  where: string;
  /** The containers the revision will have; undefined: read them from `describe`. */
  containers?: ContainerDefinition[];
  /** The task definition to describe when `containers` is not known (a forced deployment). */
  describe?: string;
  /** Containers this run sets an image for. */
  updated: string[];
  /** The first service, in input order, that runs this revision: its network configuration is used. */
  service: Service;
  serviceName: string;
}

/** One one-off task to run: the container is checked, the revision's ARN comes after registering. */
export interface PlannedOneOff {
  key: string;
  container: string;
  service: Service;
  serviceName: string;
  /** The container's awslogs options, for the console link. */
  awslogs?: AwslogsOptions;
}

export interface AwslogsOptions {
  group: string;
  region?: string;
  streamPrefix?: string;
}

export type OneOffStatus = 'succeeded' | 'failed' | 'timed-out' | 'cancelled' | 'error';

export interface OneOffReport {
  taskDefinition: string;
  /** The service whose network configuration the task ran with. */
  service: string;
  container: string;
  status: OneOffStatus;
  headline: string;
  taskArn?: string;
  exitCode?: number;
  stoppedReason?: string;
  /** The CloudWatch console link to the container's log stream (awslogs only). */
  logUrl?: string;
  /** From RunTask to the verdict. */
  elapsedMs: number;
}

/** DescribeTasks every 2 s: a STOPPED task is seen within 2 s, like the rollout watch. */
const ONE_OFF_POLL_INTERVAL_MS = 2000;
/** Backoff ceiling, only reached while ECS keeps throttling us. */
const MAX_THROTTLED_INTERVAL_MS = 30_000;
/** What StopTask tells ECS (and whoever reads the stopped task). */
const STOP_REASON_DEADLINE = 'shipyard: pre-deploy-timeout passed';
const STOP_REASON_CANCEL = 'shipyard: the deploy step was cancelled';

const DEFAULT_STARTED_BY = 'shipyard';

/** ECS's default for `essential`: true unless set false. */
const isEssential = (c: ContainerDefinition) => c.essential !== false;

/**
 * Which container of each distinct revision runs the command; every problem is returned, before
 * anything is registered. Candidates come in input order: the first service of a revision wins.
 */
export async function planPreDeploy(
  ecs: EcsApi,
  preDeploy: PreDeployOptions,
  candidates: readonly PreDeployCandidate[],
): Promise<{ planned: PlannedOneOff[] } | { problems: string[] }> {
  const problems: string[] = [];
  const planned: PlannedOneOff[] = [];
  const seen = new Set<string>();
  for (const c of candidates) {
    if (seen.has(c.key)) continue;
    seen.add(c.key);
    let containers = c.containers;
    if (!containers && c.describe) {
      try {
        const out = await ecs.send(
          new DescribeTaskDefinitionCommand({ taskDefinition: c.describe }),
        );
        containers = out.taskDefinition?.containerDefinitions;
      } catch (error) {
        throw new Error(
          `DescribeTaskDefinition failed for '${shortTaskDefinition(c.describe)}' (service '${c.serviceName}'): ${awsErrorText(error)}`,
        );
      }
    }
    const chosen = chooseContainer(containers ?? [], preDeploy.container, c.updated, c.where);
    if ('problem' in chosen) {
      problems.push(chosen.problem);
      continue;
    }
    const awslogs = awslogsOf(chosen.definition);
    planned.push({
      key: c.key,
      container: chosen.definition.name ?? '',
      service: c.service,
      serviceName: c.serviceName,
      ...(awslogs ? { awslogs } : {}),
    });
  }
  return problems.length > 0 ? { problems } : { planned };
}

/**
 * `pre-deploy-container` if given, else the container this run sets an image for (when it is one),
 * else the only essential container. It must be essential: a task whose command container is not
 * essential goes on running after the command exits, and the deadline would stop it as a failure.
 */
export function chooseContainer(
  containers: readonly ContainerDefinition[],
  explicit: string | undefined,
  updated: readonly string[],
  where: string,
): { definition: ContainerDefinition } | { problem: string } {
  const listed = containers.map((c) => `'${c.name ?? ''}'`).join(', ');
  const essential = containers.filter(isEssential);
  if (explicit !== undefined) {
    const found = containers.find((c) => c.name === explicit);
    if (!found) {
      return {
        problem: `input 'pre-deploy-container' names container '${explicit}', which ${where} does not have; its containers: ${listed}`,
      };
    }
    if (!isEssential(found)) {
      return {
        problem: `input 'pre-deploy-container' names container '${explicit}', which is not essential in ${where}: the task would not stop when the command exits; name an essential container`,
      };
    }
    return { definition: found };
  }
  if (updated.length === 1) {
    const found = containers.find((c) => c.name === updated[0]);
    if (found && isEssential(found)) return { definition: found };
    if (found) {
      return {
        problem: `input 'pre-deploy-container' is required: the container this run updates, '${updated[0]}', is not essential in ${where}, so the task would not stop when the command exits; name an essential container`,
      };
    }
  }
  if (essential.length === 1) return { definition: essential[0] as ContainerDefinition };
  return {
    problem: `input 'pre-deploy-container' is required: ${where} has ${essential.length} essential containers (${essential.map((c) => `'${c.name ?? ''}'`).join(', ') || 'none'}) and this run ${updated.length === 0 ? 'sets no image' : `sets images for ${updated.length} containers`}; name the one the command runs in`,
  };
}

function awslogsOf(c: ContainerDefinition): AwslogsOptions | undefined {
  const lc = c.logConfiguration;
  const group = lc?.options?.['awslogs-group'];
  if (lc?.logDriver !== 'awslogs' || !group) return undefined;
  const region = lc.options?.['awslogs-region'];
  const streamPrefix = lc.options?.['awslogs-stream-prefix'];
  return { group, ...(region ? { region } : {}), ...(streamPrefix ? { streamPrefix } : {}) };
}

/** The RunTask request: the revision, in the service's cluster and network, with the command. */
export function runTaskRequest(opts: {
  cluster: string;
  taskDefinition: string;
  service: Service;
  container: string;
  command: readonly string[];
  overrides?: PreDeployOverrides;
  startedBy?: string;
}): RunTaskCommandInput {
  const s = opts.service;
  const o = opts.overrides ?? {};
  const strategy = s.capacityProviderStrategy ?? [];
  return {
    cluster: opts.cluster,
    taskDefinition: opts.taskDefinition,
    count: 1,
    startedBy: opts.startedBy ?? DEFAULT_STARTED_BY,
    // A capacity provider strategy and a launch type exclude each other; the service has one.
    ...(strategy.length > 0
      ? { capacityProviderStrategy: structuredClone(strategy) }
      : s.launchType
        ? { launchType: s.launchType }
        : {}),
    ...(s.platformVersion ? { platformVersion: s.platformVersion } : {}),
    ...(s.networkConfiguration?.awsvpcConfiguration
      ? { networkConfiguration: structuredClone(s.networkConfiguration) }
      : {}),
    propagateTags: 'TASK_DEFINITION',
    overrides: {
      containerOverrides: [
        {
          name: opts.container,
          command: [...opts.command],
          ...(o.environment && o.environment.length > 0
            ? { environment: o.environment.map((e) => ({ ...e })) }
            : {}),
          ...(o.cpu !== undefined ? { cpu: o.cpu } : {}),
          ...(o.memory !== undefined ? { memory: o.memory } : {}),
        },
      ],
    },
  };
}

/**
 * The CloudWatch console's page for a log group, or for one of its streams. The console writes
 * the group and stream into the fragment URL-encoded twice with `%` as `$` (`/ecs/api` →
 * `$252Fecs$252Fapi`).
 */
function logConsoleUrl(awslogs: AwslogsOptions, region: string, stream?: string): string {
  const enc = (s: string) => encodeURIComponent(encodeURIComponent(s)).replace(/%/g, '$');
  const r = awslogs.region ?? region;
  return (
    `https://${r}.console.aws.amazon.com/cloudwatch/home?region=${r}` +
    `#logsV2:log-groups/log-group/${enc(awslogs.group)}` +
    (stream === undefined ? '' : `/log-events/${enc(stream)}`)
  );
}

/** The console link for a task's container: `<prefix>/<container>/<task id>` is the stream. */
export function taskLogUrl(
  awslogs: AwslogsOptions | undefined,
  container: string,
  taskArn: string,
): string | undefined {
  if (!awslogs) return undefined;
  const region = taskArn.split(':')[3] ?? '';
  // Without a prefix the stream is named after the container's ID: link to the group.
  if (!awslogs.streamPrefix) return logConsoleUrl(awslogs, region);
  return logConsoleUrl(
    awslogs,
    region,
    `${awslogs.streamPrefix}/${container}/${taskArn.split('/').pop() ?? ''}`,
  );
}

export interface RunOneOffOptions extends Timing {
  ecs: EcsApi;
  cluster: string;
  /** The revision's ARN. */
  taskDefinition: string;
  planned: PlannedOneOff;
  preDeploy: PreDeployOptions;
  clock: Clock;
  logger: Logger;
}

/** RunTask, then DescribeTasks until STOPPED (or the deadline: StopTask); the verdict. */
async function runOneOffTask(opts: RunOneOffOptions): Promise<OneOffReport> {
  const { ecs, cluster, planned, preDeploy, clock, logger } = opts;
  const started = clock.now();
  const td = shortTaskDefinition(opts.taskDefinition);
  const report: OneOffReport = {
    taskDefinition: opts.taskDefinition,
    service: planned.serviceName,
    container: planned.container,
    status: 'error',
    headline: '',
    elapsedMs: 0,
  };
  const done = (status: OneOffStatus, headline: string): OneOffReport => {
    Object.assign(report, { status, headline, elapsedMs: clock.now() - started });
    logger.info(`pre-deploy: ${headline}`);
    return report;
  };

  const request = runTaskRequest({
    cluster,
    taskDefinition: opts.taskDefinition,
    service: planned.service,
    container: planned.container,
    command: preDeploy.command,
    ...(preDeploy.overrides ? { overrides: preDeploy.overrides } : {}),
    ...(preDeploy.startedBy ? { startedBy: preDeploy.startedBy } : {}),
  });
  if (opts.signal?.aborted) return done('cancelled', 'cancelled before the task was started');
  let taskArn: string | undefined;
  try {
    const out = await ecs.send(new RunTaskCommand(request));
    const failures = out.failures ?? [];
    taskArn = out.tasks?.[0]?.taskArn;
    if (failures.length > 0 || !taskArn) {
      const why =
        failures
          .map(
            (f) =>
              `${f.reason ?? 'no reason'}${f.detail ? ` (${f.detail})` : ''}${f.arn ? ` [${f.arn}]` : ''}`,
          )
          .join('; ') || 'no task and no failure in the answer';
      return done(
        'failed',
        `RunTask started no task for ${td} (service '${planned.serviceName}' network): ${why}`,
      );
    }
  } catch (error) {
    return done('error', `RunTask failed for ${td}: ${awsErrorText(error)}`);
  }
  report.taskArn = taskArn;
  const taskId = taskArn.split('/').pop() ?? taskArn;
  const logUrl = taskLogUrl(planned.awslogs, planned.container, taskArn);
  if (logUrl) report.logUrl = logUrl;
  preDeploy.onStarted?.(taskArn);
  logger.info(
    `pre-deploy: started task ${taskId} of ${td} (container '${planned.container}', network of service '${planned.serviceName}'); waiting up to ${formatDuration(preDeploy.timeoutMs)}`,
  );

  // A line per state, and never a quiet minute.
  const progress = new ProgressLog(logger, clock);
  const result = await poll<Task>({
    timeoutMs: preDeploy.timeoutMs,
    intervalMs: ONE_OFF_POLL_INTERVAL_MS,
    maxIntervalMs: MAX_THROTTLED_INTERVAL_MS,
    clock,
    ...(opts.random ? { random: opts.random } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
    attempt: async () => {
      let task: Task | undefined;
      try {
        const out = await ecs.send(new DescribeTasksCommand({ cluster, tasks: [taskArn] }));
        task = out.tasks?.find((t) => t.taskArn === taskArn);
      } catch (error) {
        if (isThrottling(error))
          return { kind: 'wait', reason: 'DescribeTasks is throttled', backoff: true };
        return { kind: 'fail', reason: `DescribeTasks failed: ${awsErrorText(error)}` };
      }
      // Just after RunTask, DescribeTasks may not know the task yet (eventual consistency).
      const status = task?.lastStatus ?? 'not visible yet';
      if (task?.lastStatus === 'STOPPED') return { kind: 'done', value: task };
      progress.state(`pre-deploy: task ${taskId} ${status}`);
      return { kind: 'wait', reason: `task ${taskId} is ${status}` };
    },
  });

  if (result.outcome !== 'done') {
    const reason =
      result.outcome === 'aborted'
        ? STOP_REASON_CANCEL
        : result.outcome === 'deadline'
          ? STOP_REASON_DEADLINE
          : undefined;
    const stopped = await stopTask(
      ecs,
      cluster,
      taskArn,
      reason ?? 'shipyard: stopped following the task',
    );
    preDeploy.onSettled?.(taskArn);
    const stopText = stopped.error
      ? `; StopTask failed: ${stopped.error}`
      : '; stopped it (StopTask)';
    if (result.outcome === 'deadline') {
      return done(
        'timed-out',
        `task ${taskId} did not stop within pre-deploy-timeout ${formatDuration(preDeploy.timeoutMs)} (${result.reason})${stopText}${logUrl ? `; log: ${logUrl}` : ''}`,
      );
    }
    if (result.outcome === 'aborted')
      return done('cancelled', `cancelled while task ${taskId} ran${stopText}`);
    return done('error', `${result.reason}${stopText}`);
  }

  preDeploy.onSettled?.(taskArn);
  const task = result.value;
  const container = (task.containers ?? []).find((c) => c.name === planned.container);
  // The SDK may carry an exit code as null: not exited.
  const exitCode = container?.exitCode ?? undefined;
  if (exitCode !== undefined) report.exitCode = exitCode;
  if (task.stoppedReason) report.stoppedReason = task.stoppedReason;
  const ran = formatDuration(clock.now() - started);
  if (exitCode === 0) {
    return done(
      'succeeded',
      `task ${taskId} (container '${planned.container}') exited 0 after ${ran}`,
    );
  }
  const parts: string[] = [
    exitCode === undefined
      ? `task ${taskId} stopped before container '${planned.container}' exited`
      : `task ${taskId} (container '${planned.container}') exited with code ${exitCode}`,
  ];
  if (task.stoppedReason) parts.push(`stopped reason: ${task.stoppedReason}`);
  if (container?.reason && !(task.stoppedReason ?? '').includes(container.reason)) {
    parts.push(`container reason: ${container.reason}`);
  }
  if (logUrl) parts.push(`log: ${logUrl}`);
  return done('failed', `${parts.join('; ')} (after ${ran})`);
}

/** StopTask, telling ECS why (the stopped task shows it). */
export async function stopTask(
  ecs: EcsApi,
  cluster: string,
  taskArn: string,
  reason: string,
): Promise<{ error?: string }> {
  try {
    await ecs.send(new StopTaskCommand({ cluster, task: taskArn, reason }));
    return {};
  } catch (error) {
    return { error: awsErrorText(error) };
  }
}

/**
 * The post step's part: stop the one-off task if it is still running (the main step was killed
 * while waiting for it). Returns the line to log.
 */
export async function stopIfStillRunning(
  ecs: EcsApi,
  cluster: string,
  taskArn: string,
): Promise<string> {
  const taskId = taskArn.split('/').pop() ?? taskArn;
  let status: string | undefined;
  try {
    const out = await ecs.send(new DescribeTasksCommand({ cluster, tasks: [taskArn] }));
    status = out.tasks?.find((t) => t.taskArn === taskArn)?.lastStatus;
  } catch (error) {
    // Unknown: stopping a stopped task does no harm.
    status = `unknown (${awsErrorText(error)})`;
  }
  if (status === 'STOPPED') return `pre-deploy task ${taskId} had already stopped`;
  const stopped = await stopTask(ecs, cluster, taskArn, STOP_REASON_CANCEL);
  return stopped.error
    ? `could not stop pre-deploy task ${taskId} (${status ?? 'not found'}): ${stopped.error}`
    : `stopped pre-deploy task ${taskId}, which was ${status ?? 'not found'} when the deploy step was cancelled`;
}

/**
 * Run every planned one-off task, one after the other, each with its revision's ARN; stops at the
 * first that does not succeed (nothing is deployed then).
 */
export async function runPreDeployTasks(
  opts: Omit<RunOneOffOptions, 'taskDefinition' | 'planned'> & {
    planned: readonly PlannedOneOff[];
    /** The ARN to run for a planned key. */
    arnOf: (key: string) => string;
  },
): Promise<OneOffReport[]> {
  const reports: OneOffReport[] = [];
  for (const planned of opts.planned) {
    const report = await runOneOffTask({
      ...opts,
      planned,
      taskDefinition: opts.arnOf(planned.key),
    });
    reports.push(report);
    if (report.status !== 'succeeded') break;
  }
  return reports;
}
