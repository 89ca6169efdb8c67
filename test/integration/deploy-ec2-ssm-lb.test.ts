/**
 * The committed deploy-ec2-ssm bundle behind load balancers: loopback SSM and ELBv2 stand-ins
 * (the Query protocol, so the SDK's real parser runs) share one host model, so the load balancer
 * sees a host stop serving while it deploys. No request may reach a host mid-deploy, no group may
 * drop below N − batch healthy targets, and no serving host may be left out of its groups, even
 * when the main step is killed mid-batch.
 */
import { startElbv2StandIn, type Elbv2StandIn } from '../../stand-ins/elbv2.js';
import { SimulatedHosts } from '../../stand-ins/hosts.js';
import { runAction } from '../../stand-ins/runner.js';
import {
  startLoopbackSsmFleet,
  type LoopbackSsmFleet,
  type LoopbackSsmFleetOptions,
} from '../../stand-ins/ssm-loopback-fleet.js';

import { jest } from '@jest/globals';

jest.setTimeout(120_000);

const MAIN = 'actions/deploy-ec2-ssm/dist/index.js';
const POST = 'actions/deploy-ec2-ssm/dist/post/index.js';
const IMAGE = '123456789012.dkr.ecr.eu-west-1.amazonaws.com/api:1.5.0';
const OLD = '123456789012.dkr.ecr.eu-west-1.amazonaws.com/api:1.4.2';
const ids = [
  'i-0aaaaaaaaaaaaaaaa',
  'i-0bbbbbbbbbbbbbbbb',
  'i-0cccccccccccccccc',
  'i-0dddddddddddddddd',
];
const [A, B, C, D] = ids as [string, string, string, string];

let fleet: LoopbackSsmFleet | undefined;
let elb: Elbv2StandIn | undefined;
afterEach(async () => {
  await fleet?.close();
  await elb?.close();
  fleet = undefined;
  elb = undefined;
});

/** Four hosts; `web` holds all of them, `admin` the last two. One API second is 10 ms. */
async function start(options: Partial<LoopbackSsmFleetOptions> = {}) {
  const hosts = new SimulatedHosts(ids.map((instanceId) => ({ instanceId })));
  fleet = await startLoopbackSsmFleet({ previousImage: OLD, deployMs: 600, ...options, hosts });
  elb = await startElbv2StandIn({
    hosts,
    msPerSecond: 10,
    routingLagSeconds: 100, // 1 s of routing to a deregistered target
    targetGroups: [
      {
        name: 'web',
        healthCheckIntervalSeconds: 5,
        healthyThresholdCount: 2,
        deregistrationDelaySeconds: 30,
        targets: ids,
      },
      {
        name: 'admin',
        port: 8080,
        healthCheckIntervalSeconds: 5,
        healthyThresholdCount: 2,
        deregistrationDelaySeconds: 30,
        targets: [C, D],
      },
    ],
  });
  const env = {
    ...elb.actionEnv(),
    ...fleet.actionEnv(),
    GITHUB_REPOSITORY: 'org/api',
    GITHUB_SHA: 'abcdef0123456789abcdef0123456789abcdef01',
  };
  const inputs = {
    image: IMAGE,
    'container-name': 'api',
    'instance-ids': ids.join('\n'),
    'target-groups': `${elb.arnOf('web')}\n${elb.arnOf('admin')}`,
    'max-concurrency': '2',
    'health-timeout': '5s',
    'stop-timeout': '1s',
  };
  return { fleet, elb, hosts, env, inputs };
}

const registered = (lb: Elbv2StandIn, group: string) =>
  lb
    .targetHealth(group)
    .filter((t) => t.state !== 'unused' && t.state !== 'draining')
    .map((t) => t.id)
    .sort();

