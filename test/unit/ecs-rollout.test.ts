/**
 * deploy-ecs rollouts against scripted ECS timelines (aws-sdk-client-mock on a simulated ECS), in
 * virtual time: a 15-minute deadline takes milliseconds and nothing sleeps.
 */
import { readFileSync } from 'node:fs';
import type { UpdateServiceCommandInput } from '@aws-sdk/client-ecs';
import {
  describeFailures,
  RolloutPlanError,
  type DeployEcsOptions,
} from '../../src/ecs/rollout.js';
import { parseTaskDefinitionFile } from '../../src/ecs/task-definition.js';
import {
  at,
  circuitBreakerFails,
  circuitBreakerRollsBack,
  complete,
  event,
  oldTasks,
  replacedBy,
  SimulatedEcs,
  steady,
  STOPS,
  taskStopped,
  tasks,
  type Action,
  type SimOptions,
  type SimServiceSpec,
} from '../../stand-ins/ecs.js';
import { MINUTE, setupRollout } from './ecs-setup.js';

const TD = 'arn:aws:ecs:us-east-1:123456789012:task-definition';

const setup = (services: SimServiceSpec[], extra: Partial<SimOptions> = {}) =>
  setupRollout(services, extra);

const api = (timelines: SimServiceSpec['timelines'], more: Partial<SimServiceSpec> = {}) => ({
  name: 'api',
  taskDefinition: 'api:12',
  desiredCount: 2,
  timelines,
  ...more,
});

const updates = (sim: SimulatedEcs) => sim.callsOf('UpdateService') as UpdateServiceCommandInput[];

describe('a rollout that completes', () => {
  const timeline = [
    at(3000, tasks(0, 2), event('(service $SERVICE) has started 2 tasks: (task 1a) (task 2b).')),
    at(9000, tasks(1, 1)),
    at(15_000, tasks(2), oldTasks(0)),
    at(31_000, complete),
  ];

  it('is reported within one 2 s poll of ECS marking it COMPLETED, with its events', async () => {
    const { sim, deploy } = setup([api([timeline])]);
    const result = await deploy();
    expect(result.ok).toBe(true);
    const [report] = result.services;
    expect(report).toMatchObject({
      service: 'api',
      status: 'completed',
      previousTaskDefinition: `${TD}/api:12`,
      taskDefinition: `${TD}/api:12`,
      deploymentId: sim.service('api').deployments[0]?.id,
    });
    expect(report!.elapsedMs).toBeGreaterThanOrEqual(31_000);
    expect(report!.elapsedMs).toBeLessThanOrEqual(33_000);
    expect(report!.events.map((e) => e.message)).toEqual([
      '(service api) has started 2 tasks: (task 1a) (task 2b).',
      '(service api) has reached a steady state.',
      `(service api) (deployment ${report!.deploymentId}) deployment completed.`,
    ]);
    expect(updates(sim)).toEqual([{ cluster: 'prod', service: 'api', forceNewDeployment: true }]);
    // Stopped tasks are only looked up when ECS signals that some stopped.
    expect(sim.callsOf('ListTasks')).toHaveLength(0);
    expect(sim.callsOf('RegisterTaskDefinition')).toHaveLength(0);
  });

  it('logs one line per change of state, not one per poll', async () => {
    const { deploy, lines } = setup([api([timeline])]);
    await deploy();
    const id = lines[0]!.match(/deployment (ecs-svc\/\d+)/)![1];
    expect(lines).toEqual([
      `0s api: deployment ${id} started with api:12`,
      '0s api: 0/2 new tasks running, rollout IN_PROGRESS, 2 old tasks running',
      '4s api event: (service api) has started 2 tasks: (task 1a) (task 2b).',
      '4s api: 0/2 new tasks running, 2 pending, rollout IN_PROGRESS, 2 old tasks running',
      '10s api: 1/2 new tasks running, 1 pending, rollout IN_PROGRESS, 2 old tasks running',
      '16s api: 2/2 new tasks running, rollout IN_PROGRESS',
      '32s api event: (service api) has reached a steady state.',
      `32s api event: (service api) (deployment ${id}) deployment completed.`,
      '32s api: 2/2 new tasks running, rollout COMPLETED',
      '32s api: rolled out in 32s',
    ]);
  });

  it('without the circuit breaker, is done once the new deployment is the only one and all its tasks run', async () => {
    const { deploy } = setup([api([[at(3000, tasks(1)), at(12_500, steady)]])]);
    const result = await deploy();
    expect(result.services[0]).toMatchObject({ status: 'completed', elapsedMs: 14_000 });
  });

  it('with the circuit breaker, waits for its COMPLETED verdict', async () => {
    const cb = { enable: true, rollback: false };
    const { deploy } = setup([
      api([[at(12_500, steady), at(40_000, complete)]], { circuitBreaker: cb }),
    ]);
    const result = await deploy();
    expect(result.services[0]).toMatchObject({ status: 'completed', elapsedMs: 40_000 });
  });
});

