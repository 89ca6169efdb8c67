/**
 * The committed build-push bundle, run as the runner runs it, with real podman (a fresh store,
 * no Docker daemon) and the CNCF registry on loopback: what it pushed is read back over the
 * registry's HTTP API and compared with its outputs. Also the ECR path end to end (the AWS stub
 * hands out a token for the local registry), failures, the post step, and a hunt for the password
 * in the process list, the logs and the summary.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  appendFileSync,
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { join } from 'node:path';
import {
  type Registry,
  engineAvailable,
  exampleAppContext,
  podman,
  runProcess,
  startRegistry,
  tempEngine,
} from '../../scripts/engine/engine.js';
import type { AwsStub } from '../../stand-ins/aws-json.js';
import { registryDigest, registryTags, startEcrStandIn } from '../../stand-ins/ecr.js';
import {
  runAction,
  stateEnv,
  type ActionRun,
  parseAnnotation,
  visibleLog,
} from '../../stand-ins/runner.js';

const BUNDLE = 'actions/build-push/dist/index.js';
const POST = 'actions/build-push/dist/post/index.js';
const SHA = '5f1e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6';
const API_TOKEN = 'api-token-7c1f9e2b';

const describeEngine = engineAvailable() ? describe : describe.skip;

/** runAction, and its temp dir removed after the file's tests. */
const actionDirs = new Set<string>();
async function runBundle(...args: Parameters<typeof runAction>): Promise<ActionRun> {
  const run = await runAction(...args);
  actionDirs.add(run.files.dir);
  return run;
}
afterAll(() => {
  for (const dir of actionDirs) rmSync(dir, { recursive: true, force: true });
});

/** A PATH dir whose `podman` records its argv, then runs the real podman. */
function podmanShim(): { dir: string; log: string } {
  const dir = mkdtempSync(join(tmpdir(), 'podman-shim-'));
  const log = join(dir, 'argv.log');
  const real = findOnPath('podman');
  writeFileSync(
    join(dir, 'podman'),
    `#!/bin/sh\nprintf '%s\\n' "$*" >> '${log}'\nexec '${real}' "$@"\n`,
  );
  chmodSync(join(dir, 'podman'), 0o755);
  writeFileSync(log, '');
  return { dir, log };
}
function findOnPath(cmd: string): string {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir && existsSync(join(dir, cmd))) return join(dir, cmd);
  }
  throw new Error(`${cmd} not on PATH`);
}

