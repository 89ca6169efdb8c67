/** Progress lines while waiting: one whenever the state changes, and never a silence over a minute. */
import { formatDuration } from '../duration.js';
import type { Clock } from '../poll.js';

export const QUIET_LIMIT_MS = 60_000;

export function progressLog(log: (line: string) => void, clock: Clock) {
  const start = clock.now();
  let lastAt = start;
  let lastState = '';
  return {
    /** Any line, now. */
    say(line: string): void {
      lastAt = clock.now();
      log(line);
    },
    /** A state line: logged when it changed, or as a reminder once the log has been quiet too long. */
    state(line: string): void {
      const now = clock.now();
      if (line !== lastState) {
        lastState = line;
        lastAt = now;
        log(line);
      } else if (now - lastAt >= QUIET_LIMIT_MS) {
        lastAt = now;
        log(`still waiting after ${formatDuration(now - start)}: ${line}`);
      }
    },
  };
}