describe('a rollout that fails', () => {
  it('fails as soon as the circuit breaker marks it FAILED, quoting the reason and the stopped tasks', async () => {
    const { deploy } = setup([
      api(
        [
          [
            at(5000, taskStopped(STOPS.pull)),
            at(11_000, taskStopped(STOPS.pull)),
            at(21_000, circuitBreakerFails()),
          ],
        ],
        { circuitBreaker: { enable: true, rollback: false } },
      ),
    ]);
    const result = await deploy({ maxTaskFailures: 10 });
    const [report] = result.services;
    expect(result.ok).toBe(false);
    expect(report).toMatchObject({
      status: 'failed',
      headline: 'rollout FAILED: ECS deployment circuit breaker: tasks failed to start.',
      elapsedMs: 22_000,
    });
    expect(report!.stoppedTasks).toHaveLength(2);
    const message = describeFailures(result);
    expect(message).toContain(
      'api: failed: rollout FAILED: ECS deployment circuit breaker: tasks failed to start.',
    );
    expect(message).toContain(
      'stopped tasks: 2× CannotPullContainerError: pull image manifest has been retried 7 time(s)',
    );
    expect(message).toMatch(/last events: .*deployment failed: tasks failed to start\./);
  });

  it('fails at the third task that cannot pull its image, without waiting for the deadline', async () => {
    const { sim, deploy } = setup([
      api([
        [
          at(4000, taskStopped(STOPS.pull)),
          at(8000, taskStopped(STOPS.pull)),
          at(12_500, taskStopped(STOPS.pull)),
        ],
      ]),
    ]);
    const result = await deploy();
    const [report] = result.services;
    expect(report).toMatchObject({
      status: 'failed',
      headline: '3 tasks of the new deployment stopped (max-task-failures: 3)',
      elapsedMs: 14_000,
    });
    expect(describeFailures(result)).toContain(
      'stopped tasks: 3× CannotPullContainerError: pull image manifest has been retried 7 time(s): failed to resolve ref 123456789012.dkr.ecr.us-east-1.amazonaws.com/api:v2: not found',
    );
    // One lookup per increase of failedTasks, for the new deployment's tasks only.
    const lookups = sim.callsOf('ListTasks');
    expect(lookups).toHaveLength(3);
    expect(lookups[0]).toEqual({
      cluster: 'prod',
      startedBy: report!.deploymentId,
      desiredStatus: 'STOPPED',
    });
    expect(sim.callsOf('DescribeTasks')).toHaveLength(3);
  });

  it('quotes the exit code of an essential container that exits with 1', async () => {
    // These tasks ran before they crashed, so ECS does not count them in failedTasks: the
    // "has stopped" events are what prompts the lookup.
    const crash = (n: number) => [
      taskStopped({ ...STOPS.exit1, failed: false }),
      event(`(service $SERVICE) has stopped 1 running tasks: (task c${n}).`),
    ];
    const { deploy } = setup([
      api([
        [
          at(6000, tasks(1)),
          at(20_000, ...crash(1)),
          at(40_000, ...crash(2)),
          at(60_000, ...crash(3)),
        ],
      ]),
    ]);
    const result = await deploy();
    expect(result.services[0]).toMatchObject({ status: 'failed', elapsedMs: 60_000 });
    expect(describeFailures(result)).toContain(
      'stopped tasks: 3× Essential container in task exited (api: exit code 1)',
    );
  });

  it('does not count tasks that ECS scaled in as failures', async () => {
    const scaledIn = taskStopped({
      reason: 'Scaling activity initiated by (deployment ecs-svc/4300000000000000001)',
      stopCode: 'ServiceSchedulerInitiated',
    });
    const { deploy } = setup([
      api([[at(3000, scaledIn), at(5000, scaledIn), at(7000, scaledIn), at(9000, complete)]]),
    ]);
    const result = await deploy();
    expect(result.services[0]).toMatchObject({ status: 'completed', stoppedTasks: [] });
  });

  it('gives up at the deadline when the count is never reached, quoting the last events', async () => {
    const noMemory =
      '(service $SERVICE) was unable to place a task because no container instance met all of its requirements. The closest matching (container-instance 5c2bd1e0) has insufficient memory available.';
    const { deploy, lines } = setup([
      api([
        [at(4000, tasks(1), oldTasks(1)), at(9000, event(noMemory)), at(200_000, event(noMemory))],
      ]),
    ]);
    const result = await deploy({ timeoutMs: 5 * MINUTE });
    const [report] = result.services;
    expect(report).toMatchObject({
      status: 'timed-out',
      headline:
        'not rolled out within 5m00s: 1/2 new tasks running, rollout IN_PROGRESS, 1 old tasks running',
      elapsedMs: 5 * MINUTE,
    });
    const message = describeFailures(result);
    expect(message).toContain('api: timed-out: not rolled out within 5m00s: 1/2 new tasks running');
    expect(message).toContain('has insufficient memory available.');
    // Never silent for more than a minute while nothing changes.
    const heartbeats = lines.filter((l) => l.includes('still waiting after'));
    expect(heartbeats.length).toBeGreaterThanOrEqual(3);
    expect(heartbeats[0]).toBe(
      '70s still waiting after 1m10s: api (1/2 new tasks running, rollout IN_PROGRESS, 1 old tasks running)',
    );
  });
});

