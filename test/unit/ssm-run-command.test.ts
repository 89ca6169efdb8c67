/** Following a Run Command to the end: statuses, pagination, throttling, deadlines, truncated output. */
import { runCommand, type RunCommandOptions } from '../../src/ssm/run-command.js';
import { VirtualClock } from '../../src/virtual-clock.js';
import { lineLogger } from '../../src/logger.js';
import { COMMAND_ID, FakeFleet, succeedsAt, type FakeInstance } from '../../stand-ins/ssm-fleet.js';

let fleet: FakeFleet;
let clock: VirtualClock;
let logs: Array<{ at: number; line: string }>;
afterEach(() => fleet.restore());

function setUp(instances: FakeInstance[]) {
  clock = new VirtualClock();
  fleet = new FakeFleet(clock, instances);
  logs = [];
}

function options(extra: Partial<RunCommandOptions> = {}): RunCommandOptions {
  return {
    ssm: fleet.ssm,
    region: 'eu-west-1',
    targets: { kind: 'instances', instanceIds: fleet.instances.map((i) => i.id) },
    documentName: 'AWS-RunShellScript',
    commands: 'echo hello',
    executionTimeoutSeconds: 300,
    maxConcurrency: '50%',
    maxErrors: '0',
    comment: 'org/api@abc1234 via shipyard',
    timeoutMs: 10 * 60_000,
    clock,
    random: () => 0.5,
    logger: lineLogger((line) => logs.push({ at: clock.now(), line })),
    ...extra,
  };
}

const id = (n: number) => `i-${n.toString(16).padStart(17, '0')}`;

it('sends one command with the script, the limits and the rollout settings', async () => {
  setUp([{ id: id(1), steps: succeedsAt(5000) }]);
  const sent: string[] = [];
  const result = await runCommand(
    options({
      comment: 'x'.repeat(150),
      output: {
        s3BucketName: 'logs-bucket',
        s3KeyPrefix: 'deploys',
        cloudWatchLogGroup: '/ssm/deploys',
      },
      onSent: (commandId) => sent.push(commandId),
      timeoutMs: 15_000,
    }),
  );
  expect(sent).toEqual([COMMAND_ID]);
  expect(fleet.callsOf('SendCommand')).toHaveLength(1);
  expect(fleet.callsOf('SendCommand')[0]?.input).toEqual({
    DocumentName: 'AWS-RunShellScript',
    InstanceIds: [id(1)],
    Parameters: { commands: ['echo hello'], executionTimeout: ['300'] },
    TimeoutSeconds: 30, // SSM's minimum delivery timeout
    MaxConcurrency: '50%',
    MaxErrors: '0',
    Comment: 'x'.repeat(100),
    OutputS3BucketName: 'logs-bucket',
    OutputS3KeyPrefix: 'deploys',
    CloudWatchOutputConfig: {
      CloudWatchLogGroupName: '/ssm/deploys',
      CloudWatchOutputEnabled: true,
    },
  });
  expect(result.outcome).toBe('finished');
  expect(result.consoleUrl).toBe(
    `https://eu-west-1.console.aws.amazon.com/systems-manager/run-command/${COMMAND_ID}?region=eu-west-1`,
  );
});

it('targets tags through SSM Targets', async () => {
  setUp([{ id: id(1), steps: succeedsAt(2000) }]);
  await runCommand(
    options({ targets: { kind: 'tags', tags: [{ key: 'Name', values: ['web', 'api'] }] } }),
  );
  const input = fleet.callsOf('SendCommand')[0]?.input;
  expect(input?.Targets).toEqual([{ Key: 'tag:Name', Values: ['web', 'api'] }]);
  expect(input).not.toHaveProperty('InstanceIds');
});

