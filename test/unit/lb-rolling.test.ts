/**
 * A rollout behind target groups, in virtual time: a scripted SSM fleet and a scripted ELBv2
 * whose targets drain and turn healthy on a timeline. Asserts the order that keeps requests off a
 * host while it deploys, and what happens on failures, cancel and deadline.
 */
import {
  DeregisterTargetsCommand,
  DescribeTargetGroupAttributesCommand,
  DescribeTargetGroupsCommand,
  DescribeTargetHealthCommand,
  ElasticLoadBalancingV2Client,
  RegisterTargetsCommand,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { SendCommandCommand } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import {
  deployBehindTargetGroups,
  type OutOfService,
  type RollingOptions,
} from '../../src/ssm/lb/rolling.js';
import { readResultScript, settleOutOfService } from '../../src/ssm/lb/settle.js';
import { RESULT_MARKER, type DeployResult } from '../../src/ssm/result.js';
import type { DeploySpec } from '../../src/ssm/spec.js';
import { VirtualClock } from '../../src/virtual-clock.js';
import { lineLogger } from '../../src/logger.js';
import { FakeFleet, succeedsAt, type FakeInstance } from '../../stand-ins/ssm-fleet.js';

const IMAGE = '123456789012.dkr.ecr.eu-west-1.amazonaws.com/api:1.5.0';
const OLD = '123456789012.dkr.ecr.eu-west-1.amazonaws.com/api:1.4.2';
const id = (n: number) => `i-${n.toString(16).padStart(17, '0')}`;
const arnOf = (name: string) =>
  `arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/${name}/0123456789abcdef`;
const resultLine = (r: Partial<DeployResult>) =>
  `${RESULT_MARKER}${JSON.stringify({ container: 'api', newImage: IMAGE, previousImage: OLD, ...r })}`;
const deployed = (n: number, at = 20_000): FakeInstance => ({
  id: id(n),
  steps: succeedsAt(at),
  stdout: `==> 10:00:00 deployed\n${resultLine({ outcome: 'deployed' })}\n`,
});
const failedAs = (n: number, outcome: string, extra: Partial<DeployResult> = {}): FakeInstance => ({
  id: id(n),
  steps: [
    { at: 0, status: 'InProgress' },
    { at: 30_000, status: 'Failed' },
  ],
  stdout: `${resultLine({ outcome: outcome as DeployResult['outcome'], reason: 'health check failed', ...extra })}\n`,
});

const spec: DeploySpec = {
  image: IMAGE,
  containerName: 'api',
  ports: [{ hostPort: 80, containerPort: 8000, protocol: 'tcp' }],
  env: [],
  envFromSsm: [],
  restartPolicy: 'unless-stopped',
  runOptions: [],
  engine: 'docker',
  registryLogin: 'ecr',
  healthTimeoutSeconds: 60,
  stopTimeoutSeconds: 10,
  keepImages: 3,
};

interface SimTarget {
  port: number;
  /** When it was (re)registered, or deregistered. */
  since: number;
  registered: boolean;
}
interface SimGroup {
  name: string;
  type?: string;
  attached?: boolean;
  targets: Map<string, SimTarget>;
}

/** ELBv2 as the rollout sees it: drain takes `drainMs`, a registered serving host is healthy after `warmMs`. */
class ScriptedElb {
  readonly mock = mockClient(ElasticLoadBalancingV2Client);
  readonly elb = new ElasticLoadBalancingV2Client({ region: 'eu-west-1' });
  readonly calls: Array<{ op: string; at: number; group: string; ids: string[] }> = [];
  /** Hosts that answer health checks badly once registered again. */
  readonly sick = new Set<string>();

  constructor(
    private readonly clock: VirtualClock,
    readonly groups: Map<string, SimGroup>,
    private readonly drainMs = 10_000,
    private readonly warmMs = 15_000,
  ) {
    const groupOf = (arn?: string) => {
      const g = groups.get(arn ?? '');
      if (!g)
        throw Object.assign(new Error('not found'), { name: 'TargetGroupNotFound', $metadata: {} });
      return g;
    };
    this.mock.on(DescribeTargetGroupsCommand).callsFake((input) => ({
      TargetGroups: (input.TargetGroupArns ?? []).map((arn: string) => {
        const g = groupOf(arn);
        return {
          TargetGroupArn: arn,
          TargetGroupName: g.name,
          TargetType: g.type ?? 'instance',
          LoadBalancerArns:
            g.attached === false
              ? []
              : ['arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/web/1'],
          Port: 80,
          HealthCheckIntervalSeconds: 5,
          HealthyThresholdCount: 2,
        };
      }),
    }));
    this.mock.on(DescribeTargetGroupAttributesCommand).callsFake(() => ({
      Attributes: [
        { Key: 'deregistration_delay.timeout_seconds', Value: String(this.drainMs / 1000) },
      ],
    }));
    this.mock.on(DescribeTargetHealthCommand).callsFake((input) => {
      const g = groupOf(input.TargetGroupArn);
      this.record('DescribeTargetHealth', input.TargetGroupArn, []);
      const asked = input.Targets?.map((t: { Id?: string }) => t.Id ?? '') ?? [...g.targets.keys()];
      return {
        TargetHealthDescriptions: asked.map((tid: string) => ({
          Target: { Id: tid, Port: g.targets.get(tid)?.port ?? 80 },
          TargetHealth: this.health(g, tid),
        })),
      };
    });
    this.mock.on(DeregisterTargetsCommand).callsFake((input) => {
      const g = groupOf(input.TargetGroupArn);
      const ids = (input.Targets ?? []).map((t: { Id?: string }) => t.Id ?? '');
      this.record('DeregisterTargets', input.TargetGroupArn, ids);
      for (const t of input.Targets ?? [])
        g.targets.set(t.Id ?? '', {
          port: t.Port ?? 80,
          since: this.clock.now(),
          registered: false,
        });
      return {};
    });
    this.mock.on(RegisterTargetsCommand).callsFake((input) => {
      const g = groupOf(input.TargetGroupArn);
      const ids = (input.Targets ?? []).map((t: { Id?: string }) => t.Id ?? '');
      this.record('RegisterTargets', input.TargetGroupArn, ids);
      for (const t of input.Targets ?? [])
        g.targets.set(t.Id ?? '', {
          port: t.Port ?? 80,
          since: this.clock.now(),
          registered: true,
        });
      return {};
    });
  }

  private record(op: string, arn: string | undefined, ids: string[]) {
    this.calls.push({
      op,
      at: this.clock.now(),
      group: this.groups.get(arn ?? '')?.name ?? '',
      ids,
    });
  }

  private health(g: SimGroup, tid: string): { State: string; Reason?: string } {
    const t = g.targets.get(tid);
    const age = t ? this.clock.now() - t.since : 0;
    if (!t || (!t.registered && age >= this.drainMs))
      return { State: 'unused', Reason: 'Target.NotRegistered' };
    if (!t.registered) return { State: 'draining', Reason: 'Target.DeregistrationInProgress' };
    if (t.since === 0 || age >= this.warmMs)
      return this.sick.has(tid)
        ? { State: 'unhealthy', Reason: 'Target.ResponseCodeMismatch' }
        : { State: 'healthy' };
    return { State: 'initial', Reason: 'Elb.RegistrationInProgress' };
  }

  of(op: string): Array<{ op: string; at: number; group: string; ids: string[] }> {
    return this.calls.filter((c) => c.op === op);
  }
}

let clock: VirtualClock;
let fleet: FakeFleet;
let lb: ScriptedElb;
let lines: string[];
let saved: OutOfService[][];
afterEach(() => {
  fleet.restore();
  lb.mock.restore();
});

function setUp(
  instances: FakeInstance[],
  groups: Record<string, { members: number[]; type?: string; attached?: boolean }>,
) {
  clock = new VirtualClock();
  fleet = new FakeFleet(clock, instances);
  const sim = new Map<string, SimGroup>();
  for (const [name, g] of Object.entries(groups))
    sim.set(arnOf(name), {
      name,
      ...(g.type ? { type: g.type } : {}),
      ...(g.attached !== undefined ? { attached: g.attached } : {}),
      targets: new Map(g.members.map((n) => [id(n), { port: 80, since: 0, registered: true }])),
    });
  lb = new ScriptedElb(clock, sim);
  lines = [];
  saved = [];
}

function options(extra: Partial<RollingOptions> = {}): RollingOptions {
  return {
    ssm: fleet.ssm,
    elb: lb.elb,
    region: 'eu-west-1',
    spec,
    targets: { kind: 'instances', instanceIds: fleet.instances.map((i) => i.id) },
    targetGroupArns: [...lb.groups.keys()],
    documentName: 'AWS-RunShellScript',
    maxConcurrency: '2',
    maxErrors: '0',
    comment: 'test',
    timeoutMs: 600_000,
    timeoutExplicit: true,
    executionTimeoutMs: 300_000,
    healthTimeoutMs: 60_000,
    drainTimeoutMs: 300_000,
    waitForAgentMs: 60_000,
    clock,
    random: () => 0.5,
    logger: lineLogger((line) => lines.push(line)),
    onOutOfService: (hosts) => saved.push(hosts),
    ...extra,
  };
}

it('takes each batch out of every group, deploys it, and waits until it is healthy before the next leaves', async () => {
  setUp([deployed(1), deployed(2), deployed(3), deployed(4)], {
    web: { members: [1, 2, 3, 4] },
    admin: { members: [2, 3] },
  });
  const rollout = await deployBehindTargetGroups(options());

  expect(rollout.status).toBe('succeeded');
  expect(rollout.succeeded).toBe(4);
  expect(rollout.batches.map((b) => [b.instanceIds, b.outcome])).toEqual([
    [[id(1), id(2)], 'healthy'],
    [[id(3), id(4)], 'healthy'],
  ]);
  // One command per batch, to that batch only.
  expect(fleet.sends.map((s) => s.instanceIds)).toEqual([
    [id(1), id(2)],
    [id(3), id(4)],
  ]);
  const sends = fleet.callsOf('SendCommand').map((c) => c.at);
  const deregs = lb.of('DeregisterTargets');
  const regs = lb.of('RegisterTargets');
  // Batch 1 leaves web and admin (instance 2), drains at least the deregistration delay, then deploys.
  expect(deregs.filter((c) => c.at === deregs[0]!.at).map((c) => [c.group, c.ids])).toEqual([
    ['web', [id(1), id(2)]],
    ['admin', [id(2)]],
  ]);
  expect(sends[0]! - deregs[0]!.at).toBeGreaterThanOrEqual(10_000);
  // Registered again only after the deploy finished, and batch 2 leaves only once batch 1 is healthy.
  expect(regs[0]!.at).toBeGreaterThanOrEqual(sends[0]! + 20_000);
  const batch2Leaves = deregs.find((c) => c.ids.includes(id(3)))!.at;
  expect(batch2Leaves - regs[0]!.at).toBeGreaterThanOrEqual(15_000);
  // Every host is back in its groups at the end, and the state says no host is out.
  for (const g of lb.groups.values())
    for (const t of g.targets.values()) expect(t.registered).toBe(true);
  expect(saved.at(-1)).toEqual([]);
  expect(lines).toContainEqual(
    expect.stringMatching(/^batch 1\/2: draining 2 host\(s\) from web, admin$/),
  );
  expect(lines).toContainEqual(
    expect.stringMatching(/^batch 2\/2: registered, 2\/2 healthy in web, admin after /),
  );
});

it('records each host as out of service before it is deregistered', async () => {
  setUp([deployed(1), deployed(2)], { web: { members: [1, 2] } });
  const deregisteredWhenSaved: number[] = [];
  await deployBehindTargetGroups(
    options({
      maxConcurrency: '1',
      onOutOfService: (hosts) => {
        if (hosts.length > 0) deregisteredWhenSaved.push(lb.of('DeregisterTargets').length);
      },
    }),
  );
  // Saved before the first deregistration, and before the second batch's.
  expect(deregisteredWhenSaved[0]).toBe(0);
  expect(deregisteredWhenSaved).toContain(1);
});

it('records each host of a batch over 50 with the command that went to it', async () => {
  const hosts = Array.from({ length: 60 }, (_, i) => i + 1);
  setUp(
    hosts.map((n) => deployed(n)),
    { web: { members: hosts } },
  );
  const commandOf = new Map<string, string | undefined>();
  await deployBehindTargetGroups(
    options({
      maxConcurrency: '60',
      onOutOfService: (out) => {
        for (const h of out) if (h.commandId) commandOf.set(h.instanceId, h.commandId);
      },
    }),
  );
  // SendCommand takes 50 IDs: two commands, and each host's record names its own.
  const sent = fleet.sends.map((s) => ({ ids: s.instanceIds ?? [], commandId: s.commandId }));
  expect(sent.map((s) => s.ids.length)).toEqual([50, 10]);
  for (const { ids, commandId } of sent)
    for (const host of ids) expect([host, commandOf.get(host)]).toEqual([host, commandId]);
});

it('reports the console link and where the full output is, as a rollout without groups does', async () => {
  setUp([deployed(1), deployed(2)], { web: { members: [1, 2] } });
  const rollout = await deployBehindTargetGroups(
    options({ maxConcurrency: '1', output: { s3BucketName: 'deploy-logs' } }),
  );
  expect(rollout.consoleUrl).toBe(
    `https://eu-west-1.console.aws.amazon.com/systems-manager/run-command/${fleet.sends[0]!.commandId}?region=eu-west-1`,
  );
  expect(rollout.fullOutput).toMatch(/deploy-logs/);
});

it('puts back a host that rolled back, stops at max-errors, and leaves the untouched batches registered', async () => {
  setUp([deployed(1), failedAs(2, 'rolled-back'), deployed(3), deployed(4)], {
    web: { members: [1, 2, 3, 4] },
  });
  const rollout = await deployBehindTargetGroups(options());

  expect(rollout.status).toBe('failed');
  expect(rollout.reason).toMatch(/more than max-errors \(0\) allows: no further batch started/);
  expect(rollout.batches.map((b) => b.outcome)).toEqual(['failed', 'not-started']);
  expect(fleet.sends).toHaveLength(1);
  // Instance 2 serves its previous version again: back in the group.
  expect(lb.of('RegisterTargets').flatMap((c) => c.ids)).toEqual([id(1), id(2)]);
  // Batch 2 never left the group.
  expect(lb.of('DeregisterTargets').flatMap((c) => c.ids)).not.toContain(id(3));
  expect(rollout.outOfService.map((h) => h.instanceId)).toEqual([]);
});

it('keeps out a host that serves nothing, and reports it', async () => {
  setUp([deployed(1), failedAs(2, 'failed-no-previous')], { web: { members: [1, 2] } });
  const rollout = await deployBehindTargetGroups(options({ maxErrors: '1' }));
  expect(lb.of('RegisterTargets').flatMap((c) => c.ids)).toEqual([id(1)]);
  expect(rollout.outOfService.map((h) => h.instanceId)).toEqual([id(2)]);
  expect(saved.at(-1)?.map((h) => h.instanceId)).toEqual([id(2)]);
  expect(lines).toContainEqual(expect.stringContaining(`${id(2)} serve(s) nothing`));
});

it('fails a batch whose hosts do not turn healthy in the group, quoting the target health reason', async () => {
  setUp([deployed(1), deployed(2), deployed(3)], { web: { members: [1, 2, 3] } });
  lb.sick.add(id(1));
  const rollout = await deployBehindTargetGroups(options({ maxConcurrency: '1' }));
  expect(rollout.status).toBe('failed');
  expect(rollout.batches[0]).toMatchObject({ outcome: 'failed' });
  expect(rollout.batches[0]?.reason).toMatch(
    new RegExp(`not healthy within .*${id(1)} in web: unhealthy \\(Target.ResponseCodeMismatch\\)`),
  );
  // health-timeout 60 s + 5 s × 2 of health checks, then no further batch.
  expect(rollout.batches[0]?.healthyMs).toBeGreaterThanOrEqual(70_000);
  expect(rollout.batches.slice(1).map((b) => b.outcome)).toEqual(['not-started', 'not-started']);
  expect(rollout.instances.find((i) => i.instanceId === id(1))?.succeeded).toBe(false);
});

it('refuses groups it cannot follow before it deregisters anything', async () => {
  setUp([deployed(1)], {
    web: { members: [1], type: 'ip' },
    lonely: { members: [1], attached: false },
  });
  await expect(deployBehindTargetGroups(options())).rejects.toThrow(
    /input 'target-groups': web has target type ip; .*lonely is attached to no load balancer/,
  );
  expect(lb.of('DeregisterTargets')).toEqual([]);
  expect(fleet.sends).toEqual([]);
});

it('deploys an instance in no group without draining it, and says so', async () => {
  setUp([deployed(1), deployed(2)], { web: { members: [1] } });
  const rollout = await deployBehindTargetGroups(options({ maxConcurrency: '100%' }));
  expect(rollout.status).toBe('succeeded');
  expect(lines).toContainEqual(`in no target group, deployed without draining: ${id(2)}`);
  expect(lb.of('DeregisterTargets').flatMap((c) => c.ids)).toEqual([id(1)]);
});

it('warns about downtime when a batch empties a group, and deploys all the same', async () => {
  setUp([deployed(1)], { web: { members: [1] } });
  const warned: string[] = [];
  const rollout = await deployBehindTargetGroups(
    options({
      logger: lineLogger(
        (l) => lines.push(l),
        (w) => warned.push(w),
      ),
    }),
  );
  expect(rollout.status).toBe('succeeded');
  expect(warned).toContainEqual(
    expect.stringMatching(/web will have no healthy target during batch 1\/1/),
  );
  expect(rollout.warnings).toEqual(warned);
});

it('grows a default timeout to cover the plan, and warns about an explicit one that cannot', async () => {
  setUp([deployed(1), deployed(2)], { web: { members: [1, 2] } });
  await deployBehindTargetGroups(
    options({ maxConcurrency: '1', timeoutMs: 60_000, timeoutExplicit: false }),
  );
  // 2 × (drain 10 s + execution 5 m + health 60 s + 10 s) = 12 m 40 s
  expect(lines).toContainEqual(
    expect.stringMatching(/^timeout grows to 12m ?40s to cover the plan: 2 batch\(es\)/),
  );
  lb.mock.restore();
  fleet.restore();
  setUp([deployed(1), deployed(2)], { web: { members: [1, 2] } });
  const warned: string[] = [];
  await deployBehindTargetGroups(
    options({
      maxConcurrency: '1',
      timeoutMs: 400_000,
      logger: lineLogger(
        (l) => lines.push(l),
        (w) => warned.push(w),
      ),
    }),
  );
  expect(warned).toContainEqual(
    expect.stringMatching(/^timeout \(6m ?40s\) may not cover the plan at worst/),
  );
});

it('on cancel while a batch deploys, keeps every host without a known result on record for the post step', async () => {
  setUp(
    [
      { ...deployed(1, 60_000), stdout: '==> 10:00:00 pulling\n' }, // cancelled mid-deploy
      { id: id(2), steps: [{ at: 0, status: 'Pending' }] }, // cancelled before it started
      deployed(3),
    ],
    { web: { members: [1, 2, 3] } },
  );
  const abort = new AbortController();
  const run = deployBehindTargetGroups(options({ maxConcurrency: '2', signal: abort.signal }));
  while (fleet.sends.length === 0) await clock.sleep(1_000);
  await clock.sleep(5_000);
  abort.abort();
  const rollout = await run;
  expect(rollout.status).toBe('cancelled');
  expect(rollout.batches.map((b) => b.outcome)).toEqual(['interrupted', 'not-started']);
  // SSM says Cancelled for both, with no result: whether they serve is for the post step to ask.
  expect(saved.at(-1)?.map((h) => [h.instanceId, h.commandId])).toEqual([
    [id(1), fleet.sends[0]?.commandId],
    [id(2), fleet.sends[0]?.commandId],
  ]);
  expect(lb.of('RegisterTargets')).toEqual([]);
  expect(lb.of('DeregisterTargets').flatMap((c) => c.ids)).not.toContain(id(3));
});

describe('settleOutOfService (the post step after a cancel)', () => {
  it('registers untouched and finished hosts at once, asks mid-deploy ones, and keeps out those serving nothing', async () => {
    setUp(
      [
        { ...deployed(1), steps: [{ at: 0, status: 'Success' }] },
        { id: id(2), steps: [{ at: 0, status: 'Cancelled' }], stdout: '==> 10:00:00 stopping\n' },
        { ...failedAs(3, 'failed-no-previous'), steps: [{ at: 0, status: 'Failed' }] },
      ],
      { web: { members: [] } },
    );
    // The deploy command, sent before the cancel.
    await fleet.ssm.send(
      new SendCommandCommand({
        DocumentName: 'AWS-RunShellScript',
        InstanceIds: [id(1), id(2), id(3)],
      }),
    );
    const commandId = fleet.sends[0]!.commandId;
    const web = arnOf('web');
    const hosts: OutOfService[] = [
      { instanceId: id(1), groupArn: web, groupName: 'web', port: 80, commandId },
      { instanceId: id(2), groupArn: web, groupName: 'web', port: 80, commandId },
      { instanceId: id(3), groupArn: web, groupName: 'web', port: 80, commandId },
      { instanceId: id(4), groupArn: web, groupName: 'web', port: 8080 }, // deregistered, nothing sent
    ];
    const result = await settleOutOfService({
      elb: lb.elb,
      ssm: fleet.ssm,
      region: 'eu-west-1',
      hosts,
      image: IMAGE,
      containerName: 'api',
      stateDir: '/run/shipyard',
      documentName: 'AWS-RunShellScript',
      budgetMs: 120_000,
      logger: lineLogger((l) => {
        lines.push(l);
        // Once it asks, instance 2's detached deploy has ended: rolled back, serving v1.
        if (l.includes('asking them for their result'))
          fleet.instances[1] = {
            id: id(2),
            steps: succeedsAt(2_000),
            stdout: `${resultLine({ outcome: 'rolled-back' })}\n`,
          };
      }),
      clock,
    });
    expect(fleet.sends[1]?.instanceIds).toEqual([id(2)]);
    expect(JSON.stringify(fleet.callsOf('SendCommand')[1]?.input.Parameters)).toContain('flock -w');
    expect(result.putBack).toEqual([id(1), id(2), id(4)]);
    expect(result.leftOut).toEqual([{ instanceId: id(3), why: 'failed-no-previous' }]);
    expect(lb.of('RegisterTargets').flatMap((c) => c.ids)).toEqual([id(1), id(2), id(4)]);
  });

  it('reads the result a host recorded, quoting every value in the script', () => {
    const script = readResultScript("/run/ship'yard", 'api$(reboot)', 100);
    expect(script).toContain(`state_dir='/run/ship'\\''yard'`);
    expect(script).toContain(`"$state_dir/last-result."'api$(reboot)'`);
    expect(script).toContain('flock -w 100 "$state_dir/lock" true');
  });
});