it('rides out throttling: backs off while throttled, then reports the rollout', async () => {
  const { sim, deploy, lines } = setup([api([[at(10_000, tasks(2)), at(12_500, complete)]])], {
    faults: [{ operation: 'DescribeServices', from: 4000, to: 30_000 }],
  });
  const result = await deploy();
  expect(result.services[0]?.status).toBe('completed');
  expect(lines).toContain('4s api: ECS is throttling requests (ThrottlingException); backing off');
  // Polls at 0 and 2 s; throttled at 4, 7, 13 and 25 s (the interval doubles, with jitter); the
  // first poll after the throttling ends sees the completed rollout. Every 2 s would be 13 calls.
  expect(sim.callsOf('DescribeServices')).toHaveLength(1 /* before the update */ + 2 + 4 + 1);
  expect(result.services[0]!.elapsedMs).toBe(47_500);
  expect(lines.at(-1)).toBe('48s api: rolled out in 48s');
});

it('watches two services in parallel and reports each, one failing and one completing', async () => {
  const { deploy } = setup([
    api([
      [
        at(3000, taskStopped(STOPS.pull)),
        at(5000, taskStopped(STOPS.pull)),
        at(7000, taskStopped(STOPS.pull)),
      ],
    ]),
    {
      name: 'worker',
      taskDefinition: 'worker:7',
      desiredCount: 1,
      timelines: [[at(50_000, complete)]],
    },
  ]);
  const result = await deploy();
  expect(result.ok).toBe(false);
  expect(result.services.map((s) => [s.service, s.status, s.elapsedMs])).toEqual([
    ['api', 'failed', 8000],
    ['worker', 'completed', 50_000],
  ]);
  const message = describeFailures(result);
  expect(message.startsWith('1 of 2 services did not roll out:\napi: failed:')).toBe(true);
  expect(message).not.toContain('worker');
});

