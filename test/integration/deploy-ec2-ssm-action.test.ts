/**
 * The committed deploy-ec2-ssm bundles, run as the runner runs them, against a scripted SSM
 * endpoint on loopback: the real SDK signs, retries and parses every call.
 */
import { startAwsStub, type AwsCall, type AwsStub } from '../../stand-ins/aws-json.js';
import { runAction } from '../../stand-ins/runner.js';
import { poll } from '../../src/poll.js';

const MAIN = 'actions/deploy-ec2-ssm/dist/index.js';
const POST = 'actions/deploy-ec2-ssm/dist/post/index.js';
const IMAGE = '123456789012.dkr.ecr.eu-west-1.amazonaws.com/api:1.5.0';
const OLD = '123456789012.dkr.ecr.eu-west-1.amazonaws.com/api:1.4.2';
const A = 'i-0aaaaaaaaaaaaaaaa';
const B = 'i-0bbbbbbbbbbbbbbbb';
const COMMAND = '5f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b';
const MARKER = 'shipyard-deploy-result: ';

let stub: AwsStub | undefined;
afterEach(async () => {
  await stub?.close();
  stub = undefined;
});

const env = (s: AwsStub) => ({
  AWS_ENDPOINT_URL_SSM: s.endpoint,
  AWS_REGION: 'eu-west-1',
  AWS_ACCESS_KEY_ID: 'AKIDSTUB',
  AWS_SECRET_ACCESS_KEY: 'stub-secret',
  AWS_EC2_METADATA_DISABLED: 'true',
  GITHUB_REPOSITORY: 'org/api',
  GITHUB_SHA: 'abcdef0123456789abcdef0123456789abcdef01',
});

// Short waits on the hosts, so execution-timeout fits in a short rollout timeout.
const inputs = {
  image: IMAGE,
  'container-name': 'api',
  'instance-ids': `${A}\n${B}`,
  timeout: '60s',
  'health-timeout': '5s',
  'stop-timeout': '1s',
};

type Outcome = { status: string; details?: string; stdout?: string; stderr?: string };

/** An SSM where each instance is InProgress for `afterMs` after SendCommand, then `outcome`. */
function scriptedSsm(outcomes: Record<string, Outcome>, afterMs = 500) {
  let sentAt = 0;
  return (call: AwsCall) => {
    const elapsed = Date.now() - sentAt;
    switch (call.operation) {
      case 'DescribeInstanceInformation':
        return {
          body: {
            InstanceInformationList: Object.keys(outcomes).map((id) => ({
              InstanceId: id,
              PingStatus: 'Online',
            })),
          },
        };
      case 'SendCommand':
        sentAt = Date.now();
        return { body: { Command: { CommandId: COMMAND, Status: 'Pending' } } };
      case 'ListCommandInvocations':
        return {
          body: {
            CommandInvocations: Object.entries(outcomes).map(([id, o]) => ({
              CommandId: COMMAND,
              InstanceId: id,
              Status: elapsed < afterMs ? 'InProgress' : o.status,
              StatusDetails: elapsed < afterMs ? 'InProgress' : (o.details ?? o.status),
            })),
          },
        };
      case 'GetCommandInvocation': {
        const o = outcomes[String(call.input.InstanceId)] as Outcome;
        return {
          body: {
            CommandId: COMMAND,
            InstanceId: call.input.InstanceId,
            Status: o.status,
            StatusDetails: o.details ?? o.status,
            StandardOutputContent: o.stdout ?? '',
            StandardErrorContent: o.stderr ?? '',
          },
        };
      }
      case 'CancelCommand':
        return { body: {} };
      default:
        return { error: { type: 'UnknownOperation', message: call.operation } };
    }
  };
}

const result = (outcome: string, extra: Record<string, string> = {}) =>
  `${MARKER}${JSON.stringify({ outcome, container: 'api', newImage: IMAGE, previousImage: OLD, ...extra })}`;

