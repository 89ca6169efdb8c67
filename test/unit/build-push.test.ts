/**
 * build-push end to end with a scripted engine (every command line recorded) and a mocked ECR:
 * the order of things, what fails before the build, cleanup on every path, and secrets.
 */
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  BatchGetImageCommand,
  CreateRepositoryCommand,
  DescribeImagesCommand,
  DescribeRepositoriesCommand,
  ECRClient,
  GetAuthorizationTokenCommand,
  PutLifecyclePolicyCommand,
} from '@aws-sdk/client-ecr';
import { mockClient } from 'aws-sdk-client-mock';
import {
  buildPush,
  type BuildPushDeps,
  type BuildPushOptions,
} from '../../src/image/build-push.js';
import { BuildError } from '../../src/image/build.js';
import { PushError } from '../../src/image/push.js';
import type { CommandRunner, RunOptions, RunResult } from '../../src/image/engine.js';
import type { Leftover } from '../../src/image/leftovers.js';
import { VirtualClock } from '../../src/virtual-clock.js';

const SHA = '0123456789abcdef0123456789abcdef01234567';
const HOST = '123456789012.dkr.ecr.eu-west-1.amazonaws.com';
const PASSWORD = 'ecr-password-eyJwYXlsb2Fk';
const SECRET_ARG = 'npm-secret-value';
const DIGEST = `sha256:${'ab'.repeat(32)}`;
const OTHER_DIGEST = `sha256:${'cd'.repeat(32)}`;
const ok = (stdout = ''): RunResult => ({ code: 0, stdout, stderr: '' });

const ecrMock = mockClient(ECRClient);
const awsError = (name: string, message = name) => Object.assign(new Error(message), { name });

interface Call {
  cmd: string;
  args: readonly string[];
  opts: RunOptions;
}

/** A timeline of everything that happened, engine commands and ECR calls alike. */
let timeline: string[];
let calls: Call[];
let context: string;
const tempDirs: string[] = [];
function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

type Script = Record<string, (args: readonly string[], opts: RunOptions) => RunResult>;

/** The engine: `<cmd> <first arg>` (or `docker buildx <sub>`) picks the scripted answer. */
function engine(script: Script): CommandRunner {
  return async (cmd, args, opts = {}) => {
    calls.push({ cmd, args, opts });
    const key =
      cmd === 'docker' && args[0] === 'buildx' ? `docker buildx ${args[1]}` : `${cmd} ${args[0]}`;
    timeline.push(key);
    const answer = script[key];
    if (!answer) throw new Error(`unscripted command: ${cmd} ${args.join(' ')}`);
    return answer(args, opts);
  };
}

const podmanBuildLog = [
  'STEP 1/4: FROM scratch',
  'STEP 2/4: COPY busybox /bin/busybox',
  '--> Using cache 1111',
  'STEP 3/4: RUN ["/bin/busybox","sh","-c","make"]',
  '--> Using cache 2222',
  'STEP 4/4: COPY src/ /app/',
  'COMMIT',
];

function podman(overrides: Script = {}): CommandRunner {
  return engine({
    'podman --version': () => ok('podman version 4.3.1'),
    'podman login': () => ok('Login Succeeded!'),
    'podman logout': () => ok(),
    'podman build': (_args, opts) => {
      for (const line of podmanBuildLog) opts.onLine?.(line, 'stdout');
      return ok();
    },
    'podman push': (args) => {
      writeFileSync(args[args.indexOf('--digestfile') + 1] as string, DIGEST);
      return ok();
    },
    ...overrides,
  });
}

function options(overrides: Partial<BuildPushOptions> = {}): BuildPushOptions {
  return {
    engine: 'podman',
    registry: { kind: 'ecr' },
    repository: 'api',
    tags: [SHA, 'latest'],
    source: { revision: SHA, sourceUrl: 'https://github.com/org/api' },
    build: {
      context,
      platforms: [],
      buildArgs: [
        ['VERSION', '1.2.3'],
        ['NPM_TOKEN', SECRET_ARG],
      ],
      secretBuildArgs: ['NPM_TOKEN'],
      labels: [['team', 'payments']],
      pull: false,
      noCache: false,
      provenance: false,
      sbom: false,
    },
    cache: 'registry',
    createRepository: false,
    tagMutability: 'MUTABLE',
    keepImages: 10,
    workDir: tempDir('build-push-unit-'),
    ...overrides,
  };
}

