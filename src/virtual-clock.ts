/**
 * Simulated time for tests and benchmarks of waits: `sleep` never blocks for real. Whenever every
 * piece of pending work is asleep (checked after I/O callbacks via setImmediate), time jumps to the
 * earliest wake-up. Concurrent sleepers therefore interleave as they would in real time.
 */
import type { Clock } from './poll.js';

interface Sleeper {
  at: number;
  resolve: () => void;
}

export class VirtualClock implements Clock {
  private sleepers: Sleeper[] = [];
  private scheduled = false;

  constructor(private current = 0) {}

  now(): number {
    return this.current;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const onAbort = () => {
        this.sleepers = this.sleepers.filter((s) => s !== sleeper);
        resolve();
      };
      // A normal wake-up removes the abort listener, so a long-lived signal does not collect them.
      const sleeper: Sleeper = {
        at: this.current + Math.max(0, ms),
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      this.sleepers.push(sleeper);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (this.sleepers.length === 0) return;
      this.sleepers.sort((a, b) => a.at - b.at);
      const first = this.sleepers[0] as Sleeper;
      this.current = Math.max(this.current, first.at);
      const due = this.sleepers.filter((s) => s.at <= this.current);
      this.sleepers = this.sleepers.filter((s) => s.at > this.current);
      for (const s of due) s.resolve();
      if (this.sleepers.length > 0) this.schedule();
    });
  }
}
