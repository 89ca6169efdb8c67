/** What a deploy rollout tells people: the job summary, the failure message and the JSON output. */
import { formatDuration } from '../duration.js';
import { heading, table } from '../summary/markdown.js';
import { describeInstanceFailure, type DeployRollout } from './deploy.js';

/** Rows in the summary table; a fleet larger than this gets the failed instances first, then a note. */
const SUMMARY_ROWS = 100;
/** Failed instances whose output tail the summary shows. */
const SUMMARY_TAILS = 20;
/** Failed instances named in the failure message, and lines of output for each. */
const MESSAGE_INSTANCES = 10;
const MESSAGE_TAIL_LINES = 5;

const TRUNCATION_HINT =
  'SSM keeps only the first 24,000 characters of output; set output-s3-bucket or cloudwatch-log-group for complete logs';

/** The `instances` output: one object per instance. */
export function instancesJson(rollout: DeployRollout): string {
  return JSON.stringify(
    rollout.instances.map((i) => ({
      id: i.instanceId,
      status: i.status,
      result: i.result ?? null,
      previousImage: i.previousImage ?? null,
      newImage: i.newImage ?? null,
      rolledBack: i.rolledBack,
      durationMs: i.durationMs ?? null,
    })),
  );
}

export function rolloutSummary(rollout: DeployRollout): string {
  const title: Record<DeployRollout['status'], string> = {
    succeeded: 'deployed',
    partial: 'partly deployed (offline hosts skipped)',
    failed: 'failed',
    'timed-out': 'timed out',
    cancelled: 'cancelled',
  };
  let md = heading(
    `deploy-ec2-ssm: ${title[rollout.status]} (${rollout.succeeded} of ${rollout.instances.length} instances deployed)`,
  );
  if (rollout.consoleUrl)
    md += `Command [${rollout.commandId}](${rollout.consoleUrl}) in ${rollout.region}, ${formatDuration(rollout.elapsedMs)}.\n\n`;
  if (rollout.reason) md += `${rollout.reason}\n\n`;
  if (rollout.cancelError) md += `The command could not be cancelled: ${rollout.cancelError}\n\n`;

  if (rollout.instances.length > 0) {
    // Failed instances first: in a large fleet they are what the reader is looking for.
    const ordered = [
      ...rollout.instances.filter((i) => !i.succeeded),
      ...rollout.instances.filter((i) => i.succeeded),
    ];
    md += table(
      ['instance', 'status', 'result', 'previous image', 'new image', 'duration'],
      ordered
        .slice(0, SUMMARY_ROWS)
        .map((i) => [
          i.instanceId,
          i.result === 'outdated'
            ? 'left alone (newer run)'
            : i.succeeded
              ? 'succeeded'
              : i.statusWords,
          i.result ?? '',
          i.previousImage ?? '',
          i.newImage ?? '',
          i.durationMs === undefined ? '' : formatDuration(i.durationMs),
        ]),
    );
    if (ordered.length > SUMMARY_ROWS)
      md += `\n${ordered.length - SUMMARY_ROWS} more instances are not shown; the \`instances\` output lists them all.\n`;
  }

  const failed = rollout.instances.filter((i) => !i.succeeded && i.outputTail);
  for (const i of failed.slice(0, SUMMARY_TAILS)) {
    md += `\n${heading(`${i.instanceId}: ${describeInstanceFailure(i)}`, 4)}`;
    md += fence(i.outputTail ?? '');
    if (i.truncated) md += `\n${truncationNote(rollout)}\n`;
  }
  if (failed.length > SUMMARY_TAILS)
    md += `\nOutput of ${failed.length - SUMMARY_TAILS} more failed instances is in the console.\n`;
  return md;
}

/** The warning when some hosts were left alone because a newer run had deployed them. */
export function outdatedWarning(rollout: DeployRollout): string | undefined {
  const hosts = rollout.instances.filter((i) => i.result === 'outdated');
  if (hosts.length === 0) return undefined;
  const first = hosts[0];
  return (
    `${hosts.length} host(s) were not changed: a newer workflow run had already deployed to them ` +
    `(${first?.instanceId}: ${first?.reason ?? 'newer run'}). Set force: true to deploy an older run on purpose.`
  );
}

/** The step's failure message: each failed instance, its status in words, its last lines, rollback. */
export function describeRolloutFailure(rollout: DeployRollout): string {
  const failed = rollout.instances.filter((i) => !i.succeeded);
  const lines = [
    `deploy-ec2-ssm ${rollout.status === 'succeeded' ? 'succeeded' : rollout.status.replace('-', ' ')}: ` +
      `${rollout.succeeded} of ${rollout.instances.length} instances deployed` +
      (rollout.commandId ? ` (command ${rollout.commandId})` : ''),
  ];
  if (rollout.reason) lines.push(rollout.reason);
  if (rollout.cancelError) lines.push(`could not cancel the command: ${rollout.cancelError}`);
  for (const i of failed.slice(0, MESSAGE_INSTANCES)) {
    lines.push(`- ${i.instanceId}: ${describeInstanceFailure(i)}`);
    const tail = lastLines(i.outputTail, MESSAGE_TAIL_LINES);
    if (tail) lines.push(...tail.split('\n').map((l) => `    ${l}`));
  }
  if (failed.length > MESSAGE_INSTANCES)
    lines.push(
      `... and ${failed.length - MESSAGE_INSTANCES} more failed instances (see the job summary)`,
    );
  if (failed.some((i) => i.truncated)) lines.push(truncationNote(rollout));
  if (rollout.consoleUrl) lines.push(`console: ${rollout.consoleUrl}`);
  return lines.join('\n');
}

function truncationNote(rollout: DeployRollout): string {
  return rollout.fullOutput
    ? `SSM truncated the output at 24,000 characters; the complete output is in ${rollout.fullOutput}.`
    : `SSM truncated the output: ${TRUNCATION_HINT}.`;
}

function lastLines(text: string | undefined, n: number): string {
  return (text ?? '').trimEnd().split('\n').slice(-n).join('\n').trim();
}

/** The summary of print-script: the script itself. */
export function printedScriptSummary(script: string): string {
  return (
    heading('deploy-ec2-ssm: the script each host would run (nothing was sent)') +
    fence(script, 'bash')
  );
}

/** A fenced block that no backtick run in the text can close early. */
export function fence(text: string, language = ''): string {
  const longest = Math.max(2, ...[...text.matchAll(/`+/g)].map((m) => m[0].length));
  const ticks = '`'.repeat(longest + 1);
  return `${ticks}${language}\n${text}\n${ticks}\n`;
}