it('follows each instance through its statuses and reads the output of each one once', async () => {
  setUp([
    { id: id(1), steps: succeedsAt(8000), stdout: 'ok 1' },
    {
      id: id(2),
      steps: [
        { at: 0, status: 'Pending' },
        { at: 2000, status: 'InProgress' },
        { at: 12_000, status: 'Failed' },
      ],
      stdout: 'pulling\nhealth check failed',
      stderr: 'boom',
    },
    {
      id: id(3),
      steps: [
        { at: 0, status: 'Pending' },
        { at: 500, status: 'Delayed' },
        { at: 9000, status: 'InProgress' },
        { at: 20_000, status: 'Success' },
      ],
    },
    {
      id: id(4),
      steps: [
        { at: 1000, status: 'InProgress' },
        { at: 30_000, status: 'TimedOut', details: 'Execution Timed Out' },
      ],
    },
    { id: id(5), steps: [{ at: 3000, status: 'Failed', details: 'Undeliverable' }] },
    { id: id(6), steps: [{ at: 4000, status: 'Cancelled', details: 'Terminated' }] },
  ]);
  const result = await runCommand(options());
  expect(result.outcome).toBe('finished');
  expect(result.invocations.map((i) => [i.instanceId, i.state.key, i.state.succeeded])).toEqual([
    [id(1), 'Success', true],
    [id(2), 'Failed', false],
    [id(3), 'Success', true],
    [id(4), 'ExecutionTimedOut', false],
    [id(5), 'Undeliverable', false],
    [id(6), 'Terminated', false],
  ]);
  const failed = result.invocations[1];
  expect(failed?.stdout).toBe('pulling\nhealth check failed');
  expect(failed?.stderr).toBe('boom');
  expect(result.invocations[0]?.durationMs).toBe(7000);
  // Undeliverable and Terminated never ran: nothing to read. Every other one is read once.
  const reads = fleet.callsOf('GetCommandInvocation').map((c) => c.input.InstanceId);
  expect(reads.sort()).toEqual([id(1), id(2), id(3), id(4)]);
  expect(result.invocations[4]?.state.words).toMatch(/undeliverable: the instance is stopped/);
  expect(result.invocations[5]?.state.words).toMatch(/max-errors/);
  expect(result.invocations[3]?.state.words).toMatch(/longer than execution-timeout/);
  // One line per change of the counts, in the shape people read.
  const lines = logs.map((l) => l.line);
  expect(lines).toContain('6/6 instances done, 4 failed');
  expect(lines.filter((l) => l === '6/6 instances done, 4 failed')).toHaveLength(1);
  expect(lines.some((l) => /^\d\/6 instances done, \d failed, \d running$/.test(l))).toBe(true);
  // Instance IDs are known: ListCommands is never needed.
  expect(fleet.callsOf('ListCommands')).toHaveLength(0);
});

it('takes "not visible yet" right after sending as waiting, not as an error', async () => {
  setUp([{ id: id(1), steps: succeedsAt(4000), stdout: 'done' }]);
  fleet.invisibleFor = 2500;
  fleet.failNext('GetCommandInvocation', 'InvocationDoesNotExist');
  const result = await runCommand(options());
  expect(result.outcome).toBe('finished');
  expect(result.invocations[0]?.stdout).toBe('done');
  expect(fleet.callsOf('GetCommandInvocation')).toHaveLength(2);
  expect(
    fleet.callsOf('ListCommandInvocations').filter((c) => c.at - fleet.sentAt! < 2500).length,
  ).toBeGreaterThan(0);
});

it('follows 1,000 tag-targeted instances with one call per 50 instances per poll and one read each', async () => {
  const instances = Array.from({ length: 1000 }, (_, n) => ({
    id: id(n + 1),
    // SSM lists targets as it resolves them, and they finish over a couple of minutes.
    listedAfter: n < 600 ? 0 : 5000,
    steps: succeedsAt(10_000 + (n % 40) * 3000),
    stdout: `host ${n}`,
  }));
  setUp(instances);
  const result = await runCommand(
    options({ targets: { kind: 'tags', tags: [{ key: 'Env', values: ['prod'] }] } }),
  );
  expect(result.outcome).toBe('finished');
  expect(result.invocations).toHaveLength(1000);
  expect(result.invocations.every((i) => i.state.succeeded)).toBe(true);
  // In virtual time every call of one poll happens at the same instant: group by it.
  const statusCalls = new Map<number, number>();
  for (const call of fleet.calls) {
    if (call.op === 'ListCommandInvocations')
      expect(call.input).toMatchObject({ Details: false, MaxResults: 50 });
    if (call.op === 'ListCommandInvocations' || call.op === 'ListCommands')
      statusCalls.set(call.at, (statusCalls.get(call.at) ?? 0) + 1);
  }
  expect(statusCalls.size).toBeGreaterThan(5);
  for (const [at, calls] of statusCalls) {
    const listed = at - fleet.sentAt! < 5000 ? 600 : 1000;
    expect(calls).toBeLessThanOrEqual(Math.ceil(listed / 50));
  }
  // Every poll but the last lists every page.
  const pages = [...statusCalls.values()];
  expect(pages.slice(0, -1).every((n) => n === 12 || n === 20)).toBe(true);
  // The last poll: SSM confirms the command is over, with one call.
  expect(pages.at(-1)).toBe(1);
  expect(fleet.callsOf('ListCommands')).toHaveLength(1);
  // Output read once per instance, in all.
  const reads = fleet.callsOf('GetCommandInvocation').map((c) => c.input.InstanceId);
  expect(reads).toHaveLength(1000);
  expect(new Set(reads).size).toBe(1000);
});

