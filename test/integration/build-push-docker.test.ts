/**
 * The committed build-push bundle with `engine: docker` against the real Docker daemon
 * (scripts/engine/dockerd.sh: docker.io 20.10, classic builder, no buildx plugin): `docker build`,
 * then `docker push` per tag. What it pushed is read back over the registry's HTTP API and
 * compared with its outputs, for a registry with a password and for ECR (the AWS stub hands out
 * a token for the local registry).
 */
import {
  appendFileSync,
  chmodSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type Registry,
  docker,
  dockerAvailable,
  exampleAppContext,
  startRegistry,
  tempDockerConfig,
} from '../../scripts/engine/engine.js';
import type { AwsStub } from '../../stand-ins/aws-json.js';
import { registryDigest, registryTags, startEcrStandIn } from '../../stand-ins/ecr.js';
import { runAction, type ActionRun, parseAnnotation, visibleLog } from '../../stand-ins/runner.js';

const BUNDLE = 'actions/build-push/dist/index.js';
const POST = 'actions/build-push/dist/post/index.js';
const SHA = '3b7e1c9d2f4a6b8c0d1e2f3a4b5c6d7e8f9a0b1c';
const API_TOKEN = 'api-token-docker-5d2e8a';
/** Unique per run: the daemon is shared by every test file and worktree on the machine. */
const unique = `${process.pid}-${Date.now().toString(36)}`;

const describeDocker = dockerAvailable() ? describe : describe.skip;

/** The registries config.json holds logins for (none once the action logged out). */
function loggedInTo(configDir: string): string[] {
  const file = join(configDir, 'config.json');
  if (!existsSync(file)) return [];
  return Object.keys((JSON.parse(readFileSync(file, 'utf8')) as { auths?: object }).auths ?? {});
}

