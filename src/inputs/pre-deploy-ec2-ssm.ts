/**
 * deploy-ec2-ssm's `pre-deploy-command` and `pre-deploy-timeout`: read with the action's other
 * inputs, so their problems are reported together, before any AWS call.
 */
import { formatDuration } from '../duration.js';
import { readCommandWords } from './command-words.js';
import type { InputReader } from './reader.js';

export interface PreDeployInputs {
  /** The arguments after the image (`docker run IMAGE ARGS…`); the image's ENTRYPOINT is kept. */
  command: string[];
  /** The one-off on its host (lock, pull and the run) ends within this. */
  timeoutMs: number;
}

const DEFAULT_PRE_DEPLOY_TIMEOUT = '10m';
/** Room for the lock, the pull and the one-off's own clean-up. */
const MIN_PRE_DEPLOY_TIMEOUT_MS = 30_000;
/** AWS-RunShellScript's executionTimeout is at most 48 hours; the one-off's gets 30 s more. */
const MAX_PRE_DEPLOY_TIMEOUT_MS = 172_800_000 - 60_000;

/** Undefined when no `pre-deploy-command` is set. */
export function readPreDeployInputs(r: InputReader): PreDeployInputs | undefined {
  const timeoutMs = r.duration('pre-deploy-timeout', DEFAULT_PRE_DEPLOY_TIMEOUT);
  if (timeoutMs < MIN_PRE_DEPLOY_TIMEOUT_MS || timeoutMs > MAX_PRE_DEPLOY_TIMEOUT_MS)
    r.problem(
      'pre-deploy-timeout',
      `must be between ${formatDuration(MIN_PRE_DEPLOY_TIMEOUT_MS)} and ${formatDuration(MAX_PRE_DEPLOY_TIMEOUT_MS)} (SSM's limit); got ${formatDuration(timeoutMs)}`,
    );
  const command = readCommandWords(r, 'pre-deploy-command');
  return command && { command, timeoutMs };
}
