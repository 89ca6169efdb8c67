/**
 * Reading what ECS says about a rollout: which deployment is ours, how far it got, whether the
 * circuit breaker rolled it back, and why its tasks stopped. Pure functions over API shapes.
 */
import type { Deployment, Service, ServiceEvent, Task } from '@aws-sdk/client-ecs';
import { shortTaskDefinition } from './task-definition.js';

/** A service event, as shown in logs and the summary. */
export interface SeenEvent {
  at?: Date;
  message: string;
}

/** A task of the watched deployment that stopped, and what its containers said. */
export interface StoppedTask {
  taskId: string;
  stoppedReason: string;
  stopCode?: string;
  containers: Array<{ name: string; exitCode?: number; reason?: string }>;
}

/**
 * The deployment our UpdateService started: the PRIMARY one that was not there before; failing
 * that (an answer without statuses), the newest one that was not there before.
 */
export function deploymentStartedBy(
  before: ReadonlySet<string>,
  deployments: readonly Deployment[],
): Deployment | undefined {
  const fresh = deployments.filter((d) => d.id !== undefined && !before.has(d.id));
  return (
    fresh.find((d) => d.status === 'PRIMARY') ??
    [...fresh].sort((a, b) => (b.createdAt?.getTime() ?? 0) - (a.createdAt?.getTime() ?? 0))[0]
  );
}

export function primaryDeployment(deployments: readonly Deployment[]): Deployment | undefined {
  return deployments.find((d) => d.status === 'PRIMARY');
}

export function circuitBreakerOf(service: Service): { enabled: boolean; rollback: boolean } {
  const cb = service.deploymentConfiguration?.deploymentCircuitBreaker;
  return { enabled: cb?.enable === true, rollback: cb?.enable === true && cb.rollback === true };
}

/** ECS names its own rollback deployments: "ECS deployment circuit breaker: rolling back to ...". */
export function isCircuitBreakerRollback(deployment: Deployment): boolean {
  return /roll(?:ing|ed)?[ -]?back/i.test(deployment.rolloutStateReason ?? '');
}

/** `2/4 new tasks running, 1 pending, rollout IN_PROGRESS, 3 old tasks running`: one progress line. */
export function progressText(mine: Deployment, all: readonly Deployment[]): string {
  const parts = [`${mine.runningCount ?? 0}/${mine.desiredCount ?? 0} new tasks running`];
  if (mine.pendingCount) parts.push(`${mine.pendingCount} pending`);
  parts.push(`rollout ${mine.rolloutState ?? 'state unknown'}`);
  if (mine.failedTasks) parts.push(`${mine.failedTasks} failed to start`);
  const old = all
    .filter((d) => d.id !== mine.id)
    .reduce((n, d) => n + (d.runningCount ?? 0) + (d.pendingCount ?? 0), 0);
  if (old > 0) parts.push(`${old} old tasks running`);
  return parts.join(', ');
}

/**
 * Done for a deployment we started: ECS says COMPLETED, or, without the circuit breaker (whose
 * verdict we wait for), it is the only deployment left and all its tasks run.
 */
export function isRolledOut(service: Service, mine: Deployment, isNewDeployment: boolean): boolean {
  if (isNewDeployment && mine.rolloutState === 'COMPLETED') return true;
  // A deployment we did not start may have been COMPLETED before a count change: use the counts.
  if (isNewDeployment && circuitBreakerOf(service).enabled) return false;
  return (
    (service.deployments ?? []).length === 1 &&
    (mine.runningCount ?? 0) === (mine.desiredCount ?? 0) &&
    (mine.pendingCount ?? 0) === 0
  );
}

/** ECS reports tasks it stopped in events: "(service api) has stopped 2 running tasks: ...". */
export function reportsStoppedTasks(message: string): boolean {
  return /has stopped \d+ running tasks?/.test(message);
}

/**
 * Counts towards max-task-failures: every stop except scale-in ("Scaling activity initiated by
 * (deployment ...)"), which is how ECS stops tasks of a deployment it no longer wants.
 */
export function isTaskFailure(task: Task): boolean {
  return !/^Scaling activity initiated by/.test(task.stoppedReason ?? '');
}

export function stoppedTaskFrom(task: Task): StoppedTask {
  return {
    taskId: (task.taskArn ?? '').split('/').pop() ?? '',
    stoppedReason: task.stoppedReason ?? 'no reason given',
    ...(task.stopCode ? { stopCode: task.stopCode } : {}),
    containers: (task.containers ?? []).map((c) => ({
      name: c.name ?? '',
      ...(c.exitCode !== undefined && c.exitCode !== null ? { exitCode: c.exitCode } : {}),
      ...(c.reason ? { reason: c.reason } : {}),
    })),
  };
}

/**
 * One line per stopped task: the task's reason, then what each container that failed said
 * (`Essential container in task exited (app: exit code 1)`), without repeating the same text.
 */
export function stoppedTaskLine(task: StoppedTask): string {
  const said = task.containers
    .filter((c) => (c.exitCode !== undefined && c.exitCode !== 0) || c.reason)
    .map((c) => {
      const what: string[] = [];
      if (c.exitCode !== undefined && c.exitCode !== 0) what.push(`exit code ${c.exitCode}`);
      if (c.reason && !task.stoppedReason.includes(c.reason)) what.push(c.reason);
      return what.length > 0 ? `${c.name}: ${what.join(', ')}` : '';
    })
    .filter((s) => s !== '');
  return said.length > 0 ? `${task.stoppedReason} (${said.join('; ')})` : task.stoppedReason;
}

/** Identical reasons folded: `3× Essential container in task exited (app: exit code 1)`. */
export function stoppedTaskReasons(tasks: readonly StoppedTask[]): string[] {
  const counts = new Map<string, number>();
  for (const t of tasks) {
    const line = stoppedTaskLine(t);
    counts.set(line, (counts.get(line) ?? 0) + 1);
  }
  return [...counts.entries()].map(([line, n]) => (n > 1 ? `${n}× ${line}` : line));
}

/** Events newest first, as ECS lists them, minus the ones already seen; returned oldest first. */
export function newEvents(
  events: readonly ServiceEvent[] | undefined,
  seenIds: Set<string>,
): SeenEvent[] {
  const fresh: SeenEvent[] = [];
  for (const e of events ?? []) {
    const key = e.id ?? `${e.createdAt?.getTime()}:${e.message}`;
    if (seenIds.has(key)) continue;
    seenIds.add(key);
    fresh.push({ ...(e.createdAt ? { at: e.createdAt } : {}), message: e.message ?? '' });
  }
  return fresh.reverse();
}

/** The ids ECS gave the events so far (what "since the update" starts from). */
export function eventIds(events: readonly ServiceEvent[] | undefined): Set<string> {
  const seen = new Set<string>();
  newEvents(events, seen);
  return seen;
}

export function describeDeployment(d: Deployment | undefined): string {
  if (!d) return 'no deployment';
  return `${d.id ?? '?'} (${shortTaskDefinition(d.taskDefinition ?? '?')})`;
}