it('rides out throttling in the middle of a rollout without failing it', async () => {
  setUp([
    { id: id(1), steps: succeedsAt(5000), stdout: 'one' },
    { id: id(2), steps: succeedsAt(15_000), stdout: 'two' },
  ]);
  // Throttled after the first poll: listing twice, then the first output read.
  const realSend = fleet.ssm.send.bind(fleet.ssm);
  let throttled = false;
  fleet.ssm.send = ((command: { constructor: { name: string } }, ...rest: unknown[]) => {
    if (!throttled && clock.now() - (fleet.sentAt ?? Infinity) > 4000) {
      throttled = true;
      fleet.failNext('ListCommandInvocations', 'ThrottlingException', 2);
      fleet.failNext('GetCommandInvocation', 'ThrottlingException', 1);
    }
    return (realSend as (...a: unknown[]) => unknown)(command, ...rest);
  }) as typeof fleet.ssm.send;
  const result = await runCommand(options());
  expect(throttled).toBe(true);
  expect(result.outcome).toBe('finished');
  expect(result.invocations.map((i) => [i.state.key, i.stdout])).toEqual([
    ['Success', 'one'],
    ['Success', 'two'],
  ]);
  expect(fleet.callsOf('CancelCommand')).toHaveLength(0);
});

it('cancels the command when the deadline passes, and says where each instance was', async () => {
  setUp([
    { id: id(1), steps: succeedsAt(5000), stdout: 'fine' },
    { id: id(2), steps: [{ at: 1000, status: 'InProgress' }] },
  ]);
  const result = await runCommand(options({ timeoutMs: 60_000 }));
  expect(result.outcome).toBe('deadline');
  expect(fleet.callsOf('CancelCommand').map((c) => c.input)).toEqual([{ CommandId: COMMAND_ID }]);
  expect(fleet.cancelledAt).toBeGreaterThanOrEqual(60_000);
  expect(result.reason).toMatch(/did not finish within 1m00s \(timeout\)/);
  expect(result.invocations.map((i) => i.state.key)).toEqual(['Success', 'Cancelled']);
  expect(logs.map((l) => l.line).join('\n')).toMatch(/cancelling command/);
});

it('cancels the command when the workflow is cancelled', async () => {
  setUp([{ id: id(1), steps: [{ at: 1000, status: 'InProgress' }] }]);
  const abort = new AbortController();
  const pending = runCommand(options({ signal: abort.signal }));
  await clock.sleep(20_000);
  abort.abort();
  const result = await pending;
  expect(result.outcome).toBe('cancelled');
  expect(fleet.callsOf('CancelCommand')).toHaveLength(1);
  expect(clock.now()).toBeLessThan(25_000);
});

it('says when SSM truncated the output', async () => {
  setUp([
    {
      id: id(1),
      steps: [
        { at: 0, status: 'InProgress' },
        { at: 3000, status: 'Failed' },
      ],
      stdout: `${'x'.repeat(23_980)}\n--output truncated--`,
    },
    { id: id(2), steps: succeedsAt(3000), stdout: 'short' },
  ]);
  const result = await runCommand(options());
  expect(result.invocations.map((i) => i.truncated)).toEqual([true, false]);
});

it('waits for tag targets SSM has not listed yet, through the command counts', async () => {
  setUp([
    { id: id(1), steps: succeedsAt(2000) },
    { id: id(2), steps: succeedsAt(40_000), listedAfter: 30_000 },
  ]);
  const result = await runCommand(
    options({ targets: { kind: 'tags', tags: [{ key: 'Name', values: ['web'] }] } }),
  );
  expect(result.outcome).toBe('finished');
  expect(result.invocations.map((i) => i.state.key)).toEqual(['Success', 'Success']);
  expect(result.elapsedMs).toBeGreaterThanOrEqual(40_000);
});

it('finishes with no invocation when no instance matched the tags', async () => {
  setUp([]);
  fleet.targetCount = 0;
  const result = await runCommand(
    options({ targets: { kind: 'tags', tags: [{ key: 'Name', values: ['nothing'] }] } }),
  );
  expect(result.outcome).toBe('finished');
  expect(result.invocations).toEqual([]);
  expect(result.commandStatus).toBe('no instance matched the targets');
});

it('stops following, without cancelling, when it may not list invocations', async () => {
  setUp([{ id: id(1), steps: succeedsAt(5000) }]);
  fleet.failNext('ListCommandInvocations', 'AccessDeniedException');
  const result = await runCommand(options());
  expect(result.outcome).toBe('tracking-failed');
  expect(result.reason).toMatch(/AccessDeniedException.*goes on running: https:\/\//);
  expect(fleet.callsOf('CancelCommand')).toHaveLength(0);
});

it('is never silent for more than a minute during a long rollout', async () => {
  setUp([{ id: id(1), steps: succeedsAt(300_000) }]);
  const result = await runCommand(options());
  expect(result.outcome).toBe('finished');
  const times = [0, ...logs.map((l) => l.at), clock.now()];
  const gaps = times.slice(1).map((t, i) => t - times[i]!);
  expect(Math.max(...gaps)).toBeLessThanOrEqual(75_000); // 60 s plus one poll interval at most
  expect(logs.some((l) => l.line.startsWith('still waiting after'))).toBe(true);
});