let leftoverHistory: Leftover[][];
let logged: string[];
let warned: string[];
function deps(run: CommandRunner, overrides: Partial<BuildPushDeps> = {}): BuildPushDeps {
  return {
    run,
    ecr: new ECRClient({ region: 'eu-west-1' }),
    clock: new VirtualClock(Date.parse('2030-01-02T03:04:05Z')),
    logger: {
      info: (line) => logged.push(line),
      warning: (line) => warned.push(line),
      mask: (secret) => timeline.push(`mask ${secret}`),
      group: (_title, work) => work(),
    },
    onLeftovers: (list) => {
      leftoverHistory.push(list);
      timeline.push(`leftovers ${list.map((l) => l.kind).join(',')}`);
    },
    ...overrides,
  };
}

function scriptEcr(
  repos: Record<string, string | undefined> = { api: 'MUTABLE', 'api-buildcache': 'MUTABLE' },
) {
  ecrMock.on(GetAuthorizationTokenCommand).callsFake(() => {
    timeline.push('GetAuthorizationToken');
    return {
      authorizationData: [
        {
          authorizationToken: Buffer.from(`AWS:${PASSWORD}`).toString('base64'),
          proxyEndpoint: `https://${HOST}`,
        },
      ],
    };
  });
  ecrMock.on(DescribeRepositoriesCommand).callsFake((input: { repositoryNames: string[] }) => {
    const name = input.repositoryNames[0] as string;
    timeline.push(`DescribeRepositories ${name}`);
    const mutability = repos[name];
    if (!mutability) throw awsError('RepositoryNotFoundException', `repo ${name} not found`);
    return { repositories: [{ repositoryName: name, imageTagMutability: mutability }] };
  });
  ecrMock.on(DescribeImagesCommand).callsFake(() => {
    timeline.push('DescribeImages');
    return { imageDetails: [{ imageDigest: DIGEST, imageSizeInBytes: 4_200_000 }] };
  });
}

beforeEach(() => {
  ecrMock.reset();
  timeline = [];
  calls = [];
  leftoverHistory = [];
  logged = [];
  warned = [];
  context = tempDir('build-push-ctx-');
  writeFileSync(join(context, 'Dockerfile'), 'FROM scratch\n');
});

const allArgv = () => calls.map((c) => c.args.join(' ')).join('\n');

