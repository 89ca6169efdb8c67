/**
 * deploy-ecs on BLUE_GREEN, LINEAR and CANARY services, followed through service deployments on
 * the ECS stand-in, in virtual time: success after the bake, a lifecycle hook that fails, an alarm
 * that rolls back, ECS's rollback failing, a stopped deployment, and the API missing.
 */
import type { UpdateServiceCommandInput } from '@aws-sdk/client-ecs';
import { RolloutPlanError } from '../../src/ecs/rollout.js';
import { deployOutputs, deploySummary } from '../../src/ecs/summary.js';
import {
  alarmFires,
  at,
  circuitBreakerFails,
  complete,
  deploymentStopped,
  deploymentSucceeds,
  hookFails,
  replacedBy,
  rollbackEnds,
  SimulatedEcs,
  stage,
  tasks,
  type SimOptions,
  type SimServiceSpec,
  type TimelineStep,
} from '../../stand-ins/ecs.js';
import { MINUTE, setupRollout } from './ecs-setup.js';

const HOOK = 'arn:aws:lambda:us-east-1:123456789012:function:smoke-test';

// ECS's own rollback is what these services rely on; rollback-on-failure must stay out of its way.
const setup = (services: SimServiceSpec[], extra: Partial<SimOptions> = {}) =>
  setupRollout(services, extra, { rollbackOnFailure: true });

const updates = (sim: SimulatedEcs) => sim.callsOf('UpdateService') as UpdateServiceCommandInput[];

/** A blue/green walk up to production traffic, then `end` at `endAt`. */
const blueGreen = (name: string, end: TimelineStep[], bake = 10): SimServiceSpec => ({
  name,
  taskDefinition: `${name}:7`,
  desiredCount: 2,
  strategy: 'BLUE_GREEN',
  bakeTimeInMinutes: bake,
  timelines: [
    [
      at(2000, stage('SCALE_UP'), tasks(0, 2)),
      at(6000, tasks(2)),
      at(8000, stage('TEST_TRAFFIC_SHIFT', { test: 100 })),
      at(12_000, stage('POST_TEST_TRAFFIC_SHIFT')),
      ...end,
    ],
  ],
});

const successAfterBake = [
  at(16_000, stage('PRODUCTION_TRAFFIC_SHIFT', { production: 100 })),
  at(20_000, stage('BAKE_TIME')),
  at(20_000 + 10 * MINUTE, deploymentSucceeds),
];

