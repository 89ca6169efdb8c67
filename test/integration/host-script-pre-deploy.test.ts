/**
 * pre-deploy-command on real podman. The action's own code (deployEc2Ssm) drives it through an SSM
 * client whose SendCommand runs the `commands` on this machine as the SSM agent runs them
 * (scripts/engine/agent.ts: `sh _script.sh` in a process group of its own), so what is shown is
 * the whole path: the one-off runs on the host with the service's env, env-from-ssm and login,
 * and only its exit code 0 lets the deploy command be sent. The image is the example app, whose
 * entrypoint here runs its arguments when it has some, as most images' entrypoints do.
 */
import { appendFileSync, chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  DescribeInstanceInformationCommand,
  GetCommandInvocationCommand,
  ListCommandInvocationsCommand,
  SSMClient,
  SendCommandCommand,
  type SendCommandCommandInput,
} from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import {
  filesHolding,
  runDirOf,
  startLikeTheAgent,
  waitForDetachedResult,
  type AgentRunResult,
} from '../../scripts/engine/agent.js';
import {
  engineAvailable,
  exampleAppContext,
  freePort,
  podman,
  podmanLogin,
  startRegistry,
  tempEngine,
  type Registry,
} from '../../scripts/engine/engine.js';
import { deployEc2Ssm, prepareDeployCommand } from '../../src/ssm/deploy.js';
import { parseOneOffResult, prepareOneOffCommand } from '../../src/ssm/pre-deploy.js';
import { parseDeployResult } from '../../src/ssm/result.js';
import type { DeploySpec } from '../../src/ssm/spec.js';

const STUB_AWS = fileURLToPath(new URL('../../stand-ins/host/stub-bin/aws', import.meta.url));
const NUL = String.fromCharCode(0);
const HOST = 'i-0123456789abcdef0';
const SECRET = 'pre-deploy-secret-7c1d';
const PARAMS = { '/shipyard/test/pre-deploy': SECRET };
/** Unique names: the engine store is this suite's own, the host's ports are not. */
const NAME = 'pdtest-web';
const ONE_OFF = `${NAME}-shipyard-oneoff`;

const suite = engineAvailable() ? describe : describe.skip;

