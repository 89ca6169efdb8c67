/**
 * Follow one CodeDeploy deployment of an ECS service until CodeDeploy says how it ended: Succeeded
 * (after the deployment group's waits and the traffic routing), Failed or Stopped, rolled back by
 * CodeDeploy or not. The ECS target (GetDeploymentTarget) is read every poll while it runs: its
 * lifecycle events make one log line per change, its task sets the traffic percentage. The
 * deployment itself (GetDeployment) is read when the target says it finished, and every few polls
 * in case it ended without the target saying so (an alarm, a stop); DescribeServices every few
 * polls for the service events.
 */
import {
  GetDeploymentCommand,
  GetDeploymentTargetCommand,
  ListDeploymentTargetsCommand,
  type DeploymentInfo,
  type ECSTarget,
} from '@aws-sdk/client-codedeploy';
import { poll, type Clock, type Step, type Timing } from '../../poll.js';
import type { Logger } from '../../logger.js';
import { awsErrorName, awsErrorText, isThrottling } from '../../aws.js';
import { formatDuration } from '../../duration.js';
import type { SeenEvent } from '../deployment.js';
import { DeploymentTimeline } from '../timeline.js';
import { EVENTS_EVERY_POLLS } from '../follow.js';
import {
  MAX_THROTTLED_INTERVAL_MS,
  POLL_INTERVAL_MS,
  type EcsApi,
  type StageChange,
} from '../watch.js';
import type { CodeDeployApi } from './options.js';

/** The deployment is read every this many polls even while its target runs. */
const DEPLOYMENT_EVERY_POLLS = 5;

export interface CodeDeployFollowOptions extends Timing {
  codeDeploy: CodeDeployApi;
  ecs: EcsApi;
  cluster: string;
  service: string;
  label: string;
  deploymentId: string;
  /** `CodeDeploy CodeDeployDefault.ECSAllAtOnce`: how lines name the deployment. */
  kind: string;
  seenEventIds: Set<string>;
  timeoutMs: number;
  waitForRollback: boolean;
  clock: Clock;
  logger: Logger;
  onAttempt?: (progress: string) => void;
}

export type CodeDeployOutcome =
  | 'completed'
  /** Failed, and CodeDeploy did not roll it back. */
  | 'failed'
  /** Stopped (by someone, or an alarm) without a rollback. */
  | 'stopped'
  /** CodeDeploy rolls it back (or has): see `rollback`. */
  | 'rolled-back'
  | 'rollback-failed'
  | 'timed-out'
  | 'cancelled'
  | 'error';

export interface CodeDeployFollowResult {
  outcome: CodeDeployOutcome;
  headline: string;
  elapsedMs: number;
  progress: string;
  stages: StageChange[];
  events: SeenEvent[];
  rollback?: { deploymentId?: string; outcome: 'in-progress' | 'completed' | 'failed' };
}

type Verdict = Pick<CodeDeployFollowResult, 'outcome' | 'headline' | 'rollback'>;

const FINISHED = new Set(['Succeeded', 'Failed', 'Stopped']);
const TARGET_FINISHED = new Set(['Succeeded', 'Failed', 'Skipped']);

/** The lifecycle event under way: the one in progress, else the last one that finished. */
function currentEvent(target: ECSTarget | undefined): string {
  const events = target?.lifecycleEvents ?? [];
  const running = events.find((e) => e.status === 'InProgress' || e.status === 'Failed');
  if (running?.lifecycleEventName) return running.lifecycleEventName;
  const done = events.filter((e) => e.status === 'Succeeded');
  return done[done.length - 1]?.lifecycleEventName ?? 'Pending';
}

/** `production traffic 10%`: the replacement (Green) task set's weight; '' before it has any. */
function trafficOf(target: ECSTarget | undefined): string {
  const green = target?.taskSetsInfo?.find((t) => t.taskSetLabel === 'Green');
  const weight = green?.trafficWeight;
  return weight ? `production traffic ${weight}%` : '';
}

/**
 * Why a deployment failed, in one line: CodeDeploy's error code and message, the lifecycle event
 * that failed with its diagnostics, and what CodeDeploy says of its rollback.
 */
