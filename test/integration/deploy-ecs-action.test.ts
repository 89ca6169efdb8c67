/**
 * The committed deploy-ecs bundle, run as the runner runs it, against the AWS JSON stub: the real
 * SDK (signing, retries, JSON protocol, dates as epoch seconds) and the real 2 s poll.
 */
import { readFileSync } from 'node:fs';
import { startAwsStub, type AwsCall, type AwsStub } from '../../stand-ins/aws-json.js';
import { runAction } from '../../stand-ins/runner.js';

const BUNDLE = 'actions/deploy-ecs/dist/index.js';
const POST = 'actions/deploy-ecs/dist/post/index.js';
const ONE_OFF = 'arn:aws:ecs:us-east-1:123456789012:task/prod/f00d0000000000000000000000000001';
const TD = 'arn:aws:ecs:us-east-1:123456789012:task-definition';
const SERVICE_ARN = 'arn:aws:ecs:us-east-1:123456789012:service/prod/api';
const OLD = 'ecs-svc/4300000000000000001';
const NEW = 'ecs-svc/4300000000000000002';
const PULL_ERROR =
  'CannotPullContainerError: pull image manifest has been retried 7 time(s): failed to resolve ref 123456789012.dkr.ecr.us-east-1.amazonaws.com/api:v2: not found';

const epoch = (ms: number) => ms / 1000;
const fromCli = JSON.parse(readFileSync('test/fixtures/ecs/worker-ec2.describe.json', 'utf8')) as {
  taskDefinition: Record<string, unknown>;
};
// The CLI prints dates as text; the JSON protocol carries epoch seconds (and no nulls).
const described = {
  taskDefinition: {
    ...fromCli.taskDefinition,
    registeredAt: epoch(Date.parse(String(fromCli.taskDefinition.registeredAt))),
    deregisteredAt: undefined,
  },
};

interface Scenario {
  /** The new deployment as the Nth DescribeServices after the update sees it (the last repeats). */
  afterUpdate: Array<Record<string, unknown>>;
  stoppedTasks?: Array<Record<string, unknown>>;
  /** `denied`: the credentials may not list service deployments. */
  serviceDeployments?: 'denied';
  /** The service has CloudWatch alarms for its deployments. */
  alarms?: boolean;
  /** The pre-deploy one-off task: how DescribeTasks shows it (STOPPED with an exit code, or running). */
  oneOff?: { lastStatus: string; exitCode?: number };
}

