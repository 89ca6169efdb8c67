/**
 * The deploy-ec2-ssm host script, run by bash against real podman and a CNCF registry with
 * htpasswd auth, deploying the example app (FROM scratch). The registry login goes through the
 * script's real ECR path: a stand-in `aws` (test/fixtures/host/stub-bin/aws) prints the registry
 * password for `ecr get-login-password`, and podman logs in with --password-stdin. The images are
 * removed from the store after the push, so every deploy really pulls.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type Registry,
  engineAvailable,
  exampleAppContext,
  freePort,
  podman,
  podmanLogin,
  runCommand,
  startRegistry,
  tempEngine,
} from '../../scripts/engine/engine.js';
import { renderDeployScript, SET_ASIDE_SUFFIX } from '../../src/ssm/remote-script.js';
import { type DeployResult, RESULT_MARKER, parseDeployResult } from '../../src/ssm/result.js';
import type { DeploySpec } from '../../src/ssm/spec.js';

const describeEngine = engineAvailable() ? describe : describe.skip;
const STUB_AWS = fileURLToPath(new URL('../fixtures/host/stub-bin/aws', import.meta.url));
const NUL = String.fromCharCode(0);

interface Deploy {
  code: number | null;
  stdout: string;
  stderr: string;
  script: string;
  result: DeployResult | undefined;
}

describeEngine('host script on podman with a registry', () => {
  let registry: Registry;
  let engine: ReturnType<typeof tempEngine>;
  let context: string;
  let work: string;
  let repo: string;
  let runCounter = 0;

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
      engine: 'podman',
      registryLogin: 'ecr',
      region: 'eu-west-1',
      healthCmd: `curl -fsS -m 2 http://127.0.0.1:${port}/health`,
      healthTimeoutSeconds: 20,
      stopTimeoutSeconds: 5,
      keepImages: 3,
      lockFile: join(work, 'deploy.lock'),
      // A lock leaked to a daemon (conmon) would hang the next deploy: fail well before jest does.
      lockTimeoutSeconds: 30,
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

  async function deploy(s: DeploySpec, params: Record<string, string> = {}) {
    const { dir, tmp, env } = deployEnv(params);
    const script = renderDeployScript(s);
    writeFileSync(join(dir, 'deploy.sh'), script);
    const r = await runCommand('bash', [join(dir, 'deploy.sh')], { env, timeoutMs: 60_000 });
    const d: Deploy = { ...r, script, result: parseDeployResult(r.stdout) };
    return { ...d, leftInTmp: readdirSync(tmp) };
  }

  async function ok(args: string[]): Promise<string> {
    const r = await podman(args, { env: engine.env });
    if (r.code !== 0) throw new Error(`podman ${args.join(' ')}: ${r.stderr}`);
    return r.stdout.trim();
  }

  async function health(port: number): Promise<{ status: string; version: string }> {
    const res = await fetch(`http://127.0.0.1:${port}/health`);
    expect(res.status).toBe(200);
    return (await res.json()) as { status: string; version: string };
  }

  /** The environment of the container's processes, read from inside it (NUL-separated, exact). */
  async function containerEnv(name: string): Promise<Map<string, string>> {
    const r = await podman(['exec', name, '/bin/busybox', 'env', '-0'], { env: engine.env });
    if (r.code !== 0) throw new Error(`podman exec ${name} env: ${r.stderr}`);
    return new Map(
      r.stdout
        .split(NUL)
        .filter((kv) => kv.includes('='))
        .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
    );
  }

  const inspect = (name: string, format: string) =>
    podman(['container', 'inspect', '--format', format, name], { env: engine.env });

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'shipyard-host-script-'));
    // ECR's user name is always AWS; the password is what `ecr get-login-password` prints.
    registry = await startRegistry({ user: 'AWS', password: 'registry-password-5e1f' });
    engine = tempEngine();
    context = await exampleAppContext();
    repo = `${registry.host}/shipyard/host-script`;
    await podmanLogin(registry, { env: engine.env });
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
  }, 120_000);

  afterAll(async () => {
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

    it('first deploy: nothing to replace, deployed and serving', async () => {
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
    });

    it('upgrade v1 -> v2: v2 serves, v1 image kept, old container removed', async () => {
      const v1Id = (await inspect('web', '{{.Image}}')).stdout.trim();
      const d = await deploy(spec('2', 'web', port));
      expect(d.result).toMatchObject({
        outcome: 'deployed',
        newImage: `${repo}:2`,
        previousImage: `${repo}:1`,
        previousImageId: `sha256:${v1Id}`,
      });
      expect(d.code).toBe(0);
      expect(await health(port)).toEqual({ status: 'ok', version: '2' });
      expect((await podman(['image', 'exists', `${repo}:1`], { env: engine.env })).code).toBe(0);
      expect(await ok(['ps', '--all', '--format', '{{.Names}}'])).not.toContain(
        `web${SET_ASIDE_SUFFIX}`,
      );
      // The pull happened before the old container was stopped.
      expect(d.stdout.indexOf('==> ')).toBeLessThan(d.stdout.indexOf('pulled'));
      expect(d.stdout.indexOf('pulled')).toBeLessThan(d.stdout.indexOf('stopping the previous'));
    });

    it('v3 fails its health check: v2 serves again, non-zero exit, rolled-back', async () => {
      const d = await deploy(spec('3', 'web', port, { healthTimeoutSeconds: 3 }));
      expect(d.code).toBe(1);
      expect(d.result).toMatchObject({
        outcome: 'rolled-back',
        newImage: `${repo}:3`,
        previousImage: `${repo}:2`,
        failedStep: 'health',
      });
      expect(d.result?.reason).toMatch(/not healthy after 3s: health command failed \(exit 22\)/);
      expect(d.stdout).toContain("last 50 lines of the new container's log:");
      expect(d.stdout).toContain('GET /health -> 500');
      expect(await health(port)).toEqual({ status: 'ok', version: '2' });
      expect((await inspect('web', '{{.Config.Image}}')).stdout.trim()).toBe(`${repo}:2`);
    });

    it('an image that cannot be pulled: the old container is never stopped', async () => {
      const before = (await inspect('web', '{{.Id}} {{.State.StartedAt}}')).stdout;
      const d = await deploy(spec('no-such-tag', 'web', port));
      expect(d.code).toBe(1);
      expect(d.result).toMatchObject({ outcome: 'failed', failedStep: 'pull' });
      expect(d.result?.reason).toMatch(/could not pull .*manifest unknown/);
      expect(d.stdout).not.toContain('stopping');
      expect((await inspect('web', '{{.Id}} {{.State.StartedAt}}')).stdout).toBe(before);
      expect(await health(port)).toEqual({ status: 'ok', version: '2' });
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
      expect((await inspect('web', '{{.Config.Image}}')).stdout.trim()).toBe(
        second.result?.newImage,
      );
      const version = (second.result?.newImage ?? '').split(':').pop();
      expect(await health(port)).toEqual({ status: 'ok', version });
    });

    it('a deploy killed halfway is repaired by the next one', async () => {
      const before = (await inspect('web', '{{.Config.Image}}')).stdout.trim();
      const { dir, env } = deployEnv();
      writeFileSync(join(dir, 'deploy.sh'), renderDeployScript(spec('3', 'web', port)));
      const child = spawn('bash', [join(dir, 'deploy.sh')], { env: { ...process.env, ...env } });
      const closed = new Promise((resolve) => child.on('close', resolve));
      let out = '';
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          // SIGKILL while the unhealthy v3 is on trial: no trap runs, the old container is aside.
          if (out.includes('waiting up to')) {
            child.kill('SIGKILL');
            resolve();
          }
        });
        child.on('close', () => reject(new Error(`script ended before the health wait:\n${out}`)));
      });
      await closed;
      expect(await ok(['ps', '--all', '--format', '{{.Names}}'])).toContain(
        `web${SET_ASIDE_SUFFIX}`,
      );

      const d = await deploy(spec('2', 'web', port));
      expect(d.stdout).toContain(
        `an interrupted deploy left the previous container set aside as web${SET_ASIDE_SUFFIX}: restoring it`,
      );
      expect(d.result).toMatchObject({ outcome: 'deployed', previousImage: before });
      expect(await health(port)).toEqual({ status: 'ok', version: '2' });
      expect(await ok(['ps', '--all', '--format', '{{.Names}}'])).toBe('web');
    });
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
    // The env-file lived in the deploy's TMPDIR and was removed after `run`.
    expect(d.leftInTmp).toEqual([]);
    expect(readdirSync(work)).not.toContain('pwned');
  });

  it('a first deploy whose health check fails: failed-no-previous, nothing left running', async () => {
    const port = await freePort();
    const d = await deploy(spec('3', 'firstfail', port, { healthTimeoutSeconds: 3 }));
    expect(d.code).toBe(1);
    expect(d.result).toMatchObject({ outcome: 'failed-no-previous', failedStep: 'health' });
    expect(d.result?.previousImage).toBeUndefined();
    const names = await ok(['ps', '--all', '--format', '{{.Names}}']);
    expect(names.split('\n')).not.toContain('firstfail');
    expect(names).not.toContain(`firstfail${SET_ASIDE_SUFFIX}`);
    await expect(fetch(`http://127.0.0.1:${port}/health`)).rejects.toThrow();
  });
});
