/**
 * Local container engine for integration tests: rootful podman whose whole state lives in one
 * directory (scripts/engine/env.sh), plus a CNCF distribution registry on loopback with htpasswd
 * auth (scripts/engine/registry.sh). The shell scripts stay the single source of truth for the
 * configuration; this module only calls them. Node built-ins only.
 *
 * A real Docker daemon (Debian's docker.io, classic builder) runs next to podman, started by
 * scripts/engine/dockerd.sh with all its state in its own dir and socket:
 *
 *   const describeDocker = dockerAvailable() ? describe : describe.skip;  // starts the daemon
 *   const config = tempDockerConfig();      // private DOCKER_CONFIG: logins stay in the test
 *   await dockerLogin(registry, { env: config.env });
 *   await docker(['build', '-t', `${registry.host}/app:1`, context], { env: config.env });
 *
 *   const it_ = engineAvailable() ? it : it.skip;
 *   const registry = await startRegistry();
 *   await podmanLogin(registry);
 *   await podman(['build', '-t', `${registry.host}/app:1`, context]);
 */
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const engineScript = (name: string) => join(repoRoot, 'scripts', 'engine', name);

/** Defaults of scripts/engine/registry.sh. */
export const REGISTRY_USER = 'shipyard';
export const REGISTRY_PASSWORD = 'shipyard-test-password';

/** The variables env.sh exports; podman, buildah and skopeo read the CONTAINERS_* ones. */
const ENGINE_VARS = [
  'SHIPYARD_ENGINE_DIR',
  'SHIPYARD_REGISTRY_PORT',
  'SHIPYARD_REGISTRY',
  'CONTAINERS_CONF',
  'CONTAINERS_REGISTRIES_CONF',
  'CONTAINERS_STORAGE_CONF',
  'REGISTRY_AUTH_FILE',
] as const;

