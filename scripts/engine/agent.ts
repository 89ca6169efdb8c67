/**
 * Run a deploy-ec2-ssm command on this machine the way the SSM agent runs it on an instance:
 * the `commands` text written to a `_script.sh` and started with `sh`, in a process group of its
 * own, stdin closed. Cancel and execution-timeout are what the agent does then (amazon-ssm-agent,
 * agent/executers/executers_unix.go): SIGKILL to the whole process group, so no trap runs.
 * Used by the host-script tests, the swap-downtime bench and the rehearsal.
 */
import { spawn } from 'node:child_process';
import {
  existsSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface AgentRunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** The process group was killed before the command ended. */
  killed: boolean;
}

export interface AgentRun {
  pid: number;
  stdout(): string;
  /** Every complete stdout line with the time (performance.now()) it arrived. */
  lines: Array<{ at: number; text: string }>;
  /** Resolves once `text` appears in stdout; rejects when the command ends first or on timeout. */
  waitFor(text: string | RegExp, timeoutMs?: number): Promise<void>;
  /** SIGKILL to the command's whole process group, like CancelCommand and execution-timeout. */
  killGroup(): void;
  done: Promise<AgentRunResult>;
}

export function startLikeTheAgent(
  commands: string,
  opts: { env?: Record<string, string>; dir?: string } = {},
): AgentRun {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'shipyard-agent-'));
  const file = join(dir, '_script.sh');
  writeFileSync(file, commands, { mode: 0o700 });
  const child = spawn('sh', [file], {
    env: { ...process.env, ...opts.env },
    cwd: dir,
    detached: true, // its own process group, as the agent starts it
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let killed = false;
  let partial = '';
  const lines: Array<{ at: number; text: string }> = [];
  const watchers = new Set<() => void>();
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
    const at = performance.now();
    partial += d;
    let nl: number;
    while ((nl = partial.indexOf('\n')) >= 0) {
      lines.push({ at, text: partial.slice(0, nl) });
      partial = partial.slice(nl + 1);
    }
    for (const w of watchers) w();
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const done = new Promise<AgentRunResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      for (const w of watchers) w();
      resolve({ code, stdout, stderr, killed });
    });
  });
  let ended = false;
  void done.then(() => (ended = true));
  return {
    pid: child.pid as number,
    stdout: () => stdout,
    lines,
    waitFor(text, timeoutMs = 60_000) {
      const seen = () => (typeof text === 'string' ? stdout.includes(text) : text.test(stdout));
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          watchers.delete(check);
          reject(new Error(`'${String(text)}' did not appear within ${timeoutMs} ms:\n${stdout}`));
        }, timeoutMs);
        const check = () => {
          if (seen()) {
            clearTimeout(timer);
            watchers.delete(check);
            resolve();
          } else if (ended || child.exitCode !== null) {
            clearTimeout(timer);
            watchers.delete(check);
            reject(new Error(`the command ended before '${String(text)}':\n${stdout}\n${stderr}`));
          }
        };
        watchers.add(check);
        check();
      });
    },
    killGroup() {
      killed = true;
      try {
        process.kill(-(child.pid as number), 'SIGKILL');
      } catch {
        /* already gone */
      }
    },
    done,
  };
}

/** The run directory the launcher announced ("deploy running detached as pid N; log DIR/log"). */
export function runDirOf(stdout: string): string | undefined {
  return /deploy running detached as pid \d+; log (.+)\/log$/m.exec(stdout)?.[1];
}

/**
 * Wait until the detached deploy of a run has written its result (it goes on after the agent's
 * kill); returns the result line without the marker.
 */
export async function waitForDetachedResult(runDir: string, timeoutMs = 120_000): Promise<string> {
  const end = Date.now() + timeoutMs;
  const file = join(runDir, 'result');
  while (Date.now() < end) {
    if (existsSync(file)) return readFileSync(file, 'utf8').trim();
    await sleep(200);
  }
  throw new Error(`no result in ${runDir} after ${timeoutMs} ms`);
}

/** Every file below `dir` whose bytes contain `text`: where a secret may have been left. */
export function filesHolding(dir: string, text: string): string[] {
  if (!existsSync(dir)) return [];
  return (readdirSync(dir, { recursive: true }) as string[])
    .map((name) => join(dir, name))
    .filter((path) => statSync(path, { throwIfNoEntry: false })?.isFile())
    .filter((path) => readFileSync(path).includes(text));
}