suite('pre-deploy-command on podman, driven by deployEc2Ssm', () => {
  let registry: Registry;
  let engine: ReturnType<typeof tempEngine>;
  let work: string;
  let stateDir: string;
  let dataDir: string;
  let repo: string;
  let port: number;
  let counter = 0;

  const cli = (args: string[]) => podman(args, { env: engine.env });
  async function ok(args: string[]): Promise<string> {
    const r = await cli(args);
    if (r.code !== 0) throw new Error(`podman ${args.join(' ')}: ${r.stderr}`);
    return r.stdout.trim();
  }
  const inspect = (format: string) => ok(['container', 'inspect', '--format', format, NAME]);
  const names = async () => (await ok(['ps', '--all', '--format', '{{.Names}}'])).split('\n');
  async function version(): Promise<string> {
    const res = await fetch(`http://127.0.0.1:${port}/health`);
    return ((await res.json()) as { version: string }).version;
  }

  function spec(tag: string, over: Partial<DeploySpec> = {}): DeploySpec {
    return {
      image: `${repo}:${tag}`,
      containerName: NAME,
      ports: [{ hostIp: '127.0.0.1', hostPort: port, containerPort: 8000, protocol: 'tcp' }],
      env: [['PLAIN', 'visible']],
      envFromSsm: [['DB_PASSWORD', '/shipyard/test/pre-deploy']],
      restartPolicy: 'unless-stopped',
      runOptions: ['--volume', `${dataDir}:/data`],
      engine: 'podman',
      registryLogin: 'ecr',
      region: 'eu-west-1',
      healthCmd: 'curl -fsS -m 2 "http://127.0.0.1:$SHIPYARD_PORT_8000/health"',
      healthTimeoutSeconds: 20,
      stopTimeoutSeconds: 5,
      keepImages: 3,
      stateDir,
      lockTimeoutSeconds: 30,
      executionTimeoutSeconds: 120,
      ...over,
    };
  }

  /** What a run on "the host" gets: the engine's store, the stand-in aws first on PATH. */
  function hostEnv(): { dir: string; env: Record<string, string> } {
    const dir = join(work, `run-${++counter}`);
    mkdirSync(join(dir, 'bin'), { recursive: true });
    symlinkSync(STUB_AWS, join(dir, 'bin', 'aws'));
    writeFileSync(
      join(dir, 'params'),
      Object.entries(PARAMS)
        .map(([k, v]) => `${k}${NUL}${v}${NUL}`)
        .join(''),
    );
    return {
      dir,
      env: {
        ...engine.env,
        PATH: `${join(dir, 'bin')}:${process.env.PATH}`,
        STUB_DIR: dir,
        STUB_ECR_PASSWORD: registry.password,
      },
    };
  }

  /** An SSM whose one instance is this machine: each SendCommand runs as the agent runs it. */
  function ssmOnThisHost() {
    const client = new SSMClient({ region: 'eu-west-1' });
    const mock = mockClient(client);
    const commands: Array<{ id: string; commands: string; done?: AgentRunResult }> = [];
    const find = (id: unknown) => commands.find((c) => c.id === id);
    const status = (c?: { done?: AgentRunResult }) =>
      !c?.done ? 'InProgress' : c.done.code === 0 ? 'Success' : 'Failed';
    mock.on(DescribeInstanceInformationCommand).resolves({
      InstanceInformationList: [
        { InstanceId: HOST, PingStatus: 'Online', LastPingDateTime: new Date() },
      ],
    });
    mock.on(SendCommandCommand).callsFake((input: SendCommandCommandInput) => {
      const entry: { id: string; commands: string; done?: AgentRunResult } = {
        id: `cmd-${commands.length + 1}`,
        commands: input.Parameters?.commands?.[0] ?? '',
      };
      commands.push(entry);
      const run = startLikeTheAgent(entry.commands, hostEnv());
      void run.done.then((r) => (entry.done = r));
      return { Command: { CommandId: entry.id } };
    });
    mock.on(ListCommandInvocationsCommand).callsFake((input: { CommandId?: string }) => ({
      CommandInvocations: [{ InstanceId: HOST, Status: status(find(input.CommandId)) }],
    }));
    mock.on(GetCommandInvocationCommand).callsFake((input: { CommandId?: string }) => {
      const c = find(input.CommandId);
      return {
        Status: status(c),
        StandardOutputContent: c?.done?.stdout ?? '',
        StandardErrorContent: c?.done?.stderr ?? '',
      };
    });
    return { client, commands, restore: () => mock.restore() };
  }

  async function deployWith(tag: string, command: string[], over: Partial<DeploySpec> = {}) {
    const ssm = ssmOnThisHost();
    try {
      const rollout = await deployEc2Ssm({
        ssm: ssm.client,
        region: 'eu-west-1',
        spec: spec(tag, over),
        targets: { kind: 'instances', instanceIds: [HOST] },
        documentName: 'AWS-RunShellScript',
        maxConcurrency: '1',
        maxErrors: '0',
        comment: 'pre-deploy test',
        timeoutMs: 150_000,
        executionTimeoutMs: 120_000,
        waitForAgentMs: 0,
        intervalMs: 200,
        maxIntervalMs: 500,
        preDeploy: { command, timeoutMs: 60_000 },
      });
      return { rollout, commands: ssm.commands };
    } finally {
      ssm.restore();
    }
  }

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'shipyard-pre-deploy-'));
    stateDir = join(work, 'state');
    dataDir = join(work, 'data');
    mkdirSync(dataDir);
    chmodSync(dataDir, 0o777); // the app runs as 65534
    port = await freePort();
    registry = await startRegistry({ user: 'AWS', password: 'registry-password-pd41' });
    engine = tempEngine();
    await podmanLogin(registry, { env: engine.env });
    const context = await exampleAppContext();
    // The usual entrypoint pattern: with arguments, run them; without, start the service.
    const start = join(context, 'src', 'start.sh');
    const text = readFileSync(start, 'utf8').split('\n');
    text.splice(1, 0, 'if [ "$#" -gt 0 ]; then exec "$@"; fi');
    writeFileSync(start, text.join('\n'));
    repo = `${registry.host}/shipyard/pre-deploy`;
    for (const tag of ['1', '2']) {
      await ok([
        'build',
        '--quiet',
        '--build-arg',
        `VERSION=${tag}`,
        '--tag',
        `${repo}:${tag}`,
        context,
      ]);
      await ok(['push', '--quiet', `${repo}:${tag}`]);
    }
    rmSync(context, { recursive: true, force: true });
    // From here on only the script's own login (through the stand-in aws) can pull.
    await ok(['logout', registry.host]);
    await ok(['rmi', `${repo}:1`, `${repo}:2`]);
    // v1 serves, deployed by the host script as usual.
    const { env, dir } = hostEnv();
    const first = await startLikeTheAgent(prepareDeployCommand(spec('1')).commands, { env, dir })
      .done;
    expect(parseDeployResult(first.stderr)?.outcome).toBe('deployed');
  }, 240_000);

  afterAll(async () => {
    if (engine) {
      for (const n of [NAME, ONE_OFF]) await cli(['rm', '--force', n]);
      await engine.dispose();
    }
    await registry?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  }, 60_000);

  it('a command that exits non-zero: the step fails with its exit code and output, no deploy is sent, the service is untouched', async () => {
    const before = await inspect('{{.Id}} {{.State.StartedAt}}');
    const { rollout, commands } = await deployWith('2', [
      '/bin/busybox',
      'sh',
      '-c',
      'echo "plain=$PLAIN secret-length=${#DB_PASSWORD}"; echo "migration 0042 failed" >&2; exit 3',
    ]);
    expect(rollout.status).toBe('failed');
    expect(rollout.preDeploy).toMatchObject({ status: 'failed', instanceId: HOST, exitCode: 3 });
    expect(rollout.preDeploy?.outputTail).toContain(`plain=visible secret-length=${SECRET.length}`);
    expect(rollout.preDeploy?.outputTail).toContain('migration 0042 failed');
    expect(rollout.reason).toMatch(
      /pre-deploy-command failed on .* \(exit code 3\).*nothing was deployed/,
    );
    // One command only, the one-off; the deploy was never sent.
    expect(commands).toHaveLength(1);
    expect(commands[0]?.commands).toMatch(/^mode=one-off$/m);
    // The service container is the same one, still serving v1; nothing of the one-off is left.
    expect(await inspect('{{.Id}} {{.State.StartedAt}}')).toBe(before);
    expect(await version()).toBe('1');
    expect(await names()).not.toContain(ONE_OFF);
    expect(filesHolding(stateDir, SECRET)).toEqual([]);
    for (const c of commands) expect(c.commands).not.toContain(SECRET);
  }, 180_000);

  it('a command that succeeds runs first; then the rollout deploys the new version', async () => {
    rmSync(join(dataDir, 'schema'), { force: true });
    const { rollout, commands } = await deployWith('2', [
      '/bin/busybox',
      'sh',
      '-c',
      'echo "schema for v$APP_VERSION" > /data/schema && echo migrated',
    ]);
    expect(rollout.preDeploy).toMatchObject({ status: 'succeeded', exitCode: 0 });
    expect(rollout.preDeploy?.outputTail).toContain('migrated');
    expect(rollout.status).toBe('succeeded');
    expect(commands.map((c) => /^mode=one-off$/m.test(c.commands))).toEqual([true, false]);
    // The deploy was sent once the one-off had ended.
    expect(commands[0]?.done).toBeDefined();
    expect(await version()).toBe('2');
    expect(readFileSync(join(dataDir, 'schema'), 'utf8')).toBe('schema for v2\n');
    expect(await names()).not.toContain(ONE_OFF);
    expect(filesHolding(stateDir, SECRET)).toEqual([]);
  }, 240_000);

  it('killed like the agent kills during the one-off: it finishes detached, no container or secret file is left', async () => {
    const { env, dir } = hostEnv();
    const { commands } = prepareOneOffCommand(spec('2'), {
      command: ['/bin/busybox', 'sh', '-c', 'echo started; sleep 4; echo "finished $PLAIN"'],
      timeoutMs: 60_000,
    });
    const run = startLikeTheAgent(commands, { env, dir });
    await run.waitFor('| started', 90_000);
    run.killGroup();
    const killed = await run.done;
    expect(killed.killed).toBe(true);
    const runDir = runDirOf(killed.stdout) as string;
    expect(runDir).toBeDefined();
    const result = parseOneOffResult(
      `shipyard-deploy-result: ${await waitForDetachedResult(runDir, 60_000)}`,
    );
    expect(result).toMatchObject({ outcome: 'succeeded', exitCode: 0 });
    expect(result?.outputTail).toContain('finished visible');
    expect(await names()).not.toContain(ONE_OFF);
    expect(filesHolding(stateDir, SECRET)).toEqual([]);
    expect(
      readdirSync(stateDir).filter((f) => f.startsWith('launch.') || f.startsWith('env.')),
    ).toEqual([]);
  }, 180_000);

  it('a command that outlives pre-deploy-timeout is stopped and removed; the service is untouched', async () => {
    const before = await inspect('{{.Id}} {{.State.StartedAt}}');
    const { env, dir } = hostEnv();
    const { commands } = prepareOneOffCommand(spec('2'), {
      command: ['/bin/busybox', 'sh', '-c', 'echo waiting; sleep 300'],
      timeoutMs: 40_000,
    });
    const done = await startLikeTheAgent(commands, { env, dir }).done;
    const result = parseOneOffResult(done.stderr);
    expect(done.code).toBe(1);
    expect(result).toMatchObject({ outcome: 'failed', failedStep: 'timeout' });
    expect(result?.exitCode).toBeUndefined();
    expect(result?.reason).toMatch(/did not finish within pre-deploy-timeout/);
    expect(result?.outputTail).toContain('waiting');
    expect(await names()).not.toContain(ONE_OFF);
    expect(await inspect('{{.Id}} {{.State.StartedAt}}')).toBe(before);
  }, 120_000);

  it('a one-off container left by a killed host is swept by the next run', async () => {
    await ok(['create', '--name', ONE_OFF, `${repo}:2`]);
    appendFileSync(join(stateDir, 'env.leftover'), `DB_PASSWORD=${SECRET}\n`);
    const { env, dir } = hostEnv();
    const { commands } = prepareOneOffCommand(spec('2'), {
      command: ['/bin/busybox', 'true'],
      timeoutMs: 60_000,
    });
    const done = await startLikeTheAgent(commands, { env, dir }).done;
    expect(done.stdout).toContain(`removing ${ONE_OFF}, left by an interrupted deploy`);
    expect(parseOneOffResult(done.stderr)).toMatchObject({ outcome: 'succeeded', exitCode: 0 });
    expect(await names()).not.toContain(ONE_OFF);
    expect(filesHolding(stateDir, SECRET)).toEqual([]);
  }, 120_000);
});