describe('ECR with podman', () => {
  it('logs in with the token on stdin, builds with the cache, pushes each tag and reads the digest back', async () => {
    scriptEcr();
    const opts = options();
    const result = await buildPush(opts, deps(podman()));

    expect(timeline).toEqual([
      'podman --version',
      'GetAuthorizationToken',
      `mask ${PASSWORD}`,
      'DescribeRepositories api',
      'DescribeRepositories api-buildcache',
      'leftovers login',
      'podman login',
      'podman build',
      'podman push',
      'podman push',
      'DescribeImages',
      'podman logout',
      'leftovers ',
    ]);
    expect(result).toEqual({
      registry: HOST,
      repository: 'api',
      image: `${HOST}/api:${SHA}`,
      imageLatest: `${HOST}/api:latest`,
      tags: [SHA, 'latest'],
      digest: DIGEST,
      digestSource: 'registry',
      sizeBytes: 4_200_000,
      buildMs: 0,
      pushMs: 0,
      // COPY, RUN, COPY: the first two from the cache.
      cache: { mode: 'registry', ref: `${HOST}/api-buildcache`, steps: 3, cachedSteps: 2 },
      flavour: 'podman',
      repositoryCreated: false,
    });

    const login = calls.find((c) => c.args[0] === 'login');
    expect(login?.opts.input).toBe(PASSWORD);
    expect(login?.args).toEqual(
      expect.arrayContaining([
        '--authfile',
        join(opts.workDir, 'auth.json'),
        '--username',
        'AWS',
        HOST,
      ]),
    );
    const build = calls.find((c) => c.args[0] === 'build');
    expect(build?.args).toEqual(
      expect.arrayContaining([
        '--cache-from',
        `${HOST}/api-buildcache`,
        '--label',
        'org.opencontainers.image.created=2030-01-02T03:04:05.000Z',
        '--label',
        'org.opencontainers.image.source=https://github.com/org/api',
        '--label',
        'team=payments',
        '--build-arg',
        'NPM_TOKEN',
      ]),
    );
    expect(build?.opts.env).toEqual({ NPM_TOKEN: SECRET_ARG });
    expect(calls.filter((c) => c.args[0] === 'push').map((c) => c.args.at(-1))).toEqual([
      `${HOST}/api:${SHA}`,
      `${HOST}/api:latest`,
    ]);
    // The leftovers list named the login (with its auth file) before the login ran.
    expect(leftoverHistory[0]).toEqual([
      { kind: 'login', engine: 'podman', authFile: join(opts.workDir, 'auth.json'), host: HOST },
    ]);
  });

  it('folds the engine output of the build and of each push into its own section', async () => {
    scriptEcr();
    const plain = deps(podman()).logger;
    const group = async <T>(title: string, work: () => Promise<T>): Promise<T> => {
      timeline.push(`section ${title}`);
      const result = await work();
      timeline.push('end section');
      return result;
    };
    await buildPush(options(), deps(podman(), { logger: { ...plain, group } }));
    const inSections = timeline.filter((t) => /^(section|end section|podman (build|push))/.test(t));
    expect(inSections).toEqual([
      `section building ${HOST}/api:${SHA}, ${HOST}/api:latest with podman`,
      'podman build',
      'end section',
      `section pushing ${HOST}/api:${SHA}`,
      'podman push',
      'end section',
      `section pushing ${HOST}/api:latest`,
      'podman push',
      'end section',
    ]);
  });

  it('never puts the password or a secret build-arg value on a command line or in the log', async () => {
    scriptEcr();
    await buildPush(
      options(),
      deps(
        podman({
          'podman build': (_a, o) => {
            o.onLine?.(`token is ${SECRET_ARG}`, 'stdout');
            return ok();
          },
        }),
      ),
    );
    expect(allArgv()).not.toContain(PASSWORD);
    expect(allArgv()).not.toContain(SECRET_ARG);
    expect(logged.join('\n')).not.toContain(SECRET_ARG);
    expect(logged).toContain('token is ***');
  });

  it('fails before logging in when the repository is missing and may not be created', async () => {
    scriptEcr({});
    await expect(buildPush(options(), deps(podman()))).rejects.toThrow(
      `repository 'api' does not exist in ${HOST}; set create-repository: true or create it`,
    );
    expect(timeline.filter((t) => t.startsWith('podman'))).toEqual(['podman --version']);
  });

  it('creates the image and cache repositories with their policies when asked to', async () => {
    scriptEcr({});
    ecrMock.on(CreateRepositoryCommand).callsFake((input: { repositoryName: string }) => ({
      repository: { repositoryName: input.repositoryName, imageTagMutability: 'MUTABLE' },
    }));
    ecrMock.on(PutLifecyclePolicyCommand).resolves({});
    const result = await buildPush(
      options({ createRepository: true, keepImages: 15 }),
      deps(podman()),
    );
    expect(result.repositoryCreated).toBe(true);
    const created = ecrMock.commandCalls(CreateRepositoryCommand).map((c) => c.args[0].input);
    expect(created).toEqual([
      {
        repositoryName: 'api',
        imageTagMutability: 'MUTABLE',
        imageScanningConfiguration: { scanOnPush: true },
      },
      {
        repositoryName: 'api-buildcache',
        imageTagMutability: 'MUTABLE',
        imageScanningConfiguration: { scanOnPush: false },
      },
    ]);
    const policies = ecrMock
      .commandCalls(PutLifecyclePolicyCommand)
      .map((c) => JSON.parse(c.args[0].input.lifecyclePolicyText ?? '{}'));
    // podman keeps its cache in its own repository: no cache rule in the image repository.
    expect(policies[0].rules.map((r: { selection: unknown }) => r.selection)).toEqual([
      expect.objectContaining({ tagStatus: 'untagged' }),
      {
        tagStatus: 'tagged',
        tagPatternList: ['*'],
        countType: 'imageCountMoreThan',
        countNumber: 15,
      },
    ]);
    expect(policies[1].rules[0].selection.countType).toBe('sinceImagePushed');
  });

  it('refuses latest in an immutable repository before anything is built or logged in', async () => {
    scriptEcr({ api: 'IMMUTABLE', 'api-buildcache': 'MUTABLE' });
    await expect(buildPush(options(), deps(podman()))).rejects.toThrow(
      /has immutable tags, so 'latest' cannot move to the new image; set latest: false/,
    );
    expect(timeline).not.toContain('podman login');
    expect(timeline).not.toContain('podman build');
  });

  it('refuses an immutable repository that already holds this commit', async () => {
    scriptEcr({ api: 'IMMUTABLE', 'api-buildcache': 'MUTABLE' });
    ecrMock
      .on(BatchGetImageCommand)
      .resolves({ images: [{ imageId: { imageTag: SHA, imageDigest: DIGEST } }] });
    await expect(buildPush(options({ tags: [SHA] }), deps(podman()))).rejects.toThrow(
      `repository 'api' in ${HOST} has immutable tags and already holds '${SHA}'`,
    );
    expect(timeline).not.toContain('podman build');
  });

  it('builds without the registry cache, with a warning, when the cache repository is missing', async () => {
    scriptEcr({ api: 'MUTABLE' });
    const result = await buildPush(options(), deps(podman()));
    expect(warned).toEqual([
      "building without the registry cache: the cache repository 'api-buildcache' does not exist (set create-repository: true or create it)",
    ]);
    expect(calls.find((c) => c.args[0] === 'build')?.args).not.toContain('--cache-from');
    expect(result.cache).toMatchObject({
      mode: 'none',
      note: expect.stringContaining('api-buildcache'),
    });
  });

  it('on a build failure names the step, and still logs out', async () => {
    scriptEcr();
    const error = await buildPush(
      options(),
      deps(
        podman({
          'podman build': (_a, o) => {
            o.onLine?.('STEP 3/4: RUN make test', 'stdout');
            o.onLine?.('FAIL test_api', 'stdout');
            o.onLine?.('Error: building at STEP "RUN make test": exit status 2', 'stderr');
            return { code: 2, stdout: '', stderr: '' };
          },
        }),
      ),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BuildError);
    expect((error as BuildError).message).toBe(
      'build failed at STEP 3/4: RUN make test: building at STEP "RUN make test": exit status 2',
    );
    expect((error as BuildError).lastLines).toContain('FAIL test_api');
    expect(timeline.slice(-2)).toEqual(['podman logout', 'leftovers ']);
    expect(timeline).not.toContain('podman push');
  });

  it('on a push refusal names the tag and the reason, and still logs out', async () => {
    scriptEcr();
    let pushes = 0;
    const error = await buildPush(
      options(),
      deps(
        podman({
          'podman push': (args) => {
            if (++pushes === 1) {
              writeFileSync(args[args.indexOf('--digestfile') + 1] as string, DIGEST);
              return ok();
            }
            return {
              code: 125,
              stdout: '',
              stderr:
                "Error: tag invalid: The image tag 'latest' already exists in the 'api' repository and cannot be overwritten because the repository is immutable.",
            };
          },
        }),
      ),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PushError);
    expect((error as PushError).message).toMatch(
      new RegExp(
        `^push of ${HOST}/api:latest failed: the tag already exists and the repository has immutable tags`,
      ),
    );
    expect(timeline.slice(-2)).toEqual(['podman logout', 'leftovers ']);
  });

  it('reports the digest the registry holds, and warns when the engine pushed another', async () => {
    scriptEcr();
    const result = await buildPush(
      options(),
      deps(
        podman({
          'podman push': (args) => {
            writeFileSync(args[args.indexOf('--digestfile') + 1] as string, OTHER_DIGEST);
            return ok();
          },
        }),
      ),
    );
    expect(result.digest).toBe(DIGEST);
    expect(warned[0]).toMatch(/the registry holds sha256:abab.* but podman pushed sha256:cdcd/);
  });

  it('keeps a logout that failed in the leftovers, for the post step', async () => {
    scriptEcr();
    await buildPush(
      options(),
      deps(
        podman({ 'podman logout': () => ({ code: 125, stdout: '', stderr: 'Error: disk full' }) }),
      ),
    );
    expect(warned).toContain(`podman logout ${HOST} failed: disk full`);
    expect(leftoverHistory.at(-1)).toEqual([
      expect.objectContaining({ kind: 'login', host: HOST }),
    ]);
  });
});

