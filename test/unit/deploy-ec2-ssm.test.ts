/** A whole rollout through a scripted SSM: outcomes per host, outputs, summary and failure message. */
import {
  deployEc2Ssm,
  prepareDeployCommand,
  rolloutWaves,
  timeoutCoverageWarning,
  type DeployEc2SsmOptions,
} from '../../src/ssm/deploy.js';
import {
  describeRolloutFailure,
  instancesJson,
  outdatedWarning,
  rolloutSummary,
} from '../../src/ssm/report.js';
import { RESULT_MARKER, type DeployResult } from '../../src/ssm/result.js';
import type { DeploySpec } from '../../src/ssm/spec.js';
import { VirtualClock } from '../../src/virtual-clock.js';
import { lineLogger } from '../../src/logger.js';
import { COMMAND_ID, FakeFleet, succeedsAt, type FakeInstance } from '../../stand-ins/ssm-fleet.js';

const IMAGE = '123456789012.dkr.ecr.eu-west-1.amazonaws.com/api:1.5.0';
const OLD = '123456789012.dkr.ecr.eu-west-1.amazonaws.com/api:1.4.2';
const id = (n: number) => `i-${n.toString(16).padStart(17, '0')}`;
const resultLine = (r: Partial<DeployResult>) =>
  `${RESULT_MARKER}${JSON.stringify({ container: 'api', newImage: IMAGE, ...r })}`;
const deployedOutput = `==> pulling ${IMAGE}\n==> deployed\n${resultLine({ outcome: 'deployed', previousImage: OLD, newImageId: 'sha256:new' })}\n`;

const spec: DeploySpec = {
  image: IMAGE,
  containerName: 'api',
  ports: [{ hostPort: 80, containerPort: 8000, protocol: 'tcp' }],
  env: [['GREETING', 'hello']],
  envFromSsm: [],
  restartPolicy: 'unless-stopped',
  runOptions: [],
  engine: 'docker',
  registryLogin: 'ecr',
  healthTimeoutSeconds: 60,
  stopTimeoutSeconds: 10,
  keepImages: 3,
};

let fleet: FakeFleet;
let clock: VirtualClock;
let lines: string[];
afterEach(() => fleet.restore());

function setUp(instances: FakeInstance[]) {
  clock = new VirtualClock();
  fleet = new FakeFleet(clock, instances);
  lines = [];
}

function options(extra: Partial<DeployEc2SsmOptions> = {}): DeployEc2SsmOptions {
  return {
    ssm: fleet.ssm,
    region: 'eu-west-1',
    spec,
    targets: { kind: 'instances', instanceIds: fleet.instances.map((i) => i.id) },
    documentName: 'AWS-RunShellScript',
    maxConcurrency: '50%',
    maxErrors: '0',
    comment: 'org/api@abc1234 via shipyard',
    timeoutMs: 600_000,
    executionTimeoutMs: 300_000,
    waitForAgentMs: 120_000,
    clock,
    random: () => 0.5,
    logger: lineLogger((line) => lines.push(line)),
    ...extra,
  };
}

