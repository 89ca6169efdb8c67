/** Run an action's committed bundle the way the runner does: INPUT_* variables and command files. */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('..', import.meta.url));

export interface ActionRun {
  code: number | null;
  stdout: string;
  stderr: string;
  outputs: Record<string, string>;
  state: Record<string, string>;
  summary: string;
  /** The files, for running a post step with the same state. */
  files: { output: string; state: string; summary: string; dir: string };
  durationMs: number;
}

/** `name<<DELIM\nvalue\nDELIM` blocks (and plain `name=value` lines) as @actions/core writes them. */
export function parseCommandFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    const heredoc = /^([^=<]+)<<(.+)$/.exec(line);
    if (heredoc) {
      const [, name, delim] = heredoc as unknown as [string, string, string];
      const value: string[] = [];
      for (i++; i < lines.length && lines[i] !== delim; i++) value.push(lines[i] as string);
      out[name] = value.join('\n');
    } else if (line.includes('=')) {
      out[line.slice(0, line.indexOf('='))] = line.slice(line.indexOf('=') + 1);
    }
  }
  return out;
}

const createdDirs = new Set<string>();
// The runs' command files outlive each run (a post step reads its main step's state): they go
// when the process ends, in a test worker, a bench or the rehearsal alike.
process.once('exit', () => {
  for (const d of createdDirs) rmSync(d, { recursive: true, force: true });
});

/** The saved state of a main step, as the environment the runner gives its post step. */
export function stateEnv(state: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(state).map(([k, v]) => [`STATE_${k}`, v]));
}

export function runAction(
  bundle: string,
  inputs: Record<string, string>,
  opts: {
    env?: Record<string, string>;
    files?: ActionRun['files'];
    timeoutMs?: number;
    /** Working directory of the action (the runner's is the workspace). */
    cwd?: string;
    onSpawn?: (pid: number) => void;
    /** Each piece of the step's stdout and stderr as it comes (the rehearsal shows the log live). */
    onOutput?: (chunk: string) => void;
  } = {},
): Promise<ActionRun> {
  const dir = opts.files?.dir ?? mkdtempSync(join(tmpdir(), 'shipyard-action-'));
  if (!opts.files) createdDirs.add(dir);
  const files = opts.files ?? {
    dir,
    output: join(dir, 'output'),
    state: join(dir, 'state'),
    summary: join(dir, 'summary'),
  };
  for (const f of [files.output, files.state, files.summary])
    if (!existsSync(f)) writeFileSync(f, '');
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? dir,
    RUNNER_TEMP: dir,
    GITHUB_OUTPUT: files.output,
    GITHUB_STATE: files.state,
    GITHUB_STEP_SUMMARY: files.summary,
    // As the runner does for a post step: the state its main step saved, as STATE_<name>.
    ...(opts.files ? stateEnv(parseCommandFile(readFileSync(files.state, 'utf8'))) : {}),
    ...opts.env,
  };
  for (const [name, value] of Object.entries(inputs))
    env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] = value;
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [isAbsolute(bundle) ? bundle : join(repoRoot, bundle)], {
      env,
      cwd: opts.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    if (child.pid && opts.onSpawn) opts.onSpawn(child.pid);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
      opts.onOutput?.(String(d));
    });
    child.stderr.on('data', (d) => {
      stderr += d;
      opts.onOutput?.(String(d));
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({
        code,
        stdout,
        stderr,
        outputs: parseCommandFile(readFileSync(files.output, 'utf8')),
        state: parseCommandFile(readFileSync(files.state, 'utf8')),
        summary: readFileSync(files.summary, 'utf8'),
        files,
        durationMs: Date.now() - started,
      });
    });
  });
}

/** `::error title=<t>::<message>` with the workflow-command escapes undone. */
export function parseAnnotation(line: string): { title: string; message: string } | undefined {
  const m = /^::error title=(.*?)::(.*)$/.exec(line);
  const unescape = (t: string) =>
    t
      .replace(/%0A/g, '\n')
      .replace(/%0D/g, '\r')
      .replace(/%3A/g, ':')
      .replace(/%2C/g, ',')
      .replace(/%25/g, '%');
  return m ? { title: unescape(m[1] as string), message: unescape(m[2] as string) } : undefined;
}

/** The log as a reader sees it: the runner swallows ::add-mask:: commands. */
export const visibleLog = (run: ActionRun) =>
  `${run.stdout}\n${run.stderr}`
    .split('\n')
    .filter((l) => !l.startsWith('::add-mask::'))
    .join('\n');
