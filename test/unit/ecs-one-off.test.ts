/**
 * pre-deploy-command on deploy-ecs: the RunTask request built from a service, the choice of the
 * container, the log link, and one-off tasks against the ECS stand-in in virtual time (exit 0,
 * exit 3, a stopped reason, failures[], the deadline, a cancel and the post step).
 */
import type { ContainerDefinition, Service, TaskDefinition } from '@aws-sdk/client-ecs';
import {
  chooseContainer,
  runTaskRequest,
  stopIfStillRunning,
  taskLogUrl,
  type PreDeployOptions,
} from '../../src/ecs/one-off-task.js';
import { describeFailures, RolloutPlanError } from '../../src/ecs/rollout.js';
import { deployOutputs, deploySummary } from '../../src/ecs/summary.js';
import {
  at,
  complete,
  oneOffTimeline,
  ONE_OFF_ENDS,
  tasks,
  type SimOptions,
  type SimServiceSpec,
} from '../../stand-ins/ecs.js';
import { MINUTE, setupRollout } from './ecs-setup.js';

const TD = 'arn:aws:ecs:us-east-1:123456789012:task-definition';
const NEW_TD = `${TD}/api:13`;

describe('runTaskRequest', () => {
  const base = {
    cluster: 'prod',
    taskDefinition: NEW_TD,
    container: 'api',
    command: ['npm', 'run', 'migrate'],
  };

  it('runs an awsvpc Fargate service in its subnets and security groups, with its platform version', () => {
    const service: Service = {
      launchType: 'FARGATE',
      platformVersion: '1.4.0',
      networkConfiguration: {
        awsvpcConfiguration: {
          subnets: ['subnet-a', 'subnet-b'],
          securityGroups: ['sg-1'],
          assignPublicIp: 'DISABLED',
        },
      },
    };
    expect(runTaskRequest({ ...base, service, startedBy: 'shipyard/42-1' })).toEqual({
      cluster: 'prod',
      taskDefinition: NEW_TD,
      count: 1,
      startedBy: 'shipyard/42-1',
      launchType: 'FARGATE',
      platformVersion: '1.4.0',
      networkConfiguration: {
        awsvpcConfiguration: {
          subnets: ['subnet-a', 'subnet-b'],
          securityGroups: ['sg-1'],
          assignPublicIp: 'DISABLED',
        },
      },
      propagateTags: 'TASK_DEFINITION',
      overrides: { containerOverrides: [{ name: 'api', command: ['npm', 'run', 'migrate'] }] },
    });
  });

  it('sends no network configuration for a bridge-mode service on EC2', () => {
    const request = runTaskRequest({ ...base, service: { launchType: 'EC2' } });
    expect(request).not.toHaveProperty('networkConfiguration');
    expect(request).not.toHaveProperty('platformVersion');
    expect(request).toMatchObject({ launchType: 'EC2', startedBy: 'shipyard' });
  });

  it("uses the service's capacity provider strategy instead of a launch type", () => {
    const strategy = [
      { capacityProvider: 'FARGATE_SPOT', weight: 3, base: 0 },
      { capacityProvider: 'FARGATE', weight: 1, base: 1 },
    ];
    const request = runTaskRequest({
      ...base,
      service: {
        capacityProviderStrategy: strategy,
        launchType: 'FARGATE',
        platformVersion: 'LATEST',
      },
    });
    expect(request.capacityProviderStrategy).toEqual(strategy);
    expect(request).not.toHaveProperty('launchType');
    expect(request.platformVersion).toBe('LATEST');
  });

  it('passes the overrides to the command container only, and the tags of the task definition', () => {
    const request = runTaskRequest({
      ...base,
      service: { launchType: 'FARGATE' },
      overrides: { environment: [{ name: 'MIGRATE_LOCK', value: 'on' }], cpu: 512, memory: 1024 },
    });
    expect(request.propagateTags).toBe('TASK_DEFINITION');
    expect(request.overrides).toEqual({
      containerOverrides: [
        {
          name: 'api',
          command: ['npm', 'run', 'migrate'],
          environment: [{ name: 'MIGRATE_LOCK', value: 'on' }],
          cpu: 512,
          memory: 1024,
        },
      ],
    });
  });
});

