/**
 * The one machine-readable line the host script prints at the end of every run, success or not:
 * RESULT_MARKER followed by a JSON object, at the very start of a line. The launcher prints it
 * last on stdout, and also as the only line on stderr, so it survives SSM keeping just the first
 * 24,000 characters of stdout. Whatever else the launcher forwards (the deploy's log, with the
 * logs of containers in it) never starts a line with the marker: it indents such a line.
 */

/**
 * deployed: the new version serves. rejected: the new version failed as a candidate beside the
 * old one, which never stopped serving. rolled-back: the new version failed after the swap and
 * the previous container serves again. failed-no-previous: it failed with nothing to go back to.
 * failed: it stopped before anything was changed (pull, pre-flight, lock, time), or the rollback
 * itself failed. outdated: a newer workflow run already deployed to this host; nothing was applied
 * (not a failure).
 */
export type DeployOutcome =
  'deployed' | 'outdated' | 'rejected' | 'rolled-back' | 'failed-no-previous' | 'failed';

const DEPLOY_OUTCOMES: readonly DeployOutcome[] = [
  'deployed',
  'outdated',
  'rejected',
  'rolled-back',
  'failed-no-previous',
  'failed',
];

export interface DeployResult {
  outcome: DeployOutcome;
  container: string;
  /** The reference that was deployed (or attempted). */
  newImage: string;
  /** `sha256:...`; absent when the pull failed. */
  newImageId?: string;
  /** The reference the running container had before the deploy; absent on a first deploy. */
  previousImage?: string;
  previousImageId?: string;
  /** Why it did not deploy, in words. */
  reason?: string;
  /**
   * The step that failed: start (engine missing, no state directory), lock, sweep, recover
   * (restoring what an interrupted deploy left), login, pull, inspect, env-from-ssm, preflight
   * (the engine refused the settings), candidate, time-check (too little time left to swap
   * safely), stop, start, health, or rollback (the rollback itself failed).
   */
  failedStep?: string;
}

/** Printed at the start of the result line; no log line of the script or the engine starts so. */
export const RESULT_MARKER = 'shipyard-deploy-result: ';

const OPTIONAL_FIELDS = [
  'newImageId',
  'previousImage',
  'previousImageId',
  'reason',
  'failedStep',
] as const;

function asResult(value: unknown): DeployResult | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Record<string, unknown>;
  if (!DEPLOY_OUTCOMES.includes(v.outcome as DeployOutcome)) return undefined;
  if (typeof v.container !== 'string' || typeof v.newImage !== 'string') return undefined;
  const result: DeployResult = {
    outcome: v.outcome as DeployOutcome,
    container: v.container,
    newImage: v.newImage,
  };
  for (const field of OPTIONAL_FIELDS) {
    const x = v[field];
    // The script writes "" for "unknown"; absent reads better for callers.
    if (typeof x === 'string' && x !== '') result[field] = x;
  }
  return result;
}

/**
 * The last complete result line in `output` (stdout or stderr, possibly truncated). Only a line
 * that starts with the marker counts. Undefined when there is none: the script never got to the
 * end, or its output was cut before the line.
 */
export function parseDeployResult(output: string): DeployResult | undefined {
  const lines = output.split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = (lines[i] as string).replace(/\r$/, '');
    if (!line.startsWith(RESULT_MARKER)) continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line.slice(RESULT_MARKER.length));
    } catch {
      continue; // cut in the middle, or garbage that happens to contain the marker
    }
    const result = asResult(parsed);
    if (result) return result;
  }
  return undefined;
}