it('reports an API error on one service with the error, and goes on watching the others', async () => {
  const { deploy } = setup(
    [
      api([[at(20_000, complete)]]),
      {
        name: 'worker',
        taskDefinition: 'worker:7',
        desiredCount: 1,
        timelines: [[at(10_000, complete)]],
      },
    ],
    {
      faults: [
        {
          operation: 'DescribeServices',
          from: 4000,
          to: Infinity,
          error: 'AccessDeniedException',
          message: 'User is not authorized to perform: ecs:DescribeServices',
          when: (input) => String(input.services) === 'api',
        },
      ],
    },
  );
  const result = await deploy();
  expect(result.services.map((s) => [s.service, s.status, s.headline])).toEqual([
    [
      'api',
      'error',
      'DescribeServices failed: AccessDeniedException: User is not authorized to perform: ecs:DescribeServices',
    ],
    ['worker', 'completed', 'rolled out in 10s'],
  ]);
});

describe('rollback', () => {
  const describedApi = JSON.parse(
    readFileSync('test/fixtures/ecs/web-fargate.describe.json', 'utf8'),
  );
  const taskDefinitions = { [`${TD}/web:42`]: describedApi };
  const web = (timelines: SimServiceSpec['timelines'], more: Partial<SimServiceSpec> = {}) => ({
    name: 'web',
    taskDefinition: 'web:42',
    desiredCount: 2,
    timelines,
    ...more,
  });
  const failing = [
    at(3000, taskStopped(STOPS.exit1)),
    at(5000, taskStopped(STOPS.exit1)),
    at(7000, taskStopped(STOPS.exit1)),
  ];

  it('rollback-on-failure updates the service back to its previous task definition and waits for it', async () => {
    const { sim, deploy, lines } = setup(
      [web([failing, [at(4000, tasks(2)), at(9000, complete)]])],
      {
        taskDefinitions,
      },
    );
    const result = await deploy({ image: 'web:v2', containerName: 'app', rollbackOnFailure: true });
    const [report] = result.services;
    expect(report).toMatchObject({
      status: 'rolled-back',
      previousTaskDefinition: `${TD}/web:42`,
      taskDefinition: `${TD}/web:43`,
      rollback: {
        by: 'rollback-on-failure',
        taskDefinition: `${TD}/web:42`,
        outcome: 'completed',
        headline: 'rolled back to web:42 in 10s',
      },
    });
    expect(report!.rollback?.deploymentId).not.toBe(report!.deploymentId);
    // The failure is told with the events up to it; the rollback's come separately.
    expect(report!.events.map((e) => e.message).join()).not.toContain('deployment completed');
    expect(report!.rollback?.events.map((e) => e.message)).toContain(
      `(service web) (deployment ${report!.rollback?.deploymentId}) deployment completed.`,
    );
    expect(updates(sim).map((u) => u.taskDefinition)).toEqual([`${TD}/web:43`, `${TD}/web:42`]);
    expect(result.ok).toBe(false); // the rollout failed, even though the rollback worked
    expect(lines).toContain('8s web: rolling back to web:42 (rollback-on-failure)');
    expect(describeFailures(result)).toContain('rollback: rolled back to web:42 in 10s');
  });

  it('reports a rollback that fails too', async () => {
    const { deploy } = setup([web([failing, failing])], { taskDefinitions });
    const result = await deploy({ image: 'web:v2', containerName: 'app', rollbackOnFailure: true });
    expect(result.services[0]).toMatchObject({
      status: 'rollback-failed',
      rollback: {
        outcome: 'failed',
        headline: expect.stringContaining('did not complete: 3 tasks'),
      },
    });
  });

  it('does not roll back a forced deployment of the same task definition (nothing to go back to)', async () => {
    const { sim, deploy } = setup([api([failing])]);
    const result = await deploy({ rollbackOnFailure: true });
    expect(result.services[0]).toMatchObject({
      status: 'failed',
      rollback: { outcome: 'skipped' },
    });
    expect(updates(sim)).toHaveLength(1);
  });

  it('recognises the circuit breaker rolling back, and does not fight it', async () => {
    const { sim, deploy } = setup(
      [
        web([[at(4000, taskStopped(STOPS.healthCheck)), at(17_000, circuitBreakerRollsBack)]], {
          circuitBreaker: { enable: true, rollback: true },
        }),
      ],
      { taskDefinitions },
    );
    const result = await deploy({ image: 'web:v2', containerName: 'app', rollbackOnFailure: true });
    const [report] = result.services;
    expect(report).toMatchObject({
      status: 'rolled-back',
      headline:
        'rolled back by the ECS circuit breaker: ECS deployment circuit breaker: tasks failed to start. (service deployment: circuit breaker triggered: 3 of 3 tasks failed)',
      rollback: {
        by: 'ecs-circuit-breaker',
        taskDefinition: `${TD}/web:42`,
        outcome: 'in-progress',
      },
      elapsedMs: 18_000,
    });
    expect(report!.rollback?.deploymentId).toBe(sim.service('web').deployments[0]?.id);
    expect(updates(sim)).toHaveLength(1);
    expect(describeFailures(result)).toContain(
      'Task failed container health checks (api: exit code 137)',
    );
  });

  it('leaves the rollback to ECS when its rollback is on, even before its rollback deployment shows', async () => {
    const cb = { enable: true, rollback: true };
    const { sim, deploy } = setup(
      [web([[at(9000, circuitBreakerFails())]], { circuitBreaker: cb })],
      {
        taskDefinitions,
      },
    );
    const result = await deploy({ image: 'web:v2', containerName: 'app', rollbackOnFailure: true });
    expect(result.services[0]).toMatchObject({
      status: 'rolled-back',
      rollback: {
        by: 'ecs-circuit-breaker',
        taskDefinition: `${TD}/web:42`,
        outcome: 'in-progress',
      },
    });
    expect(updates(sim)).toHaveLength(1);
  });

  it('recognises a circuit-breaker rollback that finished before the next look', async () => {
    const rolledBackAndDone: Action = (svc, dep, sim) => {
      circuitBreakerRollsBack(svc, dep, sim);
      svc.deployments = svc.deployments.filter((d) => d.status === 'PRIMARY');
      const rollback = svc.deployments[0]!;
      Object.assign(rollback, { rolloutState: 'COMPLETED', runningCount: 2 });
      rollback.rolloutStateReason = `ECS deployment ${rollback.id} completed.`;
    };
    const cb = { enable: true, rollback: true };
    const { deploy } = setup([web([[at(7000, rolledBackAndDone)]], { circuitBreaker: cb })], {
      taskDefinitions,
    });
    const result = await deploy({ image: 'web:v2', containerName: 'app' });
    expect(result.services[0]).toMatchObject({
      status: 'rolled-back',
      rollback: { by: 'ecs-circuit-breaker', taskDefinition: `${TD}/web:42` },
    });
  });

  it('waits out one stale read that does not show the new deployment yet', async () => {
    // The read at 2 s answers from before the update: the old deployment PRIMARY, ours absent.
    const { deploy, lines } = setup([api([[at(5000, tasks(2)), at(9000, complete)]])], {
      staleReads: [{ from: 1000, to: 3000 }],
    });
    const result = await deploy();
    expect(result.services[0]).toMatchObject({ status: 'completed', elapsedMs: 10_000 });
    expect(lines.join('\n')).not.toMatch(/replaced|no longer/);
  });

  it('reports a deployment that stays missing from two reads in a row', async () => {
    const { deploy } = setup([api([[at(5000, tasks(2)), at(9000, complete)]])], {
      staleReads: [{ from: 1000, to: 5000 }],
    });
    const result = await deploy();
    expect(result.services[0]?.status).toBe('failed');
    expect(result.services[0]?.headline).toMatch(
      /^deployment ecs-svc\/\d+ is no longer among the service's deployments \(PRIMARY: ecs-svc\/\d+ \(api:12\)\)$/,
    );
    expect(result.services[0]?.elapsedMs).toBe(4000);
  });

  it('does not roll back over a deployment someone else started', async () => {
    const { sim, deploy } = setup([web([[at(6000, replacedBy('web:44'))]])], { taskDefinitions });
    const result = await deploy({ image: 'web:v2', containerName: 'app', rollbackOnFailure: true });
    expect(result.services[0]?.status).toBe('failed');
    expect(result.services[0]?.headline).toMatch(
      /^deployment ecs-svc\/\d+ was replaced by deployment ecs-svc\/\d+ \(web:44\), which this action did not start$/,
    );
    expect(updates(sim)).toHaveLength(1);
  });
});

