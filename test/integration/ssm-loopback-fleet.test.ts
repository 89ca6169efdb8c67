/**
 * The loopback SSM fleet answers the real SSMClient and the committed deploy-ec2-ssm bundle:
 * invocations move through Pending, InProgress and a final status in real time, a host does not
 * serve while it deploys (which the ELBv2 stand-in sees through the shared host model), and each
 * finished invocation carries a result line the action's own parser reads.
 */
import {
  CancelCommandCommand,
  DescribeInstanceInformationCommand,
  GetCommandInvocationCommand,
  ListCommandInvocationsCommand,
  ListCommandsCommand,
  SSMClient,
  SendCommandCommand,
  paginateListCommandInvocations,
} from '@aws-sdk/client-ssm';
import { awsClientConfig } from '../../src/aws.js';
import { parseDeployResult } from '../../src/ssm/result.js';
import { startElbv2StandIn, type Elbv2StandIn } from '../../stand-ins/elbv2.js';
import { SimulatedHosts } from '../../stand-ins/hosts.js';
import { runAction } from '../../stand-ins/runner.js';
import {
  settingsOf,
  startLoopbackSsmFleet,
  type LoopbackSsmFleet,
  type LoopbackSsmFleetOptions,
} from '../../stand-ins/ssm-loopback-fleet.js';

const MAIN = 'actions/deploy-ec2-ssm/dist/index.js';
const IMAGE = '123456789012.dkr.ecr.eu-west-1.amazonaws.com/api:1.5.0';
const OLD = '123456789012.dkr.ecr.eu-west-1.amazonaws.com/api:1.4.2';
const A = 'i-0aaaaaaaaaaaaaaaa';
const B = 'i-0bbbbbbbbbbbbbbbb';
const C = 'i-0cccccccccccccccc';

let fleet: LoopbackSsmFleet | undefined;
let elb: Elbv2StandIn | undefined;
afterEach(async () => {
  await fleet?.close();
  await elb?.close();
  fleet = undefined;
  elb = undefined;
});

function webHosts() {
  return new SimulatedHosts([
    { instanceId: A, tags: { Name: 'web', Env: 'prod' } },
    { instanceId: B, tags: { Name: 'web', Env: 'prod' }, availabilityZone: 'us-east-1b' },
    { instanceId: C, tags: { Name: 'admin', Env: 'prod' } },
  ]);
}

async function start(options: Partial<LoopbackSsmFleetOptions> = {}) {
  const hosts = options.hosts ?? webHosts();
  fleet = await startLoopbackSsmFleet({ previousImage: OLD, ...options, hosts });
  const ssm = new SSMClient({ ...awsClientConfig(), ...fleet.clientConfig() });
  return { fleet, ssm, hosts };
}

/** The commands element deploy-ec2-ssm sends starts with its settings block. */
const script = `#!/bin/bash\n# --- settings ---\nengine=docker\ncontainer='my api'\nimage=${IMAGE}\n`;
const send = (extra: Record<string, unknown>) =>
  new SendCommandCommand({
    DocumentName: 'AWS-RunShellScript',
    Parameters: { commands: [script] },
    MaxConcurrency: '100%',
    MaxErrors: '0',
    ...extra,
  });

async function until(check: () => boolean | Promise<boolean>, deadlineMs = 5000) {
  const end = Date.now() + deadlineMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 5));
  }
}

it('reads the container and image from the settings block', () => {
  expect(settingsOf({ Parameters: { commands: [script] } })).toEqual({
    container: 'my api',
    image: IMAGE,
  });
});

it('runs a command through Pending, InProgress and Success; the host does not serve meanwhile', async () => {
  const { fleet, ssm, hosts } = await start({ deployMs: 150 });
  const sent = await ssm.send(send({ InstanceIds: [A] }));
  const CommandId = sent.Command?.CommandId ?? '';
  expect(sent.Command).toMatchObject({ Status: 'Pending', TargetCount: 1 });
  await until(() => fleet.commands[0]?.invocations.get(A)?.status === 'InProgress');
  expect(hosts.hostServing(A)).toBe(false);
  const running = await ssm.send(new GetCommandInvocationCommand({ CommandId, InstanceId: A }));
  expect(running).toMatchObject({ Status: 'InProgress', ResponseCode: -1 });
  await until(async () => {
    const page = await ssm.send(new ListCommandInvocationsCommand({ CommandId }));
    return page.CommandInvocations?.[0]?.Status === 'Success';
  });
  expect(hosts.hostServing(A)).toBe(true);
  const done = await ssm.send(new GetCommandInvocationCommand({ CommandId, InstanceId: A }));
  expect(done).toMatchObject({ Status: 'Success', StatusDetails: 'Success', ResponseCode: 0 });
  expect(parseDeployResult(done.StandardOutputContent ?? '')).toEqual({
    outcome: 'deployed',
    container: 'my api',
    newImage: IMAGE,
    newImageId: expect.stringMatching(/^sha256:[0-9a-f]{64}$/),
    previousImage: OLD,
    previousImageId: expect.stringMatching(/^sha256:/),
  });
  // As the launcher does: the result line is also the only line on stderr.
  expect(done.StandardErrorContent).toMatch(/^shipyard-deploy-result: \{.*\}\n$/);
  const listed = await ssm.send(new ListCommandsCommand({ CommandId }));
  expect(listed.Commands?.[0]).toMatchObject({
    Status: 'Success',
    TargetCount: 1,
    CompletedCount: 1,
    ErrorCount: 0,
  });
  expect(hosts.servingChanges.map((c) => c.serving)).toEqual([false, true]);
});

