/**
 * How the suite runs a container engine (docker or podman): an injected `CommandRunner`, so tests
 * can substitute a fake and record every command line, and the real one that spawns a process
 * (no shell: arguments go to the engine as they are, so no value can run code).
 * Registry login and logout live here too, because the build and the post step both need them.
 */
import { spawn } from 'node:child_process';
import type { EngineName } from '../engines.js';

export { ENGINES, type EngineName } from '../engines.js';

export interface RunOptions {
  /** Written to stdin, then stdin is closed. The only way a password reaches an engine. */
  input?: string;
  /** Variables added to the base environment (secret build-arg values travel this way, never in argv). */
  env?: Record<string, string>;
  /** Each line of output as it arrives (the build log). */
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
  /** Kill the process after this long; the result then has `timedOut: true`. */
  timeoutMs?: number;
  /** Kill the process when this aborts (the job was cancelled). */
  signal?: AbortSignal;
  /** Called every `everyMs` of silence, so a long quiet step still shows progress. */
  heartbeat?: { everyMs: number; onSilence: (silentForMs: number) => void };
}

export interface RunResult {
  /** Exit code; null when the process was killed. */
  code: number | null;
  /** The output, its start cut when it grows past a few MB (a build log can be long). */
  stdout: string;
  stderr: string;
  timedOut?: boolean;
  /** The command could not be started (ENOENT: not installed). */
  notFound?: boolean;
}

export type CommandRunner = (
  cmd: string,
  args: readonly string[],
  opts?: RunOptions,
) => Promise<RunResult>;

const MAX_KEPT_CHARS = 4_000_000;
const KILL_GRACE_MS = 10_000;

/**
 * The real runner. `baseEnv` is the environment every command starts from (the adapter passes
 * process.env; the library never reads it).
 */
export function processRunner(baseEnv: Record<string, string | undefined>): CommandRunner {
  return (cmd, args, opts = {}) =>
    new Promise((resolve) => {
      const env = { ...baseEnv, ...opts.env };
      const child = spawn(cmd, [...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
      const kept = { stdout: '', stderr: '' };
      let timedOut = false;
      let lastOutputAt = Date.now();
      let settled = false;

      const forward = (stream: 'stdout' | 'stderr') => {
        let partial = '';
        child[stream].setEncoding('utf8');
        child[stream].on('data', (chunk: string) => {
          lastOutputAt = Date.now();
          kept[stream] += chunk;
          if (kept[stream].length > MAX_KEPT_CHARS)
            kept[stream] = kept[stream].slice(-MAX_KEPT_CHARS / 2);
          const lines = (partial + chunk).split(/\r?\n/);
          partial = lines.pop() ?? '';
          for (const line of lines) opts.onLine?.(line, stream);
        });
        child[stream].on('end', () => {
          if (partial !== '') opts.onLine?.(partial, stream);
          partial = '';
        });
      };
      forward('stdout');
      forward('stderr');

      const stop = () => {
        child.kill('SIGTERM');
        // An engine that ignores SIGTERM (a wedged pull) still goes away.
        setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS).unref();
      };
      const deadline =
        opts.timeoutMs === undefined
          ? undefined
          : setTimeout(() => {
              timedOut = true;
              stop();
            }, opts.timeoutMs);
      let lastBeatAt = 0;
      const beat = opts.heartbeat;
      const heartbeat = beat
        ? setInterval(
            () => {
              const now = Date.now();
              if (now - Math.max(lastOutputAt, lastBeatAt) < beat.everyMs) return;
              lastBeatAt = now;
              beat.onSilence(now - lastOutputAt);
            },
            Math.max(10, Math.floor(beat.everyMs / 4)),
          )
        : undefined;
      const onAbort = () => stop();
      opts.signal?.addEventListener('abort', onAbort, { once: true });

      const finish = (result: RunResult) => {
        if (settled) return;
        settled = true;
        if (deadline) clearTimeout(deadline);
        if (heartbeat) clearInterval(heartbeat);
        opts.signal?.removeEventListener('abort', onAbort);
        resolve(result);
      };
      child.on('error', (error: NodeJS.ErrnoException) =>
        finish({
          code: null,
          stdout: kept.stdout,
          stderr: kept.stderr || error.message,
          notFound: error.code === 'ENOENT',
        }),
      );
      child.on('close', (code) =>
        finish({
          code,
          stdout: kept.stdout,
          stderr: kept.stderr,
          ...(timedOut ? { timedOut } : {}),
        }),
      );
      child.stdin.on('error', () => {}); // the engine may exit without reading stdin
      child.stdin.end(opts.input ?? '');
      if (opts.signal?.aborted) stop();
    });
}

/** Credentials for one registry host. */
export interface RegistryLogin {
  host: string;
  username: string;
  password: string;
}

/** Where an engine keeps a login: podman takes a private auth file; docker uses its own config. */
export interface LoginPlace {
  engine: EngineName;
  /** podman only: `--authfile`, a file in a private temp dir that is deleted afterwards. */
  authFile?: string;
}

const LOGIN_TIMEOUT_MS = 2 * 60_000;

function authFileArgs(place: LoginPlace): string[] {
  return place.engine === 'podman' && place.authFile ? ['--authfile', place.authFile] : [];
}

/** The argv of a login; the password is not in it (it goes to stdin). */
export function loginArgs(place: LoginPlace, login: Omit<RegistryLogin, 'password'>): string[] {
  return [
    'login',
    ...authFileArgs(place),
    '--username',
    login.username,
    '--password-stdin',
    login.host,
  ];
}

/** `<engine> login --password-stdin`; throws with the engine's reason (never the password). */
export async function engineLogin(
  run: CommandRunner,
  place: LoginPlace,
  login: RegistryLogin,
  signal?: AbortSignal,
): Promise<void> {
  const r = await run(place.engine, loginArgs(place, login), {
    input: login.password,
    timeoutMs: LOGIN_TIMEOUT_MS,
    ...(signal ? { signal } : {}),
  });
  if (r.code === 0) return;
  const why = r.timedOut
    ? `no answer within ${LOGIN_TIMEOUT_MS / 1000}s`
    : lastMeaningfulLine(r.stderr || r.stdout);
  throw new Error(
    `${place.engine} login to ${login.host} as ${login.username} failed: ${why || `exit code ${r.code}`}`,
  );
}

/** `<engine> logout`; a failure is returned (a cleanup must not hide the real outcome). */
export async function engineLogout(
  run: CommandRunner,
  place: LoginPlace,
  host: string,
): Promise<string | undefined> {
  const r = await run(place.engine, ['logout', ...authFileArgs(place), host], {
    timeoutMs: LOGIN_TIMEOUT_MS,
  });
  if (r.code === 0) return undefined;
  const why = lastMeaningfulLine(r.stderr || r.stdout);
  // Already logged out (or the private auth file is already gone) is the state we want.
  if (/not logged in/i.test(why)) return undefined;
  if (place.authFile && /no such file or directory/i.test(why)) return undefined;
  return `${place.engine} logout ${host} failed: ${why || `exit code ${r.code}`}`;
}

/** The last non-empty line of some output, `Error: ` prefix dropped: usually the reason. */
export function lastMeaningfulLine(text: string): string {
  const lines = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '');
  return (lines[lines.length - 1] ?? '').replace(/^Error:\s*/i, '');
}
