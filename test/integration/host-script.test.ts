/**
 * The deploy-ec2-ssm host script against a real engine and a CNCF registry with htpasswd auth,
 * deploying the example app (FROM scratch). Every deploy runs as SSM runs it: the `commands`
 * text (wrapper + script) started with `sh` in a process group of its own (scripts/engine/agent.ts);
 * a cancel is a SIGKILL to that group. The registry login goes through the script's real ECR
 * path: a stand-in `aws` (stand-ins/host/stub-bin/aws) prints the registry password, and the
 * engine logs in with --password-stdin. The images are removed from the store after the push, so
 * every deploy really pulls.
 */
import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  filesHolding,
  runDirOf,
  startLikeTheAgent,
  waitForDetachedResult,
  type AgentRun,
} from '../../scripts/engine/agent.js';
import {
  type CommandResult,
  type Registry,
  docker,
  dockerAvailable,
  dockerLogin,
  engineAvailable,
  exampleAppContext,
  freePort,
  podman,
  podmanLogin,
  startRegistry,
  tempDockerConfig,
  tempEngine,
} from '../../scripts/engine/engine.js';
import { prepareDeployCommand } from '../../src/ssm/deploy.js';
import { CANDIDATE_SUFFIX, SET_ASIDE_SUFFIX } from '../../src/ssm/remote-script.js';
import { type DeployResult, RESULT_MARKER, parseDeployResult } from '../../src/ssm/result.js';
import type { DeploySpec } from '../../src/ssm/spec.js';

/** The engine a suite deploys with: its CLI, its environment and where it keeps logins. */
interface EngineUnderTest {
  env: Record<string, string>;
  cli(args: string[]): Promise<CommandResult>;
  login(registry: Registry): Promise<void>;
  /** The engine's auth file, as text ('' when absent). */
  auth(): string;
  dispose(): Promise<void>;
}

function podmanUnderTest(): EngineUnderTest {
  const engine = tempEngine();
  return {
    env: engine.env,
    cli: (args) => podman(args, { env: engine.env }),
    login: (registry) => podmanLogin(registry, { env: engine.env }),
    auth: () => readIfThere(engine.env.REGISTRY_AUTH_FILE as string),
    dispose: () => engine.dispose(),
  };
}

function dockerUnderTest(): EngineUnderTest {
  const config = tempDockerConfig();
  return {
    env: config.env,
    cli: (args) => docker(args, { env: config.env }),
    login: (registry) => dockerLogin(registry, { env: config.env }),
    auth: () => readIfThere(join(config.dir, 'config.json')),
    dispose: async () => config.dispose(),
  };
}

