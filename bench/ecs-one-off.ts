// bench/ecs-one-off: the overhead pre-deploy-command adds on top of the one-off task's own run time,
// from the moment ECS has the task STOPPED to the step's verdict (exit 0: go on to UpdateService;
// anything else: fail), and the ECS API calls it costs. Each trial is a scripted one-off task on the
// simulated ECS in virtual time (stand-ins/ecs.ts; nothing sleeps): PROVISIONING, PENDING, RUNNING,
// then STOPPED after a random run time with exit code 0 or 3, at a random phase against the 2 s
// DescribeTasks cadence. Every API call takes a random 30-150 ms of virtual time, as ECS answers.
// Usage: npx tsx bench/ecs-one-off.ts [--trials 100] [--seed 1]
import type { TaskDefinition } from '@aws-sdk/client-ecs';
import { deployEcs } from '../src/ecs/rollout.js';
import type { EcsApi } from '../src/ecs/watch.js';
import { VirtualClock } from '../src/virtual-clock.js';
import { SimulatedEcs, oneOffTimeline } from '../stand-ins/ecs.js';
import { median, quantile, printTable } from './lib.mjs';
import { lineLogger } from '../src/logger.js';

const arg = (name: string, fallback: number) =>
  Number(process.argv[process.argv.indexOf(name) + 1]) || fallback;
const trials = arg('--trials', 100);
const TARGET_MS = 3000;
const TD = 'arn:aws:ecs:us-east-1:123456789012:task-definition';

/** Seeded, so a run can be repeated (mulberry32). */
let seed = arg('--seed', 1) >>> 0;
function random(): number {
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const between = (lo: number, hi: number) => lo + random() * (hi - lo);

const described: { taskDefinition: TaskDefinition } = {
  taskDefinition: {
    taskDefinitionArn: `${TD}/api:12`,
    family: 'api',
    networkMode: 'awsvpc',
    containerDefinitions: [{ name: 'api', image: 'api:v1', essential: true }],
  },
};

async function trial(exitCode: number) {
  const clock = new VirtualClock();
  // 20 s to 8 min of run time, at any phase against the poll.
  const runMs = Math.round(between(20_000, 480_000));
  const sim = new SimulatedEcs({
    clock,
    cluster: 'prod',
    services: [
      {
        name: 'api',
        taskDefinition: 'api:12',
        desiredCount: 1,
        placement: {
          launchType: 'FARGATE',
          networkConfiguration: {
            awsvpcConfiguration: { subnets: ['subnet-a'], securityGroups: ['sg-a'] },
          },
        },
      },
    ],
    taskDefinitions: { [`${TD}/api:12`]: described },
    oneOffTasks: [{ steps: oneOffTimeline(runMs, { exitCode }) }],
  });
  const ecs: EcsApi = {
    send: (async (command: Parameters<EcsApi['send']>[0]) => {
      await clock.sleep(between(30, 150));
      return sim.client.send(command);
    }) as EcsApi['send'],
  };
  // The verdict is the one-off task's last line, logged as its report is made.
  let verdictAt = NaN;
  const result = await deployEcs({
    cluster: 'prod',
    services: ['api'],
    image: 'api:v2',
    forceNewDeployment: true,
    wait: false,
    timeoutMs: 15 * 60_000,
    maxTaskFailures: 3,
    rollbackOnFailure: false,
    preDeploy: { command: ['migrate'], timeoutMs: 10 * 60_000 },
    ecs,
    clock,
    random,
    logger: lineLogger((line) => {
      if (line.startsWith('pre-deploy: ')) verdictAt = clock.now();
    }),
  });
  const o = sim.oneOff[0]!;
  const report = result.preDeploy![0]!;
  const calls = (op: string) => sim.callsOf(op).length;
  const expected = exitCode === 0 ? 'succeeded' : 'failed';
  if (report.status !== expected) throw new Error(`trial ended ${report.status}, not ${expected}`);
  return {
    overheadMs: verdictAt - (o.stoppedAt ?? NaN),
    runMs,
    describeTasks: calls('DescribeTasks'),
    runTask: calls('RunTask'),
    stopTask: calls('StopTask'),
    updated: calls('UpdateService'),
  };
}

const rows: string[][] = [];
const verdicts: string[] = [];
const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
for (const [name, exitCode] of [
  ['exit 0 (then UpdateService)', 0],
  ['exit 3 (no UpdateService)', 3],
] as const) {
  const results = [];
  for (let i = 0; i < trials; i++) results.push(await trial(exitCode));
  const overhead = results.map((r) => r.overheadMs);
  const perMinute = results.map((r) => r.describeTasks / (r.runMs / 60_000));
  const updates = results.map((r) => r.updated);
  rows.push([
    name,
    String(trials),
    s(median(overhead)),
    s(quantile(overhead, 0.95)),
    s(Math.max(...overhead)),
    `<= ${s(TARGET_MS)}`,
    `${median(results.map((r) => r.runTask))} RunTask + ${median(results.map((r) => r.describeTasks))} DescribeTasks (median; ${median(perMinute).toFixed(1)}/min of run)`,
    `${Math.min(...updates)}-${Math.max(...updates)}`,
  ]);
  const worst = Math.max(...overhead);
  verdicts.push(
    `${name}: p95 ${s(quantile(overhead, 0.95))}, max ${s(worst)}: ${worst <= TARGET_MS ? 'meets' : 'MISSES'} the target of ${s(TARGET_MS)}`,
  );
  if (results.some((r) => r.stopTask > 0)) verdicts.push(`${name}: StopTask was called`);
}

console.log(
  `pre-deploy one-off task: from the task's STOPPED to the step's verdict, ${trials} timelines each (seeded), 30-150 ms per API call\n`,
);
printTable(
  [
    'scenario',
    'trials',
    'median',
    'p95',
    'max',
    'target',
    'API calls per one-off task',
    'UpdateService',
  ],
  rows,
);
console.log(`\n${verdicts.join('\n')}`);
