/**
 * Which instances a Run Command reaches: an explicit list of instance IDs, or SSM targets by tag
 * that SSM resolves itself (so a fleet of any size works). Both shapes are checked here, before any
 * AWS call, against the limits of SendCommand.
 */
import { shown } from '../inputs/reader.js';

/** SendCommand accepts at most 50 InstanceIds; larger fleets are targeted by tags. */
export const MAX_INSTANCE_IDS = 50;
/** SendCommand accepts at most 5 Targets, each with at most 50 values. */
const MAX_TAG_KEYS = 5;
const MAX_TAG_VALUES = 50;

/** EC2 (`i-` + 8 or 17 hex digits) and hybrid managed nodes (`mi-` + 17 hex digits). */
const INSTANCE_ID = /^(?:i-[0-9a-f]{8}(?:[0-9a-f]{9})?|mi-[0-9a-f]{17})$/;

export type RolloutTargets =
  | { kind: 'instances'; instanceIds: string[] }
  /** Keys are ANDed, the values of one key ORed: the semantics of SSM Targets and of instance filters. */
  | { kind: 'tags'; tags: Array<{ key: string; values: string[] }> };

/** `tag:Name=web`: the tag key may hold anything but `=`, the value anything. */
const TAG_LINE = /^tag:([^=]{1,128})=(.{1,256})$/;

/**
 * Parse `tag:Key=Value` lines. A key given on several lines collects its values (web OR api);
 * distinct keys must all match (Name=web AND Env=prod).
 */
export function parseTagTargets(lines: readonly string[]): {
  tags: Array<{ key: string; values: string[] }>;
  problems: string[];
} {
  const byKey = new Map<string, string[]>();
  const problems: string[] = [];
  for (const line of lines) {
    const m = TAG_LINE.exec(line);
    const key = m?.[1]?.trim() ?? '';
    const value = m?.[2]?.trim() ?? '';
    if (!m || key === '' || value === '') {
      problems.push(`must have one tag:Key=Value per line, e.g. tag:Name=web; got ${shown(line)}`);
      continue;
    }
    const values = byKey.get(key) ?? [];
    if (values.includes(value)) problems.push(`names tag:${key}=${value} twice`);
    else values.push(value);
    byKey.set(key, values);
  }
  if (byKey.size > MAX_TAG_KEYS)
    problems.push(
      `may use at most ${MAX_TAG_KEYS} distinct tag keys (SSM's limit); got ${byKey.size}`,
    );
  for (const [key, values] of byKey) {
    if (values.length > MAX_TAG_VALUES)
      problems.push(
        `may list at most ${MAX_TAG_VALUES} values of tag:${key}; got ${values.length}`,
      );
  }
  return { tags: [...byKey].map(([key, values]) => ({ key, values })), problems };
}

/** Problems with a list of instance IDs (shape, repeats, SendCommand's limit of 50). */
export function checkInstanceIds(ids: readonly string[]): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const id of ids) {
    if (!INSTANCE_ID.test(id))
      problems.push(`must hold instance IDs like i-0123456789abcdef0; got ${shown(id)}`);
    else if (seen.has(id)) problems.push(`names ${id} twice`);
    seen.add(id);
  }
  if (ids.length > MAX_INSTANCE_IDS) {
    problems.push(
      `may list at most ${MAX_INSTANCE_IDS} instances (SSM's limit); got ${ids.length}: use 'targets' with a tag for larger fleets`,
    );
  }
  return problems;
}

/** The SendCommand fields that select the instances. */
export function sendCommandTargets(targets: RolloutTargets) {
  return targets.kind === 'instances'
    ? { InstanceIds: targets.instanceIds }
    : { Targets: targets.tags.map((t) => ({ Key: `tag:${t.key}`, Values: t.values })) };
}

/** `i-1, i-2` or `tag:Name=web AND tag:Env=prod` for messages. */
export function describeTargets(targets: RolloutTargets): string {
  if (targets.kind === 'instances') return targets.instanceIds.join(', ');
  return targets.tags.map((t) => `tag:${t.key}=${t.values.join('|')}`).join(' AND ');
}

/**
 * SSM's `max-concurrency` / `max-errors` as a number of instances: the number, or the percentage of
 * `instanceCount` rounded down.
 */
export function instancesOf(value: string, instanceCount: number): number {
  const percent = /^(\d+)%$/.exec(value);
  return percent ? Math.floor((Number(percent[1]) * instanceCount) / 100) : Number(value);
}