/** Samples every process's command line while `fn` runs; returns what contained a secret. */
async function watchProcessList<T>(
  secrets: string[],
  fn: () => Promise<T>,
): Promise<{ value: T; leaks: string[]; podmanSeen: Set<string> }> {
  const leaks: string[] = [];
  const podmanSeen = new Set<string>();
  const sample = () => {
    for (const pid of readdirSync('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      let cmdline: string;
      try {
        cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
      } catch {
        continue; // exited meanwhile
      }
      if (secrets.some((s) => cmdline.includes(s))) leaks.push(cmdline);
      const m = /podman (login|build|push|logout)/.exec(cmdline);
      if (m) podmanSeen.add(m[1] as string);
    }
  };
  const timer = setInterval(sample, 5);
  try {
    const value = await fn();
    return { value, leaks, podmanSeen };
  } finally {
    clearInterval(timer);
  }
}

describeEngine('build-push with podman and a registry', () => {
  let registry: Registry;
  let context: string;
  let shim: { dir: string; log: string };
  const engines: Array<ReturnType<typeof tempEngine>> = [];
  const name = 'shipyard/build-push-it';

  function freshEngine() {
    const engine = tempEngine();
    engines.push(engine);
    return engine;
  }
  function actionEnv(engineEnv: Record<string, string>, extra: Record<string, string> = {}) {
    return {
      ...engineEnv,
      PATH: `${shim.dir}:${process.env.PATH ?? ''}`,
      GITHUB_SHA: SHA,
      GITHUB_SERVER_URL: 'https://github.com',
      GITHUB_REPOSITORY: 'org/shipyard-example',
      ...extra,
    };
  }

  beforeAll(async () => {
    registry = await startRegistry();
    context = await exampleAppContext();
    // A build step that needs the secret build arg: proves the value reaches the build.
    appendFileSync(
      join(context, 'Dockerfile'),
      'ARG API_TOKEN\nRUN ["/bin/busybox", "sh", "-c", "test -n \\"$API_TOKEN\\" && echo api-token-received"]\n',
    );
    shim = podmanShim();
  });

  afterAll(async () => {
    for (const engine of engines) await engine.dispose();
    await registry?.stop();
    for (const dir of [context, shim?.dir]) if (dir) rmSync(dir, { recursive: true, force: true });
  });

  describe('a push to a registry with a password', () => {
    let run: ActionRun;
    let watched: Awaited<ReturnType<typeof watchProcessList>>;
    let engine: ReturnType<typeof tempEngine>;

    beforeAll(async () => {
      engine = freshEngine();
      watched = await watchProcessList([registry.password, API_TOKEN], () =>
        runBundle(
          BUNDLE,
          {
            repository: name,
            registry: registry.host,
            username: registry.user,
            password: registry.password,
            engine: 'podman',
            context,
            tags: 'v1.2.3',
            'build-args': `VERSION=1.2.3\nAPI_TOKEN=${API_TOKEN}`,
            'secret-build-args': 'API_TOKEN',
          },
          { env: actionEnv(engine.env), timeoutMs: 120_000 },
        ),
      );
      run = watched.value as ActionRun;
    }, 150_000);

    it('succeeds and sets outputs that match what the registry holds', async () => {
      expect({ code: run.code, stderr: run.code === 0 ? '' : run.stdout + run.stderr }).toEqual({
        code: 0,
        stderr: '',
      });
      expect(run.outputs).toMatchObject({
        image: `${registry.host}/${name}:${SHA}`,
        'image-uri-latest': `${registry.host}/${name}:latest`,
        registry: registry.host,
      });
      const tags = JSON.parse(run.outputs.tags ?? '[]') as string[];
      expect(tags).toEqual([SHA, 'latest', 'v1.2.3']);
      expect((await registryTags(registry, name)).sort()).toEqual([...tags].sort());
      expect(run.outputs.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
      for (const tag of tags)
        expect(await registryDigest(registry, name, tag)).toBe(run.outputs.digest);
    });

    it('labels the image with the commit and the source', async () => {
      const inspected = await runProcess('skopeo', [
        'inspect',
        '--tls-verify=false',
        '--creds',
        `${registry.user}:${registry.password}`,
        `docker://${registry.host}/${name}:${SHA}`,
      ]);
      const labels = (JSON.parse(inspected.stdout) as { Labels: Record<string, string> }).Labels;
      expect(labels).toMatchObject({
        'org.opencontainers.image.revision': SHA,
        'org.opencontainers.image.source': 'https://github.com/org/shipyard-example',
        'org.opencontainers.image.version': '1.2.3',
      });
      expect(Date.parse(labels['org.opencontainers.image.created'] ?? '')).toBeGreaterThan(
        Date.now() - 10 * 60_000,
      );
    });

    it('writes a summary with the repository, tags, digest, size, time and cache', () => {
      expect(run.summary).toContain(`build-push: pushed \`${registry.host}/${name}:${SHA}\``);
      expect(run.summary).toContain(run.outputs.digest);
      expect(run.summary).toMatch(/\| image size \| \d+(\.\d)? (KiB|MiB) \(compressed\) \|/);
      expect(run.summary).toMatch(/\| time \| [\d.]+m?s build, [\d.]+m?s push \|/);
      expect(run.summary).toContain(`registry cache \`${registry.host}/${name}-buildcache\``);
    });

    it('delivers the secret build arg to the build without showing it', () => {
      expect(run.stdout).toContain('api-token-received');
    });

    it('never shows the password or the secret: not in any command line, log, summary or state', () => {
      // The sampler did see podman at work (login and logout can be quicker than a sample; the
      // shim's record below has every command line in full).
      expect([...watched.podmanSeen]).toEqual(expect.arrayContaining(['build', 'push']));
      expect(watched.leaks).toEqual([]);
      const argv = readFileSync(shim.log, 'utf8');
      expect(argv).toMatch(/^login --authfile \S+ --username shipyard --password-stdin /m);
      for (const secret of [registry.password, API_TOKEN]) {
        expect(argv).not.toContain(secret);
        expect(visibleLog(run)).not.toContain(secret);
        expect(run.summary).not.toContain(secret);
        expect(JSON.stringify(run.state)).not.toContain(secret);
        expect(JSON.stringify(run.outputs)).not.toContain(secret);
      }
    });

    it("leaves no credentials behind: the private auth file is gone, the engine's own is untouched", async () => {
      expect(run.state.work_dir).toMatch(/shipyard-build-push-/);
      expect(existsSync(run.state.work_dir as string)).toBe(false);
      expect(JSON.parse(run.state.leftovers ?? '')).toEqual([]);
      expect(JSON.parse(readFileSync(engine.env.REGISTRY_AUTH_FILE as string, 'utf8'))).toEqual({
        auths: {},
      });
      const post = await runBundle(POST, {}, { env: actionEnv(engine.env), files: run.files });
      expect(post.code).toBe(0);
      expect(post.stdout).toContain('nothing left to clean up');
    });

    it('a rebuild in another fresh store takes the unchanged steps from the registry cache', async () => {
      const second = freshEngine();
      const rerun = await runBundle(
        BUNDLE,
        {
          repository: name,
          registry: registry.host,
          username: registry.user,
          password: registry.password,
          engine: 'podman',
          context,
          latest: 'false',
          'build-args': `VERSION=1.2.3\nAPI_TOKEN=${API_TOKEN}`,
          'secret-build-args': 'API_TOKEN',
        },
        { env: actionEnv(second.env), timeoutMs: 120_000 },
      );
      expect(rerun.code).toBe(0);
      expect(rerun.stdout).toContain('--> Cache pulled from remote');
      // COPY busybox and COPY src/ come from the cache; both RUN steps follow an ARG, which
      // podman never looks up remotely (see the README).
      expect(rerun.summary).toContain('2 of 4 steps from the cache');
      expect(rerun.outputs['image-uri-latest']).toBe('');
    }, 120_000);
  });

  it('a failing build is an annotation with the step and the last lines; nothing is pushed', async () => {
    const engine = freshEngine();
    const bad = mkdtempSync(join(tmpdir(), 'bad-ctx-'));
    writeFileSync(join(bad, 'busybox'), readFileSync('/bin/busybox'));
    chmodSync(join(bad, 'busybox'), 0o755);
    writeFileSync(
      join(bad, 'Dockerfile'),
      'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "sh", "-c", "echo compiling; echo 3 tests failed; exit 3"]\n',
    );
    const run = await runBundle(
      BUNDLE,
      {
        repository: 'shipyard/broken',
        registry: registry.host,
        username: registry.user,
        password: registry.password,
        engine: 'podman',
        context: bad,
        cache: 'none',
      },
      { env: actionEnv(engine.env), timeoutMs: 120_000 },
    );
    rmSync(bad, { recursive: true, force: true });
    expect(run.code).toBe(1);
    const annotation = parseAnnotation(
      run.stdout.split('\n').find((l) => l.startsWith('::error title=')) ?? '',
    );
    // Steps 4 to 6 would be the OCI labels podman adds as LABEL steps.
    expect(annotation?.title).toBe(
      'build failed at STEP 3/6: RUN ["/bin/busybox", "sh", "-c", "echo compiling; echo 3 tests failed; exit 3"]',
    );
    expect(annotation?.message.split('\n')).toEqual(
      expect.arrayContaining([
        'compiling',
        '3 tests failed',
        'Error: building at STEP "RUN /bin/busybox sh -c echo compiling; echo 3 tests failed; exit 3": while running runtime: exit status 3',
      ]),
    );
    expect(run.stdout).toContain(
      '::error::build failed at STEP 3/6: RUN ["/bin/busybox", "sh", "-c", "echo compiling; echo 3 tests failed; exit 3"]: building at STEP',
    );
    expect(await registryTags(registry, 'shipyard/broken')).toEqual([]);
    expect(JSON.parse(run.state.leftovers ?? '')).toEqual([]);
  });

  it('a build secret reaches RUN --mount=type=secret and is in no layer and not in the config of the pushed image', async () => {
    const engine = freshEngine();
    const VALUE = 'build-secret-value-4b9e1d7a';
    const FILE_VALUE = 'secret-file-value-8c2f5e61';
    const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
    const ctx = mkdtempSync(join(tmpdir(), 'secret-ctx-'));
    const outside = mkdtempSync(join(tmpdir(), 'secret-file-'));
    const image = `shipyard/build-secrets-${process.pid}-${Date.now()}`;
    const copy = mkdtempSync(join(tmpdir(), 'pushed-image-'));
    try {
      writeFileSync(join(ctx, 'busybox'), readFileSync('/bin/busybox'));
      chmodSync(join(ctx, 'busybox'), 0o755);
      writeFileSync(join(outside, 'token'), FILE_VALUE);
      // Each step leaves a layer made while the secret was mounted: its hash, never the value.
      writeFileSync(
        join(ctx, 'Dockerfile'),
        [
          'FROM scratch',
          'COPY busybox /bin/busybox',
          'RUN --mount=type=secret,id=api ["/bin/busybox", "sh", "-c", "/bin/busybox sha256sum /run/secrets/api | /bin/busybox tee /api.sha256"]',
          'RUN --mount=type=secret,id=file ["/bin/busybox", "sh", "-c", "/bin/busybox sha256sum /run/secrets/file | /bin/busybox tee /file.sha256"]',
          '',
        ].join('\n'),
      );
      writeFileSync(shim.log, '');
      const run = await runBundle(
        BUNDLE,
        {
          repository: image,
          registry: registry.host,
          username: registry.user,
          password: registry.password,
          engine: 'podman',
          context: ctx,
          cache: 'none',
          latest: 'false',
          secrets: `api=${VALUE}`,
          'secret-files': `file=${join(outside, 'token')}`,
        },
        { env: actionEnv(engine.env), timeoutMs: 120_000 },
      );
      expect({ code: run.code, log: run.code === 0 ? '' : run.stdout + run.stderr }).toEqual({
        code: 0,
        log: '',
      });
      // The build read both secrets.
      expect(run.stdout).toContain(`${sha256(VALUE)}  /run/secrets/api`);
      expect(run.stdout).toContain(`${sha256(FILE_VALUE)}  /run/secrets/file`);
      expect(run.stdout).toContain(`::add-mask::${VALUE}`);

      // Every blob of the pushed image: the manifest, the config (history included) and the layers.
      const copied = await runProcess('skopeo', [
        'copy',
        '--src-tls-verify=false',
        '--src-creds',
        `${registry.user}:${registry.password}`,
        `docker://${registry.host}/${image}:${SHA}`,
        `dir:${copy}`,
      ]);
      expect(copied.code).toBe(0);
      const blobs = readdirSync(copy).map((f) => readFileSync(join(copy, f)));
      const texts = blobs.map((b) =>
        (b[0] === 0x1f && b[1] === 0x8b ? gunzipSync(b) : b).toString('latin1'),
      );
      const everything = texts.join('\n');
      // Sanity: the layers were read (the step's own output is there) and the config too.
      expect(everything).toContain(`${sha256(VALUE)}  /run/secrets/api`);
      expect(everything).toContain('"history"');
      for (const secret of [VALUE, FILE_VALUE]) {
        expect(everything).not.toContain(secret);
        expect(readFileSync(shim.log, 'utf8')).not.toContain(secret);
        expect(visibleLog(run)).not.toContain(secret);
        expect(run.summary).not.toContain(secret);
        expect(JSON.stringify(run.state) + JSON.stringify(run.outputs)).not.toContain(secret);
      }
      expect(readFileSync(shim.log, 'utf8')).toMatch(
        /^build .*--secret id=api,src=\S+ --secret id=file,src=\S+\/token /m,
      );
      // The file that held the value is gone with the step's private directory.
      expect(existsSync(run.state.work_dir as string)).toBe(false);
    } finally {
      for (const dir of [ctx, outside, copy]) rmSync(dir, { recursive: true, force: true });
    }
  }, 150_000);

  it('a refused push names the tag and the reason', async () => {
    // A registry that accepts the login but denies every upload, as ECR does without push rights.
    const denying = http.createServer((req, res) => {
      if (req.url === '/v2/' || req.url === '/v2') {
        res.writeHead(200, { 'docker-distribution-api-version': 'registry/2.0' }).end('{}');
        return;
      }
      res.writeHead(403, { 'content-type': 'application/json' });
      res.end(
        '{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}',
      );
    });
    await new Promise<void>((resolve) => denying.listen(0, '127.0.0.1', resolve));
    const host = `127.0.0.1:${(denying.address() as AddressInfo).port}`;
    const engine = freshEngine();
    try {
      const run = await runBundle(
        BUNDLE,
        {
          repository: 'shipyard/denied',
          registry: host,
          username: 'ci',
          password: 'denied-password-1',
          engine: 'podman',
          context,
          cache: 'none',
          'build-args': `API_TOKEN=${API_TOKEN}`,
        },
        { env: actionEnv(engine.env), timeoutMs: 120_000 },
      );
      expect(run.code).toBe(1);
      expect(run.stdout).toMatch(
        new RegExp(
          `::error::push of ${host}/shipyard/denied:${SHA} failed: access denied: the credentials may not push to this repository \\(.*denied`,
        ),
      );
      expect(visibleLog(run)).not.toContain('denied-password-1');
    } finally {
      denying.closeAllConnections();
      await new Promise((resolve) => denying.close(resolve));
    }
  });

  it('the post step logs out and removes the auth file a killed main step left behind', async () => {
    const engine = freshEngine();
    const runnerTemp = mkdtempSync(join(tmpdir(), 'runner-temp-'));
    const workDir = join(runnerTemp, 'shipyard-build-push-killed');
    mkdirSync(workDir, { mode: 0o700 });
    const authFile = join(workDir, 'auth.json');
    const login = await podman(
      [
        'login',
        '--authfile',
        authFile,
        '--username',
        registry.user,
        '--password-stdin',
        registry.host,
      ],
      { env: engine.env, input: registry.password },
    );
    expect(login.code).toBe(0);
    expect(readFileSync(authFile, 'utf8')).toContain(registry.host);
    // The files and state of a main step killed right after its login.
    const files = {
      dir: runnerTemp,
      output: join(runnerTemp, 'output'),
      summary: join(runnerTemp, 'summary'),
      state: join(runnerTemp, 'state'),
    };
    writeFileSync(shim.log, '');
    const state = {
      work_dir: workDir,
      leftovers: JSON.stringify([
        { kind: 'login', engine: 'podman', authFile, host: registry.host },
      ]),
    };
    const post = await runBundle(
      POST,
      {},
      { env: { ...actionEnv(engine.env), ...stateEnv(state) }, files },
    );
    expect(post.code).toBe(0);
    expect(post.stdout).toContain(
      `cleaning up after the build step: podman login to ${registry.host}`,
    );
    expect(readFileSync(shim.log, 'utf8')).toBe(`logout --authfile ${authFile} ${registry.host}\n`);
    expect(existsSync(workDir)).toBe(false);
    rmSync(runnerTemp, { recursive: true, force: true });
  });
});

describeEngine('build-push to ECR (AWS stub + local registry)', () => {
  const ECR_PASSWORD = 'ecr-token-password-2f8a';
  let registry: Registry;
  let stub: AwsStub;
  let context: string;
  let engine: ReturnType<typeof tempEngine>;
  let shim: { dir: string; log: string };

  beforeAll(async () => {
    registry = await startRegistry({ user: 'AWS', password: ECR_PASSWORD });
    context = await exampleAppContext();
    engine = tempEngine();
    shim = podmanShim();
    // The same ECR stand-in npm start uses: tokens for the local registry, repositories it
    // creates, DescribeImages answered from what the registry really holds.
    stub = await startEcrStandIn(registry);
  });

  afterAll(async () => {
    await stub?.close();
    await engine?.dispose();
    await registry?.stop();
    for (const dir of [context, shim?.dir]) if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('gets a token, creates the repositories, pushes, and reports the digest the registry holds', async () => {
    const run = await runBundle(
      BUNDLE,
      {
        repository: 'team/api',
        engine: 'podman',
        context,
        sha: SHA,
        'sha-format': 'short',
        'create-repository': 'true',
        'keep-images': '5',
      },
      {
        env: {
          ...engine.env,
          PATH: `${shim.dir}:${process.env.PATH ?? ''}`,
          AWS_ENDPOINT_URL_ECR: stub.endpoint,
          AWS_ACCESS_KEY_ID: 'AKIDSTUB',
          AWS_SECRET_ACCESS_KEY: 'stub-secret',
          AWS_REGION: 'us-east-1',
        },
        timeoutMs: 120_000,
      },
    );
    expect({ code: run.code, log: run.code === 0 ? '' : run.stdout + run.stderr }).toEqual({
      code: 0,
      log: '',
    });
    const shortSha = SHA.slice(0, 7);
    expect(run.outputs).toMatchObject({
      registry: registry.host,
      image: `${registry.host}/team/api:${shortSha}`,
      tags: JSON.stringify([shortSha, 'latest']),
    });
    expect(await registryDigest(registry, 'team/api', shortSha)).toBe(run.outputs.digest);
    expect(await registryDigest(registry, 'team/api', 'latest')).toBe(run.outputs.digest);
    expect(await registryTags(registry, 'team/api-buildcache')).not.toEqual([]);

    expect(stub.callsOf('CreateRepository').map((c) => c.input)).toEqual([
      {
        repositoryName: 'team/api',
        imageTagMutability: 'MUTABLE',
        imageScanningConfiguration: { scanOnPush: true },
      },
      {
        repositoryName: 'team/api-buildcache',
        imageTagMutability: 'MUTABLE',
        imageScanningConfiguration: { scanOnPush: false },
      },
    ]);
    const policy = JSON.parse(
      stub.callsOf('PutLifecyclePolicy')[0]?.input.lifecyclePolicyText as string,
    );
    expect(policy.rules[1].selection).toEqual({
      tagStatus: 'tagged',
      tagPatternList: ['*'],
      countType: 'imageCountMoreThan',
      countNumber: 5,
    });
    expect(run.summary).toContain('(created)');
    expect(run.summary).toMatch(/\| image size \| [\d.]+ (KiB|MiB) \(compressed\) \|/);

    expect(run.stdout).toContain(`::add-mask::${ECR_PASSWORD}`);
    expect(readFileSync(shim.log, 'utf8')).toMatch(
      /^login --authfile \S+ --username AWS --password-stdin /m,
    );
    expect(readFileSync(shim.log, 'utf8')).not.toContain(ECR_PASSWORD);
    expect(visibleLog(run)).not.toContain(ECR_PASSWORD);
    expect(run.summary).not.toContain(ECR_PASSWORD);
  });

  it('a missing repository fails before the build when it may not be created', async () => {
    writeFileSync(shim.log, '');
    const run = await runBundle(
      BUNDLE,
      { repository: 'team/missing', engine: 'podman', context, sha: SHA },
      {
        env: {
          ...engine.env,
          PATH: `${shim.dir}:${process.env.PATH ?? ''}`,
          AWS_ENDPOINT_URL_ECR: stub.endpoint,
          AWS_ACCESS_KEY_ID: 'AKIDSTUB',
          AWS_SECRET_ACCESS_KEY: 'stub-secret',
          AWS_REGION: 'us-east-1',
        },
      },
    );
    expect(run.code).toBe(1);
    expect(run.stdout).toContain(
      `::error::repository 'team/missing' does not exist in ${registry.host}; set create-repository: true or create it`,
    );
    expect(readFileSync(shim.log, 'utf8')).toBe('--version\n');
  });
});
