/** The batch table of a load-balanced rollout, for the job summary and the `batches` output. */
import { formatDuration } from '../../duration.js';
import { heading, table } from '../../summary/markdown.js';
import type { DeployRollout } from '../deploy.js';
// Types only: this module is in the main bundle, the ELBv2 client is not.
import type { BatchReport, RollingRollout } from './rolling.js';

const OUTCOME_WORDS: Record<BatchReport['outcome'], string> = {
  healthy: 'healthy',
  failed: 'failed',
  interrupted: 'interrupted',
  'not-started': 'not started (left registered and untouched)',
};

function isRolling(rollout: DeployRollout): rollout is RollingRollout {
  return Array.isArray((rollout as Partial<RollingRollout>).batches);
}

export function batchesSummary(rollout: DeployRollout, leftOut: readonly string[]): string {
  if (!isRolling(rollout)) return '';
  const ms = (v?: number) => (v === undefined ? '' : formatDuration(v));
  let md = `\n${heading('Batches behind the load balancer', 4)}`;
  for (const w of rollout.warnings) md += `> ${w}\n\n`;
  md += table(
    ['batch', 'hosts', 'outcome', 'drain', 'deploy', 'healthy after', 'ELBv2 calls'],
    rollout.batches.map((b) => [
      String(b.index),
      b.instanceIds.length <= 5
        ? b.instanceIds.join(', ')
        : `${b.instanceIds.slice(0, 4).join(', ')} and ${b.instanceIds.length - 4} more`,
      b.reason ? `${OUTCOME_WORDS[b.outcome]}: ${b.reason}` : OUTCOME_WORDS[b.outcome],
      `${ms(b.drainMs)}${b.drainCut ? ' (cut short)' : ''}`,
      ms(b.deployMs),
      ms(b.healthyMs),
      String(b.lbCalls),
    ]),
  );
  if (leftOut.length > 0)
    md += `\nLeft out of their target groups (they serve nothing, or their state is unknown): ${leftOut.join(', ')}\n`;
  return md;
}

/** The `batches` output: one object per batch. */
export function batchesJson(rollout: DeployRollout): string {
  if (!isRolling(rollout)) return '[]';
  return JSON.stringify(
    rollout.batches.map((b) => ({
      batch: b.index,
      instances: b.instanceIds,
      outcome: b.outcome,
      ...(b.drainMs !== undefined ? { drainSeconds: Math.round(b.drainMs / 100) / 10 } : {}),
      ...(b.deployMs !== undefined ? { deploySeconds: Math.round(b.deployMs / 100) / 10 } : {}),
      ...(b.healthyMs !== undefined ? { healthySeconds: Math.round(b.healthyMs / 100) / 10 } : {}),
      ...(b.reason ? { reason: b.reason } : {}),
    })),
  );
}