describe('blue/green', () => {
  it('walks the lifecycle stages, bakes past the timeout, and reports SUCCESSFUL within a poll', async () => {
    // The bake (10 min) plus the walk is longer than a 9-minute timeout: the deadline covers it.
    const { sim, deploy, lines } = setup([blueGreen('api', successAfterBake)]);
    const result = await deploy({ timeoutMs: 9 * MINUTE });
    const [report] = result.services;
    expect(report).toMatchObject({ status: 'completed', strategy: 'BLUE_GREEN' });
    expect(report!.headline).toMatch(/^rolled out in .* \(blue\/green\)$/);
    const decided = 20_000 + 10 * MINUTE;
    expect(report!.elapsedMs).toBeGreaterThanOrEqual(decided);
    expect(report!.elapsedMs).toBeLessThanOrEqual(decided + 2000);
    expect(report!.stages?.map((s) => s.stage)).toEqual([
      'RECONCILE_SERVICE',
      'SCALE_UP',
      'TEST_TRAFFIC_SHIFT',
      'POST_TEST_TRAFFIC_SHIFT',
      'PRODUCTION_TRAFFIC_SHIFT',
      'BAKE_TIME',
      'CLEAN_UP',
    ]);
    expect(lines).toContain(
      '0s api: waiting up to 19m00s: timeout 9m00s + 10 min bake time (blue/green)',
    );
    expect(lines).toContain(
      '12s api: TEST_TRAFFIC_SHIFT → POST_TEST_TRAFFIC_SHIFT (blue/green, bake 10 min)',
    );
    expect(updates(sim)).toHaveLength(1);
    expect(deploySummary(result)).toContain('POST_TEST_TRAFFIC_SHIFT');
    // The heartbeat during the bake says how much of it is left.
    expect(lines.find((l) => l.includes('still waiting') && l.includes('BAKE_TIME'))).toMatch(
      /stage BAKE_TIME, 2\/2 new tasks running, bake 9m\d\ds left, status IN_PROGRESS/,
    );
  });

  it('fails when a lifecycle hook fails, quoting the hook and its stage, and leaves the rollback to ECS', async () => {
    const { sim, deploy } = setup([blueGreen('api', [at(15_000, hookFails(HOOK))])]);
    const result = await deploy();
    const [report] = result.services;
    expect(report).toMatchObject({
      status: 'rolled-back',
      rollback: { by: 'ecs', outcome: 'in-progress' },
    });
    expect(report!.headline).toBe(
      `ECS is rolling back: Service deployment rolled back because of a failed lifecycle hook.; lifecycle hook ${HOOK} FAILED in POST_TEST_TRAFFIC_SHIFT`,
    );
    expect(report!.elapsedMs).toBeLessThanOrEqual(15_000 + 2000);
    expect(report!.rollback?.serviceRevisionArn).toMatch(/service-revision\/prod\/api\/\d+$/);
    // rollback-on-failure is on, but an UpdateService would fight ECS's own rollback.
    expect(updates(sim)).toHaveLength(1);
    expect(deployOutputs(result)['rolled-back']).toBe('true');
  });

  it('with wait-for-rollback, waits for ECS to finish rolling back after an alarm', async () => {
    const { deploy, lines } = setup([
      blueGreen('api', [
        at(14_000, alarmFires('api-5xx')),
        at(40_000, rollbackEnds('ROLLBACK_SUCCESSFUL')),
      ]),
    ]);
    const result = await deploy({ waitForRollback: true });
    const [report] = result.services;
    expect(report).toMatchObject({
      status: 'rolled-back',
      rollback: { by: 'ecs', outcome: 'completed', headline: 'ECS rolled back to api:7' },
    });
    expect(report!.headline).toContain('alarm api-5xx in ALARM');
    expect(report!.elapsedMs).toBeLessThanOrEqual(42_000);
    expect(lines.filter((l) => l.includes('waiting for the rollback'))).toHaveLength(1);
  });

  it('says plainly when ECS cannot roll back either', async () => {
    const { sim, deploy } = setup([
      blueGreen('api', [
        at(14_000, alarmFires('api-5xx')),
        at(30_000, rollbackEnds('ROLLBACK_FAILED')),
      ]),
    ]);
    const result = await deploy({ waitForRollback: true });
    const [report] = result.services;
    expect(report).toMatchObject({
      status: 'rollback-failed',
      rollback: { by: 'ecs', outcome: 'failed' },
    });
    expect(report!.headline).toMatch(/^the deployment failed and ECS's rollback FAILED too: /);
    expect(report!.headline).toContain('rollback failed');
    expect(updates(sim)).toHaveLength(1);
  });

  it('reads at most 20 service deployments per call, and every service in each poll', async () => {
    const names = Array.from({ length: 25 }, (_, i) => `svc${i}`);
    const { sim, deploy } = setup(names.map((n) => blueGreen(n, successAfterBake, 1)));
    const result = await deploy();
    expect(result.services.map((s) => s.status)).toEqual(names.map(() => 'completed'));
    const sizes = (
      sim.callsOf('DescribeServiceDeployments') as Array<{ serviceDeploymentArns: string[] }>
    ).map((d) => d.serviceDeploymentArns.length);
    expect(Math.max(...sizes)).toBe(20);
    expect(sizes).toContain(5);
  });

  it('says plainly when the service deployment is stopped', async () => {
    const { sim, deploy } = setup([blueGreen('api', [at(13_000, deploymentStopped)])]);
    const result = await deploy();
    expect(result.services[0]).toMatchObject({
      status: 'failed',
      headline:
        'the service deployment was STOPPED before it finished: Service deployment stopped by user request.',
    });
    expect(updates(sim)).toHaveLength(1);
  });

  it('follows several services with one DescribeServiceDeployments call per poll', async () => {
    const { sim, deploy } = setup([
      blueGreen('api', successAfterBake, 1),
      blueGreen('web', successAfterBake, 1),
      blueGreen('jobs', successAfterBake, 1),
    ]);
    const result = await deploy();
    expect(result.ok).toBe(true);
    const describes = sim.callsOf('DescribeServiceDeployments') as Array<{
      serviceDeploymentArns: string[];
    }>;
    // Each poll (every 2 s for ~82 s) asks for all three at once; the probes ask for one each.
    const shared = describes.filter((d) => d.serviceDeploymentArns.length === 3);
    expect(shared.length).toBeGreaterThan(30);
    expect(describes.length - shared.length).toBeLessThanOrEqual(3 + 3);
  });
});

describe('canary and linear', () => {
  it('logs each traffic shift with its weights, and extends the deadline by the canary bake', async () => {
    const { deploy, lines } = setup([
      {
        name: 'api',
        taskDefinition: 'api:7',
        desiredCount: 2,
        strategy: 'CANARY',
        bakeTimeInMinutes: 5,
        canaryConfiguration: { canaryPercent: 10, canaryBakeTimeInMinutes: 15 },
        timelines: [
          [
            at(4000, stage('SCALE_UP'), tasks(2)),
            at(8000, stage('PRODUCTION_TRAFFIC_SHIFT', { production: 10 })),
            at(8000 + 15 * MINUTE, stage('PRODUCTION_TRAFFIC_SHIFT', { production: 100 })),
            at(10_000 + 15 * MINUTE, stage('BAKE_TIME')),
            at(10_000 + 20 * MINUTE, deploymentSucceeds),
          ],
        ],
      },
    ]);
    const result = await deploy({ timeoutMs: 10 * MINUTE });
    expect(result.services[0]?.status).toBe('completed');
    expect(lines).toContain(
      '0s api: waiting up to 30m00s: timeout 10m00s + 5 min bake time + 15 min canary bake (canary)',
    );
    expect(lines).toContain(
      '8s api: SCALE_UP → PRODUCTION_TRAFFIC_SHIFT (canary, bake 5 min, production traffic 10%)',
    );
    expect(lines).toContain('908s api: PRODUCTION_TRAFFIC_SHIFT: production traffic 100%');
    expect(result.services[0]?.stages?.filter((s) => s.traffic)).toHaveLength(2);
  });

  it('extends the deadline by every linear step', async () => {
    const { deploy, lines } = setup([
      {
        name: 'api',
        taskDefinition: 'api:7',
        desiredCount: 2,
        strategy: 'LINEAR',
        linearConfiguration: { stepPercent: 25, stepBakeTimeInMinutes: 2 },
        timelines: [[at(30_000, deploymentSucceeds)]],
      },
    ]);
    await deploy();
    expect(lines).toContain(
      '0s api: waiting up to 23m00s: timeout 15m00s + 4 linear steps × 2 min (linear)',
    );
  });
});

describe('without the service-deployment API', () => {
  it.each(['unknown', 'denied', 'denied-describe'] as const)(
    'refuses a blue/green service before changing anything (%s)',
    async (api) => {
      const { sim, deploy } = setup([blueGreen('api', successAfterBake)], {
        serviceDeploymentsApi: api,
      });
      const error = await deploy().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RolloutPlanError);
      const permission =
        api === 'denied-describe' ? 'ecs:DescribeServiceDeployments' : 'ecs:ListServiceDeployments';
      expect((error as Error).message).toMatch(
        new RegExp(
          `^service 'api' uses the BLUE_GREEN strategy, .* but ${permission} is not available`,
        ),
      );
      expect(updates(sim)).toHaveLength(0);
    },
  );

  it('follows a rolling service as before, with a one-line notice naming the permission when it needs it', async () => {
    const rolling = (end: TimelineStep, alarms = true): SimServiceSpec => ({
      name: 'api',
      taskDefinition: 'api:7',
      desiredCount: 2,
      ...(alarms ? { alarms: { alarmNames: ['api-5xx'], enable: true, rollback: false } } : {}),
      timelines: [[at(3000, tasks(1, 1)), end]],
    });
    // Without alarms, the service deployment of a rollout FAILED in place has nothing to add.
    const plain = setup([rolling(at(9000, circuitBreakerFails()), false)]);
    expect((await plain.deploy()).services[0]?.status).toBe('failed');
    expect(plain.sim.callsOf('ListServiceDeployments')).toHaveLength(0);
    // With alarms, a failure is where it explains more: its first read is the probe.
    const failing = setup([rolling(at(9000, circuitBreakerFails()))], {
      serviceDeploymentsApi: 'denied',
    });
    const result = await failing.deploy();
    expect(result.services[0]?.status).toBe('failed');
    expect(result.services[0]?.headline).toMatch(/^rollout FAILED: ECS deployment circuit breaker/);
    expect(failing.lines.filter((l) => l.includes('ecs:ListServiceDeployments'))).toEqual([
      '10s api: ecs:ListServiceDeployments is not available (AccessDeniedException); following the rolling deployment through DescribeServices only (allow ecs:ListServiceDeployments and ecs:DescribeServiceDeployments for alarm and rollback reasons)',
    ]);
    expect(failing.sim.callsOf('ListServiceDeployments')).toHaveLength(1);
  });
});