export interface CommandResult {
  /** Exit code; null when killed (timeout or signal). */
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CommandOptions {
  /** Extra environment, on top of process.env and the engine environment. */
  env?: Record<string, string>;
  /** Written to stdin, then stdin is closed (e.g. a password for --password-stdin). */
  input?: string;
  cwd?: string;
  /** Kill after this long (default 120 s). */
  timeoutMs?: number;
}

export interface Registry {
  /** `127.0.0.1:<port>`, the registry part of image references. */
  host: string;
  port: number;
  user: string;
  password: string;
  /** Stops the registry and deletes its storage. */
  stop(): Promise<void>;
}

function onPath(cmd: string): boolean {
  const dirs = cmd.includes('/') ? [''] : (process.env.PATH ?? '').split(delimiter);
  return dirs.some((dir) => {
    try {
      accessSync(dir ? join(dir, cmd) : cmd, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

let available: boolean | undefined;

/**
 * True when the engine-backed tests can run: Linux, root (the configuration is rootful), and
 * podman, runc, the registry, htpasswd, skopeo and a static busybox installed
 * (scripts/engine/install.sh). Does not start anything.
 */
export function engineAvailable(): boolean {
  available ??=
    process.platform === 'linux' &&
    process.getuid?.() === 0 &&
    ['podman', 'runc', 'docker-registry', 'htpasswd', 'skopeo', '/bin/busybox', 'bash'].every(
      onPath,
    );
  // In CI the engine is installed by .ci/run: a missing engine is a failure, never a silent skip.
  if (!available && process.env.CI === 'true') {
    throw new Error(
      'CI=true but podman/registry/skopeo/busybox are missing: run scripts/engine/install.sh as root',
    );
  }
  return available;
}

const envCache = new Map<string, Record<string, string>>();

/**
 * The engine environment (CONTAINERS_CONF, CONTAINERS_REGISTRIES_CONF, CONTAINERS_STORAGE_CONF,
 * REGISTRY_AUTH_FILE, SHIPYARD_*) for a state dir, default $SHIPYARD_ENGINE_DIR or
 * /tmp/shipyard-engine. Creates the dir and its config files on first use.
 * Merge it into a child's env: `{ ...process.env, ...engineEnv() }`.
 */
export function engineEnv(dir?: string): Record<string, string> {
  const key = dir ?? '';
  const cached = envCache.get(key);
  if (cached) return { ...cached };
  const env: NodeJS.ProcessEnv = { ...process.env };
  if (dir) env.SHIPYARD_ENGINE_DIR = dir;
  // Source env.sh and dump the resulting environment NUL-separated (safe for any value).
  const r = spawnSync('bash', ['-c', 'source "$0" >/dev/null && env -0', engineScript('env.sh')], {
    env,
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`scripts/engine/env.sh failed: ${r.stderr || r.error}`);
  const all = new Map(
    r.stdout
      .split('\0')
      .filter((kv) => kv.includes('='))
      .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)] as const),
  );
  const out: Record<string, string> = {};
  for (const name of ENGINE_VARS) {
    const value = all.get(name);
    if (value === undefined) throw new Error(`scripts/engine/env.sh did not set ${name}`);
    out[name] = value;
  }
  envCache.set(key, out);
  return { ...out };
}

/**
 * A throw-away engine state dir (empty image store, no logins), e.g. to prove that an image
 * really comes from the registry. `dispose()` resets podman's state (unmounting overlay layers)
 * and deletes the dir.
 */
export function tempEngine(): {
  dir: string;
  env: Record<string, string>;
  dispose(): Promise<void>;
} {
  const dir = mkdtempSync(join(tmpdir(), 'shipyard-engine-'));
  const env = engineEnv(dir);
  return {
    dir,
    env,
    async dispose() {
      await podman(['system', 'reset', '--force'], { env });
      envCache.delete(dir);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Run any command with the engine environment (default state dir unless opts.env overrides). */
export function runCommand(
  cmd: string,
  args: string[],
  opts: CommandOptions = {},
): Promise<CommandResult> {
  const env = { ...process.env, ...engineEnv(opts.env?.SHIPYARD_ENGINE_DIR), ...opts.env };
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.on('error', () => {}); // the child may exit without reading stdin
    child.stdin.end(opts.input ?? '');
  });
}

/** `podman ...args` with the engine environment. Never throws on a non-zero exit: check `code`. */
export function podman(args: string[], opts: CommandOptions = {}): Promise<CommandResult> {
  return runCommand('podman', args, opts);
}

/** A TCP port free on 127.0.0.1 right now (bound, then released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Start a registry on a free loopback port (plain HTTP, htpasswd auth, deletes enabled). The
 * engine's registries.conf treats every 127.0.0.1 port as insecure, so podman push/pull need no
 * --tls-verify flag; skopeo ignores CONTAINERS_REGISTRIES_CONF and does need --tls-verify=false.
 */
export async function startRegistry(
  opts: { user?: string; password?: string; dir?: string } = {},
): Promise<Registry> {
  const user = opts.user ?? REGISTRY_USER;
  const password = opts.password ?? REGISTRY_PASSWORD;
  const base: Record<string, string> = opts.dir ? { SHIPYARD_ENGINE_DIR: opts.dir } : {};
  let lastError = '';
  // Another process could grab the port between freePort() and the registry binding it: retry.
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const env = {
      ...base,
      SHIPYARD_REGISTRY_PORT: String(port),
      SHIPYARD_REGISTRY_USER: user,
      SHIPYARD_REGISTRY_PASSWORD: password,
    };
    const r = await runCommand('bash', [engineScript('registry.sh'), 'start'], { env });
    if (r.code === 0) {
      return {
        host: `127.0.0.1:${port}`,
        port,
        user,
        password,
        async stop() {
          const s = await runCommand('bash', [engineScript('registry.sh'), 'stop', '--purge'], {
            env,
          });
          if (s.code !== 0) throw new Error(`registry.sh stop failed: ${s.stderr}`);
        },
      };
    }
    lastError = r.stderr;
  }
  throw new Error(`registry.sh start failed: ${lastError}`);
}

/** `podman login` to the registry (credentials go to the state dir's REGISTRY_AUTH_FILE). */
export async function podmanLogin(registry: Registry, opts: CommandOptions = {}): Promise<void> {
  const r = await podman(
    ['login', '--username', registry.user, '--password-stdin', registry.host],
    {
      ...opts,
      input: registry.password,
    },
  );
  if (r.code !== 0) throw new Error(`podman login ${registry.host} failed: ${r.stderr}`);
}

/**
 * A standalone build context of examples/app (Dockerfile, src/, static busybox) in a temp dir,
 * made by examples/app/prepare-context.sh; the repository is left untouched.
 */
export async function exampleAppContext(): Promise<string> {
  const dest = mkdtempSync(join(tmpdir(), 'shipyard-app-ctx-'));
  const r = await runCommand('bash', [
    join(repoRoot, 'examples', 'app', 'prepare-context.sh'),
    dest,
  ]);
  if (r.code !== 0) throw new Error(`prepare-context.sh failed: ${r.stderr}`);
  return dest;
}

let dockerState: { host: string } | { reason: string } | undefined;

/**
 * True when the Docker-backed tests can run: Linux, root, dockerd and the docker client
 * installed (scripts/engine/install.sh), and the project's daemon answers. Unlike
 * engineAvailable() this STARTS the daemon (scripts/engine/dockerd.sh start: idempotent, a no-op
 * when it already runs); synchronous so that a test file can choose
 * `describe` or `describe.skip` while jest collects it. When it is false the reason is printed.
 */
export function dockerAvailable(): boolean {
  if (dockerState === undefined) {
    const missing = ['docker', 'dockerd', 'bash', 'ip'].filter(
      (cmd) => ![cmd, `/usr/sbin/${cmd}`, `/sbin/${cmd}`].some(onPath),
    );
    if (process.platform !== 'linux' || process.getuid?.() !== 0) {
      dockerState = { reason: 'the Docker daemon needs Linux and root' };
    } else if (missing.length > 0) {
      dockerState = {
        reason: `${missing.join(', ')} not installed (run scripts/engine/install.sh as root)`,
      };
    } else {
      const r = spawnSync('bash', [engineScript('dockerd.sh'), 'start'], {
        encoding: 'utf8',
        // dockerd.sh waits up to 90 s for a concurrent start's lock, then 60 s for the daemon.
        timeout: 180_000,
      });
      const host = /^DOCKER_HOST=(\S+)$/m.exec(r.stdout ?? '')?.[1];
      dockerState =
        r.status === 0 && host
          ? { host }
          : {
              reason: `scripts/engine/dockerd.sh start failed (${r.error?.message ?? `exit ${r.status}`}):\n${r.stderr}`,
            };
    }
    if ('reason' in dockerState && process.env.CI !== 'true')
      console.warn(`Docker tests skipped: ${dockerState.reason}`);
  }
  // In CI the daemon is part of the setup: a daemon that cannot start is a failure.
  if ('reason' in dockerState && process.env.CI === 'true')
    throw new Error(`CI=true but the Docker daemon is unavailable: ${dockerState.reason}`);
  return 'host' in dockerState;
}

/** `unix://<dir>/docker.sock` of the project's daemon (after dockerAvailable() returned true). */
export function dockerHost(): string {
  if (!dockerState || !('host' in dockerState))
    throw new Error('the Docker daemon is not running: call dockerAvailable() first');
  return dockerState.host;
}

let sharedDockerConfig: string | undefined;

/**
 * A private DOCKER_CONFIG dir (config.json holds `docker login` credentials) with DOCKER_HOST:
 * pass `env` to docker(), dockerLogin() or an action, so a login never reaches ~/.docker or
 * another test. `dispose()` deletes it.
 */
export function tempDockerConfig(): { dir: string; env: Record<string, string>; dispose(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'shipyard-docker-config-'));
  return {
    dir,
    env: { DOCKER_HOST: dockerHost(), DOCKER_CONFIG: dir },
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * `docker ...args` against the project's daemon. Never throws on a non-zero exit: check `code`.
 * Without a DOCKER_CONFIG in opts.env it uses one private to this process (never ~/.docker).
 */
export function docker(args: string[], opts: CommandOptions = {}): Promise<CommandResult> {
  if (!opts.env?.DOCKER_CONFIG && !sharedDockerConfig) {
    const dir = mkdtempSync(join(tmpdir(), 'shipyard-docker-config-'));
    sharedDockerConfig = dir;
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  }
  return runCommand('docker', args, {
    ...opts,
    env: { DOCKER_HOST: dockerHost(), DOCKER_CONFIG: sharedDockerConfig ?? '', ...opts.env },
  });
}

/**
 * `docker login` to the registry (plain HTTP: the daemon treats 127.0.0.0/8 as insecure by
 * default). The credentials go to opts.env.DOCKER_CONFIG (see tempDockerConfig()).
 */
export async function dockerLogin(registry: Registry, opts: CommandOptions = {}): Promise<void> {
  const r = await docker(
    ['login', '--username', registry.user, '--password-stdin', registry.host],
    { ...opts, input: registry.password },
  );
  if (r.code !== 0) throw new Error(`docker login ${registry.host} failed: ${r.stderr}`);
}
