/**
 * The batch plan of a load-balancer-aware rollout, decided before anything changes: which
 * instances go together, where each is registered, and which batches would leave a group with no
 * healthy target (downtime, warned about but allowed: with one instance there is no other way).
 */
import { instancesOf } from '../targets.js';
import { isSettledHealthy, type TargetGroup } from './target-groups.js';

export interface GroupRegistration {
  groupArn: string;
  groupName: string;
  port: number;
}

export interface DowntimeWarning {
  /** 1-based. */
  batch: number;
  group: string;
  /** Targets healthy in the group before the batch leaves it. */
  healthyNow: number;
}

export interface BatchPlan {
  batchSize: number;
  /** Instance IDs, sorted, split in batches of batchSize (the last one may be smaller). */
  batches: string[][];
  /** Where each instance is registered now: what is deregistered, then registered again. */
  registrations: Map<string, GroupRegistration[]>;
  /** Deployed all the same, outside any load balancer. */
  notInAnyGroup: string[];
  downtime: DowntimeWarning[];
}

/** max-concurrency as a batch size: a number, or a percentage of the instances rounded down, at least 1. */
export function batchSizeOf(maxConcurrency: string, instanceCount: number): number {
  const size = instancesOf(maxConcurrency, instanceCount);
  return Math.max(1, Math.min(Number.isFinite(size) ? size : 1, Math.max(1, instanceCount)));
}

export function planBatches(
  instanceIds: readonly string[],
  maxConcurrency: string,
  groups: readonly TargetGroup[],
): BatchPlan {
  const sorted = [...new Set(instanceIds)].sort();
  const batchSize = batchSizeOf(maxConcurrency, sorted.length);
  const batches: string[][] = [];
  for (let i = 0; i < sorted.length; i += batchSize) batches.push(sorted.slice(i, i + batchSize));

  const registrations = new Map<string, GroupRegistration[]>();
  for (const id of sorted) {
    const regs = groups.flatMap((g) =>
      g.targets
        .filter((t) => t.instanceId === id)
        .map((t) => ({ groupArn: g.arn, groupName: g.name, port: t.port })),
    );
    registrations.set(id, regs);
  }
  const notInAnyGroup = sorted.filter((id) => (registrations.get(id) ?? []).length === 0);

  const downtime: DowntimeWarning[] = [];
  batches.forEach((batch, index) => {
    const leaving = new Set(batch);
    for (const g of groups) {
      if (!g.targets.some((t) => leaving.has(t.instanceId))) continue;
      const healthy = g.targets.filter(isSettledHealthy);
      const left = healthy.filter((t) => !leaving.has(t.instanceId));
      if (left.length === 0)
        downtime.push({ batch: index + 1, group: g.name, healthyNow: healthy.length });
    }
  });
  return { batchSize, batches, registrations, notInAnyGroup, downtime };
}

/** The warning for the log and the summary. */
export function describeDowntime(w: DowntimeWarning, batchCount: number): string {
  return (
    `target group ${w.group} will have no healthy target during batch ${w.batch}/${batchCount} ` +
    `(${w.healthyNow} healthy now, all in that batch): expect downtime while it deploys`
  );
}