describe('checks before anything runs', () => {
  it('a missing Dockerfile fails before any command or AWS call', async () => {
    const empty = tempDir('build-push-empty-');
    await expect(
      buildPush(options({ build: { ...options().build, context: empty } }), deps(podman())),
    ).rejects.toThrow(`there is no Dockerfile in '${empty}'; set 'file' to the Dockerfile's path`);
    await expect(
      buildPush(
        options({ build: { ...options().build, context: join(empty, 'nope') } }),
        deps(podman()),
      ),
    ).rejects.toThrow(/input 'context' names '.*nope', which is not a directory/);
    expect(calls).toHaveLength(0);
    expect(ecrMock.calls()).toHaveLength(0);
  });

  it('a docker without a reachable daemon fails before the repository is looked at', async () => {
    scriptEcr();
    const run = engine({
      'docker version': () => ({
        code: 1,
        stdout: '',
        stderr:
          'Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?',
      }),
    });
    await expect(buildPush(options({ engine: 'docker' }), deps(run))).rejects.toThrow(
      /^docker cannot reach its daemon \(Cannot connect to the Docker daemon.*\); on a host without Docker set engine: podman$/,
    );
    // Only the token request (read-only, made alongside the engine probe) reached AWS.
    expect(timeline.filter((t) => !t.startsWith('docker'))).toEqual(['GetAuthorizationToken']);
  });
});