it('deploys, rolls back and reports each host in its own words', async () => {
  setUp([
    { id: id(1), steps: succeedsAt(20_000), stdout: deployedOutput },
    {
      id: id(2),
      steps: [
        { at: 0, status: 'InProgress' },
        { at: 75_000, status: 'Failed' },
      ],
      stdout: [
        `==> pulling ${IMAGE}`,
        '==> rolling back: not healthy after 60s: health command failed (exit 22)',
        '    | Traceback (most recent call last):',
        '    | KeyError: DATABASE_URL',
        resultLine({
          outcome: 'rolled-back',
          previousImage: OLD,
          reason: 'not healthy after 60s; the previous container is running again',
        }),
      ].join('\n'),
    },
    { id: id(3), steps: [{ at: 2000, status: 'Failed', details: 'Undeliverable' }] },
  ]);
  const rollout = await deployEc2Ssm(options());

  expect(rollout).toMatchObject({
    status: 'failed',
    succeeded: 1,
    failed: 2,
    commandId: COMMAND_ID,
  });
  expect(JSON.parse(instancesJson(rollout))).toEqual([
    {
      id: id(1),
      status: 'Success',
      result: 'deployed',
      previousImage: OLD,
      newImage: IMAGE,
      rolledBack: false,
      durationMs: 19_000,
    },
    {
      id: id(2),
      status: 'Failed',
      result: 'rolled-back',
      previousImage: OLD,
      newImage: IMAGE,
      rolledBack: true,
      durationMs: 75_000,
    },
    {
      id: id(3),
      status: 'Undeliverable',
      result: null,
      previousImage: null,
      newImage: IMAGE,
      rolledBack: false,
      durationMs: null,
    },
  ]);

  const message = describeRolloutFailure(rollout);
  expect(message.split('\n')[0]).toBe(
    `deploy-ec2-ssm failed: 1 of 3 instances deployed (command ${COMMAND_ID})`,
  );
  expect(message).toContain(
    `- ${id(2)}: failed: the script exited non-zero; not healthy after 60s; the previous container is running again; rolled back: ${OLD} runs again`,
  );
  expect(message).toContain('        | KeyError: DATABASE_URL');
  expect(message).toContain(
    `- ${id(3)}: undeliverable: the instance is stopped, gone, or its SSM agent is not registered; nothing was changed on it`,
  );
  expect(message).not.toContain(`- ${id(1)}`);
  expect(message).toContain(
    `console: https://eu-west-1.console.aws.amazon.com/systems-manager/run-command/${COMMAND_ID}?region=eu-west-1`,
  );

  const summary = rolloutSummary(rollout);
  expect(summary).toContain('### deploy-ec2-ssm: failed (1 of 3 instances deployed)');
  expect(summary).toContain(`Command [${COMMAND_ID}](https://eu-west-1.console.aws.amazon.com/`);
  // Failed hosts first, then the deployed one.
  const rows = summary.split('\n').filter((l) => l.startsWith('| i-'));
  expect(rows.map((r) => r.split(' | ')[0])).toEqual([`| ${id(2)}`, `| ${id(3)}`, `| ${id(1)}`]);
  expect(rows[2]).toBe(`| ${id(1)} | succeeded | deployed | ${OLD} | ${IMAGE} | 19s |`);
  expect(summary).toContain(`#### ${id(2)}: failed: the script exited non-zero;`);
  expect(summary).toContain('KeyError: DATABASE_URL');

  // One log line per failed host as it finishes, with the reason.
  expect(lines.filter((l) => l.startsWith(`${id(2)}: `))).toHaveLength(1);
  expect(lines.filter((l) => l.startsWith(`${id(3)}: `))).toHaveLength(1);
});

