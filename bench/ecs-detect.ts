// bench/ecs-detect: how soon after an ECS rollout has completed, or has failed, does deploy-ecs report
// it, against the usual waiter that polls "services stable" every 15 s (`aws ecs wait
// services-stable`: stable = one deployment and running == desired; a failed rollout is never
// stable, so it waits for its deadline). Both run the same scripted timelines on a simulated ECS in
// virtual time (aws-sdk-client-mock; nothing sleeps). Then the bundle: its size, and its start-up
// (node start to its first request on the wire) against a bare `node -e 0`.
// Usage: npx tsx bench/ecs-detect.ts [--trials 200] [--seed 1]
import { DescribeServicesCommand, UpdateServiceCommand } from '@aws-sdk/client-ecs';
import { CreateDeploymentCommand, GetDeploymentCommand } from '@aws-sdk/client-codedeploy';
import { deployEcs } from '../src/ecs/rollout.js';
import { poll } from '../src/poll.js';
import { VirtualClock } from '../src/virtual-clock.js';
import {
  alarmFires,
  at,
  circuitBreakerFails,
  deploymentSucceeds,
  hookFails,
  rollbackEnds,
  stage,
  complete,
  event,
  SimulatedEcs,
  STOPS,
  taskStopped,
  tasks,
  type SimServiceSpec,
  type TimelineStep,
} from '../stand-ins/ecs.js';

import {
  cdAlarmFires,
  cdAt,
  cdHookFails,
  cdRollbackEnds,
  cdSucceeds,
  reaches,
  shifts,
  SimulatedCodeDeploy,
  type CdStep,
  type SimGroupSpec,
} from '../stand-ins/codedeploy.js';
import {
  bundleSizeRows,
  median,
  quantile,
  printTable,
  measureStartup,
  startupRows,
} from './lib.mjs';

const BUNDLE = 'actions/deploy-ecs/dist/index.js';
const arg = (name: string, fallback: number) =>
  Number(process.argv[process.argv.indexOf(name) + 1]) || fallback;
const trials = arg('--trials', 200);
const TIMEOUT_MS = 15 * 60_000;
const YARDSTICK_INTERVAL_MS = 15_000;
const SUCCESS_TARGET_MS = 3000;
const FAILURE_TARGET_MS = 15_000;
const STARTUP_BUDGET_MS = 190;