describe('docker', () => {
  it('buildx: a temporary docker-container builder for the registry cache, pushed in the build, removed after', async () => {
    scriptEcr();
    const opts = options({ engine: 'docker' });
    const run = engine({
      'docker version': () => ok('27.0.1'),
      'docker buildx version': () => ok('github.com/docker/buildx v0.17.1'),
      'docker login': () => ok('Login Succeeded'),
      'docker logout': () => ok(),
      'docker buildx inspect': () => ok('Name:          default\nDriver:        docker\n'),
      'docker buildx create': () => ok(),
      'docker buildx rm': () => ok(),
      'docker buildx build': (args, o) => {
        for (const line of [
          '#7 [2/3] COPY . /app',
          '#7 CACHED',
          '#8 [3/3] RUN make',
          '#8 DONE 1.2s',
        ])
          o.onLine?.(line, 'stderr');
        const meta = args[args.indexOf('--metadata-file') + 1] as string;
        writeFileSync(meta, JSON.stringify({ 'containerimage.digest': DIGEST }));
        return ok();
      },
    });
    const result = await buildPush(opts, deps(run));
    expect(timeline.filter((t) => t.startsWith('docker'))).toEqual([
      'docker version',
      'docker buildx version',
      'docker login',
      'docker buildx inspect',
      'docker buildx create',
      'docker buildx build',
      'docker buildx rm',
      'docker logout',
    ]);
    const builder = calls.find((c) => c.args[1] === 'create')?.args[3];
    const build = calls.find((c) => c.args[1] === 'build');
    expect(build?.args).toEqual(
      expect.arrayContaining([
        '--builder',
        builder,
        '--push',
        '--provenance=false',
        '--sbom=false',
        '--cache-to',
        `type=registry,ref=${HOST}/api:buildcache,mode=max,image-manifest=true,oci-mediatypes=true`,
      ]),
    );
    expect(calls.find((c) => c.args[1] === 'rm')?.args).toEqual(['buildx', 'rm', builder]);
    expect(result).toMatchObject({
      digest: DIGEST,
      flavour: 'buildx',
      cache: { mode: 'registry', ref: `${HOST}/api:buildcache`, steps: 2, cachedSteps: 1 },
    });
    // The cache tag moves on every build: an immutable repository would be refused (checked first).
    expect(ecrMock.commandCalls(DescribeRepositoriesCommand)).toHaveLength(1);
  });

  it('creates a repository whose lifecycle policy never expires nor counts the buildcache tag', async () => {
    scriptEcr({});
    ecrMock.on(CreateRepositoryCommand).callsFake((input: { repositoryName: string }) => ({
      repository: { repositoryName: input.repositoryName, imageTagMutability: 'MUTABLE' },
    }));
    ecrMock.on(PutLifecyclePolicyCommand).resolves({});
    const run = engine({
      'docker version': () => ok('27.0.1'),
      'docker buildx version': () => ok('github.com/docker/buildx v0.17.1'),
      'docker buildx inspect': () => ok('Name: ci\nDriver: docker-container\n'),
      'docker login': () => ok(),
      'docker logout': () => ok(),
      'docker buildx build': (args) => {
        writeFileSync(
          args[args.indexOf('--metadata-file') + 1] as string,
          JSON.stringify({ 'containerimage.digest': DIGEST }),
        );
        return ok();
      },
    });
    await buildPush(
      options({ engine: 'docker', createRepository: true, keepImages: 7 }),
      deps(run),
    );
    const policy = JSON.parse(
      ecrMock.commandCalls(PutLifecyclePolicyCommand)[0]?.args[0].input.lifecyclePolicyText ?? '',
    );
    expect(policy.rules.map((r: { selection: unknown }) => r.selection)).toEqual([
      {
        tagStatus: 'tagged',
        tagPatternList: ['buildcache'],
        countType: 'imageCountMoreThan',
        countNumber: 1,
      },
      expect.objectContaining({ tagStatus: 'untagged' }),
      {
        tagStatus: 'tagged',
        tagPatternList: ['*'],
        countType: 'imageCountMoreThan',
        countNumber: 8,
      },
    ]);
  });

  it('without buildx: docker build, docker push per tag, and the manifest read over the registry API', async () => {
    const manifest = JSON.stringify({ config: { size: 10 }, layers: [{ size: 90 }] });
    const manifestDigest = `sha256:${createHash('sha256').update(manifest).digest('hex')}`;
    const run = engine({
      'docker version': () => ok('27.0.1'),
      'docker buildx version': () => ({
        code: 1,
        stdout: '',
        stderr: "docker: 'buildx' is not a docker command.",
      }),
      'docker login': () => ok(),
      'docker logout': () => ok(),
      'docker build': () => ok(),
      'docker push': (args) => ok(`${args[1]}: digest: ${manifestDigest} size: 528\n`),
    });
    const fetched: string[] = [];
    const fakeFetch = (async (url: string | URL) => {
      fetched.push(String(url));
      return new Response(manifest, { status: 200 });
    }) as typeof fetch;
    const result = await buildPush(
      options({
        engine: 'docker',
        registry: {
          kind: 'other',
          host: 'ghcr.io',
          credentials: { username: 'bot', password: 'ghp_x' },
        },
        repository: 'org/api',
      }),
      deps(run, { fetch: fakeFetch }),
    );
    expect(warned).toEqual([
      'building without the registry cache: the registry cache needs docker buildx, which is not installed',
    ]);
    expect(calls.filter((c) => c.args[0] === 'push').map((c) => c.args[1])).toEqual([
      `ghcr.io/org/api:${SHA}`,
      'ghcr.io/org/api:latest',
    ]);
    expect(fetched).toEqual([`https://ghcr.io/v2/org/api/manifests/${SHA}`]);
    expect(result).toMatchObject({ digest: manifestDigest, digestSource: 'registry' });
    expect(result.sizeBytes).toBe(100);
    expect(ecrMock.calls()).toHaveLength(0);
  });

  it('without buildx on ECR: one warning that the cache needs buildx, and no cache flags', async () => {
    scriptEcr();
    const run = engine({
      'docker version': () => ok('27.0.1'),
      'docker buildx version': () => ({ code: 1, stdout: '', stderr: 'unknown command' }),
      'docker login': () => ok(),
      'docker logout': () => ok(),
      'docker build': () => ok(),
      'docker push': (args) => ok(`${args[1]}: digest: ${DIGEST} size: 528\n`),
    });
    const result = await buildPush(options({ engine: 'docker' }), deps(run));
    expect(warned).toEqual([
      'building without the registry cache: the registry cache needs docker buildx, which is not installed',
    ]);
    expect(calls.find((c) => c.args[0] === 'build')?.args).not.toContain('--cache-from');
    expect(result.cache).toMatchObject({ mode: 'none', note: expect.stringContaining('buildx') });
  });

  it('without buildx, several platforms are refused before anything else', async () => {
    const run = engine({
      'docker version': () => ok('27.0.1'),
      'docker buildx version': () => ({ code: 1, stdout: '', stderr: 'unknown command' }),
    });
    await expect(
      buildPush(
        options({
          engine: 'docker',
          build: { ...options().build, platforms: ['linux/amd64', 'linux/arm64'], sbom: true },
        }),
        deps(run),
      ),
    ).rejects.toThrow(
      "several 'platforms' and 'sbom' need docker buildx, which is not installed (docker/setup-buildx-action installs it)",
    );
    expect(ecrMock.commandCalls(DescribeRepositoriesCommand)).toHaveLength(0);
  });
});