it('sends the host script, wrapped for sh, in the instances own region', async () => {
  setUp([{ id: id(1), steps: succeedsAt(5000), stdout: deployedOutput }]);
  const rollout = await deployEc2Ssm(
    options({ region: 'eu-central-1', executionTimeoutMs: 150_000 }),
  );
  expect(rollout.status).toBe('succeeded');
  const input = fleet.callsOf('SendCommand')[0]?.input as {
    Parameters: { commands: string[]; executionTimeout: string[] };
  };
  expect(input.Parameters.executionTimeout).toEqual(['150']);
  expect(input.Parameters.commands).toHaveLength(1);
  const sent = input.Parameters.commands[0] as string;
  expect(sent).toContain(prepareDeployCommand({ ...spec, region: 'eu-central-1' }).script);
  expect(sent).toMatch(/^region='?eu-central-1'?$/m);
  expect(sent.split('\n')[0]).toMatch(/^# shipyard deploy-ec2-ssm/);
  // Agents were checked before sending.
  expect(fleet.calls.map((c) => c.op).indexOf('DescribeInstanceInformation')).toBe(0);
});

it('finds the result line on stderr when SSM truncated stdout, and says where the full output is', async () => {
  const cut = `${'progress line\n'.repeat(1700)}--output truncated--`;
  setUp([
    {
      id: id(1),
      steps: [
        { at: 0, status: 'InProgress' },
        { at: 9000, status: 'Failed' },
      ],
      stdout: cut,
      stderr: resultLine({ outcome: 'failed-no-previous', reason: 'the new container stopped' }),
    },
  ]);
  const withoutStore = await deployEc2Ssm(options());
  expect(withoutStore.instances[0]).toMatchObject({
    result: 'failed-no-previous',
    truncated: true,
  });
  expect(describeRolloutFailure(withoutStore)).toContain(
    'no previous container to roll back to: nothing runs; SSM truncated its output',
  );
  expect(rolloutSummary(withoutStore)).toContain(
    'set output-s3-bucket or cloudwatch-log-group for complete logs',
  );

  fleet.restore();
  setUp(fleet.instances);
  const withStore = await deployEc2Ssm(
    options({
      output: { s3BucketName: 'logs', s3KeyPrefix: 'api', cloudWatchLogGroup: '/deploys' },
    }),
  );
  expect(rolloutSummary(withStore)).toContain(
    'the complete output is in s3://logs/api/ and CloudWatch Logs group /deploys',
  );
});

it('sends nothing when no instance matched the tags', async () => {
  setUp([]);
  fleet.pings = () => [];
  const rollout = await deployEc2Ssm(
    options({
      targets: { kind: 'tags', tags: [{ key: 'Name', values: ['web'] }] },
      waitForAgentMs: 30_000,
    }),
  );
  expect(rollout).toMatchObject({ status: 'failed', succeeded: 0, failed: 0 });
  expect(rollout.reason).toBe(
    'nothing was sent: no instance registered with SSM matches tag:Name=web in eu-west-1 after 30s (wait-for-agent)',
  );
  expect(fleet.callsOf('SendCommand')).toHaveLength(0);
  expect(describeRolloutFailure(rollout)).toContain('nothing was sent');
});

it('fails when SSM itself matched no instance (agent check skipped)', async () => {
  setUp([]);
  fleet.targetCount = 0;
  const rollout = await deployEc2Ssm(
    options({
      targets: { kind: 'tags', tags: [{ key: 'Name', values: ['web'] }] },
      waitForAgentMs: 0,
    }),
  );
  expect(fleet.callsOf('DescribeInstanceInformation')).toHaveLength(0);
  expect(rollout.status).toBe('failed');
  expect(rollout.reason).toBe(
    'no instance matched the targets (SSM: no instance matched the targets)',
  );
});

it('times out, cancels and counts the unfinished hosts as failed', async () => {
  setUp([
    { id: id(1), steps: succeedsAt(5000), stdout: deployedOutput },
    { id: id(2), steps: [{ at: 1000, status: 'InProgress' }] },
  ]);
  const rollout = await deployEc2Ssm(options({ timeoutMs: 120_000 }));
  expect(rollout).toMatchObject({ status: 'timed-out', succeeded: 1, failed: 1 });
  expect(fleet.callsOf('CancelCommand')).toHaveLength(1);
  expect(describeRolloutFailure(rollout)).toMatch(
    /^deploy-ec2-ssm timed out: 1 of 2 instances deployed .*\nthe rollout did not finish within 2m00s \(timeout\)/,
  );
});

it('keeps the summary readable for a large fleet: failed hosts first, at most 100 rows', async () => {
  const instances = Array.from({ length: 150 }, (_, n) =>
    n === 120
      ? {
          id: id(n + 1),
          steps: [{ at: 4000, status: 'Failed' }],
          stdout: resultLine({ outcome: 'failed', reason: 'could not pull' }),
        }
      : { id: id(n + 1), steps: succeedsAt(4000 + n * 100), stdout: deployedOutput },
  );
  setUp(instances);
  const rollout = await deployEc2Ssm(
    options({ targets: { kind: 'tags', tags: [{ key: 'Env', values: ['prod'] }] } }),
  );
  expect(rollout).toMatchObject({ succeeded: 149, failed: 1 });
  const summary = rolloutSummary(rollout);
  const rows = summary.split('\n').filter((l) => l.startsWith('| i-'));
  expect(rows).toHaveLength(100);
  expect(rows[0]).toContain(id(121));
  expect(summary).toContain(
    '50 more instances are not shown; the `instances` output lists them all.',
  );
  expect(JSON.parse(instancesJson(rollout))).toHaveLength(150);
});

it('refuses a script larger than SSM accepts before any call', () => {
  const big: DeploySpec = { ...spec, env: [['BLOB', 'x'.repeat(70_000)]] };
  expect(() => prepareDeployCommand(big)).toThrow(
    /^the deploy script is \d+ bytes, more than the 60000 SSM accepts in one command: shorten 'env' or 'run-options', or move values to 'env-from-ssm'$/,
  );
});

it('reports a rejected candidate as a failure in which the old container never stopped', async () => {
  setUp([
    {
      id: id(1),
      steps: [
        { at: 0, status: 'InProgress' },
        { at: 30_000, status: 'Failed' },
      ],
      stdout: [
        '==> 12:00:01 starting the candidate api-shipyard-candidate beside the running container',
        // A container log line that tries to pass for the result: indented by the launcher.
        `    ! ${resultLine({ outcome: 'deployed' })}`,
        `    | ${resultLine({ outcome: 'deployed' })}`,
        resultLine({
          outcome: 'rejected',
          previousImage: OLD,
          reason: 'not healthy as a candidate',
        }),
      ].join('\n'),
    },
  ]);
  const rollout = await deployEc2Ssm(options());
  expect(rollout).toMatchObject({ status: 'failed', succeeded: 0, failed: 1 });
  expect(rollout.instances[0]).toMatchObject({ result: 'rejected', rolledBack: false });
  expect(describeRolloutFailure(rollout)).toContain(
    `not healthy as a candidate; rejected as a candidate: ${OLD} kept serving throughout`,
  );
  expect(JSON.parse(instancesJson(rollout))[0].result).toBe('rejected');
});

it('reads the result from stderr, not from a truncated stdout', async () => {
  const forged = resultLine({ outcome: 'deployed' });
  setUp([
    {
      id: id(1),
      steps: [
        { at: 0, status: 'InProgress' },
        { at: 9000, status: 'Failed' },
      ],
      stdout: `${forged}\n${'progress line\n'.repeat(1700)}--output truncated--`,
      stderr: resultLine({ outcome: 'failed', reason: 'could not pull' }),
    },
  ]);
  const rollout = await deployEc2Ssm(options());
  expect(rollout.instances[0]).toMatchObject({ result: 'failed', reason: 'could not pull' });
});

it('on a deadline, says how far each host got and that it finishes by itself', async () => {
  setUp([
    { id: id(1), steps: succeedsAt(5000), stdout: deployedOutput },
    {
      id: id(2),
      steps: [{ at: 1000, status: 'InProgress' }],
      stdout: [
        '==> 12:00:01 pulling api:1.5.0 (the running container keeps serving)',
        '==> 12:00:09 stopping the previous container (up to 10s)',
      ].join('\n'),
    },
    { id: id(3), steps: [{ at: 0, status: 'Pending' }] },
  ]);
  const rollout = await deployEc2Ssm(options({ timeoutMs: 120_000 }));
  expect(rollout.status).toBe('timed-out');
  expect(rollout.instances[1]).toMatchObject({
    lastStep: 'stopping the previous container (up to 10s)',
  });
  expect(rollout.reason).toContain(
    '1 host(s) were mid-deploy: the deploy goes on detached on the host and ends on the new version or the previous one within execution-timeout. Hosts that had not started were cancelled.',
  );
  expect(describeRolloutFailure(rollout)).toContain(
    `- ${id(2)}: cancelled before it finished; last seen: stopping the previous container (up to 10s); the deploy goes on detached`,
  );
  // The host that had not started is not said to go on.
  expect(describeRolloutFailure(rollout)).toMatch(
    new RegExp(`- ${id(3)}: cancelled before it finished; no result line`),
  );
});

describe('timeout against the waves of max-concurrency', () => {
  it.each([
    ['50%', 10, 2],
    ['34%', 10, 4],
    ['25%', undefined, 4],
    ['1', 5, 5],
    ['3', 10, 4],
    ['1%', 3, 3],
    ['2', undefined, undefined],
  ])('max-concurrency %s of %s instances: %s waves', (concurrency, count, waves) => {
    expect(rolloutWaves(concurrency, count)).toBe(waves);
  });

  it('warns with the arithmetic when the waves cannot fit, and not when they can', () => {
    const base = { executionTimeoutMs: 300_000, maxConcurrency: '25%', instanceCount: 8 };
    expect(timeoutCoverageWarning({ ...base, timeoutMs: 1_200_000 })).toBeUndefined();
    expect(timeoutCoverageWarning({ ...base, timeoutMs: 600_000 })).toBe(
      'timeout (10m00s) may not cover the rollout: max-concurrency 25% of 8 instances means 4 waves, and 4 × execution-timeout (5m00s) = 20m00s. Hosts of the last waves would be cancelled before they start; raise timeout or max-concurrency.',
    );
    expect(
      timeoutCoverageWarning({
        ...base,
        maxConcurrency: '2',
        instanceCount: undefined,
        timeoutMs: 1,
      }),
    ).toBeUndefined();
  });
});

it('counts a host that a newer run had deployed as left alone, not failed, and warns', async () => {
  const why =
    'run 2000 deployed api on this host after run 1999; this older run is not applied (force: true applies it)';
  setUp([
    { id: id(1), steps: succeedsAt(5000), stdout: deployedOutput },
    {
      id: id(2),
      steps: succeedsAt(3000),
      stdout: resultLine({ outcome: 'outdated', reason: why }),
    },
  ]);
  const rollout = await deployEc2Ssm(options());
  expect(rollout).toMatchObject({ status: 'succeeded', succeeded: 1, outdated: 1, failed: 0 });
  expect(outdatedWarning(rollout)).toBe(
    `1 host(s) were not changed: a newer workflow run had already deployed to them (${id(2)}: ${why}). Set force: true to deploy an older run on purpose.`,
  );
  expect(rolloutSummary(rollout)).toContain(`| ${id(2)} | left alone (newer run) | outdated |`);
});

describe('offline SSM agents in a tag group', () => {
  const tags = { kind: 'tags' as const, tags: [{ key: 'Service', values: ['api'] }] };
  const longAgo = () => new Date(clock.now() - 60 * 60_000);

  it('skips an agent offline for long, deploys the others by ID, and calls it partial', async () => {
    setUp([
      { id: id(1), steps: succeedsAt(5000), stdout: deployedOutput },
      { id: id(2), steps: succeedsAt(5000), stdout: deployedOutput },
    ]);
    fleet.pings = () => [
      { id: id(1), ping: 'Online' },
      { id: id(2), ping: 'Online' },
      { id: id(3), ping: 'ConnectionLost', lastPing: longAgo() },
    ];
    const rollout = await deployEc2Ssm(options({ targets: tags }));
    expect(fleet.callsOf('SendCommand').map((c) => c.input.InstanceIds)).toEqual([[id(1), id(2)]]);
    expect(fleet.callsOf('SendCommand')[0]?.input.Targets).toBeUndefined();
    expect(rollout).toMatchObject({ status: 'partial', succeeded: 2, skipped: 1, failed: 0 });
    expect(describeRolloutFailure(rollout)).toContain(
      `- ${id(3)}: skipped: its SSM agent is offline (ConnectionLost since 1969-12-31 23:00 UTC)`,
    );
    expect(JSON.parse(instancesJson(rollout))[2]).toMatchObject({ id: id(3), status: 'Skipped' });
    // Not held up: no waiting for the offline agent.
    expect(rollout.elapsedMs).toBeLessThan(30_000);

    fleet.restore();
    setUp(fleet.instances);
    fleet.pings = () => [
      { id: id(1), ping: 'Online' },
      { id: id(2), ping: 'Online' },
      { id: id(3), ping: 'ConnectionLost', lastPing: longAgo() },
    ];
    const allowed = await deployEc2Ssm(options({ targets: tags, skipOffline: true }));
    expect(allowed.status).toBe('succeeded');
  });

  it('waits for an agent that lost its connection a moment ago (a reboot)', async () => {
    setUp([
      { id: id(1), steps: succeedsAt(5000), stdout: deployedOutput },
      { id: id(2), steps: succeedsAt(5000), stdout: deployedOutput },
    ]);
    fleet.pings = (now) => [
      { id: id(1), ping: 'Online' },
      now < 20_000
        ? { id: id(2), ping: 'ConnectionLost', lastPing: new Date(now - 60_000) }
        : { id: id(2), ping: 'Online' },
    ];
    const rollout = await deployEc2Ssm(options({ targets: tags }));
    expect(rollout).toMatchObject({ status: 'succeeded', succeeded: 2 });
    expect(fleet.callsOf('SendCommand')[0]?.at).toBeGreaterThanOrEqual(20_000);
  });

  it('sends one command per 50 IDs, keeping max-errors across them', async () => {
    const many = Array.from({ length: 120 }, (_, n) => ({
      id: id(100 + n),
      // Two failures in the first 50, none after.
      steps:
        n < 2
          ? [
              { at: 0, status: 'InProgress' },
              { at: 3000, status: 'Failed' },
            ]
          : succeedsAt(3000),
      stdout: n < 2 ? resultLine({ outcome: 'rejected', reason: 'unhealthy' }) : deployedOutput,
    }));
    setUp(many);
    fleet.pings = () => [
      ...many.map((i) => ({ id: i.id, ping: 'Online' })),
      { id: id(999), ping: 'ConnectionLost', lastPing: longAgo() },
    ];
    const rollout = await deployEc2Ssm(options({ targets: tags, maxErrors: '3' }));
    const sends = fleet.callsOf('SendCommand').map((c) => c.input);
    expect(sends.map((c) => (c.InstanceIds as string[]).length)).toEqual([50, 50, 20]);
    expect(sends.map((c) => c.MaxErrors)).toEqual(['3', '1', '1']);
    expect(rollout.commandIds).toHaveLength(3);
    expect(rollout).toMatchObject({ status: 'failed', succeeded: 118, failed: 2, skipped: 1 });

    fleet.restore();
    setUp(many);
    fleet.pings = () => [
      ...many.map((i) => ({ id: i.id, ping: 'Online' })),
      { id: id(999), ping: 'ConnectionLost', lastPing: longAgo() },
    ];
    const stopped = await deployEc2Ssm(options({ targets: tags, maxErrors: '1' }));
    // The budget was spent in the first 50: nothing more is sent.
    expect(fleet.callsOf('SendCommand')).toHaveLength(1);
    expect(stopped.instances.filter((i) => i.status === 'Terminated')).toHaveLength(70);
    expect(stopped.status).toBe('failed');
  });
});