/** A service `api` on task definition worker:7 whose rollout goes as the scenario says. */
function ecsFor(scenario: Scenario) {
  const t0 = Date.now();
  let updated = false;
  let polls = 0;
  const oldDeployment = {
    id: OLD,
    status: 'PRIMARY',
    taskDefinition: `${TD}/worker:7`,
    desiredCount: 1,
    runningCount: 1,
    pendingCount: 0,
    rolloutState: 'COMPLETED',
    createdAt: epoch(t0 - 3_600_000),
  };
  const service = (deployments: unknown[], events: unknown[]) => ({
    serviceName: 'api',
    serviceArn: SERVICE_ARN,
    status: 'ACTIVE',
    taskDefinition: updated ? `${TD}/worker:8` : `${TD}/worker:7`,
    desiredCount: 1,
    deploymentController: { type: 'ECS' },
    deploymentConfiguration: {
      deploymentCircuitBreaker: { enable: true, rollback: false },
      ...(scenario.alarms
        ? { alarms: { alarmNames: ['api-5xx'], enable: true, rollback: false } }
        : {}),
    },
    deployments,
    events,
  });
  const oldEvents = [
    {
      id: 'ev-0',
      createdAt: epoch(t0 - 3_000_000),
      message: '(service api) has reached a steady state.',
    },
  ];
  const newDeployment = (extra: Record<string, unknown>) => ({
    id: NEW,
    status: 'PRIMARY',
    taskDefinition: `${TD}/worker:8`,
    desiredCount: 1,
    runningCount: 0,
    pendingCount: 0,
    failedTasks: 0,
    rolloutState: 'IN_PROGRESS',
    createdAt: epoch(Date.now()),
    ...extra,
  });

  return (call: AwsCall) => {
    switch (call.operation) {
      case 'DescribeServices': {
        const asked = call.input.services as string[];
        const failures = asked
          .filter((s) => s !== 'api')
          .map((s) => ({
            arn: `arn:aws:ecs:us-east-1:123456789012:service/prod/${s}`,
            reason: 'MISSING',
          }));
        if (!asked.includes('api')) return { body: { services: [], failures } };
        if (!updated)
          return { body: { services: [service([oldDeployment], oldEvents)], failures: [] } };
        const step = scenario.afterUpdate[Math.min(polls++, scenario.afterUpdate.length - 1)]!;
        const { events = [], ...deployment } = step as { events?: unknown[] };
        const mine = newDeployment(deployment);
        const deployments =
          mine.rolloutState === 'COMPLETED'
            ? [mine]
            : [mine, { ...oldDeployment, status: 'ACTIVE' }];
        return {
          body: { services: [service(deployments, [...events, ...oldEvents])], failures: [] },
        };
      }
      case 'DescribeTaskDefinition':
        return {
          body: {
            taskDefinition: described.taskDefinition,
            tags: [{ key: 'team', value: 'jobs' }],
          },
        };
      case 'RegisterTaskDefinition':
        return {
          body: {
            taskDefinition: { ...call.input, taskDefinitionArn: `${TD}/worker:8`, revision: 8 },
          },
        };
      case 'UpdateService':
        updated = true;
        return {
          body: {
            service: service(
              [newDeployment({}), { ...oldDeployment, status: 'ACTIVE' }],
              oldEvents,
            ),
          },
        };
      case 'ListServiceDeployments':
        if (scenario.serviceDeployments === 'denied') {
          return {
            error: {
              type: 'AccessDeniedException',
              message: 'User is not authorized to perform: ecs:ListServiceDeployments',
            },
          };
        }
        // Not listed yet: the rolling watch only asks at decisive moments.
        return { body: { serviceDeployments: [] } };
      case 'ListTasks':
        return { body: { taskArns: (scenario.stoppedTasks ?? []).map((t) => t.taskArn) } };
      case 'RunTask':
        return {
          body: { tasks: [{ taskArn: ONE_OFF, lastStatus: 'PROVISIONING' }], failures: [] },
        };
      case 'DescribeTasks':
        if ((call.input.tasks as string[]).includes(ONE_OFF) && scenario.oneOff) {
          const { lastStatus, exitCode } = scenario.oneOff;
          const container = {
            name: 'worker',
            lastStatus,
            ...(exitCode === undefined ? {} : { exitCode }),
          };
          const stopped =
            lastStatus === 'STOPPED' ? { stoppedReason: 'Essential container in task exited' } : {};
          return {
            body: {
              tasks: [{ taskArn: ONE_OFF, lastStatus, ...stopped, containers: [container] }],
              failures: [],
            },
          };
        }
        return { body: { tasks: scenario.stoppedTasks ?? [], failures: [] } };
      case 'StopTask':
        return {
          body: {
            task: { taskArn: call.input.task, lastStatus: 'RUNNING', desiredStatus: 'STOPPED' },
          },
        };
      default:
        return { error: { type: 'InvalidAction', message: `${call.operation} is not scripted` } };
    }
  };
}

let stub: AwsStub | undefined;
afterEach(async () => {
  await stub?.close();
  stub = undefined;
});

const stubEnv = (s: AwsStub) => ({
  AWS_ENDPOINT_URL_ECS: s.endpoint,
  AWS_ACCESS_KEY_ID: 'AKIDSTUB',
  AWS_SECRET_ACCESS_KEY: 'stub-secret-key',
  AWS_REGION: 'us-east-1',
});

async function run(scenario: Scenario, inputs: Record<string, string>) {
  stub = await startAwsStub(ecsFor(scenario));
  return runAction(BUNDLE, inputs, { env: stubEnv(stub), timeoutMs: 30_000 });
}

/** The step's failure message, as the runner shows it. */
function failure(stdout: string): string {
  const line = stdout.split('\n').find((l) => l.startsWith('::error::')) ?? '';
  return line
    .slice('::error::'.length)
    .replace(/%0A/g, '\n')
    .replace(/%0D/g, '\r')
    .replace(/%25/g, '%');
}

