/**
 * Progress lines while waiting: a line whenever the state changes, and never a silence over a
 * minute. The SSM rollout, the ECS rollout and the health wait all log through one ProgressLog.
 */
import { formatDuration } from './duration.js';
import type { Logger } from './logger.js';
import type { Clock } from './poll.js';

/** Never leave the log silent for longer than this while waiting. */
const QUIET_LIMIT_MS = 60_000;

export class ProgressLog {
  private readonly start: number;
  private lastAt: number;
  private lastState = '';

  constructor(
    private readonly logger: Logger,
    private readonly clock: Clock,
  ) {
    this.start = clock.now();
    this.lastAt = this.start;
  }

  /** Any line, now. */
  say(line: string): void {
    this.lastAt = this.clock.now();
    this.logger.info(line);
  }

  /**
   * When the log has been quiet for QUIET_LIMIT_MS: `still waiting after <time>: <what>`.
   * `what` is asked only then; undefined (nothing is waited for) says nothing.
   */
  remind(what: () => string | undefined): void {
    const now = this.clock.now();
    if (now - this.lastAt < QUIET_LIMIT_MS) return;
    const text = what();
    if (text !== undefined)
      this.say(`still waiting after ${formatDuration(now - this.start)}: ${text}`);
  }

  /** A state line: logged when it changed, or as a reminder once the log has been quiet too long. */
  state(line: string): void {
    if (line === this.lastState) return this.remind(() => line);
    this.lastState = line;
    this.say(line);
  }
}