describe('chooseContainer', () => {
  const defs: ContainerDefinition[] = [
    { name: 'api', essential: true },
    { name: 'envoy' },
    { name: 'log-router', essential: false },
  ];
  const choose = (explicit: string | undefined, updated: string[]) => {
    const c = chooseContainer(defs, explicit, updated, "task definition 'api:12'");
    return 'problem' in c ? c.problem : c.definition.name;
  };

  it('takes the named container, the updated one, or the only essential one', () => {
    expect(choose('envoy', [])).toBe('envoy');
    expect(choose(undefined, ['api'])).toBe('api');
    expect(
      chooseContainer([{ name: 'a' }, { name: 'b', essential: false }], undefined, [], 'x'),
    ).toEqual({
      definition: { name: 'a' },
    });
  });

  it('refuses a container that is not essential or not there, naming the input', () => {
    expect(choose('log-router', [])).toMatch(
      /^input 'pre-deploy-container' names container 'log-router', which is not essential/,
    );
    expect(choose('worker', [])).toBe(
      "input 'pre-deploy-container' names container 'worker', which task definition 'api:12' does not have; its containers: 'api', 'envoy', 'log-router'",
    );
    expect(choose(undefined, ['log-router'])).toMatch(
      /^input 'pre-deploy-container' is required: the container this run updates, 'log-router', is not essential/,
    );
    expect(choose(undefined, [])).toMatch(
      /^input 'pre-deploy-container' is required: .* has 2 essential containers \('api', 'envoy'\)/,
    );
  });
});

it('links the console to the log stream as the console encodes it', () => {
  const arn = 'arn:aws:ecs:eu-west-1:123456789012:task/prod/0123abcd';
  expect(taskLogUrl({ group: '/ecs/api', streamPrefix: 'ecs' }, 'api', arn)).toBe(
    'https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#logsV2:log-groups/log-group/$252Fecs$252Fapi/log-events/ecs$252Fapi$252F0123abcd',
  );
  expect(taskLogUrl({ group: 'g', region: 'us-west-2', streamPrefix: 'p' }, 'api', arn)).toMatch(
    /^https:\/\/us-west-2\.console\.aws\.amazon\.com\/cloudwatch\/home\?region=us-west-2#/,
  );
  // Without a stream prefix the stream is named after the container's ID: the group's page.
  expect(taskLogUrl({ group: '/ecs/api' }, 'api', arn)).toBe(
    'https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#logsV2:log-groups/log-group/$252Fecs$252Fapi',
  );
  expect(taskLogUrl(undefined, 'api', arn)).toBeUndefined();
});

// ---- Against the ECS stand-in ----

const described: { taskDefinition: TaskDefinition } = {
  taskDefinition: {
    taskDefinitionArn: `${TD}/api:12`,
    family: 'api',
    revision: 12,
    networkMode: 'awsvpc',
    requiresCompatibilities: ['FARGATE'],
    cpu: '256',
    memory: '512',
    containerDefinitions: [
      {
        name: 'api',
        image: 'api:v1',
        essential: true,
        logConfiguration: {
          logDriver: 'awslogs',
          options: {
            'awslogs-group': '/ecs/api',
            'awslogs-region': 'us-east-1',
            'awslogs-stream-prefix': 'ecs',
          },
        },
      },
      { name: 'xray', image: 'xray:3', essential: false },
    ],
  },
};
const placement: SimServiceSpec['placement'] = {
  launchType: 'FARGATE',
  platformVersion: 'LATEST',
  networkConfiguration: {
    awsvpcConfiguration: {
      subnets: ['subnet-private'],
      securityGroups: ['sg-api'],
      assignPublicIp: 'DISABLED',
    },
  },
};
const rollout = [at(3000, tasks(0, 2)), at(9000, tasks(2)), at(12_000, complete)];
const api = (more: Partial<SimServiceSpec> = {}): SimServiceSpec => ({
  name: 'api',
  taskDefinition: 'api:12',
  desiredCount: 2,
  timelines: [rollout],
  placement,
  ...more,
});
const preDeploy = (more: Partial<PreDeployOptions> = {}): PreDeployOptions => ({
  command: ['npm', 'run', 'migrate'],
  timeoutMs: 10 * MINUTE,
  ...more,
});

function setup(oneOffTasks: SimOptions['oneOffTasks'], services = [api()]) {
  return setupRollout(services, { taskDefinitions: { [`${TD}/api:12`]: described }, oneOffTasks });
}

/** The operations in the order the stand-in received them. */
const order = (sim: ReturnType<typeof setup>['sim']) =>
  sim.mock
    .calls()
    .map((c) =>
      (c.args[0] as { constructor: { name: string } }).constructor.name.replace(/Command$/, ''),
    );

