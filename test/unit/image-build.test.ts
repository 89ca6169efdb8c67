/** Build command lines of each engine, and what is read from their build logs. */
import {
  buildCommand,
  buildEnv,
  buildxBuildArgs,
  dockerBuildArgs,
  podmanBuildArgs,
  runBuild,
  BuildError,
  type BuildPlan,
} from '../../src/image/build.js';
import { buildPlan, type BuildInputs } from '../../src/image/build-push.js';
import { BuildLog } from '../../src/image/progress.js';
import type { CommandRunner } from '../../src/image/engine.js';
import { lineLogger, silentLogger } from '../../src/logger.js';

const plan: BuildPlan = {
  context: 'app',
  file: 'app/Dockerfile.prod',
  target: 'runtime',
  platforms: [],
  buildArgs: [
    ['VERSION', '1.2.3'],
    ['NPM_TOKEN', 'npm-secret-value'],
  ],
  secretBuildArgs: ['NPM_TOKEN'],
  labels: [['org.opencontainers.image.revision', 'abc']],
  pull: true,
  noCache: false,
  references: ['reg.example/api:abc', 'reg.example/api:latest'],
  cacheRef: 'reg.example/api-buildcache',
  provenance: false,
  sbom: false,
};

describe('command lines', () => {
  it('the plan names build secrets by id and file, never their values', () => {
    const build: BuildInputs = {
      context: 'app',
      platforms: [],
      buildArgs: [],
      secretBuildArgs: [],
      labels: [['team', 'api']],
      pull: false,
      noCache: false,
      provenance: false,
      sbom: false,
      secrets: [
        ['npm', 'npm-secret-value'],
        ['pip', 'pip-secret-value'],
      ],
      secretFiles: [['npmrc', '/home/runner/.npmrc']],
    };
    const built = buildPlan(build, {
      references: ['reg.example/api:abc'],
      labels: [['org.opencontainers.image.revision', 'abc']],
      secretDir: '/work/build-secrets',
    });
    expect(built.secretMounts).toEqual([
      ['npm', '/work/build-secrets/0'],
      ['pip', '/work/build-secrets/1'],
      ['npmrc', '/home/runner/.npmrc'],
    ]);
    expect(built.labels).toEqual([['org.opencontainers.image.revision', 'abc']]);
    expect(built.cacheRef).toBeUndefined();
    expect(JSON.stringify(built)).not.toMatch(/secret-value/);
  });

  it('picks the program and arguments of each flavour', () => {
    const files = { authFile: '/w/auth.json', builder: 'shipyard-x', metadataFile: '/w/m.json' };
    expect(buildCommand('podman', plan, files)).toEqual({
      cmd: 'podman',
      args: podmanBuildArgs(plan, { authFile: '/w/auth.json' }),
    });
    expect(buildCommand('buildx', plan, files)).toEqual({
      cmd: 'docker',
      args: buildxBuildArgs(plan, { builder: 'shipyard-x', metadataFile: '/w/m.json' }),
    });
    expect(buildCommand('docker', plan, files)).toEqual({
      cmd: 'docker',
      args: dockerBuildArgs(plan),
    });
    expect(buildCommand('podman', plan, files).args.slice(0, 3)).toEqual([
      'build',
      '--authfile',
      '/w/auth.json',
    ]);
    expect(buildCommand('buildx', plan, files).args.slice(0, 4)).toEqual([
      'buildx',
      'build',
      '--builder',
      'shipyard-x',
    ]);
  });

  it('build secrets and ssh: by id and file, podman and buildx alike, never a value', () => {
    const withSecrets: BuildPlan = {
      ...plan,
      secretMounts: [
        ['npm', '/run/x/build-secrets/0'],
        ['npmrc', '/home/runner/.npmrc'],
      ],
      ssh: ['default', 'github=/home/runner/.ssh/key'],
    };
    const expected = [
      '--secret',
      'id=npm,src=/run/x/build-secrets/0',
      '--secret',
      'id=npmrc,src=/home/runner/.npmrc',
      '--ssh',
      'default',
      '--ssh',
      'github=/home/runner/.ssh/key',
    ];
    const contains = (args: string[]) => {
      const at = args.indexOf('--secret');
      return args.slice(at, at + expected.length);
    };
    expect(contains(podmanBuildArgs(withSecrets, {}))).toEqual(expected);
    expect(contains(buildxBuildArgs(withSecrets, { metadataFile: '/m.json' }))).toEqual(expected);
    expect(podmanBuildArgs(plan, {})).not.toContain('--secret');
  });

  it('podman: secret build args by name only, values in the environment', () => {
    const args = podmanBuildArgs(plan, { authFile: '/tmp/run/auth.json' });
    expect(args).toEqual([
      'build',
      '--authfile',
      '/tmp/run/auth.json',
      '--layers',
      '--pull=always',
      '--file',
      'app/Dockerfile.prod',
      '--target',
      'runtime',
      '--build-arg',
      'VERSION=1.2.3',
      '--build-arg',
      'NPM_TOKEN',
      '--label',
      'org.opencontainers.image.revision=abc',
      '--cache-from',
      'reg.example/api-buildcache',
      '--cache-to',
      'reg.example/api-buildcache',
      '--tag',
      'reg.example/api:abc',
      '--tag',
      'reg.example/api:latest',
      'app',
    ]);
    expect(args.join(' ')).not.toContain('npm-secret-value');
    expect(buildEnv(plan)).toEqual({ NPM_TOKEN: 'npm-secret-value' });
  });

  it('buildx: pushes a plain manifest with the registry cache in image-manifest mode', () => {
    const args = buildxBuildArgs(
      {
        ...plan,
        cacheRef: 'reg.example/api:buildcache',
        platforms: ['linux/amd64', 'linux/arm64'],
      },
      { builder: 'shipyard-x', metadataFile: '/tmp/run/meta.json' },
    );
    expect(args.slice(0, 11)).toEqual([
      'buildx',
      'build',
      '--builder',
      'shipyard-x',
      '--progress=plain',
      '--push',
      '--provenance=false',
      '--sbom=false',
      '--metadata-file',
      '/tmp/run/meta.json',
      '--pull',
    ]);
    expect(args).toEqual(
      expect.arrayContaining(['--platform', 'linux/amd64,linux/arm64', '--build-arg', 'NPM_TOKEN']),
    );
    const cacheTo = args[args.indexOf('--cache-to') + 1];
    expect(cacheTo).toBe(
      'type=registry,ref=reg.example/api:buildcache,mode=max,image-manifest=true,oci-mediatypes=true',
    );
    expect(args[args.indexOf('--cache-from') + 1]).toBe(
      'type=registry,ref=reg.example/api:buildcache',
    );
    expect(args.at(-1)).toBe('app');
    expect(args.join(' ')).not.toContain('npm-secret-value');
  });

  it('buildx: attestations only when asked for', () => {
    const args = buildxBuildArgs({ ...plan, provenance: true, sbom: true }, { metadataFile: 'm' });
    expect(args).toEqual(expect.arrayContaining(['--provenance=true', '--sbom=true']));
    expect(args).not.toContain('--builder');
  });

  it('docker without buildx: no cache flags, no push', () => {
    const args = dockerBuildArgs({ ...plan, noCache: true });
    expect(args).toContain('--no-cache');
    expect(args).not.toContain('--cache-from');
    expect(args).not.toContain('--push');
    expect(args.join(' ')).not.toContain('npm-secret-value');
  });
});