it('resolves tag targets, gives each command its own ID, and reports failed hosts with their result', async () => {
  const { fleet, ssm, hosts } = await start({
    deployMs: 30,
    outcomes: { [A]: 'rolled-back', [B]: 'failed-no-previous' },
  });
  const first = await ssm.send(send({ Targets: [{ Key: 'tag:Name', Values: ['web'] }] }));
  const second = await ssm.send(send({ InstanceIds: [C] }));
  const tooMany = await ssm
    .send(send({ InstanceIds: Array.from({ length: 51 }, () => A) }))
    .catch((e: unknown) => e);
  expect(tooMany).toMatchObject({ name: 'ValidationException' });
  expect(first.Command?.CommandId).not.toBe(second.Command?.CommandId);
  expect(fleet.commands[0]?.instanceIds).toEqual([A, B]);
  await until(() => fleet.hostDeploys.every((d) => d.result) && fleet.hostDeploys.length === 3);
  const CommandId = first.Command?.CommandId ?? '';
  const outcomes = await Promise.all(
    [A, B].map((InstanceId) =>
      ssm.send(new GetCommandInvocationCommand({ CommandId, InstanceId })),
    ),
  );
  expect(
    outcomes.map((o) => [o.Status, parseDeployResult(o.StandardOutputContent ?? '')?.outcome]),
  ).toEqual([
    ['Failed', 'rolled-back'],
    ['Failed', 'failed-no-previous'],
  ]);
  expect(
    parseDeployResult(outcomes[1]?.StandardOutputContent ?? '')?.previousImage,
  ).toBeUndefined();
  // Rolled back: the previous version serves again. Nothing to go back to: the host serves nothing.
  expect(hosts.hostServing(A)).toBe(true);
  expect(hosts.hostServing(B)).toBe(false);
  const listed = await ssm.send(new ListCommandsCommand({ CommandId }));
  expect(listed.Commands?.[0]).toMatchObject({ Status: 'Failed', ErrorCount: 2 });
});

it('pages invocations and starts at most MaxConcurrency hosts at a time', async () => {
  const hosts = SimulatedHosts.numbered(5);
  const { fleet, ssm } = await start({ hosts, deployMs: 40, deliveryMs: 1 });
  const sent = await ssm.send(send({ InstanceIds: hosts.ids(), MaxConcurrency: '2' }));
  const ids: string[] = [];
  for await (const page of paginateListCommandInvocations(
    { client: ssm, pageSize: 2 },
    { CommandId: sent.Command?.CommandId ?? '' },
  ))
    ids.push(...(page.CommandInvocations ?? []).map((i) => i.InstanceId ?? ''));
  expect(ids).toEqual(hosts.ids());
  expect(fleet.callsOf('ListCommandInvocations')).toHaveLength(3);
  await until(() => fleet.hostDeploys.filter((d) => d.result).length === 5);
  // Never more than two hosts down at once.
  let down = 0;
  let most = 0;
  for (const change of hosts.servingChanges) {
    down += change.serving ? -1 : 1;
    most = Math.max(most, down);
  }
  expect(most).toBe(2);
});

it('cancels: Pending hosts never start, a host already deploying finishes on its own', async () => {
  const { fleet, ssm, hosts } = await start({ deployMs: 150 });
  const sent = await ssm.send(send({ InstanceIds: [A, B], MaxConcurrency: '1' }));
  const CommandId = sent.Command?.CommandId ?? '';
  await until(() => hosts.hostServing(A) === false);
  await ssm.send(new CancelCommandCommand({ CommandId }));
  const page = await ssm.send(new ListCommandInvocationsCommand({ CommandId }));
  expect(page.CommandInvocations?.map((i) => [i.InstanceId, i.Status])).toEqual([
    [A, 'Cancelled'],
    [B, 'Cancelled'],
  ]);
  expect((await ssm.send(new ListCommandsCommand({ CommandId }))).Commands?.[0]?.Status).toBe(
    'Cancelled',
  );
  await until(() => fleet.hostDeploys[0]?.result !== undefined);
  expect(fleet.hostDeploys.map((d) => [d.instanceId, d.result?.outcome])).toEqual([
    [A, 'deployed'],
  ]);
  expect(hosts.hostServing(A)).toBe(true);
  expect(hosts.servingChanges.map((c) => c.instanceId)).not.toContain(B);
});