function codeDeployFailure(info: DeploymentInfo, target: ECSTarget | undefined): string {
  const parts: string[] = [];
  const err = info.errorInformation;
  if (err?.code || err?.message)
    parts.push([err.code, err.message].filter((t) => t !== undefined).join(': '));
  for (const e of target?.lifecycleEvents ?? []) {
    if (e.status !== 'Failed') continue;
    const d = e.diagnostics;
    const detail = [d?.errorCode, d?.message].filter((t) => t).join(': ');
    parts.push(
      `lifecycle event ${e.lifecycleEventName ?? '?'} failed${detail ? ` (${detail})` : ''}`,
    );
  }
  if (info.rollbackInfo?.rollbackMessage) parts.push(info.rollbackInfo.rollbackMessage);
  return parts.length > 0 ? parts.join('; ') : `status ${info.status ?? 'unknown'}`;
}

export async function followCodeDeployment(
  opts: CodeDeployFollowOptions,
): Promise<CodeDeployFollowResult> {
  const { codeDeploy, label, clock } = opts;
  const start = clock.now();
  const timeline = new DeploymentTimeline(label, opts.logger, start, 'lifecycle event');
  let progress = 'waiting for CodeDeploy to start the deployment';
  let info: DeploymentInfo | undefined;
  let target: ECSTarget | undefined;
  let targetId: string | undefined;
  let targetProblem = false;
  let rollbackId: string | undefined;
  let rollbackAnnounced = false;
  let attempts = 0;

  const throttled = (error: unknown): Step<Verdict> => {
    opts.logger.info(
      `${label}: CodeDeploy is throttling requests (${awsErrorName(error)}); backing off`,
    );
    return { kind: 'wait', reason: progress, backoff: true };
  };

  async function readTarget(): Promise<void> {
    try {
      if (targetId === undefined) {
        const out = await codeDeploy.send(
          new ListDeploymentTargetsCommand({ deploymentId: opts.deploymentId }),
        );
        targetId = out.targetIds?.[0];
        if (targetId === undefined) return;
      }
      const out = await codeDeploy.send(
        new GetDeploymentTargetCommand({ deploymentId: opts.deploymentId, targetId }),
      );
      target = out.deploymentTarget?.ecsTarget ?? target;
    } catch (error) {
      // The target is progress and diagnostics, not the verdict: say once why it is missing.
      if (isThrottling(error) || targetProblem) return;
      targetProblem = true;
      opts.logger.info(
        `${label}: could not read the deployment's ECS target (${awsErrorText(error)}); following its status only`,
      );
    }
  }

  function noteStage(): void {
    const traffic = trafficOf(target);
    timeline.note(currentEvent(target), traffic, clock.now(), [opts.kind, traffic]);
  }

  function progressOf(): string {
    const status = info?.status ?? 'Created';
    const parts = [
      `lifecycle event ${currentEvent(target)}`,
      trafficOf(target),
      status === 'Ready' ? 'status Ready: waiting for ContinueDeployment' : `status ${status}`,
    ];
    return parts.filter((p) => p !== '').join(', ');
  }

  async function followRollback(): Promise<Step<Verdict>> {
    const out = await codeDeploy.send(new GetDeploymentCommand({ deploymentId: rollbackId }));
    const status = out.deploymentInfo?.status;
    progress = `CodeDeploy rollback ${rollbackId} ${status ?? 'unknown'}`;
    if (!status || !FINISHED.has(status)) return { kind: 'wait', reason: progress };
    const reason = info ? codeDeployFailure(info, target) : '';
    return status === 'Succeeded'
      ? {
          kind: 'done',
          value: {
            outcome: 'rolled-back',
            headline: `rolled back by CodeDeploy: ${reason}`,
            rollback: { deploymentId: rollbackId, outcome: 'completed' },
          },
        }
      : {
          kind: 'done',
          value: {
            outcome: 'rollback-failed',
            headline: `the deployment failed and CodeDeploy's rollback ${rollbackId} ${status.toUpperCase()} too: ${reason}${out.deploymentInfo?.errorInformation?.message ? `; rollback: ${out.deploymentInfo.errorInformation.message}` : ''}`,
            rollback: { deploymentId: rollbackId, outcome: 'failed' },
          },
        };
  }

  async function attempt(): Promise<Step<Verdict>> {
    attempts++;
    try {
      if (rollbackId !== undefined) return await followRollback();
      const targetRunning = target === undefined || !TARGET_FINISHED.has(target.status ?? '');
      if (targetRunning) await readTarget();
      const targetDone = target !== undefined && TARGET_FINISHED.has(target.status ?? '');
      if (info === undefined || targetDone || attempts % DEPLOYMENT_EVERY_POLLS === 1) {
        const out = await codeDeploy.send(
          new GetDeploymentCommand({ deploymentId: opts.deploymentId }),
        );
        info = out.deploymentInfo ?? info;
      }
    } catch (error) {
      if (isThrottling(error)) return throttled(error);
      return {
        kind: 'done',
        value: { outcome: 'error', headline: `GetDeployment failed: ${awsErrorText(error)}` },
      };
    }
    const status = info?.status ?? 'Created';
    const finished = FINISHED.has(status);
    // The last look at the target, for the failing lifecycle event's diagnostics.
    if (finished && status !== 'Succeeded' && !TARGET_FINISHED.has(target?.status ?? ''))
      await readTarget();
    noteStage();
    progress = progressOf();
    if (attempts % EVENTS_EVERY_POLLS === 1 || finished) await timeline.readEvents(opts.ecs, opts);
    if (!finished || !info) return { kind: 'wait', reason: progress };

    const reason = codeDeployFailure(info, target);
    const rollbackDeployment = info.rollbackInfo?.rollbackDeploymentId;
    if (status === 'Succeeded') {
      return {
        kind: 'done',
        value: {
          outcome: 'completed',
          headline: `rolled out in ${formatDuration(clock.now() - start)} (${opts.kind})`,
        },
      };
    }
    if (rollbackDeployment) {
      if (opts.waitForRollback) {
        rollbackId = rollbackDeployment;
        if (!rollbackAnnounced) {
          rollbackAnnounced = true;
          opts.logger.info(
            `${label}: CodeDeploy is rolling back (deployment ${rollbackDeployment}): ${reason}; waiting for the rollback (wait-for-rollback)`,
          );
        }
        return { kind: 'wait', reason: progress };
      }
      return {
        kind: 'done',
        value: {
          outcome: 'rolled-back',
          headline: `CodeDeploy is rolling back: ${reason}`,
          rollback: { deploymentId: rollbackDeployment, outcome: 'in-progress' },
        },
      };
    }
    return {
      kind: 'done',
      value:
        status === 'Failed'
          ? { outcome: 'failed', headline: `deployment FAILED: ${reason}` }
          : {
              outcome: 'stopped',
              headline: `the deployment was STOPPED before it finished: ${reason}`,
            },
    };
  }

  const result = await poll<Verdict>({
    timeoutMs: opts.timeoutMs,
    intervalMs: POLL_INTERVAL_MS,
    maxIntervalMs: MAX_THROTTLED_INTERVAL_MS,
    clock,
    random: opts.random,
    signal: opts.signal,
    attempt: async () => {
      const step = await attempt();
      opts.onAttempt?.(progress);
      return step;
    },
  });

  const base = {
    elapsedMs: clock.now() - start,
    progress,
    stages: timeline.stages,
    events: timeline.events,
  };
  switch (result.outcome) {
    case 'done':
      return { ...base, ...result.value };
    case 'aborted':
      return { ...base, outcome: 'cancelled', headline: `cancelled while waiting: ${progress}` };
    case 'failed':
    case 'deadline':
      return {
        ...base,
        outcome: 'timed-out',
        headline: `not rolled out within ${formatDuration(opts.timeoutMs)}: ${progress}`,
        ...(rollbackId ? { rollback: { deploymentId: rollbackId, outcome: 'in-progress' } } : {}),
      };
  }
}