it('a context given as a directory with a Containerfile is accepted', async () => {
  const dir = tempDir('build-push-cf-');
  mkdirSync(join(dir, 'src'));
  writeFileSync(join(dir, 'Containerfile'), 'FROM scratch\n');
  scriptEcr();
  const result = await buildPush(
    options({ build: { ...options().build, context: dir } }),
    deps(podman()),
  );
  expect(result.digest).toBe(DIGEST);
});

describe('build secrets', () => {
  const BUILD_SECRET = 'build-secret-value-9f2c';
  const withSecrets = (extra: Partial<BuildPushOptions['build']> = {}) =>
    options({
      build: {
        ...options().build,
        secrets: [['npm', BUILD_SECRET]],
        secretFiles: [['npmrc', join(context, 'Dockerfile')]],
        ssh: ['default'],
        ...extra,
      },
    });

  /** What the engine saw of the secret file while building: its path, mode and content. */
  function recordSecretFile() {
    const seen: { path?: string; mode?: number; content?: string } = {};
    const observe = (args: readonly string[]) => {
      const spec = args[args.indexOf('--secret') + 1] as string;
      seen.path = /src=(.*)$/.exec(spec)?.[1];
      seen.mode = statSync(seen.path as string).mode & 0o777;
      seen.content = readFileSync(seen.path as string, 'utf8');
    };
    return { seen, observe };
  }

  it('hands a secret to podman as a 0600 file by id, never its value on a command line or in the log, and removes the file', async () => {
    scriptEcr();
    const { seen, observe } = recordSecretFile();
    await buildPush(
      withSecrets(),
      deps(
        podman({
          'podman build': (args, o) => {
            observe(args);
            o.onLine?.(`echoed ${BUILD_SECRET}`, 'stdout');
            return ok();
          },
        }),
        { env: { SSH_AUTH_SOCK: '/tmp/agent.sock' } },
      ),
    );
    const build = calls.find((c) => c.args[0] === 'build')!.args;
    expect(build).toEqual(
      expect.arrayContaining([
        '--secret',
        `id=npm,src=${seen.path}`,
        '--secret',
        `id=npmrc,src=${join(context, 'Dockerfile')}`,
        '--ssh',
        'default',
      ]),
    );
    expect(seen).toMatchObject({ mode: 0o600, content: BUILD_SECRET });
    expect(existsSync(seen.path!)).toBe(false);
    expect(allArgv()).not.toContain(BUILD_SECRET);
    expect(JSON.stringify(calls.map((c) => c.opts.env ?? {}))).not.toContain(BUILD_SECRET);
    expect(logged).toContain('echoed ***');
    expect(logged.join('\n')).not.toContain(BUILD_SECRET);
  });

  it('removes the secret file when the build fails too', async () => {
    scriptEcr();
    const { seen, observe } = recordSecretFile();
    await expect(
      buildPush(
        withSecrets({ ssh: [] }),
        deps(
          podman({
            'podman build': (args) => {
              observe(args);
              return {
                code: 1,
                stdout: '',
                stderr: 'Error: building at STEP "RUN x": exit status 1',
              };
            },
          }),
        ),
      ),
    ).rejects.toThrow(BuildError);
    expect(seen.content).toBe(BUILD_SECRET);
    expect(existsSync(seen.path!)).toBe(false);
  });

  it('without buildx, refuses secrets and ssh before logging in or building: the classic builder has neither', async () => {
    scriptEcr();
    const run = engine({
      'docker version': () => ok('27.0.1'),
      'docker buildx version': () => ({ code: 1, stdout: '', stderr: 'unknown command' }),
    });
    await expect(
      buildPush(
        { ...withSecrets(), engine: 'docker' },
        deps(run, { env: { SSH_AUTH_SOCK: '/s' } }),
      ),
    ).rejects.toThrow(
      "'secrets', 'secret-files' and 'ssh' need docker buildx: Docker's classic builder has neither --secret nor --ssh (docker/setup-buildx-action installs buildx; or set engine: podman)",
    );
    expect(timeline.filter((t) => /login|build$/.test(t))).toEqual([]);
  });

  it('buildx gets the same flags', async () => {
    scriptEcr();
    const { seen, observe } = recordSecretFile();
    const run = engine({
      'docker version': () => ok('27.0.1'),
      'docker buildx version': () => ok('github.com/docker/buildx v0.17.1'),
      'docker buildx inspect': () => ok('Name: ci\nDriver: docker-container\n'),
      'docker login': () => ok(),
      'docker logout': () => ok(),
      'docker buildx build': (args) => {
        observe(args);
        writeFileSync(
          args[args.indexOf('--metadata-file') + 1] as string,
          JSON.stringify({ 'containerimage.digest': DIGEST }),
        );
        return ok();
      },
    });
    await buildPush({ ...withSecrets({ ssh: [] }), engine: 'docker' }, deps(run));
    expect(seen).toMatchObject({ mode: 0o600, content: BUILD_SECRET });
    expect(existsSync(seen.path!)).toBe(false);
    expect(allArgv()).not.toContain(BUILD_SECRET);
  });

  it('a missing secret file, or ssh default without an agent, fails before any command', async () => {
    await expect(
      buildPush(
        withSecrets({ secretFiles: [['npmrc', join(context, 'nope')]], ssh: [] }),
        deps(podman()),
      ),
    ).rejects.toThrow(
      `input 'secret-files' names '${join(context, 'nope')}' for 'npmrc', which is not a file`,
    );
    await expect(buildPush(withSecrets(), deps(podman(), { env: {} }))).rejects.toThrow(
      "input 'ssh' asks for the default agent, but SSH_AUTH_SOCK is not set (start an ssh-agent first, e.g. webfactory/ssh-agent)",
    );
    expect(timeline).toEqual([]);
  });
});