it('runs the new revision once, in the service network, and updates the service after it exits 0', async () => {
  const { sim, deploy, lines } = setup([{ steps: oneOffTimeline(150_000, { exitCode: 0 }) }]);
  const started: string[] = [];
  const settled: string[] = [];
  const result = await deploy({
    image: 'api:v2',
    containerName: 'api',
    preDeploy: preDeploy({
      startedBy: 'shipyard/42-1',
      onStarted: (a) => started.push(a),
      onSettled: (a) => settled.push(a),
    }),
  });
  expect(result.ok).toBe(true);
  expect(sim.callsOf('RunTask')).toEqual([
    {
      cluster: 'prod',
      taskDefinition: NEW_TD,
      count: 1,
      startedBy: 'shipyard/42-1',
      launchType: 'FARGATE',
      platformVersion: 'LATEST',
      networkConfiguration: placement.networkConfiguration,
      propagateTags: 'TASK_DEFINITION',
      overrides: { containerOverrides: [{ name: 'api', command: ['npm', 'run', 'migrate'] }] },
    },
  ]);
  const ops = order(sim);
  expect(ops.indexOf('RegisterTaskDefinition')).toBeLessThan(ops.indexOf('RunTask'));
  expect(ops.lastIndexOf('DescribeTasks')).toBeLessThan(ops.indexOf('UpdateService'));
  expect(sim.callsOf('UpdateService')).toHaveLength(1);
  const arn = sim.oneOff[0]!.task.taskArn!;
  expect(started).toEqual([arn]);
  expect(settled).toEqual([arn]);
  expect(result.preDeploy).toMatchObject([
    { status: 'succeeded', exitCode: 0, taskArn: arn, container: 'api' },
  ]);
  expect(deployOutputs(result)).toMatchObject({
    'pre-deploy-task-arn': arn,
    'pre-deploy-exit-code': '0',
  });
  expect(deploySummary(result)).toContain(
    '| pre-deploy (api) | succeeded | api:13 | exit code 0 |',
  );
  // Progress while waiting: each state once, and never a minute of silence.
  const preLines = lines.filter((l) => l.includes('pre-deploy:'));
  expect(preLines.some((l) => l.endsWith(' RUNNING'))).toBe(true);
  expect(preLines.some((l) => l.includes('still waiting after'))).toBe(true);
  const times = lines.map((l) => Number(l.split('s ')[0]));
  for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeLessThanOrEqual(62);
});

it('updates no service when the command exits 3, quoting the exit code and the log link', async () => {
  const { sim, deploy } = setup([{ steps: oneOffTimeline(40_000, { exitCode: 3 }) }]);
  const result = await deploy({ image: 'api:v2', containerName: 'api', preDeploy: preDeploy() });
  expect(result.ok).toBe(false);
  expect(sim.callsOf('UpdateService')).toHaveLength(0);
  expect(result.services).toMatchObject([
    { service: 'api', status: 'not-started', taskDefinition: `${TD}/api:12` },
  ]);
  const taskId = sim.oneOff[0]!.task.taskArn!.split('/').pop();
  const message = describeFailures(result);
  expect(message).toContain(
    `pre-deploy-command failed (api:13): task ${taskId} (container 'api') exited with code 3`,
  );
  expect(message).toContain(
    `log: https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#logsV2:log-groups/log-group/$252Fecs$252Fapi/log-events/ecs$252Fapi$252F${taskId}`,
  );
  expect(message).toContain('no service was updated');
  expect(deployOutputs(result)).toMatchObject({
    'pre-deploy-exit-code': '3',
    status: JSON.stringify({ api: 'not-started' }),
  });
});

it.each([
  [
    'a pull error',
    ONE_OFF_ENDS.pull,
    /stopped before container 'api' exited; stopped reason: CannotPullContainerError: pull image manifest/,
  ],
  [
    'running out of memory',
    ONE_OFF_ENDS.oom,
    /exited with code 137; stopped reason: Essential container in task exited; container reason: OutOfMemoryError: Container killed due to memory usage/,
  ],
  [
    'a secret it could not fetch',
    ONE_OFF_ENDS.resourceInit,
    /stopped reason: ResourceInitializationError: unable to pull secrets/,
  ],
])('fails with the stopped reason on %s', async (_name, end, expected) => {
  const { sim, deploy } = setup([{ steps: oneOffTimeline(20_000, end) }]);
  const result = await deploy({ image: 'api:v2', containerName: 'api', preDeploy: preDeploy() });
  expect(result.preDeploy?.[0]?.status).toBe('failed');
  expect(describeFailures(result)).toMatch(expected);
  expect(sim.callsOf('UpdateService')).toHaveLength(0);
});

it('reports RunTask failures[] and fails without waiting', async () => {
  const { sim, deploy } = setup([
    {
      failures: [
        {
          arn: 'arn:aws:ecs:us-east-1:123456789012:container-instance/x',
          reason: 'RESOURCE:MEMORY',
        },
      ],
    },
  ]);
  const result = await deploy({ image: 'api:v2', containerName: 'api', preDeploy: preDeploy() });
  expect(result.preDeploy).toMatchObject([{ status: 'failed' }]);
  expect(describeFailures(result)).toContain(
    "RunTask started no task for api:13 (service 'api' network): RESOURCE:MEMORY [arn:aws:ecs:us-east-1:123456789012:container-instance/x]",
  );
  expect(sim.callsOf('DescribeTasks')).toHaveLength(0);
  expect(sim.callsOf('UpdateService')).toHaveLength(0);
});

