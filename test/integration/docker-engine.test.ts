/**
 * The real Docker daemon next to podman (scripts/engine/dockerd.sh: Debian's docker.io, classic
 * builder, no buildx) with the CNCF registry on loopback: build the example app, push, remove,
 * pull, run with a published port, and the container commands deploy scripts rely on
 * (`update --restart`, `rename`, `port`).
 */
import { readFileSync, rmSync } from 'node:fs';
import {
  type Registry,
  docker,
  dockerAvailable,
  dockerLogin,
  exampleAppContext,
  freePort,
  startRegistry,
  tempDockerConfig,
} from '../../scripts/engine/engine.js';
import { registryRequest } from '../../stand-ins/ecr.js';
import { getWithRetry } from './servers.js';

const describeDocker = dockerAvailable() ? describe : describe.skip;

/** Unique per run: the daemon is shared by every test file and worktree on the machine. */
const unique = `${process.pid}-${Date.now().toString(36)}`;

describeDocker('real Docker daemon (classic builder) with a registry', () => {
  let registry: Registry;
  let context: string;
  let config: ReturnType<typeof tempDockerConfig>;
  let image: string;
  let builtId: string;
  let pushedDigest: string;
  const containers: string[] = [];

  /** docker with the test's private DOCKER_CONFIG; throws with stderr on a non-zero exit. */
  async function ok(args: string[]): Promise<string> {
    const r = await docker(args, { env: config.env });
    if (r.code !== 0) throw new Error(`docker ${args.join(' ')}: exit ${r.code}: ${r.stderr}`);
    return r.stdout;
  }
  function containerName(role: string): string {
    const name = `shipyard-dk-${role}-${unique}`;
    containers.push(name);
    return name;
  }

  beforeAll(async () => {
    registry = await startRegistry();
    context = await exampleAppContext();
    config = tempDockerConfig();
    image = `${registry.host}/shipyard/docker-engine-${unique}:1.4.2`;
  });

  afterAll(async () => {
    if (config) {
      for (const name of containers) await docker(['rm', '--force', name], { env: config.env });
      if (image) await docker(['rmi', '--force', image], { env: config.env });
      config.dispose();
    }
    await registry?.stop();
    if (context) rmSync(context, { recursive: true, force: true });
  });

  it('treats the plain-HTTP loopback registry as insecure without any daemon configuration', async () => {
    const cidrs = JSON.parse(
      await ok(['info', '--format', '{{json .RegistryConfig.InsecureRegistryCIDRs}}']),
    ) as string[];
    expect(cidrs).toContain('127.0.0.0/8');
    await dockerLogin(registry, { env: config.env });
    // The login landed in the private config, nowhere else.
    expect(
      Object.keys(
        (JSON.parse(readFileSync(`${config.dir}/config.json`, 'utf8')) as { auths: object }).auths,
      ),
    ).toEqual([registry.host]);
  });

  it('builds the example app with the classic builder and pushes it', async () => {
    const built = await docker(['build', '--build-arg', 'VERSION=1.4.2', '--tag', image, context], {
      env: config.env,
    });
    expect({ code: built.code, stderr: built.code === 0 ? '' : built.stderr }).toEqual({
      code: 0,
      stderr: '',
    });
    // The classic builder's log (BuildKit would print `#1 [internal] load build definition`).
    expect(built.stdout).toMatch(/^Step 1\/\d+ : FROM scratch$/m);
    expect(built.stdout).toMatch(/^Successfully tagged /m);
    builtId = (await ok(['image', 'inspect', '--format', '{{.Id}}', image])).trim();
    expect(builtId).toMatch(/^sha256:[0-9a-f]{64}$/);

    const pushed = await ok(['push', image]);
    pushedDigest = /: digest: (sha256:[0-9a-f]{64}) size: \d+/.exec(pushed)?.[1] ?? pushed;
    const res = await registryRequest(
      registry,
      `/v2/shipyard/docker-engine-${unique}/manifests/1.4.2`,
      'HEAD',
    );
    expect(res.headers.get('docker-content-digest')).toBe(pushedDigest);
  });

  it('pulls the same image back after it was removed', async () => {
    await ok(['rmi', image]);
    const gone = await docker(['image', 'inspect', image], { env: config.env });
    expect(gone.code).not.toBe(0);
    await ok(['pull', image]);
    expect((await ok(['image', 'inspect', '--format', '{{.Id}}', image])).trim()).toBe(builtId);
    const digests = await ok(['image', 'inspect', '--format', '{{json .RepoDigests}}', image]);
    expect(JSON.parse(digests)).toEqual([`${image.replace(/:1\.4\.2$/, '')}@${pushedDigest}`]);
  });

  it('runs it with a port published on 127.0.0.1 and answers /health', async () => {
    const port = await freePort();
    const name = containerName('run');
    await ok(['run', '--detach', '--name', name, '--publish', `127.0.0.1:${port}:8000`, image]);
    const res = await getWithRetry(`http://127.0.0.1:${port}/health`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok', version: '1.4.2' });

    // `docker port <c> 8000/tcp` prints one `host:port` line (the form deploy scripts parse).
    expect(await ok(['port', name, '8000/tcp'])).toBe(`127.0.0.1:${port}\n`);
    expect(await ok(['port', name])).toBe(`8000/tcp -> 127.0.0.1:${port}\n`);
  });

  it('changes the restart policy of a running container with `docker update`', async () => {
    const port = await freePort();
    const name = containerName('restart');
    await ok([
      'run',
      '--detach',
      '--restart=on-failure:3',
      '--name',
      name,
      '--publish',
      `127.0.0.1:${port}:8000`,
      image,
    ]);
    const policy = () =>
      ok(['inspect', '--format', '{{json .HostConfig.RestartPolicy}}', name]).then(
        (out) => JSON.parse(out) as { Name: string; MaximumRetryCount: number },
      );
    expect(await policy()).toEqual({ Name: 'on-failure', MaximumRetryCount: 3 });
    expect(await ok(['update', '--restart=no', name])).toBe(`${name}\n`);
    expect(await policy()).toMatchObject({ Name: 'no' });
    expect((await ok(['inspect', '--format', '{{.State.Status}}', name])).trim()).toBe('running');
  });

  it('renames a created, never started container', async () => {
    const from = containerName('created');
    const to = containerName('renamed');
    const id = (await ok(['create', '--name', from, image])).trim();
    await ok(['rename', from, to]);
    expect(
      (await ok(['inspect', '--format', '{{.Id}} {{.Name}} {{.State.Status}}', to])).trim(),
    ).toBe(`${id} /${to} created`);
    expect((await docker(['inspect', from], { env: config.env })).code).not.toBe(0);
  });
});