it('describes agents filtered by instance IDs or by tags, and rides out throttling', async () => {
  const hosts = webHosts();
  hosts.setState(C, 'stopped');
  const { fleet, ssm } = await start({ hosts });
  fleet.throttleNext('DescribeInstanceInformation', 1);
  const byId = await ssm.send(
    new DescribeInstanceInformationCommand({
      Filters: [{ Key: 'InstanceIds', Values: [A, C] }],
    }),
  );
  expect(byId.InstanceInformationList?.map((i) => [i.InstanceId, i.PingStatus])).toEqual([
    [A, 'Online'],
    [C, 'ConnectionLost'],
  ]);
  expect(byId.InstanceInformationList?.[0]?.LastPingDateTime).toBeInstanceOf(Date);
  expect(fleet.callsOf('DescribeInstanceInformation')).toHaveLength(2);
  const byTags = await ssm.send(
    new DescribeInstanceInformationCommand({
      Filters: [
        { Key: 'tag:Env', Values: ['prod'] },
        { Key: 'tag:Name', Values: ['web', 'api'] },
      ],
    }),
  );
  expect(byTags.InstanceInformationList?.map((i) => i.InstanceId)).toEqual([A, B]);
});

const bundleEnv = (f: LoopbackSsmFleet) => ({
  ...f.actionEnv(),
  GITHUB_REPOSITORY: 'org/api',
  GITHUB_SHA: 'abcdef0123456789abcdef0123456789abcdef01',
});
const inputs = {
  image: IMAGE,
  'container-name': 'api',
  'instance-ids': `${A}\n${B}`,
  timeout: '60s',
  'health-timeout': '5s',
  'stop-timeout': '1s',
};

it('the committed deploy-ec2-ssm bundle deploys two hosts through it, one failing', async () => {
  const { fleet, hosts } = await start({ deployMs: 300, outcomes: { [B]: 'rolled-back' } });
  const run = await runAction(MAIN, inputs, { env: bundleEnv(fleet) });
  expect(run.code).toBe(1);
  expect(run.outputs).toMatchObject({ status: 'failed', succeeded: '1', failed: '1' });
  expect(run.outputs['command-id']).toBe(fleet.commands[0]?.commandId);
  expect(JSON.parse(run.outputs.instances ?? '[]')).toEqual([
    expect.objectContaining({
      id: A,
      status: 'Success',
      result: 'deployed',
      newImage: IMAGE,
      previousImage: OLD,
    }),
    expect.objectContaining({ id: B, status: 'Failed', result: 'rolled-back', rolledBack: true }),
  ]);
  expect(run.stdout).toContain(`rolled back: ${OLD} runs again`);
  expect(fleet.commands[0]?.input).toMatchObject({ InstanceIds: [A, B], MaxConcurrency: '50%' });
  // 50% of two hosts: one at a time, each out of service while it deploys.
  expect(hosts.servingChanges.map((c) => [c.instanceId, c.serving])).toEqual([
    [A, false],
    [A, true],
    [B, false],
    [B, true],
  ]);
});

it('shares its host model with the ELBv2 stand-in: without draining, the load balancer sends requests to a host mid-deploy', async () => {
  const { fleet, hosts } = await start({ deployMs: 400 });
  elb = await startElbv2StandIn({
    hosts,
    msPerSecond: 10,
    targetGroups: [
      {
        name: 'web',
        healthCheckIntervalSeconds: 5,
        unhealthyThresholdCount: 2,
        healthyThresholdCount: 5,
        targets: [A, B],
      },
    ],
  });
  const traffic = elb.startTraffic({ everyMs: 5 });
  const run = await runAction(MAIN, inputs, { env: bundleEnv(fleet) });
  traffic.stop();
  expect(run.code).toBe(0);
  // Today's deploy-ec2-ssm never calls the load balancer: requests reach each host while it swaps.
  expect(elb.requestsToHostsNotServing()).toBeGreaterThan(0);
  // SSM starts B as soon as A reports (400 ms), long before A passes 5 checks 50 ms apart again:
  // for a while neither host is healthy, although max-concurrency kept one of two out at a time.
  expect(elb.lowestHealthyCount('web')).toBe(0);
});