describe('BuildLog', () => {
  it('counts podman RUN/COPY/ADD steps and cache hits, ignoring FROM, ARG and CLI labels', () => {
    const log = new BuildLog();
    for (const line of [
      'STEP 1/7: FROM scratch',
      'STEP 2/7: COPY busybox /bin/busybox',
      '--> Cache pulled from remote 127.0.0.1:5000/app-buildcache:ac65',
      '--> Using cache af519b15d536',
      '--> af519b15d53',
      'STEP 3/7: RUN ["/bin/busybox", "sh", "-c", "make"]',
      '--> Using cache 40cd5c9a10a9',
      'STEP 4/7: ARG VERSION',
      '--> Using cache 4849220a43b1',
      'STEP 5/7: COPY src/ /app/',
      '--> 74da5f1174d',
      'STEP 6/7: LABEL "org.opencontainers.image.created"="2026-01-01T00:00:00Z"',
      'COMMIT reg/app:1',
    ])
      log.feed(line);
    expect(log.steps()).toEqual({ steps: 3, cached: 2 });
  });

  it('names the failing podman step and the reason, keeping the last lines', () => {
    const log = new BuildLog();
    for (let i = 0; i < 40; i++) log.feed(`noise ${i}`);
    log.feed('STEP 3/4: RUN ["/bin/busybox","sh","-c","make test"]');
    log.feed('FAIL: test_login');
    log.feed(
      'Error: building at STEP "RUN /bin/busybox sh -c make test": while running runtime: exit status 2',
    );
    expect(log.failedStep()).toBe('STEP 3/4: RUN ["/bin/busybox","sh","-c","make test"]');
    expect(log.failureReason()).toBe(
      'building at STEP "RUN /bin/busybox sh -c make test": while running runtime: exit status 2',
    );
    expect(log.lastLines()).toHaveLength(30);
    expect(log.lastLines().at(-2)).toBe('FAIL: test_login');
  });

  it('reads buildx plain progress: cached vertices and the vertex that failed', () => {
    const log = new BuildLog();
    for (const line of [
      '#1 [internal] load build definition from Dockerfile',
      '#1 DONE 0.0s',
      '#5 [build 1/4] FROM docker.io/library/python:3.12-slim@sha256:abc',
      '#6 importing cache manifest from reg/api:buildcache',
      '#7 [build 2/4] COPY requirements.txt .',
      '#7 CACHED',
      '#8 [build 3/4] RUN pip install -r requirements.txt',
      '#8 CACHED',
      '#9 [build 4/4] RUN pytest',
      '#9 0.512 FAILED tests/test_api.py::test_health',
      '#9 ERROR: process "/bin/sh -c pytest" did not complete successfully: exit code: 1',
      'ERROR: failed to solve: process "/bin/sh -c pytest" did not complete successfully: exit code: 1',
    ])
      log.feed(line);
    expect(log.steps()).toEqual({ steps: 3, cached: 2 });
    expect(log.failedStep()).toBe('STEP 4/4: RUN pytest');
    expect(log.failureReason()).toBe(
      'process "/bin/sh -c pytest" did not complete successfully: exit code: 1',
    );
  });

  it('reads the legacy docker builder', () => {
    const log = new BuildLog();
    for (const line of [
      'Step 1/3 : FROM alpine',
      'Step 2/3 : COPY . /app',
      ' ---> Using cache',
      'Step 3/3 : RUN make',
      "The command '/bin/sh -c make' returned a non-zero code: 2",
    ])
      log.feed(line);
    expect(log.steps()).toEqual({ steps: 2, cached: 1 });
    expect(log.failedStep()).toBe('STEP 3/3: RUN make');
    expect(log.failureReason()).toBe("The command '/bin/sh -c make' returned a non-zero code: 2");
  });
});