it('stops the task at pre-deploy-timeout and fails', async () => {
  const never = oneOffTimeline(3_600_000).slice(0, 3); // PROVISIONING, PENDING, RUNNING, no end
  const { sim, deploy, clock } = setup([{ steps: never }]);
  const result = await deploy({
    image: 'api:v2',
    containerName: 'api',
    preDeploy: preDeploy({ timeoutMs: 5 * MINUTE }),
  });
  expect(result.preDeploy).toMatchObject([{ status: 'timed-out' }]);
  expect(result.preDeploy?.[0]?.headline).toMatch(
    /did not stop within pre-deploy-timeout 5m00s .*; stopped it \(StopTask\)/,
  );
  expect(sim.callsOf('StopTask')).toEqual([
    {
      cluster: 'prod',
      task: sim.oneOff[0]!.task.taskArn,
      reason: 'shipyard: pre-deploy-timeout passed',
    },
  ]);
  expect(clock.now()).toBeLessThan(5 * MINUTE + 10_000);
  expect(sim.callsOf('UpdateService')).toHaveLength(0);
});

it('stops the task when the step is cancelled, and the post step stops one left running', async () => {
  const never = oneOffTimeline(3_600_000).slice(0, 3);
  const { sim, deploy, clock } = setup([{ steps: never }, { steps: never }]);
  const cancel = new AbortController();
  const running = deploy({
    image: 'api:v2',
    containerName: 'api',
    preDeploy: preDeploy(),
    signal: cancel.signal,
  });
  while (clock.now() < 30_000) await new Promise((r) => setImmediate(r));
  cancel.abort();
  const result = await running;
  expect(result.preDeploy).toMatchObject([{ status: 'cancelled' }]);
  expect(sim.callsOf('StopTask')).toEqual([
    {
      cluster: 'prod',
      task: sim.oneOff[0]!.task.taskArn,
      reason: 'shipyard: the deploy step was cancelled',
    },
  ]);
  expect(sim.callsOf('UpdateService')).toHaveLength(0);

  // A main step killed outright left a second task running: the post step stops it.
  await sim.client.send(
    new (await import('@aws-sdk/client-ecs')).RunTaskCommand({
      cluster: 'prod',
      taskDefinition: NEW_TD,
    }),
  );
  const left = sim.oneOff[1]!.task.taskArn!;
  clock.sleep(15_000);
  while (clock.now() < 15_000 + 30_000) await new Promise((r) => setImmediate(r));
  expect(await stopIfStillRunning(sim.client, 'prod', left)).toMatch(
    /^stopped pre-deploy task \w+, which was RUNNING/,
  );
  expect(sim.callsOf('StopTask')).toHaveLength(2);
  // One that had stopped is left alone.
  await clock.sleep(5000);
  expect(await stopIfStillRunning(sim.client, 'prod', left)).toMatch(/had already stopped/);
  expect(sim.callsOf('StopTask')).toHaveLength(2);
});

it('refuses a container that is not essential before registering anything', async () => {
  const { sim, deploy } = setup([]);
  await expect(
    deploy({ image: 'api:v2', containerName: 'api', preDeploy: preDeploy({ container: 'xray' }) }),
  ).rejects.toThrow(RolloutPlanError);
  expect(sim.callsOf('RegisterTaskDefinition')).toHaveLength(0);
  expect(sim.callsOf('RunTask')).toHaveLength(0);
});

it('runs once per distinct revision, with the network of the first service that uses it', async () => {
  const other = {
    ...placement,
    networkConfiguration: {
      awsvpcConfiguration: { subnets: ['subnet-worker'], securityGroups: ['sg-worker'] },
    },
  };
  const { sim, deploy } = setup(undefined, [api(), api({ name: 'worker', placement: other })]);
  const result = await deploy({ image: 'api:v2', containerName: 'api', preDeploy: preDeploy() });
  expect(result.ok).toBe(true);
  expect(sim.callsOf('RunTask')).toHaveLength(1);
  expect(sim.callsOf('RunTask')[0]).toMatchObject({
    networkConfiguration: placement.networkConfiguration,
  });
  expect(sim.callsOf('UpdateService')).toHaveLength(2);
});

it('runs the current revision of a forced deployment, reading its containers first', async () => {
  const { sim, deploy } = setup(undefined);
  const result = await deploy({ preDeploy: preDeploy() });
  expect(result.ok).toBe(true);
  expect(sim.callsOf('RegisterTaskDefinition')).toHaveLength(0);
  expect(sim.callsOf('RunTask')[0]).toMatchObject({
    taskDefinition: `${TD}/api:12`,
    overrides: { containerOverrides: [{ name: 'api' }] },
  });
});