it('a rolling rollout that succeeds makes no service-deployment call', async () => {
  const { sim, deploy } = setup([
    { name: 'api', taskDefinition: 'api:7', desiredCount: 2, timelines: [[at(9000, complete)]] },
  ]);
  const result = await deploy();
  expect(result.services[0]?.status).toBe('completed');
  expect(sim.callsOf('ListServiceDeployments')).toHaveLength(0);
  expect(sim.callsOf('DescribeServiceDeployments')).toHaveLength(0);
});

it('a rolling service rolled back by an alarm quotes the alarm from its service deployment', async () => {
  const { deploy } = setup([
    {
      name: 'api',
      taskDefinition: 'api:7',
      desiredCount: 2,
      circuitBreaker: { enable: true, rollback: true },
      alarms: { alarmNames: ['api-latency'], enable: true, rollback: true },
      timelines: [
        [
          at(5000, (svc, dep, sim) => {
            alarmFires('api-latency')(svc, dep, sim);
            dep.rolloutState = 'FAILED';
            dep.rolloutStateReason = 'ECS deployment failed: alarm triggered.';
          }),
        ],
      ],
    },
  ]);
  const result = await deploy();
  expect(result.services[0]?.status).toBe('rolled-back');
  expect(result.services[0]?.headline).toContain('alarm api-latency in ALARM');
});

describe('a rolling deployment replaced by someone else', () => {
  const replaced = () => ({
    name: 'api',
    taskDefinition: 'api:7',
    desiredCount: 2,
    timelines: [[at(5000, replacedBy('api:9'))]],
  });

  it('is reported at the first read when its service deployment confirms it was stopped', async () => {
    const { deploy } = setup([replaced()]);
    const result = await deploy();
    expect(result.services[0]).toMatchObject({ status: 'failed', elapsedMs: 6000 });
    expect(result.services[0]?.headline).toMatch(/was replaced by deployment .* \(api:9\)/);
  });

  it('needs a second read without the service-deployment API', async () => {
    const { deploy } = setup([replaced()], { serviceDeploymentsApi: 'denied' });
    const result = await deploy();
    expect(result.services[0]).toMatchObject({ status: 'failed', elapsedMs: 8000 });
  });
});