describe('new images and task definitions', () => {
  const web = JSON.parse(readFileSync('test/fixtures/ecs/web-fargate.describe.json', 'utf8'));
  const taskDefinitions = { [`${TD}/web:42`]: web };

  it('registers one new revision per task definition, shared by the services that run it', async () => {
    const svc = (name: string) => ({
      name,
      taskDefinition: 'web:42',
      desiredCount: 1,
      timelines: [[at(5000, complete)]],
    });
    const { sim, deploy, lines } = setup([svc('web'), svc('web-canary')], { taskDefinitions });
    const result = await deploy({
      images: [
        ['app', 'web:v2'],
        ['envoy', 'envoy:v1.30'],
      ],
    });
    expect(result.ok).toBe(true);
    expect(sim.registered).toHaveLength(1);
    expect(sim.registered[0]?.containerDefinitions?.map((c) => c.image)).toEqual([
      'web:v2',
      'envoy:v1.30',
      'public.ecr.aws/aws-observability/aws-for-fluent-bit:stable',
    ]);
    expect(sim.registered[0]?.tags).toEqual(web.tags);
    expect(result.registered).toEqual([`${TD}/web:43`]);
    expect(updates(sim).map((u) => [u.service, u.taskDefinition])).toEqual([
      ['web', `${TD}/web:43`],
      ['web-canary', `${TD}/web:43`],
    ]);
    expect(lines[0]).toBe(
      "0s registered web:43 from task definition 'web:42' with app=web:v2, envoy=envoy:v1.30",
    );
  });

  it('registers a task definition file, with the image substituted', async () => {
    const text = readFileSync('test/fixtures/ecs/api.task-definition.json', 'utf8');
    const parsed = parseTaskDefinitionFile(text, 'api.task-definition.json');
    if ('problem' in parsed) throw new Error(parsed.problem);
    const { sim, deploy } = setup([api([[at(5000, complete)]])]);
    const result = await deploy({
      taskDefinition: { path: 'api.task-definition.json', request: parsed.request },
      image: 'api:v2',
    });
    expect(result.services[0]).toMatchObject({
      status: 'completed',
      taskDefinition: `${TD}/api:1`,
      images: [['api', 'api:v2']],
    });
    expect(sim.registered[0]).toEqual({
      ...parsed.request,
      containerDefinitions: [{ ...parsed.request.containerDefinitions![0], image: 'api:v2' }],
    });
  });

  it('changes only the count when asked to, and waits for the count', async () => {
    const { sim, deploy, lines } = setup([api([[at(6000, tasks(3, 1)), at(11_000, tasks(4))]])]);
    const result = await deploy({ forceNewDeployment: false, desiredCount: 4 });
    expect(result.services[0]).toMatchObject({ status: 'completed', elapsedMs: 12_000 });
    expect(updates(sim)).toEqual([
      { cluster: 'prod', service: 'api', forceNewDeployment: false, desiredCount: 4 },
    ]);
    expect(lines.some((l) => l.includes('the update started no new deployment'))).toBe(true);
  });

  it('does not wait when wait is false', async () => {
    const { sim, deploy } = setup([api([[at(5000, complete)]])]);
    const result = await deploy({ wait: false });
    expect(result).toMatchObject({ ok: true, services: [{ status: 'started', elapsedMs: 0 }] });
    expect(sim.callsOf('DescribeServices')).toHaveLength(1); // the check before the update
  });
});

