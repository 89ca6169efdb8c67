/** How the SSM waits poll: every 3 s, backing off to 15 s while nothing changes or SSM throttles. */
import { systemClock, type PollOptions, type WaitSettings } from '../poll.js';

export function ssmCadence(
  opts: WaitSettings,
): Pick<PollOptions<unknown>, 'intervalMs' | 'maxIntervalMs' | 'clock' | 'random' | 'signal'> {
  return {
    intervalMs: opts.intervalMs ?? 3000,
    maxIntervalMs: opts.maxIntervalMs ?? 15_000,
    clock: opts.clock ?? systemClock,
    random: opts.random,
    signal: opts.signal,
  };
}