it('deploys to every instance and reports it in outputs and the summary', async () => {
  const s = (stub = await startAwsStub(
    scriptedSsm({
      [A]: { status: 'Success', stdout: `==> deployed\n${result('deployed')}\n` },
      [B]: { status: 'Success', stdout: `==> deployed\n${result('deployed')}\n` },
    }),
  ));
  const run = await runAction(MAIN, inputs, { env: env(s) });
  expect(run.stderr).not.toMatch(/error/i);
  expect(run.code).toBe(0);
  expect(run.outputs).toMatchObject({
    'command-id': COMMAND,
    status: 'succeeded',
    succeeded: '2',
    failed: '0',
  });
  expect(JSON.parse(run.outputs.instances!)).toEqual([
    {
      id: A,
      status: 'Success',
      result: 'deployed',
      previousImage: OLD,
      newImage: IMAGE,
      rolledBack: false,
      durationMs: null,
    },
    {
      id: B,
      status: 'Success',
      result: 'deployed',
      previousImage: OLD,
      newImage: IMAGE,
      rolledBack: false,
      durationMs: null,
    },
  ]);
  expect(run.summary).toContain('deploy-ec2-ssm: deployed (2 of 2 instances deployed)');
  expect(run.summary).toContain(
    `(https://eu-west-1.console.aws.amazon.com/systems-manager/run-command/${COMMAND}?region=eu-west-1)`,
  );
  expect(run.stdout).toContain('2/2 instances done, 0 failed');
  expect(run.state).toMatchObject({ 'command-id': COMMAND, region: 'eu-west-1', finished: 'true' });

  const sent = s.callsOf('SendCommand')[0]?.input as Record<string, unknown>;
  expect(sent).toMatchObject({
    DocumentName: 'AWS-RunShellScript',
    InstanceIds: [A, B],
    MaxConcurrency: '50%',
    MaxErrors: '0',
    TimeoutSeconds: 60,
    Comment: 'org/api@abcdef0 via shipyard',
  });
  const parameters = sent.Parameters as { commands: string[]; executionTimeout: string[] };
  expect(parameters.executionTimeout).toEqual(['60']);
  expect(parameters.commands[0]).toContain('set -euo pipefail');
  expect(s.calls.map((c) => c.operation)[0]).toBe('DescribeInstanceInformation');
  expect(s.callsOf('GetCommandInvocation')).toHaveLength(2);

  // The post step sees a finished main step and leaves the command alone.
  const post = await runAction(POST, {}, { env: env(s), files: run.files });
  expect(post.code).toBe(0);
  expect(s.callsOf('CancelCommand')).toHaveLength(0);
});

it('fails naming the host that rolled back, with its last lines', async () => {
  const s = (stub = await startAwsStub(
    scriptedSsm({
      [A]: { status: 'Success', stdout: result('deployed') },
      [B]: {
        status: 'Failed',
        stdout: [
          '==> rolling back: not healthy after 5s',
          '    | KeyError: DATABASE_URL',
          result('rolled-back', {
            reason: 'not healthy after 5s; the previous container is running again',
          }),
        ].join('\n'),
      },
    }),
  ));
  const run = await runAction(MAIN, inputs, { env: env(s) });
  expect(run.code).toBe(1);
  expect(run.outputs).toMatchObject({ status: 'failed', succeeded: '1', failed: '1' });
  const error = decodeURIComponent(
    (run.stdout.split('\n').find((l) => l.startsWith('::error::')) ?? '').replace(/%0A/g, '\n'),
  );
  expect(error).toContain('deploy-ec2-ssm failed: 1 of 2 instances deployed');
  expect(error).toContain(`- ${B}: failed: the script exited non-zero; not healthy after 5s`);
  expect(error).toContain(`rolled back: ${OLD} runs again`);
  expect(error).toContain('KeyError: DATABASE_URL');
  expect(error).not.toContain(`- ${A}`);
  expect(run.summary).toContain(`#### ${B}: failed`);
});

it('rides out SSM throttling (SDK retries and poll backoff) without failing the rollout', async () => {
  const answer = scriptedSsm({
    [A]: { status: 'Success', stdout: result('deployed') },
    [B]: { status: 'Success', stdout: result('deployed') },
  });
  let calls = 0;
  // Every other call after the send is throttled, whatever it is.
  const s = (stub = await startAwsStub((call) => {
    calls++;
    if (call.operation !== 'SendCommand' && s.callsOf('SendCommand').length > 0 && calls % 2 === 0)
      return { error: { type: 'ThrottlingException', message: 'Rate exceeded' } };
    return answer(call);
  }));
  const run = await runAction(MAIN, inputs, { env: env(s) });
  expect(run.code).toBe(0);
  expect(run.outputs).toMatchObject({ status: 'succeeded', succeeded: '2' });
  expect(s.calls.length).toBeGreaterThan(6);
});

