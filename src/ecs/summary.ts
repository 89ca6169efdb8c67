/** The deploy-ecs step's outputs and job summary, from the result of a rollout. */
import { formatDuration } from '../duration.js';
import { code, heading, table } from '../summary/markdown.js';
import { stoppedTaskReasons, type SeenEvent } from './deployment.js';
import type { DeployEcsResult, ServiceReport } from './rollout.js';
import { shortTaskDefinition } from './task-definition.js';
import { strategyName } from './service-deployment.js';
import type { OneOffReport } from './one-off-task.js';

/** Events shown per service in the summary (the newest). */
const EVENTS_IN_SUMMARY = 50;

export function deployOutputs(result: DeployEcsResult): Record<string, string> {
  const byService = <T>(pick: (s: ServiceReport) => T) =>
    JSON.stringify(Object.fromEntries(result.services.map((s) => [s.service, pick(s)])));
  const arns = [...new Set(result.services.map((s) => s.taskDefinition))];
  return {
    // One ARN in the common case (one service, or services sharing a task definition).
    'task-definition-arn':
      arns.length === 1 ? (arns[0] as string) : byService((s) => s.taskDefinition),
    'deployment-id': byService((s) => s.deploymentId ?? null),
    status: byService((s) => s.status),
    'rolled-back': String(result.services.some((s) => s.status === 'rolled-back')),
    ...(result.preDeploy ? preDeployOutputs(result.preDeploy) : {}),
  };
}

/** The task ARN(s), one per line, and the exit code of the task that decided (the last one run). */
function preDeployOutputs(reports: readonly OneOffReport[]): Record<string, string> {
  const last = reports[reports.length - 1];
  return {
    'pre-deploy-task-arn': reports
      .map((r) => r.taskArn ?? '')
      .filter((a) => a !== '')
      .join('\n'),
    'pre-deploy-exit-code': last?.exitCode === undefined ? '' : String(last.exitCode),
  };
}

export function deploySummary(result: DeployEcsResult): string {
  const notOk = result.services.filter((s) => s.status !== 'completed' && s.status !== 'started');
  const title =
    notOk.length === 0
      ? `deploy-ecs: ${plural(result.services.length, 'service')} rolled out`
      : `deploy-ecs: ${notOk.length} of ${plural(result.services.length, 'service')} did not roll out`;
  const rows = result.services.map((s) => [
    s.service,
    s.status,
    s.taskDefinition === s.previousTaskDefinition
      ? `${shortTaskDefinition(s.taskDefinition)} (forced new deployment)`
      : `${shortTaskDefinition(s.previousTaskDefinition)} → ${shortTaskDefinition(s.taskDefinition)}`,
    s.images.length > 0 ? s.images.map(([c, i]) => `${c}=${i}`).join('\n') : 'unchanged',
    formatDuration(s.elapsedMs),
    s.deploymentId ?? '',
  ]);
  const details = result.services.map(serviceDetails).join('');
  return (
    heading(title) +
    (result.preDeploy ? preDeployTable(result.preDeploy) : '') +
    table(['service', 'result', 'task definition', 'image', 'time', 'deployment'], rows) +
    '\n' +
    details
  );
}

/** One row per one-off task: what ran where, and how it ended. */
function preDeployTable(reports: readonly OneOffReport[]): string {
  const rows = reports.map((r) => [
    `pre-deploy (${r.container})`,
    r.status,
    shortTaskDefinition(r.taskDefinition),
    r.exitCode === undefined ? '' : `exit code ${r.exitCode}`,
    formatDuration(r.elapsedMs),
    r.taskArn ? (r.taskArn.split('/').pop() ?? '') : '',
  ]);
  const failed = reports.find((r) => r.status !== 'succeeded');
  const log = reports.find((r) => r.logUrl);
  return (
    table(['one-off task', 'result', 'task definition', 'exit', 'time', 'task'], rows) +
    '\n' +
    (failed ? `${failed.headline}\n\n` : '') +
    (log?.logUrl && !failed ? `[Log of the pre-deploy task](${log.logUrl})\n\n` : '')
  );
}

function serviceDetails(s: ServiceReport): string {
  let md = heading(`${s.service}: ${s.status}`, 4) + `${s.headline}\n\n`;
  if (s.progress) md += `Last state of the new deployment: ${s.progress}.\n\n`;
  const reasons = stoppedTaskReasons(s.stoppedTasks);
  if (reasons.length > 0) {
    md += `Stopped tasks of the new deployment (${s.stoppedTasks.length}):\n\n`;
    md += reasons.map((r) => `- ${code(r)}`).join('\n') + '\n\n';
  }
  if (s.stages && s.stages.length > 0) {
    const kind =
      s.controller === 'CODE_DEPLOY' ? 'CodeDeploy' : strategyName(s.strategy ?? 'ROLLING');
    md += `Lifecycle stages of the ${kind} deployment:\n\n`;
    md += table(
      ['after', 'stage', 'traffic'],
      s.stages.map((st) => [formatDuration(st.atMs), st.stage, st.traffic ?? '']),
    );
    md += '\n';
  }
  if (s.rollback) {
    const by = {
      'ecs-circuit-breaker': 'ECS circuit breaker',
      ecs: 'ECS',
      codedeploy: 'CodeDeploy',
      'rollback-on-failure': 'rollback-on-failure',
    }[s.rollback.by];
    md += `Rollback (${by}): ${s.rollback.headline}`;
    if (s.rollback.deploymentId) md += ` (deployment ${code(s.rollback.deploymentId)})`;
    md += '.\n\n';
    const rollbackReasons = stoppedTaskReasons(s.rollback.stoppedTasks);
    if (rollbackReasons.length > 0) {
      md += rollbackReasons.map((r) => `- rollback task stopped: ${code(r)}`).join('\n') + '\n\n';
    }
  }
  md += eventsBlock('Service events from the update to the verdict', s.events);
  if (s.rollback && s.rollback.events.length > 0) {
    md += eventsBlock('Service events during the rollback', s.rollback.events);
  }
  return md;
}

function eventsBlock(title: string, events: readonly SeenEvent[]): string {
  if (events.length === 0) return `${title}: none.\n\n`;
  const shown = events.slice(-EVENTS_IN_SUMMARY);
  const skipped = events.length - shown.length;
  const lines = shown.map(
    (e) => `${e.at ? `${e.at.toISOString().slice(11, 19)}Z ` : ''}${e.message}`,
  );
  // A fence inside an event message must not end the code block.
  const text = lines.join('\n').replace(/```/g, "'''");
  const count = `${events.length}${skipped > 0 ? `, the last ${shown.length} shown` : ''}`;
  return `${title} (${count}):\n\n\`\`\`text\n${text}\n\`\`\`\n\n`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
