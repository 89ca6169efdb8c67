/** Waiting for the SSM agents of the targets to be Online before sending anything. */
import { waitForAgents, type WaitForAgentsOptions } from '../../src/ssm/agents.js';
import { VirtualClock } from '../../src/virtual-clock.js';
import { lineLogger } from '../../src/logger.js';
import { FakeFleet } from '../../stand-ins/ssm-fleet.js';

let fleet: FakeFleet;
let clock: VirtualClock;
const lines: string[] = [];
beforeEach(() => {
  clock = new VirtualClock();
  fleet = new FakeFleet(clock, []);
  lines.length = 0;
});
afterEach(() => fleet.restore());

const A = 'i-0aaaaaaaaaaaaaaaa';
const B = 'i-0bbbbbbbbbbbbbbbb';

function options(extra: Partial<WaitForAgentsOptions> = {}): WaitForAgentsOptions {
  return {
    ssm: fleet.ssm,
    targets: { kind: 'instances', instanceIds: [A, B] },
    region: 'eu-west-1',
    timeoutMs: 120_000,
    clock,
    random: () => 0.5,
    logger: lineLogger((line) => lines.push(line)),
    ...extra,
  };
}

it('waits while an agent is offline and goes on once every one is Online', async () => {
  // B's agent registers 20 s in (a fresh instance), then reports ConnectionLost, then Online.
  fleet.pings = (now) => [
    { id: A, ping: 'Online' },
    ...(now < 20_000 ? [] : [{ id: B, ping: now < 35_000 ? 'ConnectionLost' : 'Online' }]),
  ];
  const result = await waitForAgents(options());
  expect(result).toMatchObject({ ready: true, instanceIds: [A, B] });
  expect(result.elapsedMs).toBeGreaterThanOrEqual(35_000);
  expect(result.elapsedMs).toBeLessThan(60_000);
  expect(fleet.callsOf('DescribeInstanceInformation')[0]?.input).toMatchObject({
    Filters: [{ Key: 'InstanceIds', Values: [A, B] }],
    MaxResults: 50,
  });
  expect(lines).toEqual([`SSM agents online: 1/2; waiting for ${B}`, 'SSM agents online: 2/2']);
});

it('gives up at its deadline naming each instance that is not online, and why', async () => {
  fleet.pings = () => [{ id: A, ping: 'ConnectionLost' }];
  const result = await waitForAgents(options({ timeoutMs: 30_000 }));
  expect(result.ready).toBe(false);
  if (result.ready) return;
  expect(result.notOnline).toEqual([
    { instanceId: A, pingStatus: 'ConnectionLost' },
    { instanceId: B, pingStatus: 'not registered' },
  ]);
  expect(result.reason).toMatch(
    new RegExp(
      `^SSM agents not online: ${A} \\(ConnectionLost: agent not reporting .*\\); ${B} \\(not registered: not registered with SSM .*\\) after 30s \\(wait-for-agent\\)$`,
    ),
  );
  expect(clock.now()).toBe(30_000);
});

it('resolves tag targets with the same filters as SSM, over every page', async () => {
  const ids = Array.from({ length: 120 }, (_, n) => `i-${String(n).padStart(17, '0')}`);
  fleet.pings = () => ids.map((id) => ({ id, ping: 'Online' }));
  const result = await waitForAgents(
    options({
      targets: {
        kind: 'tags',
        tags: [
          { key: 'Name', values: ['web', 'api'] },
          { key: 'Env', values: ['prod'] },
        ],
      },
    }),
  );
  expect(result).toMatchObject({ ready: true });
  if (result.ready) expect(result.instanceIds).toHaveLength(120);
  const calls = fleet.callsOf('DescribeInstanceInformation');
  expect(calls).toHaveLength(3);
  expect(calls.map((c) => c.input.NextToken)).toEqual([undefined, '50', '100']);
  expect(calls[0]?.input.Filters).toEqual([
    { Key: 'tag:Name', Values: ['web', 'api'] },
    { Key: 'tag:Env', Values: ['prod'] },
  ]);
});

it('says that no instance matched the tags when none ever does', async () => {
  fleet.pings = () => [];
  const result = await waitForAgents(
    options({
      targets: { kind: 'tags', tags: [{ key: 'Name', values: ['wbe'] }] },
      timeoutMs: 20_000,
    }),
  );
  expect(result).toMatchObject({
    ready: false,
    reason:
      'no instance registered with SSM matches tag:Name=wbe in eu-west-1 after 20s (wait-for-agent)',
  });
});

it('backs off on throttling and fails at once when it may not look', async () => {
  fleet.pings = () => [
    { id: A, ping: 'Online' },
    { id: B, ping: 'Online' },
  ];
  fleet.failNext('DescribeInstanceInformation', 'ThrottlingException', 2);
  expect(await waitForAgents(options())).toMatchObject({ ready: true });
  fleet.failNext('DescribeInstanceInformation', 'AccessDeniedException');
  const denied = await waitForAgents(options());
  expect(denied).toMatchObject({ ready: false });
  if (!denied.ready)
    expect(denied.reason).toMatch(
      /^could not list SSM agents \(ssm:DescribeInstanceInformation\): AccessDeniedException/,
    );
});