it('registers the new image, rolls the service out and reports it', async () => {
  const r = await run(
    {
      afterUpdate: [
        {
          events: [
            {
              id: 'ev-1',
              createdAt: epoch(Date.now()),
              message: '(service api) has started 1 tasks: (task 1a2b).',
            },
          ],
        },
        {
          runningCount: 1,
          rolloutState: 'COMPLETED',
          events: [
            {
              id: 'ev-2',
              createdAt: epoch(Date.now()),
              message: '(service api) has reached a steady state.',
            },
            {
              id: 'ev-1',
              createdAt: epoch(Date.now()),
              message: '(service api) has started 1 tasks: (task 1a2b).',
            },
          ],
        },
      ],
    },
    { cluster: 'prod', services: 'api', image: 'registry.example/worker:v8' },
  );
  expect(r.stderr).not.toMatch(/Error/);
  expect(r.code).toBe(0);
  expect(r.outputs).toEqual({
    'task-definition-arn': `${TD}/worker:8`,
    'deployment-id': JSON.stringify({ api: NEW }),
    status: JSON.stringify({ api: 'completed' }),
    'rolled-back': 'false',
  });
  const registered = stub!.callsOf('RegisterTaskDefinition')[0]!.input;
  expect((registered.containerDefinitions as Array<{ image: string }>)[0]!.image).toBe(
    'registry.example/worker:v8',
  );
  expect(registered).not.toHaveProperty('revision');
  expect(stub!.callsOf('UpdateService')[0]!.input).toEqual({
    cluster: 'prod',
    service: 'api',
    taskDefinition: `${TD}/worker:8`,
    forceNewDeployment: true,
  });
  expect(r.stdout).toContain('api event: (service api) has started 1 tasks: (task 1a2b).');
  expect(r.stdout).toContain('api: 1/1 new tasks running, rollout COMPLETED');
  expect(r.summary).toContain(
    `| api | completed | worker:7 → worker:8 | worker=registry.example/worker:v8 |`,
  );
  // The second look, 2 s after the first, saw it complete.
  expect(stub!.callsOf('DescribeServices')).toHaveLength(3);
});

it('follows a rolling service without the service-deployment permissions, saying so once when it needs them', async () => {
  const r = await run(
    {
      afterUpdate: [
        {
          rolloutState: 'FAILED',
          rolloutStateReason: 'ECS deployment circuit breaker: tasks failed to start.',
        },
      ],
      serviceDeployments: 'denied',
      alarms: true,
    },
    { cluster: 'prod', services: 'api' },
  );
  expect(r.code).not.toBe(0);
  expect(r.outputs.status).toBe(JSON.stringify({ api: 'failed' }));
  const notices = r.stdout.split('\n').filter((l) => l.includes('ecs:ListServiceDeployments'));
  expect(notices).toEqual([
    'api: ecs:ListServiceDeployments is not available (AccessDeniedException); following the rolling deployment through DescribeServices only (allow ecs:ListServiceDeployments and ecs:DescribeServiceDeployments for alarm and rollback reasons)',
  ]);
});

it('fails with the stopped reason when tasks of the new deployment cannot pull the image', async () => {
  const stopped = [1, 2].map((n) => ({
    taskArn: `arn:aws:ecs:us-east-1:123456789012:task/prod/0a1b2c3d${n}`,
    startedBy: NEW,
    lastStatus: 'STOPPED',
    desiredStatus: 'STOPPED',
    stopCode: 'TaskFailedToStart',
    stoppedReason: PULL_ERROR,
    containers: [{ name: 'worker', lastStatus: 'STOPPED', reason: PULL_ERROR }],
  }));
  const r = await run(
    { afterUpdate: [{}, { failedTasks: 2 }], stoppedTasks: stopped },
    { cluster: 'prod', services: 'api', 'max-task-failures': '2' },
  );
  expect(r.code).toBe(1);
  expect(r.outputs.status).toBe(JSON.stringify({ api: 'failed' }));
  expect(r.outputs['task-definition-arn']).toBe(`${TD}/worker:7`); // a forced deployment
  const message = failure(r.stdout);
  expect(message).toContain(
    '1 of 1 services did not roll out:\napi: failed: 2 tasks of the new deployment stopped (max-task-failures: 2)',
  );
  expect(message).toContain(`stopped tasks: 2× ${PULL_ERROR}`);
  expect(stub!.callsOf('ListTasks')[0]!.input).toEqual({
    cluster: 'prod',
    startedBy: NEW,
    desiredStatus: 'STOPPED',
  });
  expect(r.summary).toContain('#### api: failed');
  expect(r.summary).toContain(`- \`2× ${PULL_ERROR}\``);
  expect(stub!.callsOf('RegisterTaskDefinition')).toHaveLength(0);
});

