import { poll, type Step } from '../../src/poll.js';
import { VirtualClock } from '../../src/virtual-clock.js';

/** Run poll with a scripted sequence of steps and record when each attempt started. */
async function scripted(
  steps: Array<Step<string>>,
  opts: { timeoutMs: number; intervalMs: number; maxIntervalMs?: number; random?: () => number },
) {
  const clock = new VirtualClock(1000);
  const starts: number[] = [];
  const result = await poll({
    ...opts,
    clock,
    random: opts.random ?? (() => 0.5),
    attempt: async ({ elapsedMs }) => {
      starts.push(elapsedMs);
      return steps[Math.min(starts.length - 1, steps.length - 1)] as Step<string>;
    },
  });
  return { result, starts };
}

const wait = (backoff = false): Step<string> => ({ kind: 'wait', reason: 'not yet', backoff });

describe('poll', () => {
  it('returns the value as soon as an attempt is done', async () => {
    const { result, starts } = await scripted([wait(), wait(), { kind: 'done', value: 'ok' }], {
      timeoutMs: 10_000,
      intervalMs: 1000,
    });
    expect(result).toEqual({ outcome: 'done', value: 'ok', attempts: 3, elapsedMs: 2000 });
    expect(starts).toEqual([0, 1000, 2000]);
  });

  it('stops at once on a failure that waiting cannot fix', async () => {
    const { result } = await scripted([wait(), { kind: 'fail', reason: 'rollout FAILED' }], {
      timeoutMs: 60_000,
      intervalMs: 1000,
    });
    expect(result).toMatchObject({ outcome: 'failed', reason: 'rollout FAILED', attempts: 2 });
  });

  it('makes a last attempt at the deadline and reports the last reason', async () => {
    const { result, starts } = await scripted([wait()], { timeoutMs: 2500, intervalMs: 1000 });
    expect(starts).toEqual([0, 1000, 2000, 2500]);
    expect(result).toEqual({
      outcome: 'deadline',
      reason: 'not yet',
      attempts: 4,
      elapsedMs: 2500,
    });
  });

  it('backs off towards the maximum with jitter while failing, and returns to the interval on progress', async () => {
    const { starts } = await scripted(
      [wait(true), wait(true), wait(true), wait(true), wait(false), wait(true)],
      {
        timeoutMs: 60_000,
        intervalMs: 1000,
        maxIntervalMs: 8000,
        random: () => 1, // top of the jitter range: the full interval
      },
    );
    // 2s, 4s, 8s, capped at 8s, then a reset to 1s, then 2s again.
    expect(starts.slice(0, 7)).toEqual([0, 2000, 6000, 14_000, 22_000, 23_000, 25_000]);
  });

  it('jitters within the upper half of the backoff interval', async () => {
    const { starts } = await scripted([wait(true)], {
      timeoutMs: 3000,
      intervalMs: 1000,
      maxIntervalMs: 4000,
      random: () => 0,
    });
    expect(starts.slice(0, 2)).toEqual([0, 1000]); // interval 2s, jittered down to half
  });

  it('does not back off when the maximum equals the interval', async () => {
    const { starts } = await scripted([wait(true)], { timeoutMs: 3000, intervalMs: 1000 });
    expect(starts).toEqual([0, 1000, 2000, 3000]);
  });

  it('keeps a start-to-start cadence when attempts are slow', async () => {
    const clock = new VirtualClock();
    const starts: number[] = [];
    await poll({
      clock,
      timeoutMs: 3000,
      intervalMs: 1000,
      attempt: async ({ elapsedMs }) => {
        starts.push(elapsedMs);
        await clock.sleep(300); // the attempt itself takes 300 ms
        return wait();
      },
    });
    expect(starts).toEqual([0, 1000, 2000, 3000]);
  });

  it('honours a minimum delay asked for by the attempt (Retry-After, throttling)', async () => {
    const { starts } = await scripted(
      [
        { kind: 'wait', reason: 'throttled', minDelayMs: 5000 },
        { kind: 'done', value: 'x' },
      ],
      {
        timeoutMs: 60_000,
        intervalMs: 1000,
      },
    );
    expect(starts).toEqual([0, 5000]);
  });

  it('stops when aborted and says what it was waiting for', async () => {
    const controller = new AbortController();
    const clock = new VirtualClock();
    const result = await poll({
      clock,
      signal: controller.signal,
      timeoutMs: 60_000,
      intervalMs: 1000,
      attempt: async ({ attempt }) => {
        if (attempt === 2) controller.abort();
        return { kind: 'wait', reason: 'status 503' };
      },
    });
    expect(result).toMatchObject({
      outcome: 'aborted',
      reason: 'cancelled while waiting: status 503',
      attempts: 2,
    });
  });
});