/** Seeded, so a run can be repeated (mulberry32). */
let seed = arg('--seed', 1) >>> 0;
function random(): number {
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const between = (lo: number, hi: number) => Math.round(lo + random() * (hi - lo));

interface Timeline {
  spec: SimServiceSpec;
  /** When the rollout has completed or failed, ms after the update. */
  decidedAt: number;
  /** A CODE_DEPLOY service: its deployment group and the deployment's timeline. */
  group?: SimGroupSpec;
  /** Its deployment config's canary interval, minutes. */
  canaryInterval?: number;
}

const scenarios: Record<string, { failure: boolean; make: () => Timeline }> = {
  'completes (random time)': {
    failure: false,
    make: () => {
      const t = between(20_000, 300_000);
      const steps: TimelineStep[] = [
        at(between(2000, 8000), tasks(0, 2), event('(service $SERVICE) has started 2 tasks.')),
        at(Math.round(t * 0.6), tasks(1, 1)),
        at(Math.round(t * 0.8), tasks(2)),
        at(t, complete),
      ];
      return { spec: service(steps, true), decidedAt: t };
    },
  },
  'circuit breaker FAILED': {
    failure: true,
    make: () => {
      const t = between(30_000, 400_000);
      const steps = [
        at(Math.round(t * 0.3), taskStopped(STOPS.healthCheck)),
        at(Math.round(t * 0.6), taskStopped(STOPS.healthCheck)),
        at(t, circuitBreakerFails()),
      ];
      return { spec: service(steps, true), decidedAt: t };
    },
  },
  '3rd stopped task (no CB)': {
    failure: true,
    make: () => {
      const first = between(10_000, 120_000);
      const gap = between(5000, 60_000);
      const steps = [0, 1, 2].map((n) => at(first + n * gap, taskStopped(STOPS.pull)));
      return { spec: service(steps, false), decidedAt: first + 2 * gap };
    },
  },
};

/** A blue/green or canary walk: scale up, test traffic, then `end` from `shiftAt` on. */
function trafficShifting(
  strategy: 'BLUE_GREEN' | 'CANARY',
  outcome: 'success' | 'hook' | 'alarm',
): Timeline {
  const bake = between(1, 10);
  const scaled = between(10_000, 90_000);
  const tested = scaled + between(5000, 60_000);
  const steps: TimelineStep[] = [
    at(between(1000, 4000), stage('SCALE_UP'), tasks(0, 2)),
    at(scaled, tasks(2)),
    at(scaled + 1000, stage('TEST_TRAFFIC_SHIFT', { test: 100 })),
    at(tested, stage('POST_TEST_TRAFFIC_SHIFT')),
  ];
  let decidedAt: number;
  if (outcome === 'hook') {
    decidedAt = tested + between(1000, 30_000);
    steps.push(at(decidedAt, hookFails('arn:aws:lambda:us-east-1:123456789012:function:smoke')));
  } else {
    const canaryBake = strategy === 'CANARY' ? between(1, 5) * 60_000 : 0;
    const shifted = tested + between(1000, 10_000);
    steps.push(
      at(
        shifted,
        stage('PRODUCTION_TRAFFIC_SHIFT', { production: strategy === 'CANARY' ? 10 : 100 }),
      ),
    );
    if (canaryBake > 0)
      steps.push(at(shifted + canaryBake, stage('PRODUCTION_TRAFFIC_SHIFT', { production: 100 })));
    const baking = shifted + canaryBake + 1000;
    steps.push(at(baking, stage('BAKE_TIME')));
    if (outcome === 'alarm') {
      decidedAt = baking + between(10_000, bake * 60_000 - 1000);
      steps.push(at(decidedAt, alarmFires('api-5xx')));
    } else {
      decidedAt = baking + bake * 60_000;
      steps.push(at(decidedAt, deploymentSucceeds));
    }
  }
  // ECS's rollback puts the old revision back: "stable" again for the services-stable waiter.
  if (outcome !== 'success')
    steps.push(at(decidedAt + between(30_000, 120_000), rollbackEnds('ROLLBACK_SUCCESSFUL')));
  return {
    spec: {
      name: 'api',
      taskDefinition: 'api:12',
      desiredCount: 2,
      strategy,
      bakeTimeInMinutes: bake,
      ...(strategy === 'CANARY'
        ? { canaryConfiguration: { canaryPercent: 10, canaryBakeTimeInMinutes: 5 } }
        : {}),
      timelines: [steps],
    },
    decidedAt,
  };
}
scenarios['blue/green succeeds after bake'] = {
  failure: false,
  make: () => trafficShifting('BLUE_GREEN', 'success'),
};
scenarios['blue/green hook fails'] = {
  failure: true,
  make: () => trafficShifting('BLUE_GREEN', 'hook'),
};
scenarios['blue/green alarm rollback'] = {
  failure: true,
  make: () => trafficShifting('BLUE_GREEN', 'alarm'),
};
scenarios['canary succeeds after bakes'] = {
  failure: false,
  make: () => trafficShifting('CANARY', 'success'),
};
scenarios['canary hook fails'] = { failure: true, make: () => trafficShifting('CANARY', 'hook') };
scenarios['canary alarm rollback'] = {
  failure: true,
  make: () => trafficShifting('CANARY', 'alarm'),
};

/**
 * A CodeDeploy canary (10%, 1-5 min interval) with a 1-10 min wait before the original task set is
 * terminated: lifecycle events, test traffic, then `outcome`.
 */
function codeDeploy(outcome: 'success' | 'hook' | 'alarm'): Timeline {
  const interval = between(1, 5);
  const termination = between(1, 10);
  const installed = between(10_000, 90_000);
  const tested = installed + between(5000, 60_000);
  const steps: CdStep[] = [
    cdAt(between(1000, 4000), reaches('BeforeInstall')),
    cdAt(between(5000, 9000), reaches('Install')),
    cdAt(installed, reaches('AfterInstall')),
    cdAt(installed + 1000, reaches('AllowTestTraffic')),
    cdAt(installed + 2000, reaches('AfterAllowTestTraffic')),
  ];
  let decidedAt: number;
  if (outcome === 'hook') {
    decidedAt = tested;
    steps.push(
      cdAt(
        decidedAt,
        cdHookFails(
          'AfterAllowTestTraffic',
          'arn:aws:lambda:us-east-1:123456789012:function:smoke',
        ),
      ),
    );
  } else {
    const shifted = tested + between(1000, 10_000);
    const full = shifted + interval * 60_000;
    steps.push(
      cdAt(tested, reaches('BeforeAllowTraffic')),
      cdAt(shifted, reaches('AllowTraffic'), shifts(10)),
      cdAt(full, shifts(100)),
      cdAt(full + 1000, reaches('AfterAllowTraffic')),
    );
    // Succeeded once the original task set is terminated, after the wait.
    const terminated = full + 2000 + termination * 60_000;
    if (outcome === 'alarm') {
      decidedAt = between(shifted + 1000, terminated - 1000);
      // CodeDeploy stops there: nothing scripted after the alarm happens.
      steps.splice(0, steps.length, ...steps.filter((step) => step.at < decidedAt));
      steps.push(cdAt(decidedAt, cdAlarmFires('api-5xx')));
    } else {
      decidedAt = terminated;
      steps.push(cdAt(decidedAt, cdSucceeds));
    }
  }
  if (outcome !== 'success')
    steps.push(cdAt(decidedAt + between(30_000, 120_000), cdRollbackEnds('Succeeded')));
  return {
    spec: {
      name: 'api',
      taskDefinition: 'api:12',
      desiredCount: 2,
      deploymentController: 'CODE_DEPLOY',
      loadBalancers: [
        {
          containerName: 'web',
          containerPort: 8080,
          targetGroupArn: 'arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/api/1',
        },
      ],
      timelines: [],
    },
    group: {
      application: 'AppECS-prod-api',
      deploymentGroup: 'DgpECS-prod-api',
      cluster: 'prod',
      service: 'api',
      deploymentConfigName: 'canary',
      terminationWaitMinutes: termination,
      timelines: [steps],
    },
    canaryInterval: interval,
    decidedAt,
  };
}

function codeDeployStandIn(t: Timeline, clock: VirtualClock, sim: SimulatedEcs) {
  return new SimulatedCodeDeploy({
    clock,
    ecs: sim,
    groups: t.group ? [t.group] : [],
    configs: {
      canary: {
        type: 'TimeBasedCanary',
        timeBasedCanary: { canaryPercentage: 10, canaryInterval: t.canaryInterval ?? 1 },
      },
    },
  });
}
scenarios['CodeDeploy succeeds after waits'] = {
  failure: false,
  make: () => codeDeploy('success'),
};
scenarios['CodeDeploy hook fails'] = { failure: true, make: () => codeDeploy('hook') };
scenarios['CodeDeploy alarm rollback'] = { failure: true, make: () => codeDeploy('alarm') };

function service(steps: TimelineStep[], circuitBreaker: boolean): SimServiceSpec {
  return {
    name: 'api',
    taskDefinition: 'api:12',
    desiredCount: 2,
    timelines: [steps],
    circuitBreaker: { enable: circuitBreaker, rollback: false },
  };
}

/** deploy-ecs with its defaults: ms from the decisive moment to the verdict, and calls made. */
async function ours(t: Timeline) {
  const clock = new VirtualClock();
  const sim = new SimulatedEcs({ clock, cluster: 'prod', services: [t.spec] });
  const cd = codeDeployStandIn(t, clock, sim);
  const result = await deployEcs({
    cluster: 'prod',
    services: ['api'],
    forceNewDeployment: true,
    wait: true,
    timeoutMs: TIMEOUT_MS,
    maxTaskFailures: 3,
    rollbackOnFailure: false,
    ecs: sim.client,
    codeDeploy: { client: () => Promise.resolve(cd.client) },
    clock,
    random,
  });
  const report = result.services[0]!;
  return {
    latency: report.elapsedMs - t.decidedAt,
    status: report.status,
    calls: sim.mock.calls().length + cd.mock.calls().length,
    minutes: report.elapsedMs / 60_000,
  };
}

/**
 * update-service, then "services stable" every 15 s until the deadline. For a CODE_DEPLOY service:
 * create-deployment, then `aws deploy wait deployment-successful` (GetDeployment every 15 s until
 * Succeeded, Failed or Stopped).
 */
async function yardstick(t: Timeline) {
  const clock = new VirtualClock();
  const sim = new SimulatedEcs({ clock, cluster: 'prod', services: [t.spec] });
  if (t.group) return codeDeployWaiter(t, clock, sim);
  await sim.client.send(
    new UpdateServiceCommand({ cluster: 'prod', service: 'api', forceNewDeployment: true }),
  );
  const result = await poll({
    timeoutMs: TIMEOUT_MS,
    intervalMs: YARDSTICK_INTERVAL_MS,
    clock,
    attempt: async () => {
      const out = await sim.client.send(
        new DescribeServicesCommand({ cluster: 'prod', services: ['api'] }),
      );
      const s = out.services?.[0];
      const stable = s?.deployments?.length === 1 && s.runningCount === s.desiredCount;
      return stable ? { kind: 'done', value: true } : { kind: 'wait', reason: 'not stable' };
    },
  });
  return {
    latency: result.elapsedMs - t.decidedAt,
    status: result.outcome === 'done' ? 'stable' : 'timed out',
    calls: sim.mock.calls().length,
    minutes: result.elapsedMs / 60_000,
  };
}

async function codeDeployWaiter(t: Timeline, clock: VirtualClock, sim: SimulatedEcs) {
  const cd = codeDeployStandIn(t, clock, sim);
  const { deploymentId } = await cd.client.send(
    new CreateDeploymentCommand({
      applicationName: 'AppECS-prod-api',
      deploymentGroupName: 'DgpECS-prod-api',
      revision: {
        revisionType: 'AppSpecContent',
        appSpecContent: { content: 'TaskDefinition: "api:12"' },
      },
    }),
  );
  const result = await poll<string>({
    timeoutMs: TIMEOUT_MS,
    intervalMs: YARDSTICK_INTERVAL_MS,
    clock,
    attempt: async () => {
      const out = await cd.client.send(new GetDeploymentCommand({ deploymentId }));
      const status = out.deploymentInfo?.status ?? '';
      return ['Succeeded', 'Failed', 'Stopped'].includes(status)
        ? { kind: 'done', value: status }
        : { kind: 'wait', reason: status };
    },
  });
  return {
    latency: result.elapsedMs - t.decidedAt,
    status: result.outcome === 'done' ? result.value : 'timed out',
    calls: cd.mock.calls().length,
    minutes: result.elapsedMs / 60_000,
  };
}

const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
console.log(
  `ecs-detect: ${trials} scripted timelines per scenario, deadline ${TIMEOUT_MS / 60_000} min; latency = verdict time - the moment the rollout completed or failed\n`,
);
const rows: string[][] = [];
const verdicts: string[] = [];
for (const [name, scenario] of Object.entries(scenarios)) {
  const mine: number[] = [];
  const theirs: number[] = [];
  const statuses = new Set<string>();
  const yardstickStatuses = new Set<string>();
  let callsPerMinute = 0;
  let yardstickCallsPerMinute = 0;
  for (let i = 0; i < trials; i++) {
    const timeline = scenario.make();
    const a = await ours(timeline);
    const b = await yardstick(timeline);
    mine.push(a.latency);
    theirs.push(b.latency);
    statuses.add(a.status);
    yardstickStatuses.add(b.status);
    callsPerMinute += a.calls / Math.max(a.minutes, 1 / 60) / trials;
    yardstickCallsPerMinute += b.calls / Math.max(b.minutes, 1 / 60) / trials;
  }
  const target = scenario.failure ? FAILURE_TARGET_MS : SUCCESS_TARGET_MS;
  rows.push([
    name,
    [...statuses].join('/'),
    s(median(mine)),
    s(quantile(mine, 0.95)),
    s(Math.max(...mine)),
    [...yardstickStatuses].join('/'),
    s(median(theirs)),
    s(quantile(theirs, 0.95)),
    `<= ${s(target)}`,
    callsPerMinute.toFixed(0),
    yardstickCallsPerMinute.toFixed(1),
  ]);
  verdicts.push(
    `${name}: max ${s(Math.max(...mine))} ${Math.max(...mine) <= target ? 'meets' : 'MISSES'} the target of ${s(target)}`,
  );
}
printTable(
  [
    'timeline',
    'ours says',
    'ours median',
    'ours p95',
    'ours max',
    'yardstick says',
    'yardstick median',
    'yardstick p95',
    'target',
    'our API calls/min',
    'yardstick calls/min',
  ],
  rows,
);
console.log(`\n${verdicts.join('\n')}`);
console.log(
  'For the blue/green and canary failures, "stable" is the waiter calling ECS\'s finished rollback a success: the old revision is steady again.',
);
console.log(
  "For the CodeDeploy rows the yardstick is `aws deploy wait deployment-successful` (GetDeployment every 15 s); our deadline is 15 min plus the group's and config's waits.",
);

// The bundle: size, and start-up to the first request on the wire.
const startup = await measureStartup({
  bundle: BUNDLE,
  inputs: () => ({ cluster: 'prod', services: 'api' }),
  endpointVars: ['AWS_ENDPOINT_URL_ECS'],
});
console.log('');
printTable(
  ['bundle', 'ours', 'target'],
  [
    // The CodeDeploy SDK: chunks loaded with import() only for a CODE_DEPLOY service.
    ...bundleSizeRows('deploy-ecs', 'CodeDeploy, for CODE_DEPLOY services'),
    ...startupRows('deploy-ecs', startup, STARTUP_BUDGET_MS),
  ],
);