function readIfThere(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** Containers the suite creates; removed before and after it, since a Docker daemon is shared. */
const NAMES = ['web', 'envtest', 'ssmtest', 'firstfail', 'repair'];
const STUB_AWS = fileURLToPath(new URL('../../stand-ins/host/stub-bin/aws', import.meta.url));
const NUL = String.fromCharCode(0);

interface Deploy {
  code: number | null;
  stdout: string;
  stderr: string;
  script: string;
  result: DeployResult | undefined;
  /** Files left in the deploy's TMPDIR. */
  leftInTmp: string[];
}

const suites: Array<[string, boolean, () => EngineUnderTest]> = [
  ['podman', engineAvailable(), podmanUnderTest],
  ['docker', engineAvailable() && dockerAvailable(), dockerUnderTest],
];

describe.each(suites)('host script on %s with a registry', (kind, available, makeEngine) => {
  if (!available) {
    it.skip(`${kind} is not available here`, () => {});
    return;
  }
  const engineName = kind as 'podman' | 'docker';
  let registry: Registry;
  let engine: EngineUnderTest;
  let context: string;
  let work: string;
  let stateDir: string;
  let repo: string;
  let runCounter = 0;

  /** Checks the container under test on whatever host port it publishes for 8000. */
  const portableHealth = 'curl -fsS -m 2 "http://127.0.0.1:$SHIPYARD_PORT_8000/health"';

  /** The settings every deploy here shares; each case overrides what it is about. */
  function spec(
    tag: string,
    name: string,
    port: number,
    over: Partial<DeploySpec> = {},
  ): DeploySpec {
    return {
      image: `${repo}:${tag}`,
      containerName: name,
      ports: [{ hostIp: '127.0.0.1', hostPort: port, containerPort: 8000, protocol: 'tcp' }],
      env: [],
      envFromSsm: [],
      restartPolicy: 'unless-stopped',
      runOptions: [],
      engine: engineName,
      registryLogin: 'ecr',
      region: 'eu-west-1',
      healthCmd: portableHealth,
      healthTimeoutSeconds: 20,
      stopTimeoutSeconds: 5,
      keepImages: 3,
      stateDir,
      // A lock leaked to a daemon (conmon) would hang the next deploy: fail well before jest does.
      lockTimeoutSeconds: 30,
      executionTimeoutSeconds: 120,
      ...over,
    };
  }

  /** Environment of a deploy: the engine's, the stand-in aws first on PATH, its own TMPDIR. */
  function deployEnv(params: Record<string, string> = {}) {
    const dir = join(work, `deploy-${++runCounter}`);
    const bin = join(dir, 'bin');
    const tmp = join(dir, 'tmp');
    mkdirSync(bin, { recursive: true });
    mkdirSync(tmp);
    symlinkSync(STUB_AWS, join(bin, 'aws'));
    writeFileSync(
      join(dir, 'params'),
      Object.entries(params)
        .map(([k, v]) => `${k}${NUL}${v}${NUL}`)
        .join(''),
    );
    const env = {
      ...engine.env,
      PATH: `${bin}:${process.env.PATH}`,
      TMPDIR: tmp,
      STUB_DIR: dir,
      STUB_ECR_PASSWORD: registry.password,
    };
    return { dir, tmp, env };
  }

  /** Start a deploy as the SSM agent would. */
  function start(s: DeploySpec, params: Record<string, string> = {}) {
    const { dir, tmp, env } = deployEnv(params);
    const { script, commands } = prepareDeployCommand(s);
    const run = startLikeTheAgent(commands, { env, dir });
    return { run, script, tmp };
  }

  async function finished(started: { run: AgentRun; script: string; tmp: string }) {
    const r = await started.run.done;
    // stderr carries only the result line; stdout has it last.
    const d: Deploy = {
      ...r,
      script: started.script,
      result: parseDeployResult(r.stderr) ?? parseDeployResult(r.stdout),
      leftInTmp: readdirSync(started.tmp),
    };
    return d;
  }

  const deploy = (s: DeploySpec, params: Record<string, string> = {}) => finished(start(s, params));

  async function ok(args: string[]): Promise<string> {
    const r = await engine.cli(args);
    if (r.code !== 0) throw new Error(`${kind} ${args.join(' ')}: ${r.stderr}`);
    return r.stdout.trim();
  }

  async function health(port: number): Promise<{ status: string; version: string }> {
    const res = await fetch(`http://127.0.0.1:${port}/health`);
    expect(res.status).toBe(200);
    return (await res.json()) as { status: string; version: string };
  }

  /** The environment of the container's processes, read from inside it (NUL-separated, exact). */
  async function containerEnv(name: string): Promise<Map<string, string>> {
    const r = await engine.cli(['exec', name, '/bin/busybox', 'env', '-0']);
    if (r.code !== 0) throw new Error(`${kind} exec ${name} env: ${r.stderr}`);
    return new Map(
      r.stdout
        .split(NUL)
        .filter((kv) => kv.includes('='))
        .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
    );
  }

  const inspect = async (name: string, format: string) =>
    (await engine.cli(['container', 'inspect', '--format', format, name])).stdout.trim();
  const names = async () => (await ok(['ps', '--all', '--format', '{{.Names}}'])).split('\n');

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'shipyard-host-script-'));
    stateDir = join(work, 'state');
    // ECR's user name is always AWS; the password is what `ecr get-login-password` prints.
    registry = await startRegistry({ user: 'AWS', password: 'registry-password-5e1f' });
    engine = makeEngine();
    await removeOurContainers();
    context = await exampleAppContext();
    repo = `${registry.host}/shipyard/host-script`;
    await engine.login(registry);
    for (const [tag, broken] of [
      ['1', 'false'],
      ['2', 'false'],
      ['3', 'true'],
    ]) {
      await ok([
        'build',
        '--quiet',
        '--build-arg',
        `VERSION=${tag}`,
        '--build-arg',
        `BROKEN=${broken}`,
        '--tag',
        `${repo}:${tag}`,
        context,
      ]);
      await ok(['push', '--quiet', `${repo}:${tag}`]);
    }
    // From here on only the script's own login (through the stand-in aws) can pull.
    await ok(['logout', registry.host]);
    await ok(['rmi', `${repo}:1`, `${repo}:2`, `${repo}:3`]);
  }, 180_000);

  async function removeOurContainers() {
    const kills = ['pull', 'stop', 'start', 'health', 'rollback'].map((p) => `kill-${p}`);
    for (const name of [...NAMES, ...kills])
      for (const suffix of ['', SET_ASIDE_SUFFIX, CANDIDATE_SUFFIX, '-shipyard-next'])
        await engine.cli(['rm', '--force', `${name}${suffix}`]);
  }

  afterAll(async () => {
    if (engine) await removeOurContainers();
    await engine?.dispose();
    await registry?.stop();
    if (context) rmSync(context, { recursive: true, force: true });
    if (work) rmSync(work, { recursive: true, force: true });
  }, 60_000);

  describe('one container through its life', () => {
    let port: number;
    beforeAll(async () => {
      port = await freePort();
    });

    it('first deploy: nothing to replace, deployed and serving; state is root-only', async () => {
      const d = await deploy(spec('1', 'web', port));
      expect(d.result).toMatchObject({
        outcome: 'deployed',
        container: 'web',
        newImage: `${repo}:1`,
      });
      expect(d.result?.newImageId).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect(d.result?.previousImage).toBeUndefined();
      expect(d.code).toBe(0);
      expect(d.stdout).toContain('first deploy');
      // The result line is the only thing on stderr; everything else is progress on stdout.
      expect(d.stderr.trimEnd()).toMatch(new RegExp(`^${RESULT_MARKER}\\{[^\\n]*\\}$`));
      expect(await health(port)).toEqual({ status: 'ok', version: '1' });
      expect(statSync(stateDir).mode & 0o777).toBe(0o700);
      // What the last deploy ended as stays readable on the host.
      expect(readFileSync(join(stateDir, 'last-result.web'), 'utf8')).toContain('"deployed"');
      // The wrapper's copy of the script (it holds the env values) is gone.
      expect(readdirSync(stateDir).filter((f) => f.startsWith('launch.'))).toEqual([]);
      // The registry login did not outlive the pull.
      expect(engine.auth()).not.toContain(registry.host);
    });

    it('upgrade v1 -> v2: the candidate is checked beside v1, then the swap', async () => {
      const v1Id = (await inspect('web', '{{.Image}}')).replace(/^sha256:/, '');
      const d = await deploy(spec('2', 'web', port));
      expect(d.result).toMatchObject({
        outcome: 'deployed',
        newImage: `${repo}:2`,
        previousImage: `${repo}:1`,
        previousImageId: `sha256:${v1Id}`,
      });
      expect(d.code).toBe(0);
      expect(await health(port)).toEqual({ status: 'ok', version: '2' });
      expect((await engine.cli(['image', 'inspect', `${repo}:1`])).code).toBe(0);
      const all = await names();
      expect(all).not.toContain(`web${SET_ASIDE_SUFFIX}`);
      expect(all).not.toContain(`web${CANDIDATE_SUFFIX}`);
      // Order: pull, pre-flight, candidate healthy, and only then the old container stops.
      const at = (text: string) => d.stdout.indexOf(text);
      expect(at('pulled')).toBeGreaterThan(0);
      expect(at('pulled')).toBeLessThan(at('pre-flight'));
      expect(at('pre-flight')).toBeLessThan(at('starting the candidate'));
      expect(at('starting the candidate')).toBeLessThan(at('the candidate is healthy'));
      expect(at('the candidate is healthy')).toBeLessThan(at('stopping the previous'));
      // The restart policy of the final container is the one asked for.
      expect(await inspect('web', '{{.HostConfig.RestartPolicy.Name}}')).toBe('unless-stopped');
    });

    it('a broken v3 is rejected as a candidate: v2 never stops serving', async () => {
      const before = await inspect('web', '{{.Id}} {{.State.StartedAt}}');
      const d = await deploy(spec('3', 'web', port, { healthTimeoutSeconds: 3 }));
      expect(d.code).toBe(1);
      expect(d.result).toMatchObject({
        outcome: 'rejected',
        newImage: `${repo}:3`,
        previousImage: `${repo}:2`,
        failedStep: 'candidate',
      });
      expect(d.result?.reason).toMatch(
        /not healthy as a candidate .*health command failed \(exit 22\)/,
      );
      expect(d.stdout).toContain(`last 50 lines of the log of web${CANDIDATE_SUFFIX}:`);
      expect(d.stdout).toContain('GET /health -> 500');
      expect(d.stdout).not.toContain('stopping the previous');
      expect(await inspect('web', '{{.Id}} {{.State.StartedAt}}')).toBe(before);
      expect(await health(port)).toEqual({ status: 'ok', version: '2' });
      const all = await names();
      expect(all).not.toContain(`web${CANDIDATE_SUFFIX}`);
      expect(all).not.toContain('web-shipyard-next');
    });

    it('a health-cmd with the port written in skips the candidate: v3 is swapped in, then rolled back', async () => {
      const d = await deploy(
        spec('3', 'web', port, {
          healthTimeoutSeconds: 3,
          healthCmd: `curl -fsS -m 2 http://127.0.0.1:${port}/health`,
        }),
      );
      expect(d.stdout).toContain('no candidate first: health-cmd names no $SHIPYARD_PORT_<port>');
      expect(d.stdout).not.toContain('starting the candidate');
      expect(d.code).toBe(1);
      expect(d.result).toMatchObject({
        outcome: 'rolled-back',
        previousImage: `${repo}:2`,
        failedStep: 'health',
      });
      expect(d.result?.reason).toMatch(/not healthy after 3s: health command failed \(exit 22\)/);
      expect(await health(port)).toEqual({ status: 'ok', version: '2' });
      expect(await inspect('web', '{{.Config.Image}}')).toBe(`${repo}:2`);
      // The container that serves again has its restart policy back.
      expect(await inspect('web', '{{.HostConfig.RestartPolicy.Name}}')).toBe('unless-stopped');
    });

    it('an image that cannot be pulled: the old container is never stopped', async () => {
      const before = await inspect('web', '{{.Id}} {{.State.StartedAt}}');
      const d = await deploy(spec('no-such-tag', 'web', port));
      expect(d.code).toBe(1);
      expect(d.result).toMatchObject({ outcome: 'failed', failedStep: 'pull' });
      expect(d.result?.reason).toMatch(/could not pull .*manifest unknown/);
      expect(d.stdout).not.toContain('stopping');
      expect(await inspect('web', '{{.Id}} {{.State.StartedAt}}')).toBe(before);
      expect(await health(port)).toEqual({ status: 'ok', version: '2' });
    });

    it('settings the engine refuses at create fail the pre-flight: the old container is untouched', async () => {
      const before = await inspect('web', '{{.Id}} {{.State.StartedAt}}');
      const d = await deploy(
        spec('1', 'web', port, {
          runOptions: ['--mount', 'type=bind,source=/nonexistent-shipyard,target=/x'],
        }),
      );
      expect(d.code).toBe(1);
      expect(d.result).toMatchObject({ outcome: 'failed', failedStep: 'preflight' });
      expect(d.result?.reason).toMatch(/the engine refused the new container's settings/);
      expect(await inspect('web', '{{.Id}} {{.State.StartedAt}}')).toBe(before);
      expect(await names()).not.toContain('web-shipyard-next');
    });

    it('settings the engine refuses only at start are caught by the candidate: rejected', async () => {
      const before = await inspect('web', '{{.Id}} {{.State.StartedAt}}');
      const d = await deploy(spec('1', 'web', port, { runOptions: ['--user', 'nosuchuser'] }));
      expect(d.code).toBe(1);
      expect(d.result).toMatchObject({ outcome: 'rejected', failedStep: 'candidate' });
      expect(d.result?.reason).toMatch(/the engine could not start the new version/);
      expect(await inspect('web', '{{.Id}} {{.State.StartedAt}}')).toBe(before);
      expect(await health(port)).toEqual({ status: 'ok', version: '2' });
    });

    it('too little time left for a safe swap: it stops before touching the old container', async () => {
      const before = await inspect('web', '{{.Id}} {{.State.StartedAt}}');
      // 20 s health + 2 x 5 s stop + 30 s margin = 60 s needed; 45 s are given.
      const d = await deploy(
        spec('1', 'web', port, { executionTimeoutSeconds: 45, healthCmd: 'true' }),
      );
      expect(d.result).toMatchObject({ outcome: 'failed' });
      expect(d.result?.reason).toMatch(/left before execution-timeout|no time left/);
      expect(await inspect('web', '{{.Id}} {{.State.StartedAt}}')).toBe(before);
    });

    it('a queued older run is not applied over a newer one, unless forced', async () => {
      const newer = await deploy(spec('2', 'web', port, { runId: '2000' }));
      expect(newer.result?.outcome).toBe('deployed');
      const before = await inspect('web', '{{.Id}} {{.State.StartedAt}}');
      const older = await deploy(spec('1', 'web', port, { runId: '1999' }));
      expect(older.code).toBe(0);
      expect(older.result).toMatchObject({ outcome: 'outdated' });
      expect(older.result?.reason).toBe(
        'run 2000 deployed web on this host after run 1999; this older run is not applied (force: true applies it)',
      );
      expect(older.stdout).not.toContain('pulling');
      expect(await inspect('web', '{{.Id}} {{.State.StartedAt}}')).toBe(before);
      const forced = await deploy(spec('1', 'web', port, { runId: '1999', force: true }));
      expect(forced.result?.outcome).toBe('deployed');
      expect(await health(port)).toEqual({ status: 'ok', version: '1' });
      // Back to v2 for the cases below, as a newer run.
      expect((await deploy(spec('2', 'web', port, { runId: '2001' }))).result?.outcome).toBe(
        'deployed',
      );
    });

    it('two deploys at once are serialized by the lock; the last one started wins', async () => {
      const [a, b] = await Promise.all([
        deploy(spec('1', 'web', port)),
        deploy(spec('2', 'web', port)),
      ]);
      expect([a.result?.outcome, b.result?.outcome]).toEqual(['deployed', 'deployed']);
      const waited = [a, b].filter((d) => /waiting up to \d+s for another deploy/.test(d.stdout));
      expect(waited).toHaveLength(1);
      const second = waited[0] as Deploy;
      const first = second === a ? b : a;
      expect(second.stdout).toMatch(/got the lock after \d+s/);
      // The second one replaced what the first one deployed.
      expect(second.result?.previousImage).toBe(first.result?.newImage);
      expect(await inspect('web', '{{.Config.Image}}')).toBe(second.result?.newImage);
      const version = (second.result?.newImage ?? '').split(':').pop();
      expect(await health(port)).toEqual({ status: 'ok', version });
    });
  });

  describe('killed like the SSM agent kills (SIGKILL to the process group)', () => {
    // The phases of a deploy and the line that announces each. Candidate-first is off here (a
    // health-cmd with the port written in), so that the kill lands in the swap itself.
    const phases: Array<[phase: string, line: string | RegExp, tag: string]> = [
      ['pull', 'pulling ', '2'],
      ['stop', 'stopping the previous container', '2'],
      ['start', /starting kill-\w+ from/, '2'],
      ['health', /waiting up to \d+s for the health command to succeed on kill-/, '2'],
      ['rollback', 'rolling back:', '3'],
    ];

    it.each(phases)(
      'killed during %s: the deploy finishes on its own, the host serves, no secret is left',
      async (phase, line, tag) => {
        const name = `kill-${phase}`;
        const port = await freePort();
        const secret = `kill-test-secret-${phase}-9f3a`;
        const params = { '/shipyard/test/kill': secret };
        const base = {
          envFromSsm: [['DB_PASSWORD', '/shipyard/test/kill']] as Array<[string, string]>,
          healthCmd: `curl -fsS -m 2 http://127.0.0.1:${port}/health`,
          healthTimeoutSeconds: 4,
          stopTimeoutSeconds: 2,
        };
        const first = await deploy(spec('1', name, port, base), params);
        expect(first.result?.outcome).toBe('deployed');

        const started = start(spec(tag, name, port, base), params);
        await started.run.waitFor(line);
        started.run.killGroup();
        const killed = await started.run.done;
        expect(killed.killed).toBe(true);
        // (On a fast engine the launcher may have printed the result just before the kill.)

        // The detached deploy goes on and ends by itself, within its deadline.
        const runDir = runDirOf(killed.stdout) as string;
        expect(runDir).toBeDefined();
        const result = JSON.parse(await waitForDetachedResult(runDir, 90_000)) as DeployResult;
        const version = await health(port);
        if (tag === '3') {
          expect(result.outcome).toBe('rolled-back');
          expect(version.version).toBe('1');
        } else {
          expect(result.outcome).toBe('deployed');
          expect(version.version).toBe(tag);
        }
        expect(await names()).not.toContain(`${name}${SET_ASIDE_SUFFIX}`);
        expect(await names()).not.toContain(`${name}-shipyard-next`);
        // The serving container has the secret; no file of ours does.
        expect((await containerEnv(name)).get('DB_PASSWORD')).toBe(secret);
        expect(filesHolding(stateDir, secret)).toEqual([]);
        expect(filesHolding(started.tmp, secret)).toEqual([]);
        expect(readdirSync(stateDir).filter((f) => f.startsWith('launch.'))).toEqual([]);

        // And the next deploy on that host works as usual.
        const after = await deploy(spec('1', name, port, base), params);
        expect(after.result?.outcome).toBe('deployed');
        await ok(['rm', '--force', name]);
      },
      150_000,
    );

    it('a deploy killed before it could clean up is repaired and swept by the next one', async () => {
      const port = await freePort();
      const name = 'repair';
      await deploy(spec('1', name, port));
      // What a power cut in the middle of a swap leaves: the old container set aside and stopped,
      // an unverified one under the real name, a pre-flight container, and an env-file.
      await ok(['rename', name, `${name}${SET_ASIDE_SUFFIX}`]);
      await ok(['stop', `${name}${SET_ASIDE_SUFFIX}`]);
      await ok(['create', '--name', name, `${repo}:3`]);
      await ok(['create', '--name', `${name}-shipyard-next`, `${repo}:3`]);
      writeFileSync(join(stateDir, 'env.leftover'), 'DB_PASSWORD=left-behind-secret\n');
      writeFileSync(join(stateDir, 'launch.999999.sh'), 'echo old\n');

      const d = await deploy(spec('2', name, port));
      expect(d.stdout).toContain(
        `an interrupted deploy left the previous container set aside as ${name}${SET_ASIDE_SUFFIX}: restoring it`,
      );
      expect(d.stdout).toContain('removed 2 file(s) left by an interrupted deploy');
      expect(d.result).toMatchObject({ outcome: 'deployed', previousImage: `${repo}:1` });
      expect(await health(port)).toEqual({ status: 'ok', version: '2' });
      expect((await names()).filter((n) => n.startsWith(name))).toEqual([name]);
      expect(filesHolding(stateDir, 'left-behind-secret')).toEqual([]);
      await ok(['rm', '--force', name]);
    }, 120_000);
  });

  it('env values full of quotes, $(), backticks, newlines and semicolons reach the container unchanged', async () => {
    const canary = join(work, 'pwned');
    const values: Record<string, string> = {
      QUOTES: `it's "quoted" and 'single' '\\''`,
      SUBST: `$(touch ${canary}) \${HOME} $HOME`,
      BACKTICKS: `\`touch ${canary}\``,
      MULTILINE: `line one\nline two; touch ${canary}\n\tindented`,
      SEMICOLONS: `a; touch ${canary}; b && c || d | e & f`,
      EMPTY: '',
      SPACES: '  leading and trailing  ',
      UNICODE: 'é ✓ 😀',
    };
    const port = await freePort();
    const d = await deploy(spec('2', 'envtest', port, { env: Object.entries(values) }));
    expect(d.result?.outcome).toBe('deployed');
    const env = await containerEnv('envtest');
    for (const [name, value] of Object.entries(values)) expect(env.get(name)).toBe(value);
    expect(readdirSync(work)).not.toContain('pwned');
  });

  it('env-from-ssm: the secret is in the container, not in the script, its output or on disk', async () => {
    const secret = `s3cret "with" 'quotes' $(touch ${join(work, 'pwned')}) = #hash  `;
    const port = await freePort();
    const d = await deploy(
      spec('2', 'ssmtest', port, {
        envFromSsm: [['DB_PASSWORD', '/shipyard/test/db-password']],
        env: [['PLAIN', 'visible']],
      }),
      { '/shipyard/test/db-password': secret },
    );
    expect(d.result?.outcome).toBe('deployed');
    const env = await containerEnv('ssmtest');
    expect(env.get('DB_PASSWORD')).toBe(secret);
    expect(env.get('PLAIN')).toBe('visible');
    expect(d.script).toContain('/shipyard/test/db-password');
    for (const text of [d.script, d.stdout, d.stderr]) expect(text).not.toContain('s3cret');
    expect(d.stdout).toContain('reading 1 SSM parameter(s) into an env-file');
    expect(d.leftInTmp).toEqual([]);
    expect(filesHolding(stateDir, 's3cret')).toEqual([]);
    expect(readdirSync(work)).not.toContain('pwned');
  });

  it('a first deploy whose health check fails after the swap: failed-no-previous, nothing left running', async () => {
    const port = await freePort();
    const d = await deploy(
      spec('3', 'firstfail', port, {
        healthTimeoutSeconds: 3,
        healthCmd: `curl -fsS -m 2 http://127.0.0.1:${port}/health`,
      }),
    );
    expect(d.code).toBe(1);
    expect(d.result).toMatchObject({ outcome: 'failed-no-previous', failedStep: 'health' });
    expect(d.result?.previousImage).toBeUndefined();
    const all = await names();
    expect(all).not.toContain('firstfail');
    expect(all).not.toContain(`firstfail${SET_ASIDE_SUFFIX}`);
    await expect(fetch(`http://127.0.0.1:${port}/health`)).rejects.toThrow();
  });
});
