/**
 * Self-test of the local engine helpers and the example app: build, push with auth, inspect with
 * skopeo, pull into an empty store, run with a published port, and check the broken variant.
 */
import { rmSync } from 'node:fs';
import {
  type Registry,
  engineAvailable,
  exampleAppContext,
  freePort,
  podman,
  podmanLogin,
  runProcess,
  startRegistry,
  tempEngine,
} from '../../scripts/engine/engine.js';
import { getWithRetry } from './servers.js';

const describeEngine = engineAvailable() ? describe : describe.skip;

async function ok(p: ReturnType<typeof podman>): Promise<string> {
  const r = await p;
  if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.stderr}`);
  return r.stdout.trim();
}

describeEngine('local engine + example app', () => {
  let registry: Registry;
  let context: string;
  let repo: string;

  beforeAll(async () => {
    registry = await startRegistry();
    context = await exampleAppContext();
    repo = `${registry.host}/shipyard/engine-selftest`;
  });

  afterAll(async () => {
    await registry?.stop();
    if (context) rmSync(context, { recursive: true, force: true });
  });

  it('builds, pushes and inspects the example image', async () => {
    await podmanLogin(registry);
    for (const [tag, broken] of [
      ['1.2.3', 'false'],
      ['1.2.3-broken', 'true'],
    ] as const) {
      await ok(
        podman([
          'build',
          '--quiet',
          '--build-arg',
          `VERSION=1.2.3`,
          '--build-arg',
          `BROKEN=${broken}`,
          '--tag',
          `${repo}:${tag}`,
          context,
        ]),
      );
      await ok(podman(['push', '--quiet', `${repo}:${tag}`]));
    }
    const inspected = await runProcess('skopeo', [
      'inspect',
      '--tls-verify=false',
      '--creds',
      `${registry.user}:${registry.password}`,
      `docker://${repo}:1.2.3`,
    ]);
    expect(inspected.code).toBe(0);
    const info = JSON.parse(inspected.stdout) as { Digest: string; Labels: Record<string, string> };
    expect(info.Digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(info.Labels['org.opencontainers.image.version']).toBe('1.2.3');
  });

  it('pulls into an empty store and serves /health; the broken variant answers 500', async () => {
    const fresh = tempEngine();
    const names: string[] = [];
    try {
      const opts = { env: fresh.env };
      expect(await ok(podman(['images', '--quiet'], opts))).toBe('');
      await podmanLogin(registry, opts);
      for (const [tag, status, body] of [
        ['1.2.3', 200, 'ok'],
        ['1.2.3-broken', 500, 'error'],
      ] as const) {
        await ok(podman(['pull', '--quiet', `${repo}:${tag}`], opts));
        const port = await freePort();
        const name = `engine-selftest-${port}`;
        names.push(name);
        await ok(
          podman(
            ['run', '-d', '--name', name, '-p', `127.0.0.1:${port}:8000`, `${repo}:${tag}`],
            opts,
          ),
        );
        const res = await getWithRetry(`http://127.0.0.1:${port}/health`);
        expect(res.status).toBe(status);
        expect(await res.json()).toEqual({ status: body, version: '1.2.3' });
        expect(await ok(podman(['logs', name], opts))).toContain('listening on :8000');
      }
    } finally {
      if (names.length)
        await podman(['rm', '--force', '--time', '0', ...names], { env: fresh.env });
      await fresh.dispose();
    }
  });
});