it('rejects bad input without a single AWS call', async () => {
  const s = (stub = await startAwsStub(scriptedSsm({ [A]: { status: 'Success' } })));
  const run = await runAction(
    MAIN,
    { ...inputs, targets: 'tag:Name=web', ports: '80:http', 'run-options': '--privileged' },
    { env: env(s) },
  );
  expect(run.code).toBe(1);
  expect(run.stdout).toContain("input 'instance-ids' and 'targets' are both set");
  expect(run.stdout).toContain("input 'ports' has an invalid mapping '80:http'");
  expect(run.stdout).toContain("input 'run-options' has flag '--privileged'");
  expect(s.calls).toHaveLength(0);
});

/** Starts a deploy whose command never finishes, and signals the step once it is tracking. */
async function signalWhileTracking(signal: NodeJS.Signals) {
  // The host got as far as the swap; its output also carries a workflow command of its own.
  const stdout =
    '==> 12:00:09 stopping the previous container (up to 10s)\n::warning::from the host\n';
  const s = (stub = await startAwsStub(
    scriptedSsm({ [A]: { status: 'Success', stdout } }, 3_600_000),
  ));
  let pid = 0;
  const running = runAction(
    MAIN,
    { ...inputs, 'instance-ids': A },
    { env: env(s), onSpawn: (p) => (pid = p) },
  );
  await until(() => s.callsOf('ListCommandInvocations').length > 0);
  process.kill(pid, signal);
  return { s, run: await running };
}

it('cancels the command itself when the job cancels it (SIGTERM)', async () => {
  const { s, run } = await signalWhileTracking('SIGTERM');
  expect(run.code).toBe(1);
  expect(run.outputs.status).toBe('cancelled');
  expect(run.stdout).toContain('1 host(s) were mid-deploy: the deploy goes on detached');
  expect(s.callsOf('CancelCommand').map((c) => c.input)).toEqual([{ CommandId: COMMAND }]);
  expect(run.state.finished).toBe('true');
});

it('cancels from the post step when the main step was killed while waiting', async () => {
  const { s, run: killed } = await signalWhileTracking('SIGKILL');
  expect(killed.code).toBeNull();
  expect(killed.state).toEqual({
    'command-id': COMMAND,
    'command-ids': JSON.stringify([COMMAND]),
    region: 'eu-west-1',
    image: IMAGE,
  });
  expect(s.callsOf('CancelCommand')).toHaveLength(0);

  const post = await runAction(
    POST,
    {},
    {
      env: env(s),
      files: killed.files,
    },
  );
  expect(post.code).toBe(0);
  expect(post.stdout).toContain(`cancelled command ${COMMAND}`);
  expect(s.callsOf('CancelCommand').map((c) => c.input)).toEqual([{ CommandId: COMMAND }]);
  // Where the host was, and that it finishes by itself; host text never runs as a command.
  const lines = post.stdout.split('\n');
  const at = lines.findIndex((l) =>
    l.startsWith(`${A}: running; last seen: stopping the previous container`),
  );
  expect(at).toBeGreaterThan(0);
  expect(lines[at]).toContain('the deploy goes on detached on the host');
  const token = /^::stop-commands::([0-9a-f]{32})$/.exec(lines[at - 1] ?? '')?.[1];
  expect(token).toBeDefined();
  expect(lines[at + 1]).toBe(`::${token}::`);
});

it('never deploys from the post step, even after a main step killed before it saved anything', async () => {
  const s = (stub = await startAwsStub(scriptedSsm({ [A]: { status: 'Success' } })));
  // The post step runs the same bundle, with every input of the step, and no state at all.
  const post = await runAction(POST, inputs, { env: env(s) });
  expect(post.code).toBe(0);
  expect(s.calls).toEqual([]);
  expect(post.stdout).not.toContain('sent command');
});

async function until(condition: () => boolean): Promise<void> {
  const waited = await poll({
    timeoutMs: 20_000,
    intervalMs: 20,
    attempt: async () =>
      condition() ? { kind: 'done', value: true } : { kind: 'wait', reason: 'not yet' },
  });
  if (waited.outcome !== 'done') throw new Error(`gave up: ${waited.reason}`);
}