it('deploys batch by batch: no request reaches a host mid-deploy, and each group keeps N − batch healthy', async () => {
  const { fleet, elb, env, inputs } = await start();
  const traffic = elb.startTraffic({ everyMs: 5 });
  const run = await runAction(MAIN, inputs, { env, timeoutMs: 100_000 });
  traffic.stop();
  if (run.code !== 0) console.log(run.stdout, run.stderr);
  expect(run.code).toBe(0);
  expect(run.outputs.status).toBe('succeeded');
  expect(elb.routedRequests.length).toBeGreaterThan(100);
  expect(elb.requestsToHostsNotServing()).toBe(0);
  expect(elb.lowestHealthyCount('web')).toBeGreaterThanOrEqual(4 - 2);
  // admin has two targets, both in batch 2: warned about, and down during that batch.
  expect(run.stdout).toMatch(/admin will have no healthy target during batch 2\/2/);
  expect(fleet.commands.map((c) => c.instanceIds)).toEqual([
    [A, B],
    [C, D],
  ]);
  expect(JSON.parse(run.outputs['command-ids'] ?? '[]')).toEqual(
    fleet.commands.map((c) => c.commandId),
  );
  expect(JSON.parse(run.outputs.batches ?? '[]')).toEqual([
    expect.objectContaining({ batch: 1, instances: [A, B], outcome: 'healthy' }),
    expect.objectContaining({ batch: 2, instances: [C, D], outcome: 'healthy' }),
  ]);
  // Deregistered at the port each is registered with.
  expect(elb.callsOf('DeregisterTargets').map((c) => c.params)).toContainEqual(
    expect.objectContaining({
      Targets: [
        { Id: C, Port: '8080' },
        { Id: D, Port: '8080' },
      ],
    }),
  );
  expect(registered(elb, 'web')).toEqual(ids);
  expect(registered(elb, 'admin')).toEqual([C, D]);
  expect(run.summary).toContain('Batches behind the load balancer');
  expect(run.stdout).toMatch(/batch 1\/2: registered, 2\/2 healthy in web after/);
});

it('keeps out a host that serves nothing, puts back the rest, and fails the step', async () => {
  const { elb, env, inputs } = await start({ outcomes: { [B]: 'failed-no-previous' } });
  const run = await runAction(MAIN, { ...inputs, 'max-errors': '1' }, { env, timeoutMs: 100_000 });
  expect(run.code).toBe(1);
  expect(run.outputs.status).toBe('failed');
  expect(registered(elb, 'web')).toEqual([A, C, D]);
  expect(run.stdout).toContain(
    `${B} serve(s) nothing known to be healthy and stay out of their groups`,
  );
  expect(run.summary).toContain(
    `Left out of their target groups (they serve nothing, or their state is unknown): ${B}`,
  );
  expect(elb.requestsToHostsNotServing()).toBe(0);
});

it('after the main step is killed mid-batch, the post step puts every serving host back', async () => {
  const { fleet, elb, env, inputs } = await start({ deployMs: 3_000 });
  let pid = 0;
  const main = runAction(MAIN, inputs, { env, timeoutMs: 100_000, onSpawn: (p) => (pid = p) });
  // Kill it (the runner's cancel after its grace period) while batch 1 deploys.
  const deadline = Date.now() + 60_000;
  while (fleet.hostDeploys.length === 0 && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 50));
  process.kill(pid, 'SIGKILL');
  const killed = await main;
  expect(killed.code).toBeNull();
  // A and B were taken out and are mid-deploy; C and D were never touched.
  expect(
    JSON.parse(killed.state['out-of-service'] ?? '[]').map(
      (h: { instanceId: string }) => h.instanceId,
    ),
  ).toEqual([A, B]);
  expect(registered(elb, 'web')).toEqual([C, D]);

  const post = await runAction(POST, {}, { env, files: killed.files, timeoutMs: 100_000 });
  expect(post.code).toBe(0);
  // The post step cancelled the command, asked A and B for the result their deploy recorded once
  // it finished on the host, and registered them again.
  expect(fleet.callsOf('CancelCommand')).toHaveLength(1);
  expect(fleet.hostDeploys.map((d) => d.result?.outcome)).toEqual(['deployed', 'deployed']);
  expect(post.stdout).toMatch(/asking them for their result/);
  expect(registered(elb, 'web')).toEqual(ids);
  expect(registered(elb, 'admin')).toEqual([C, D]);
  expect(fleet.commands).toHaveLength(2); // the deploy, then the read; batch 2 never started
});

it('at its deadline, the main step waits for the hosts still deploying and puts back those that serve', async () => {
  const { fleet, elb, env, inputs } = await start({ deployMs: 45_000 });
  const run = await runAction(
    MAIN,
    { ...inputs, timeout: '40s', 'execution-timeout': '40s' },
    { env, timeoutMs: 110_000 },
  );
  expect(run.outputs.status).toBe('timed-out');
  // A and B finished deploying on the host after the deadline: asked, and registered again.
  expect(fleet.commands.map((c) => c.instanceIds)).toEqual([
    [A, B],
    [A, B],
  ]);
  expect(run.stdout).toMatch(/asking them for their result/);
  expect(registered(elb, 'web')).toEqual(ids);
  expect(run.state['out-of-service']).toBe('[]');
});