describe('bad input fails before anything changes', () => {
  const web = JSON.parse(readFileSync('test/fixtures/ecs/web-fargate.describe.json', 'utf8'));

  async function refused(
    setupArgs: Parameters<typeof setup>,
    opts: Partial<DeployEcsOptions>,
  ): Promise<string> {
    const { sim, deploy } = setup(...setupArgs);
    const error = await deploy(opts).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(RolloutPlanError);
    expect(sim.callsOf('UpdateService')).toHaveLength(0);
    expect(sim.callsOf('RegisterTaskDefinition')).toHaveLength(0);
    return (error as Error).message;
  }

  it('names every service that does not exist (ECS failures), even when others do', async () => {
    const message = await refused([[api([])]], { services: ['api', 'apu', 'worker'] });
    expect(message).toBe(
      "2 problems found before changing anything:\n- service 'apu' not found in cluster 'prod'\n- service 'worker' not found in cluster 'prod'",
    );
  });

  it('names a cluster that does not exist', async () => {
    const message = await refused([[api([])]], { cluster: 'prdo' });
    expect(message).toBe("input 'cluster': cluster 'prdo' not found");
  });

  it('refuses services on the EXTERNAL controller, whose task sets it does not manage', async () => {
    const message = await refused([[api([], { deploymentController: 'EXTERNAL' })]], {});
    expect(message).toBe(
      "service 'api' uses the EXTERNAL deployment controller, whose task sets deploy-ecs does not manage: it deploys services on the ECS controller (rolling, blue/green, linear, canary) and on CODE_DEPLOY",
    );
  });

  it('names the input and the containers when an image is for a container that does not exist', async () => {
    const services = [{ name: 'web', taskDefinition: 'web:42', desiredCount: 1 }];
    const message = await refused([services, { taskDefinitions: { [`${TD}/web:42`]: web } }], {
      image: 'web:v2',
      containerName: 'web',
    });
    expect(message).toBe(
      "input 'container-name' names container 'web', which task definition 'web:42' of service 'web' does not have; its containers: 'app', 'envoy', 'log_router'",
    );
  });
});

it('still finds stopped tasks where ListTasks refuses startedBy with a status', async () => {
  const { sim, deploy } = setup(
    [
      api([
        [
          at(3000, taskStopped(STOPS.pull)),
          at(5000, taskStopped(STOPS.pull)),
          at(7000, taskStopped(STOPS.pull)),
        ],
      ]),
    ],
    { rejectStartedByWithStatus: true },
  );
  const result = await deploy();
  expect(result.services[0]).toMatchObject({ status: 'failed', elapsedMs: 8000 });
  expect(result.services[0]?.stoppedTasks).toHaveLength(3);
  expect(sim.callsOf('ListTasks').at(-1)).toEqual({
    cluster: 'prod',
    serviceName: 'api',
    desiredStatus: 'STOPPED',
  });
});

it('stops waiting when cancelled, and says where the rollout was', async () => {
  const { deploy } = setup([api([[at(4000, tasks(1))]])]);
  const controller = new AbortController();
  const pending = deploy({ signal: controller.signal });
  setTimeout(() => controller.abort(), 20);
  const result = await pending;
  expect(result.services[0]).toMatchObject({
    status: 'cancelled',
    headline: expect.stringMatching(/^cancelled while waiting: \d\/2 new tasks running/),
  });
});
