/**
 * The one waiting primitive. Every loop in the suite (health probes, SSM command tracking,
 * ECS rollouts) goes through `poll`, so every wait has a deadline, a cadence with backoff and
 * jitter, and ends with a reason a person can read.
 */

export interface Clock {
  now(): number;
  /** Resolves after `ms`, or early when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        resolve();
      }
      signal?.addEventListener('abort', done, { once: true });
    }),
};

/** What one attempt concluded. */
export type Step<T> =
  /**
   * Concluded: stop polling with `value`. A caller with a typed verdict (the ECS watch) carries
   * every conclusion here, failures included, and switches over it afterwards.
   */
  | { kind: 'done'; value: T }
  /** Finished unsuccessfully, waiting longer cannot help, and a reason says it all (bad credentials). */
  | { kind: 'fail'; reason: string }
  /**
   * Not there yet. `backoff: true` (no progress, or throttled) lengthens the next interval
   * towards the maximum; `false` returns to the initial interval. `reason` says what we wait for.
   */
  | { kind: 'wait'; reason: string; backoff?: boolean; minDelayMs?: number };

export interface AttemptContext {
  /** 1-based. */
  attempt: number;
  elapsedMs: number;
  /** Time left before the deadline; an attempt should not outlive it. */
  remainingMs: number;
}

/**
 * What every function that waits takes from its caller besides its deadline: time, jitter and
 * cancellation (injectable for tests). Options that need the clock make it required.
 */
export interface Timing {
  clock?: Clock;
  /** [0, 1); injectable so tests are deterministic. */
  random?: () => number;
  signal?: AbortSignal;
}

/** Timing and a cadence. */
export interface WaitSettings extends Timing {
  /** Poll cadence: the interval returns to the first value after progress, grows to the second without. */
  intervalMs?: number;
  maxIntervalMs?: number;
}

export interface PollOptions<T> extends Timing {
  attempt: (ctx: AttemptContext) => Promise<Step<T>>;
  timeoutMs: number;
  intervalMs: number;
  /** Defaults to intervalMs (no backoff). */
  maxIntervalMs?: number;
  /** Growth of the interval per backoff step; default 2. */
  backoffFactor?: number;
}

export type PollResult<T> =
  | { outcome: 'done'; value: T; attempts: number; elapsedMs: number }
  | {
      outcome: 'failed' | 'deadline' | 'aborted';
      /** Why polling stopped, in words (the last wait reason for a deadline). */
      reason: string;
      attempts: number;
      elapsedMs: number;
    };

/**
 * Call `attempt` until it is done, fails, the deadline passes or the signal aborts.
 * Attempts start on a start-to-start cadence, so a slow answer does not stretch the interval.
 * The last attempt is made at the deadline rather than giving up early.
 */
export async function poll<T>(opts: PollOptions<T>): Promise<PollResult<T>> {
  const clock = opts.clock ?? systemClock;
  const random = opts.random ?? Math.random;
  const factor = opts.backoffFactor ?? 2;
  const maxInterval = Math.max(opts.intervalMs, opts.maxIntervalMs ?? opts.intervalMs);
  const start = clock.now();
  const deadline = start + opts.timeoutMs;
  let interval = opts.intervalMs;
  let attempts = 0;
  let lastReason = 'no attempt was made';

  for (;;) {
    if (opts.signal?.aborted) {
      return {
        outcome: 'aborted',
        reason: `cancelled while waiting: ${lastReason}`,
        attempts,
        elapsedMs: clock.now() - start,
      };
    }
    const attemptStart = clock.now();
    attempts++;
    const step = await opts.attempt({
      attempt: attempts,
      elapsedMs: attemptStart - start,
      remainingMs: Math.max(0, deadline - attemptStart),
    });
    const now = clock.now();
    if (step.kind === 'done')
      return { outcome: 'done', value: step.value, attempts, elapsedMs: now - start };
    if (step.kind === 'fail')
      return { outcome: 'failed', reason: step.reason, attempts, elapsedMs: now - start };
    lastReason = step.reason;
    if (now >= deadline) {
      return { outcome: 'deadline', reason: step.reason, attempts, elapsedMs: now - start };
    }

    let delay: number;
    if (step.backoff && maxInterval > opts.intervalMs) {
      interval = Math.min(maxInterval, interval * factor);
      // "Equal jitter": at least half the interval, so backoff still backs off, but callers
      // that failed together do not come back together.
      delay = interval / 2 + random() * (interval / 2);
    } else {
      if (!step.backoff) interval = opts.intervalMs;
      delay = interval;
    }
    delay = Math.max(delay, step.minDelayMs ?? 0);
    const wake = Math.min(deadline, attemptStart + delay);
    if (wake > now) await clock.sleep(wake - now, opts.signal);
  }
}