describe('runBuild', () => {
  const fakeRun =
    (lines: string[], code: number, extra: object = {}): CommandRunner =>
    async (_cmd, _args, opts) => {
      for (const line of lines) opts?.onLine?.(line, 'stdout');
      return { code, stdout: lines.join('\n'), stderr: '', ...extra };
    };
  const base = { cmd: 'podman', args: [], env: {}, timeoutMs: 1000, now: () => 0 };

  it('streams the log with secrets masked and throws a BuildError naming the step', async () => {
    const logged: string[] = [];
    const error = await runBuild({
      ...base,
      run: fakeRun(
        [
          'STEP 2/3: RUN ["sh","-c","curl -H \\"token: $NPM_TOKEN\\" x"]',
          'echo npm-secret-value',
          'Error: building at STEP "RUN sh": exit status 7',
        ],
        125,
      ),
      logger: lineLogger((l) => logged.push(l)),
      secrets: ['npm-secret-value'],
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BuildError);
    const be = error as BuildError;
    expect(be.message).toBe(
      'build failed at STEP 2/3: RUN ["sh","-c","curl -H \\"token: $NPM_TOKEN\\" x"]: building at STEP "RUN sh": exit status 7',
    );
    expect(be.lastLines).toContain('echo ***');
    expect(logged.join('\n')).not.toContain('npm-secret-value');
  });

  it('says when the build ran out of time or the engine is missing', async () => {
    const timedOut = await runBuild({
      ...base,
      run: fakeRun(['STEP 1/1: RUN sleep 999'], 1, { code: null, timedOut: true }),
      logger: silentLogger,
      secrets: [],
    }).catch((e: Error) => e.message);
    expect(timedOut).toBe(
      'build failed at STEP 1/1: RUN sleep 999: did not finish within 1.0s; the build was stopped',
    );
    const missing = await runBuild({
      ...base,
      run: fakeRun([], 1, { code: null, notFound: true }),
      logger: silentLogger,
      secrets: [],
    }).catch((e: Error) => e.message);
    expect(missing).toBe('build failed: podman is not installed or not on PATH');
  });
});
