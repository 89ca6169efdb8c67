/**
 * What a build-push run leaves behind until it is cleaned up: registry logins and temporary
 * buildx builders. The main step removes them on its way out; the post step removes whatever a
 * killed or cancelled main step could not. Kept apart from build-push.ts so the post bundle
 * stays small (no AWS SDK).
 */
import { engineLogout, lastMeaningfulLine, type CommandRunner, type EngineName } from './engine.js';
import type { Logger } from '../logger.js';

export type Leftover =
  | { kind: 'login'; engine: EngineName; host: string; authFile?: string }
  | { kind: 'builder'; name: string };

/** Parse the saved list; anything malformed is dropped rather than acted on. */
export function parseLeftovers(text: string): Leftover[] {
  let value: unknown;
  try {
    value = JSON.parse(text || '[]');
  } catch {
    return [];
  }
  if (!Array.isArray(value)) return [];
  return value.filter(
    (v): v is Leftover =>
      typeof v === 'object' &&
      v !== null &&
      ((v.kind === 'login' &&
        (v.engine === 'docker' || v.engine === 'podman') &&
        typeof v.host === 'string' &&
        (v.authFile === undefined || typeof v.authFile === 'string')) ||
        (v.kind === 'builder' && typeof v.name === 'string')),
  );
}

export function describeLeftover(item: Leftover): string {
  return item.kind === 'login'
    ? `${item.engine} login to ${item.host}`
    : `buildx builder ${item.name}`;
}

/**
 * Log out and remove builders, newest first. A failure is a warning and the item stays in the
 * list (so a post step can try again); removed items are taken out of `leftovers`.
 */
export async function removeLeftovers(
  run: CommandRunner,
  leftovers: Leftover[],
  logger: Logger,
): Promise<void> {
  for (const item of [...leftovers].reverse()) {
    let problem: string | undefined;
    if (item.kind === 'login') {
      problem = await engineLogout(
        run,
        { engine: item.engine, ...(item.authFile ? { authFile: item.authFile } : {}) },
        item.host,
      );
    } else {
      const r = await run('docker', ['buildx', 'rm', item.name], { timeoutMs: 2 * 60_000 });
      if (r.code !== 0)
        problem = `docker buildx rm ${item.name} failed: ${lastMeaningfulLine(r.stderr || r.stdout)}`;
    }
    if (problem) logger.warning(problem);
    else leftovers.splice(leftovers.indexOf(item), 1);
  }
}

/**
 * The leftovers of one run. Each is added before it exists (a process killed while creating it
 * still leaves it listed for the post step), and `onChange` hears the list each time it changes.
 */
export class LeftoverList {
  private readonly items: Leftover[] = [];

  constructor(private readonly onChange?: (leftovers: Leftover[]) => void) {}

  add(item: Leftover): void {
    this.items.push(item);
    this.onChange?.([...this.items]);
  }

  /** Remove them all, newest first; what could not be removed stays listed. */
  async removeAll(run: CommandRunner, logger: Logger): Promise<void> {
    await removeLeftovers(run, this.items, logger);
    this.onChange?.([...this.items]);
  }
}
