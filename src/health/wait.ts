/**
 * Poll several health URLs concurrently until each has answered healthy `consecutiveSuccesses`
 * times in a row, or the shared deadline passes.
 */
import { poll, systemClock, type Timing } from '../poll.js';
import { editedLogger, silentLogger, type Logger } from '../logger.js';
import { formatDuration } from '../duration.js';
import { redact } from '../redact.js';
import { ProgressLog } from '../progress.js';
import { displayUrl } from './url-secrets.js';
import { judgeAnswer, type Expectation } from './expect.js';
import { probe as realProbe, type ProbeAnswer, type ProbeRequest } from './probe.js';

export interface WaitHealthyOptions extends Timing {
  urls: readonly URL[];
  method: string;
  headers: Record<string, string>;
  requestTimeoutMs: number;
  followRedirects: boolean;
  insecure: boolean;
  expect: Expectation;
  timeoutMs: number;
  intervalMs: number;
  maxIntervalMs: number;
  consecutiveSuccesses: number;
  /** Values to mask in anything this returns or logs (header values, long secret query values). */
  secrets?: readonly string[];
  logger?: Logger;
  probe?: (req: ProbeRequest) => Promise<ProbeAnswer>;
}

export interface UrlReport {
  /** Shown form: no password, secret-looking query values as ***. */
  url: string;
  healthy: boolean;
  attempts: number;
  /** Until healthy, or until giving up. */
  elapsedMs: number;
  /** Last HTTP status, undefined when no answer ever came. */
  lastStatus?: number;
  /** Why the last attempt was not healthy (undefined if it was). */
  problem?: string;
  /** Start of the last body, whitespace folded, secrets masked, at most 200 chars. */
  bodyExcerpt?: string;
  lastLatencyMs?: number;
  maxLatencyMs?: number;
}

export interface WaitHealthyResult {
  healthy: boolean;
  attempts: number;
  elapsedMs: number;
  urls: UrlReport[];
}

const EXCERPT_CHARS = 200;

export async function waitHealthy(opts: WaitHealthyOptions): Promise<WaitHealthyResult> {
  const clock = opts.clock ?? systemClock;
  const doProbe = opts.probe ?? ((req: ProbeRequest) => realProbe(req, () => clock.now()));
  const secrets = opts.secrets ?? [];
  const start = clock.now();
  const progress = new ProgressLog(
    editedLogger(opts.logger ?? silentLogger, (line) => redact(line, secrets)),
    clock,
  );
  const say = (line: string) => progress.say(line);
  const reports = opts.urls.map(
    (u) => ({ url: displayUrl(u), healthy: false, attempts: 0, elapsedMs: 0 }) as UrlReport,
  );

  const heartbeat = () =>
    progress.remind(() =>
      reports
        .filter((r) => !r.healthy)
        .map((r) => `${r.url} (${r.problem ?? 'no answer yet'}, ${r.attempts} attempts)`)
        .join('; '),
    );

  await Promise.all(
    opts.urls.map(async (url, i) => {
      const report = reports[i] as UrlReport;
      let streak = 0;
      let lastState = '';
      const result = await poll({
        timeoutMs: opts.timeoutMs,
        intervalMs: opts.intervalMs,
        maxIntervalMs: opts.maxIntervalMs,
        clock,
        random: opts.random,
        signal: opts.signal,
        attempt: async ({ remainingMs }) => {
          const answer = await doProbe({
            url,
            method: opts.method,
            headers: opts.headers,
            // The attempt made at the deadline still gets a fair chance to answer.
            timeoutMs: Math.min(opts.requestTimeoutMs, Math.max(remainingMs, 250)),
            followRedirects: opts.followRedirects,
            insecure: opts.insecure,
          });
          report.attempts++;
          report.lastLatencyMs = answer.latencyMs;
          report.maxLatencyMs = Math.max(report.maxLatencyMs ?? 0, answer.latencyMs);
          let problem: string | undefined;
          if (answer.kind === 'error') {
            problem = answer.reason;
          } else {
            report.lastStatus = answer.status;
            report.bodyExcerpt = excerpt(answer.body, secrets);
            problem = judgeAnswer(answer.status, answer.body, opts.expect);
          }
          report.problem = problem === undefined ? undefined : redact(problem, secrets);
          streak = problem === undefined ? streak + 1 : 0;

          const state = problem ?? 'healthy';
          if (state !== lastState) {
            const counting =
              problem === undefined && opts.consecutiveSuccesses > 1
                ? ` (${streak}/${opts.consecutiveSuccesses} in a row)`
                : '';
            say(
              `${report.url}: ${state}${counting} after ${report.attempts} attempt(s), ${formatDuration(clock.now() - start)}`,
            );
            lastState = state;
          }
          heartbeat();
          if (streak >= opts.consecutiveSuccesses) return { kind: 'done', value: undefined };
          // Keep the initial cadence while counting successes; back off while failing.
          return {
            kind: 'wait',
            reason: problem ?? 'counting consecutive successes',
            backoff: problem !== undefined,
          };
        },
      });
      report.healthy = result.outcome === 'done';
      report.elapsedMs = result.elapsedMs;
      if (!report.healthy && report.problem === undefined) {
        report.problem =
          result.outcome === 'aborted'
            ? 'cancelled'
            : `flapping: fewer than ${opts.consecutiveSuccesses} healthy answers in a row`;
      }
    }),
  );

  return {
    healthy: reports.every((r) => r.healthy),
    attempts: reports.reduce((n, r) => n + r.attempts, 0),
    elapsedMs: clock.now() - start,
    urls: reports,
  };
}

function excerpt(body: string, secrets: readonly string[]): string {
  const folded = redact(body, secrets).replace(/\s+/g, ' ').trim();
  return folded.length > EXCERPT_CHARS ? `${folded.slice(0, EXCERPT_CHARS - 3)}...` : folded;
}

/** One line per unhealthy URL, for the step's failure message. */
export function describeUnhealthy(result: WaitHealthyResult, timeoutMs: number): string {
  const lines = result.urls
    .filter((r) => !r.healthy)
    .map((r) => {
      const body = r.bodyExcerpt ? `; last body: ${r.bodyExcerpt}` : '';
      return `${r.url}: ${r.problem ?? 'unhealthy'} (${r.attempts} attempts in ${formatDuration(r.elapsedMs)})${body}`;
    });
  return `not healthy within ${formatDuration(timeoutMs)}:\n${lines.join('\n')}`;
}