describeDocker('build-push with engine: docker (classic builder, no buildx)', () => {
  let context: string;
  const configs: Array<ReturnType<typeof tempDockerConfig>> = [];
  const images: string[] = [];

  function freshConfig() {
    const config = tempDockerConfig();
    configs.push(config);
    return config;
  }

  beforeAll(async () => {
    context = await exampleAppContext();
    // A build step that needs the secret build arg: proves the value reaches the build.
    appendFileSync(
      join(context, 'Dockerfile'),
      'ARG API_TOKEN\nRUN ["/bin/busybox", "sh", "-c", "test -n \\"$API_TOKEN\\" && echo api-token-received"]\n',
    );
  });

  afterAll(async () => {
    const env = configs[0]?.env;
    if (env) for (const image of images) await docker(['rmi', '--force', image], { env });
    for (const config of configs) config.dispose();
    if (context) rmSync(context, { recursive: true, force: true });
  });

  describe('a registry with a password', () => {
    let registry: Registry;
    let config: ReturnType<typeof tempDockerConfig>;
    let run: ActionRun;
    const name = `shipyard/build-push-docker-${unique}`;

    beforeAll(async () => {
      registry = await startRegistry();
      config = freshConfig();
      images.push(...[SHA, 'latest', 'v2.0.1'].map((tag) => `${registry.host}/${name}:${tag}`));
      run = await runAction(
        BUNDLE,
        {
          repository: name,
          registry: registry.host,
          username: registry.user,
          password: registry.password,
          engine: 'docker',
          context,
          tags: 'v2.0.1',
          'build-args': `VERSION=2.0.1\nAPI_TOKEN=${API_TOKEN}`,
          'secret-build-args': 'API_TOKEN',
        },
        {
          env: {
            ...config.env,
            GITHUB_SHA: SHA,
            GITHUB_SERVER_URL: 'https://github.com',
            GITHUB_REPOSITORY: 'org/shipyard-example',
          },
          timeoutMs: 120_000,
        },
      );
    }, 150_000);

    afterAll(async () => {
      await registry?.stop();
    });

    it('builds with docker build, pushes every tag, and reports the digest the registry holds', async () => {
      expect({ code: run.code, log: run.code === 0 ? '' : run.stdout + run.stderr }).toEqual({
        code: 0,
        log: '',
      });
      expect(run.stdout).toMatch(/^Step 1\/\d+ : FROM scratch$/m);
      expect(run.outputs).toMatchObject({
        image: `${registry.host}/${name}:${SHA}`,
        'image-uri-latest': `${registry.host}/${name}:latest`,
        registry: registry.host,
      });
      const tags = JSON.parse(run.outputs.tags ?? '[]') as string[];
      expect(tags).toEqual([SHA, 'latest', 'v2.0.1']);
      expect((await registryTags(registry, name)).sort()).toEqual([...tags].sort());
      expect(run.outputs.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
      for (const tag of tags)
        expect(await registryDigest(registry, name, tag)).toBe(run.outputs.digest);
    });

    it('labels the image with the commit and delivers the secret build arg unseen', async () => {
      const labels = JSON.parse(
        (
          await docker(
            [
              'image',
              'inspect',
              '--format',
              '{{json .Config.Labels}}',
              `${registry.host}/${name}:${SHA}`,
            ],
            { env: config.env },
          )
        ).stdout,
      ) as Record<string, string>;
      expect(labels).toMatchObject({
        'org.opencontainers.image.revision': SHA,
        'org.opencontainers.image.source': 'https://github.com/org/shipyard-example',
        'org.opencontainers.image.version': '2.0.1',
      });
      expect(run.stdout).toContain('api-token-received');
      for (const secret of [registry.password, API_TOKEN]) {
        expect(visibleLog(run)).not.toContain(secret);
        expect(run.summary).not.toContain(secret);
      }
    });

    it('says the registry cache needs buildx and writes the summary', () => {
      expect(run.stdout).toContain(
        '::warning::building without the registry cache: the registry cache needs docker buildx, which is not installed',
      );
      expect(run.summary).toContain(`build-push: pushed \`${registry.host}/${name}:${SHA}\``);
      expect(run.summary).toMatch(/\| image size \| \d+(\.\d)? (KiB|MiB) \(compressed\) \|/);
    });

    it('logs out afterwards: the DOCKER_CONFIG keeps no credentials, the post step has nothing to do', async () => {
      expect(loggedInTo(config.dir)).toEqual([]);
      expect(JSON.parse(run.state.leftovers ?? '')).toEqual([]);
      const post = await runAction(POST, {}, { env: config.env, files: run.files });
      expect(post.code).toBe(0);
      expect(post.stdout).toContain('nothing left to clean up');
    });
  });

  it('a failing classic build is an annotation with the step and the last lines; nothing is pushed', async () => {
    const registry = await startRegistry();
    const config = freshConfig();
    const bad = mkdtempSync(join(tmpdir(), 'bad-ctx-'));
    // The classic builder keeps the failed step's container: the marker finds it for clean-up.
    const marker = `shipyard-failed-${unique}`;
    try {
      writeFileSync(join(bad, 'busybox'), readFileSync('/bin/busybox'));
      chmodSync(join(bad, 'busybox'), 0o755);
      writeFileSync(
        join(bad, 'Dockerfile'),
        `FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "sh", "-c", "echo ${marker}; echo 3 tests failed; exit 3"]\n`,
      );
      const run = await runAction(
        BUNDLE,
        {
          repository: 'shipyard/broken-docker',
          registry: registry.host,
          username: registry.user,
          password: registry.password,
          engine: 'docker',
          context: bad,
          cache: 'none',
        },
        { env: { ...config.env, GITHUB_SHA: SHA }, timeoutMs: 120_000 },
      );
      expect(run.code).toBe(1);
      const annotation = parseAnnotation(
        run.stdout.split('\n').find((l) => l.startsWith('::error title=')) ?? '',
      );
      expect(annotation?.title).toMatch(
        new RegExp(
          `^build failed at STEP 3/\\d+: RUN \\["/bin/busybox", "sh", "-c", "echo ${marker}; echo 3 tests failed; exit 3"\\]$`,
        ),
      );
      expect(annotation?.message.split('\n')).toEqual(
        expect.arrayContaining([
          marker,
          '3 tests failed',
          `The command '/bin/busybox sh -c echo ${marker}; echo 3 tests failed; exit 3' returned a non-zero code: 3`,
        ]),
      );
      expect(await registryTags(registry, 'shipyard/broken-docker')).toEqual([]);
      expect(JSON.parse(run.state.leftovers ?? '')).toEqual([]);
      expect(loggedInTo(config.dir)).toEqual([]);
    } finally {
      const listed = await docker(
        ['ps', '--all', '--no-trunc', '--format', '{{.ID}} {{.Command}}'],
        { env: config.env },
      );
      const failed = listed.stdout
        .split('\n')
        .filter((l) => l.includes(marker))
        .map((l) => l.split(' ')[0] as string);
      if (failed.length > 0) await docker(['rm', '--force', ...failed], { env: config.env });
      rmSync(bad, { recursive: true, force: true });
      await registry.stop();
    }
  }, 150_000);

  describe('ECR (AWS stub + local registry)', () => {
    const ECR_PASSWORD = 'ecr-token-password-docker-7b3c';
    let registry: Registry;
    let stub: AwsStub;

    beforeAll(async () => {
      registry = await startRegistry({ user: 'AWS', password: ECR_PASSWORD });
      stub = await startEcrStandIn(registry);
    });

    afterAll(async () => {
      await stub?.close();
      await registry?.stop();
    });

    it('gets a token, creates the repository, pushes, and reports the digest the registry holds', async () => {
      const config = freshConfig();
      const repository = `team/api-docker-${unique}`;
      const shortSha = SHA.slice(0, 7);
      images.push(
        `${registry.host}/${repository}:${shortSha}`,
        `${registry.host}/${repository}:latest`,
      );
      const run = await runAction(
        BUNDLE,
        {
          repository,
          engine: 'docker',
          context,
          sha: SHA,
          'sha-format': 'short',
          'create-repository': 'true',
          'build-args': `API_TOKEN=${API_TOKEN}`,
        },
        {
          env: {
            ...config.env,
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
      expect(run.outputs).toMatchObject({
        registry: registry.host,
        image: `${registry.host}/${repository}:${shortSha}`,
        tags: JSON.stringify([shortSha, 'latest']),
      });
      expect(run.outputs.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect(await registryDigest(registry, repository, shortSha)).toBe(run.outputs.digest);
      expect(await registryDigest(registry, repository, 'latest')).toBe(run.outputs.digest);
      // No buildx: no cache repository is created or written.
      expect(stub.callsOf('CreateRepository').map((c) => c.input.repositoryName)).toEqual([
        repository,
      ]);
      expect(run.stdout).toContain(`::add-mask::${ECR_PASSWORD}`);
      expect(visibleLog(run)).not.toContain(ECR_PASSWORD);
      expect(loggedInTo(config.dir)).toEqual([]);
    });
  });
});
