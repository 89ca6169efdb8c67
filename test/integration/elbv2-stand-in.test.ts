/**
 * The ELBv2 stand-in answers the real ElasticLoadBalancingV2Client in the Query protocol: every
 * shape the rolling deploy reads parses, errors surface under the SDK's names, throttling is
 * retried, the SDK's waiters run against it, and its simulated load balancer moves targets
 * through AWS's health states and routes traffic as a load balancer does.
 */
import {
  DeregisterTargetsCommand,
  DescribeLoadBalancersCommand,
  DescribeTargetGroupAttributesCommand,
  DescribeTargetGroupsCommand,
  DescribeTargetHealthCommand,
  ElasticLoadBalancingV2Client,
  RegisterTargetsCommand,
  paginateDescribeTargetGroups,
  waitUntilTargetDeregistered,
  waitUntilTargetInService,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { awsClientConfig, awsErrorName } from '../../src/aws.js';
import {
  DEFAULT_LOAD_BALANCER_ARN,
  parseQueryForm,
  startElbv2StandIn,
  type Elbv2StandIn,
  type Elbv2StandInOptions,
} from '../../stand-ins/elbv2.js';
import { SimulatedHosts } from '../../stand-ins/hosts.js';

const I1 = 'i-00000000000000001';
const I2 = 'i-00000000000000002';
const I3 = 'i-00000000000000003';

let elb: Elbv2StandIn | undefined;
afterEach(async () => {
  await elb?.close();
  elb = undefined;
});

async function start(options: Omit<Elbv2StandInOptions, 'hosts'> & { hosts?: SimulatedHosts }) {
  const hosts = options.hosts ?? SimulatedHosts.numbered(3);
  elb = await startElbv2StandIn({ msPerSecond: 2, ...options, hosts });
  const client = new ElasticLoadBalancingV2Client({ ...awsClientConfig(), ...elb.clientConfig() });
  return { elb, client, hosts };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(check: () => boolean, deadlineMs = 5000) {
  const end = Date.now() + deadlineMs;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not reached');
    await sleep(5);
  }
}

it('parses nested query lists the way the SDK serializes them', () => {
  expect(
    parseQueryForm(
      'Action=RegisterTargets&Version=2015-12-01&TargetGroupArn=arn%3Ax&Targets.member.1.Id=i-1&Targets.member.1.Port=80&Targets.member.2.Id=i-2',
    ),
  ).toEqual({
    Action: 'RegisterTargets',
    Version: '2015-12-01',
    TargetGroupArn: 'arn:x',
    Targets: [{ Id: 'i-1', Port: '80' }, { Id: 'i-2' }],
  });
  expect(parseQueryForm('Names.member.1=a&Names.member.2=b')).toEqual({ Names: ['a', 'b'] });
});

it('describes target groups by ARN and by name, with the settings a rollout plans with', async () => {
  const { elb, client } = await start({
    targetGroups: [
      {
        name: 'web',
        port: 8080,
        healthCheckPath: '/health',
        healthCheckIntervalSeconds: 10,
        healthyThresholdCount: 3,
        unhealthyThresholdCount: 4,
      },
      { name: 'nlb', protocol: 'TCP', targetType: 'ip', loadBalancerArns: [] },
    ],
  });
  const byArn = await client.send(
    new DescribeTargetGroupsCommand({ TargetGroupArns: [elb.arnOf('web')] }),
  );
  expect(byArn.TargetGroups).toEqual([
    expect.objectContaining({
      TargetGroupArn: elb.arnOf('web'),
      TargetGroupName: 'web',
      TargetType: 'instance',
      Protocol: 'HTTP',
      Port: 8080,
      HealthCheckPath: '/health',
      HealthCheckIntervalSeconds: 10,
      HealthyThresholdCount: 3,
      UnhealthyThresholdCount: 4,
      HealthCheckEnabled: true,
      LoadBalancerArns: [DEFAULT_LOAD_BALANCER_ARN],
      Matcher: { HttpCode: '200' },
    }),
  ]);
  const byName = await client.send(new DescribeTargetGroupsCommand({ Names: ['nlb'] }));
  expect(byName.TargetGroups?.[0]).toMatchObject({
    TargetType: 'ip',
    Protocol: 'TCP',
    LoadBalancerArns: [],
  });
  expect(byName.TargetGroups?.[0]?.HealthCheckPath).toBeUndefined();
  expect(elb.callsOf('DescribeTargetGroups')[1]?.params).toEqual({ Names: ['nlb'] });

  const byLb = await client.send(
    new DescribeTargetGroupsCommand({ LoadBalancerArn: DEFAULT_LOAD_BALANCER_ARN }),
  );
  expect(byLb.TargetGroups?.map((g) => g.TargetGroupName)).toEqual(['web']);
});

it('pages DescribeTargetGroups with Marker, which the SDK paginator follows', async () => {
  const { elb, client } = await start({
    targetGroups: ['a', 'b', 'c', 'd', 'e'].map((name) => ({ name })),
  });
  const names: string[] = [];
  for await (const page of paginateDescribeTargetGroups({ client }, { PageSize: 2 })) {
    names.push(...(page.TargetGroups ?? []).map((g) => g.TargetGroupName ?? ''));
  }
  expect(names).toEqual(['a', 'b', 'c', 'd', 'e']);
  expect(elb.callsOf('DescribeTargetGroups').map((c) => c.params.Marker)).toEqual([
    undefined,
    '2',
    '4',
  ]);
});

it('answers the deregistration delay among the group attributes', async () => {
  const { elb, client } = await start({
    targetGroups: [{ name: 'web', deregistrationDelaySeconds: 45 }],
  });
  const out = await client.send(
    new DescribeTargetGroupAttributesCommand({ TargetGroupArn: elb.arnOf('web') }),
  );
  expect(out.Attributes).toContainEqual({
    Key: 'deregistration_delay.timeout_seconds',
    Value: '45',
  });
});

it('describes load balancers', async () => {
  const { client } = await start({ targetGroups: [] });
  const out = await client.send(new DescribeLoadBalancersCommand({}));
  expect(out.LoadBalancers?.[0]).toMatchObject({
    LoadBalancerArn: DEFAULT_LOAD_BALANCER_ARN,
    Type: 'application',
    State: { Code: 'active' },
  });
  expect(out.LoadBalancers?.[0]?.CreatedTime).toBeInstanceOf(Date);
});

it('surfaces unknown groups and targets under the SDK error names', async () => {
  const { elb, client } = await start({ targetGroups: [{ name: 'web' }] });
  const missingGroup = await client
    .send(new DescribeTargetHealthCommand({ TargetGroupArn: `${elb.arnOf('web')}0` }))
    .catch((e: unknown) => e);
  expect(awsErrorName(missingGroup)).toBe('TargetGroupNotFoundException');
  expect(missingGroup).toMatchObject({
    $metadata: { httpStatusCode: 400 },
    Code: 'TargetGroupNotFound',
  });

  const missingName = await client
    .send(new DescribeTargetGroupsCommand({ Names: ['nope'] }))
    .catch((e: unknown) => e);
  expect(awsErrorName(missingName)).toBe('TargetGroupNotFoundException');

  const badTarget = await client
    .send(
      new RegisterTargetsCommand({ TargetGroupArn: elb.arnOf('web'), Targets: [{ Id: 'i-nope' }] }),
    )
    .catch((e: unknown) => e);
  expect(awsErrorName(badTarget)).toBe('InvalidTargetException');
  expect((badTarget as Error).message).toBe("The following instances do not exist: 'i-nope'");
});

it('throttles the next calls of an operation; the SDK retries them', async () => {
  const { elb, client } = await start({ targetGroups: [{ name: 'web', targets: [I1] }] });
  elb.throttleNext('DescribeTargetHealth', 2);
  const out = await client.send(
    new DescribeTargetHealthCommand({ TargetGroupArn: elb.arnOf('web') }),
  );
  expect(out.TargetHealthDescriptions?.[0]?.TargetHealth?.State).toBe('healthy');
  expect(elb.callsOf('DescribeTargetHealth')).toHaveLength(3);

  elb.throttleNext('DescribeTargetGroups', 5);
  const tooMany = new ElasticLoadBalancingV2Client({
    ...awsClientConfig({ maxAttempts: 2 }),
    ...elb.clientConfig(),
  });
  const error = await tooMany.send(new DescribeTargetGroupsCommand({})).catch((e: unknown) => e);
  expect(awsErrorName(error)).toBe('Throttling');
});

it('moves a registered target through initial to healthy once its host passes the checks', async () => {
  const { elb, client } = await start({
    msPerSecond: 5,
    targetGroups: [
      {
        name: 'web',
        registrationSeconds: 40,
        healthCheckIntervalSeconds: 5,
        healthyThresholdCount: 3,
      },
    ],
  });
  const TargetGroupArn = elb.arnOf('web');
  await client.send(new RegisterTargetsCommand({ TargetGroupArn, Targets: [{ Id: I1 }] }));
  const first = await client.send(new DescribeTargetHealthCommand({ TargetGroupArn }));
  expect(first.TargetHealthDescriptions).toEqual([
    {
      Target: { Id: I1, Port: 80 },
      HealthCheckPort: '80',
      TargetHealth: {
        State: 'initial',
        Reason: 'Elb.RegistrationInProgress',
        Description: 'Target registration is in progress',
      },
    },
  ]);
  await until(() => elb.targetHealth('web')[0]?.reason === 'Elb.InitialHealthChecking');
  await until(() => elb.targetHealth('web')[0]?.state === 'healthy');
  const last = await client.send(new DescribeTargetHealthCommand({ TargetGroupArn }));
  expect(last.TargetHealthDescriptions?.[0]?.TargetHealth).toEqual({ State: 'healthy' });
});

it('waitUntilTargetInService returns once the target is healthy', async () => {
  const { elb, client } = await start({
    targetGroups: [{ name: 'web', healthCheckIntervalSeconds: 5, healthyThresholdCount: 2 }],
  });
  const TargetGroupArn = elb.arnOf('web');
  await client.send(new RegisterTargetsCommand({ TargetGroupArn, Targets: [{ Id: I2 }] }));
  const result = await waitUntilTargetInService(
    { client, minDelay: 0.05, maxDelay: 0.1, maxWaitTime: 10 },
    { TargetGroupArn, Targets: [{ Id: I2 }] },
  );
  expect(result.state).toBe('SUCCESS');
  expect(elb.targetHealth('web')).toMatchObject([{ id: I2, state: 'healthy' }]);
});

it('drains a deregistered target for the delay, after which it reads unused / Target.NotRegistered', async () => {
  const { elb, client } = await start({
    msPerSecond: 5,
    targetGroups: [{ name: 'web', deregistrationDelaySeconds: 40, targets: [I1, I2] }],
  });
  const TargetGroupArn = elb.arnOf('web');
  const started = Date.now();
  await client.send(new DeregisterTargetsCommand({ TargetGroupArn, Targets: [{ Id: I1 }] }));
  const draining = await client.send(
    new DescribeTargetHealthCommand({ TargetGroupArn, Targets: [{ Id: I1 }] }),
  );
  expect(draining.TargetHealthDescriptions?.[0]?.TargetHealth).toEqual({
    State: 'draining',
    Reason: 'Target.DeregistrationInProgress',
    Description: 'Target deregistration is in progress',
  });
  const result = await waitUntilTargetDeregistered(
    { client, minDelay: 0.05, maxDelay: 0.1, maxWaitTime: 10 },
    { TargetGroupArn, Targets: [{ Id: I1 }] },
  );
  expect(result.state).toBe('SUCCESS');
  expect(Date.now() - started).toBeGreaterThanOrEqual(40 * 5);
  const gone = await client.send(
    new DescribeTargetHealthCommand({ TargetGroupArn, Targets: [{ Id: I1 }] }),
  );
  expect(gone.TargetHealthDescriptions?.[0]?.TargetHealth).toEqual({
    State: 'unused',
    Reason: 'Target.NotRegistered',
    Description: 'Target is not registered to the target group',
  });
  // Without Targets, only what the group holds is listed.
  const all = await client.send(new DescribeTargetHealthCommand({ TargetGroupArn }));
  expect(all.TargetHealthDescriptions?.map((d) => d.Target?.Id)).toEqual([I2]);
});

it('leaves a target registered at another port than the one deregistered, as AWS does', async () => {
  const { elb, client } = await start({
    targetGroups: [{ name: 'web', port: 80, targets: [{ id: I1, port: 8080 }] }],
  });
  const TargetGroupArn = elb.arnOf('web');
  await client.send(new DeregisterTargetsCommand({ TargetGroupArn, Targets: [{ Id: I1 }] }));
  expect(elb.targetHealth('web')).toMatchObject([{ id: I1, port: 8080, state: 'healthy' }]);
  await client.send(
    new DeregisterTargetsCommand({ TargetGroupArn, Targets: [{ Id: I1, Port: 8080 }] }),
  );
  expect(elb.targetHealth('web')).toMatchObject([{ id: I1, port: 8080, state: 'draining' }]);
});

it('turns a healthy target unhealthy after interval × unhealthy threshold once its host stops serving', async () => {
  const { elb, client, hosts } = await start({
    msPerSecond: 5,
    targetGroups: [
      {
        name: 'web',
        healthCheckIntervalSeconds: 5,
        unhealthyThresholdCount: 3,
        unhealthyReason: 'Target.Timeout',
        targets: [I1],
      },
    ],
  });
  hosts.setServing(I1, false);
  const stopped = Date.now();
  await until(() => elb.targetHealth('web')[0]?.state === 'unhealthy');
  // Three failed checks 25 ms apart: the first comes at most one interval after the host stops.
  expect(Date.now() - stopped).toBeGreaterThanOrEqual(2 * 25);
  const out = await client.send(
    new DescribeTargetHealthCommand({ TargetGroupArn: elb.arnOf('web') }),
  );
  expect(out.TargetHealthDescriptions?.[0]?.TargetHealth).toEqual({
    State: 'unhealthy',
    Reason: 'Target.Timeout',
    Description: 'Request timed out',
  });
});

it('a new target whose host does not serve turns unhealthy with the HTTP reason', async () => {
  const hosts = SimulatedHosts.numbered(1);
  hosts.setServing(I1, false);
  const { elb } = await start({
    hosts,
    targetGroups: [{ name: 'web', healthCheckIntervalSeconds: 5, targets: [I1] }],
  });
  expect(elb.targetHealth('web')[0]?.state).toBe('initial');
  await until(() => elb.targetHealth('web')[0]?.state === 'unhealthy');
  expect(elb.targetHealth('web')[0]).toMatchObject({
    reason: 'Target.ResponseCodeMismatch',
    description: 'Health checks failed with these codes: [502]',
  });
});

it('answers unused / Target.NotInUse for a group without a load balancer and for an AZ the group does not serve', async () => {
  const hosts = new SimulatedHosts([
    { instanceId: I1, availabilityZone: 'us-east-1a' },
    { instanceId: I2, availabilityZone: 'us-east-1c' },
    { instanceId: I3, availabilityZone: 'us-east-1a', state: 'stopped' },
  ]);
  const { elb, client } = await start({
    hosts,
    targetGroups: [
      { name: 'loose', loadBalancerArns: [], targets: [I1] },
      { name: 'web', availabilityZones: ['us-east-1a', 'us-east-1b'], targets: [I1, I2, I3] },
      { name: 'lambda', targetType: 'lambda', healthCheckEnabled: false, targets: ['fn'] },
    ],
  });
  const loose = await client.send(
    new DescribeTargetHealthCommand({ TargetGroupArn: elb.arnOf('loose') }),
  );
  expect(loose.TargetHealthDescriptions?.[0]?.TargetHealth).toEqual({
    State: 'unused',
    Reason: 'Target.NotInUse',
    Description: 'Target group is not configured to receive traffic from the load balancer',
  });
  const web = await client.send(
    new DescribeTargetHealthCommand({ TargetGroupArn: elb.arnOf('web') }),
  );
  expect(web.TargetHealthDescriptions?.map((d) => d.TargetHealth)).toEqual([
    { State: 'healthy' },
    {
      State: 'unused',
      Reason: 'Target.NotInUse',
      Description: 'Target is in an Availability Zone that is not enabled for the load balancer',
    },
    {
      State: 'unused',
      Reason: 'Target.InvalidState',
      Description: 'Target is in the stopped state',
    },
  ]);
  expect(elb.targetHealth('lambda')[0]).toMatchObject({
    state: 'unavailable',
    reason: 'Target.HealthCheckDisabled',
  });
});

it('keeps routing to a deregistered target for the routing lag, then only to healthy ones', async () => {
  const { elb, client } = await start({
    msPerSecond: 10,
    routingLagSeconds: 20,
    targetGroups: [{ name: 'web', deregistrationDelaySeconds: 100, targets: [I1, I2] }],
  });
  await client.send(
    new DeregisterTargetsCommand({ TargetGroupArn: elb.arnOf('web'), Targets: [{ Id: I1 }] }),
  );
  const during = [elb.routeRequest('web'), elb.routeRequest('web')].map((r) => r.instanceId);
  expect(during.sort()).toEqual([I1, I2]);
  await sleep(250);
  const after = [elb.routeRequest('web'), elb.routeRequest('web')].map((r) => r.instanceId);
  expect(after).toEqual([I2, I2]);
  expect(elb.targetHealth('web')[0]?.state).toBe('draining');
  expect(elb.requestsToHostsNotServing()).toBe(0);
});

it('fails open to every registered target when none is healthy, and counts requests to hosts not serving', async () => {
  const { elb, hosts } = await start({
    msPerSecond: 2,
    targetGroups: [
      {
        name: 'web',
        healthCheckIntervalSeconds: 5,
        unhealthyThresholdCount: 2,
        targets: [I1, I2],
      },
    ],
  });
  expect(elb.routeRequest('web')).toMatchObject({ failOpen: false, hostServing: true });
  hosts.setServing(I1, false);
  // Until the checks notice, the load balancer still sends I1 its share: that is a failed request.
  const early = [elb.routeRequest('web'), elb.routeRequest('web')];
  expect(early.filter((r) => r.instanceId === I1)).toHaveLength(1);
  expect(elb.requestsToHostsNotServing()).toBe(1);
  hosts.setServing(I2, false);
  await until(() => elb.healthyCount('web') === 0);
  const open = elb.routeRequest('web');
  expect(open.failOpen).toBe(true);
  expect(open.hostServing).toBe(false);
  expect(elb.lowestHealthyCount('web')).toBe(0);
});

it('generates traffic through every attached group and records the lowest healthy count', async () => {
  const { elb, hosts } = await start({
    msPerSecond: 2,
    targetGroups: [
      { name: 'web', healthCheckIntervalSeconds: 5, unhealthyThresholdCount: 1, targets: [I1, I2] },
      { name: 'loose', loadBalancerArns: [], targets: [I3] },
    ],
  });
  const traffic = elb.startTraffic({ everyMs: 2 });
  await sleep(30);
  hosts.setServing(I2, false);
  await until(() => elb.healthyCount('web') === 1);
  hosts.setServing(I2, true);
  await until(() => elb.healthyCount('web') === 2);
  traffic.stop();
  const count = elb.routedRequests.length;
  await sleep(10);
  expect(elb.routedRequests).toHaveLength(count);
  expect(new Set(elb.routedRequests.map((r) => r.groupName))).toEqual(new Set(['web']));
  expect(elb.lowestHealthyCount('web')).toBe(1);
  elb.resetLowestHealthy();
  expect(elb.lowestHealthyCount('web')).toBe(2);
});

it('its actionEnv points a client configured only from the environment at it', async () => {
  const { elb } = await start({ targetGroups: [{ name: 'web' }] });
  const saved = { ...process.env };
  Object.assign(process.env, elb.actionEnv());
  try {
    const client = new ElasticLoadBalancingV2Client({});
    const out = await client.send(new DescribeTargetGroupsCommand({ Names: ['web'] }));
    expect(out.TargetGroups?.[0]?.TargetGroupArn).toBe(elb.arnOf('web'));
  } finally {
    for (const key of Object.keys(elb.actionEnv()))
      if (saved[key] === undefined) delete process.env[key];
      else process.env[key] = saved[key];
  }
});