it('names a service that does not exist and changes nothing', async () => {
  const r = await run(
    { afterUpdate: [{}] },
    { cluster: 'prod', services: 'api\napi-typo', image: 'worker:v8' },
  );
  expect(r.code).toBe(1);
  expect(failure(r.stdout)).toBe("service 'api-typo' not found in cluster 'prod'");
  expect(stub!.calls.map((c) => c.operation)).toEqual(['DescribeServices']);
});

it('rejects bad input before any AWS call', async () => {
  const r = await run(
    { afterUpdate: [{}] },
    {
      cluster: 'prod',
      services: '',
      'task-definition': 'test/fixtures/ecs/broken.task-definition.json',
    },
  );
  expect(r.code).toBe(1);
  expect(failure(r.stdout)).toBe(
    "2 inputs are invalid:\n- input 'services' is required: one or more service names or ARNs, one per line\n" +
      `- input 'task-definition' file 'test/fixtures/ecs/broken.task-definition.json' is not valid JSON: unexpected '"' at line 6 column 3`,
  );
  expect(stub!.calls).toHaveLength(0);
});

it('runs pre-deploy-command as a one-off task and updates nothing when it exits 3', async () => {
  const r = await run(
    { afterUpdate: [{}], oneOff: { lastStatus: 'STOPPED', exitCode: 3 } },
    {
      cluster: 'prod',
      services: 'api',
      image: 'registry.example/worker:v8',
      'pre-deploy-command': `bin/migrate --to 'head of line'`,
      'pre-deploy-timeout': '10m',
    },
  );
  expect(r.code).toBe(1);
  expect(stub!.callsOf('RunTask')[0]!.input).toMatchObject({
    cluster: 'prod',
    taskDefinition: `${TD}/worker:8`,
    propagateTags: 'TASK_DEFINITION',
    overrides: {
      containerOverrides: [{ name: 'worker', command: ['bin/migrate', '--to', 'head of line'] }],
    },
  });
  expect(stub!.callsOf('UpdateService')).toHaveLength(0);
  expect(failure(r.stdout)).toContain(
    "pre-deploy-command failed (worker:8): task f00d0000000000000000000000000001 (container 'worker') exited with code 3",
  );
  expect(failure(r.stdout)).toContain(
    'log: https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#logsV2:log-groups/log-group/$252Fecs$252Fworker/log-events/worker$252Fworker$252Ff00d0000000000000000000000000001',
  );
  expect(r.outputs).toMatchObject({
    'pre-deploy-task-arn': ONE_OFF,
    'pre-deploy-exit-code': '3',
    status: JSON.stringify({ api: 'not-started' }),
  });
  // Seen stopped: the post step has nothing to stop.
  expect(r.state['pre-deploy-task-arn']).toBe('');
  const post = await runAction(POST, {}, { env: stubEnv(stub!), files: r.files });
  expect(post.code).toBe(0);
  expect(stub!.callsOf('StopTask')).toHaveLength(0);
});

it('stops from the post step a one-off task the killed main step left running', async () => {
  stub = await startAwsStub(ecsFor({ afterUpdate: [{}], oneOff: { lastStatus: 'RUNNING' } }));
  const post = await runAction(
    POST,
    {},
    {
      env: {
        ...stubEnv(stub),
        'STATE_pre-deploy-task-arn': ONE_OFF,
        STATE_cluster: 'prod',
        STATE_region: 'us-east-1',
      },
    },
  );
  expect(post.code).toBe(0);
  expect(stub.callsOf('StopTask').map((c) => c.input)).toEqual([
    { cluster: 'prod', task: ONE_OFF, reason: 'shipyard: the deploy step was cancelled' },
  ]);
  expect(post.stdout).toContain(
    'stopped pre-deploy task f00d0000000000000000000000000001, which was RUNNING when the deploy step was cancelled',
  );
});
