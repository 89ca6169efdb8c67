/**
 * The ECS part of the rehearsal: the committed deploy-ecs bundle, run as the runner runs it,
 * against the ECS stand-in (the simulated ECS of the tests, served over the real JSON protocol by
 * the AWS stub, in real time). Three services, rolled out in parallel, each a separate step:
 *
 *   api       ROLLING     tasks start, ECS marks the rollout COMPLETED
 *   web       BLUE_GREEN  walks its lifecycle stages, test then production traffic, SUCCESSFUL
 *   checkout  BLUE_GREEN  its lifecycle hook fails after the test traffic shift: ECS rolls back
 *
 * It prints what a user sees in the step log and the job summary, then one row per step.
 * Usage: npx tsx scripts/rehearse-ecs.ts   (about 20 s; no AWS account, no containers)
 */
import { writeFileSync } from 'node:fs';
import * as ecsCommands from '@aws-sdk/client-ecs';
import { systemClock, type Clock } from '../src/poll.js';
import { startAwsStub, type AwsCall, type AwsReply, type AwsStub } from '../stand-ins/aws-json.js';
import {
  at,
  complete,
  deploymentSucceeds,
  event,
  hookFails,
  SimulatedEcs,
  stage,
  tasks,
  type SimServiceSpec,
} from '../stand-ins/ecs.js';
import { runAction, type ActionRun } from '../stand-ins/runner.js';

const BUNDLE = 'actions/deploy-ecs/dist/index.js';
const HOOK = 'arn:aws:lambda:us-east-1:123456789012:function:checkout-smoke-test';

/** The stand-in stamps times from 2024-01-01 plus its clock: this clock makes them today's. */
const wallClock: Clock = {
  now: () => Date.now() - Date.UTC(2024, 0, 1),
  sleep: systemClock.sleep,
};

interface Scenario {
  title: string;
  spec: SimServiceSpec;
}

const scenarios: Scenario[] = [
  {
    title: 'rolling update that succeeds',
    spec: {
      name: 'api',
      taskDefinition: 'api:12',
      desiredCount: 2,
      circuitBreaker: { enable: true, rollback: true },
      timelines: [
        [
          at(
            1500,
            tasks(0, 2),
            event('(service $SERVICE) has started 2 tasks: (task 5f1c) (task 9a2e).'),
          ),
          at(4000, tasks(2)),
          at(7000, complete),
        ],
      ],
    },
  },
  {
    title: 'blue/green deployment that walks its lifecycle stages',
    spec: {
      name: 'web',
      taskDefinition: 'web:42',
      desiredCount: 2,
      strategy: 'BLUE_GREEN',
      timelines: [
        [
          at(1000, stage('PRE_SCALE_UP')),
          at(2000, stage('SCALE_UP'), tasks(0, 2)),
          at(4000, tasks(2), stage('POST_SCALE_UP')),
          at(5000, stage('TEST_TRAFFIC_SHIFT', { test: 100 })),
          at(7000, stage('POST_TEST_TRAFFIC_SHIFT')),
          at(9000, stage('PRODUCTION_TRAFFIC_SHIFT', { production: 100 })),
          at(11_000, stage('POST_PRODUCTION_TRAFFIC_SHIFT')),
          at(12_000, stage('BAKE_TIME')),
          at(15_000, deploymentSucceeds),
        ],
      ],
    },
  },
  {
    title: 'blue/green deployment whose lifecycle hook fails: ECS rolls back',
    spec: {
      name: 'checkout',
      taskDefinition: 'checkout:7',
      desiredCount: 2,
      strategy: 'BLUE_GREEN',
      timelines: [
        [
          at(2000, stage('SCALE_UP'), tasks(0, 2)),
          at(4000, tasks(2)),
          at(5000, stage('TEST_TRAFFIC_SHIFT', { test: 100 })),
          at(7000, stage('POST_TEST_TRAFFIC_SHIFT')),
          at(10_000, hookFails(HOOK)),
        ],
      ],
    },
  },
];

/** The JSON protocol carries timestamps as epoch seconds. */
function toWire(value: unknown): unknown {
  if (value instanceof Date) return value.getTime() / 1000;
  if (Array.isArray(value)) return value.map(toWire);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toWire(v)]));
  }
  return value;
}

/** Serve one simulated ECS over HTTP: each call becomes the SDK command the stand-in answers. */
async function serve(sim: SimulatedEcs): Promise<AwsStub> {
  return startAwsStub(async (call: AwsCall): Promise<AwsReply> => {
    const Command = (ecsCommands as unknown as Record<string, new (input: unknown) => never>)[
      `${call.operation}Command`
    ];
    if (!Command) return { error: { type: 'UnknownOperationException', message: call.operation } };
    const input: Record<string, unknown> = { ...call.input };
    const created = input.createdAt as { after?: number; before?: number } | undefined;
    if (created) {
      input.createdAt = {
        ...(created.after !== undefined ? { after: new Date(created.after * 1000) } : {}),
        ...(created.before !== undefined ? { before: new Date(created.before * 1000) } : {}),
      };
    }
    try {
      return { body: toWire(await sim.client.send(new Command(input))) };
    } catch (error) {
      const e = error as Error;
      return { error: { type: e.name, message: e.message } };
    }
  });
}

async function rehearse(s: Scenario): Promise<{ s: Scenario; run: ActionRun; calls: number }> {
  const sim = new SimulatedEcs({ clock: wallClock, cluster: 'production', services: [s.spec] });
  const stub = await serve(sim);
  try {
    const run = await runAction(
      BUNDLE,
      { cluster: 'production', services: s.spec.name },
      {
        env: {
          AWS_ENDPOINT_URL_ECS: stub.endpoint,
          AWS_ACCESS_KEY_ID: 'AKIDREHEARSAL',
          AWS_SECRET_ACCESS_KEY: 'rehearsal-secret-key',
          AWS_REGION: 'us-east-1',
        },
        timeoutMs: 60_000,
      },
    );
    return { s, run, calls: stub.calls.length };
  } finally {
    await stub.close();
  }
}

const started = Date.now();
console.log('deploy-ecs against the ECS stand-in: three steps in parallel\n');
const results = await Promise.all(scenarios.map(rehearse));
for (const { s, run } of results) {
  console.log(`──── ${s.title} (service ${s.spec.name}) ────`);
  console.log('step log:');
  for (const line of run.stdout.split('\n')) {
    if (line === '' || line.startsWith('::set-output') || line.startsWith('::debug')) continue;
    console.log(`  ${line.replace(/^::error::/, 'Error: ').replace(/%0A/g, '\n  ')}`);
  }
  console.log('job summary:');
  console.log(
    run.summary
      .split('\n')
      .map((l) => `  ${l}`)
      .join('\n'),
  );
}

const rows = results.map(({ s, run, calls }) => [
  s.spec.name,
  s.spec.strategy ?? 'ROLLING',
  run.code === 0 ? 'success' : `failed (exit ${run.code})`,
  JSON.parse(run.outputs.status ?? '{}')[s.spec.name] ?? '?',
  run.outputs['rolled-back'] ?? '?',
  `${(run.durationMs / 1000).toFixed(1)} s`,
  String(calls),
]);
const headers = ['service', 'strategy', 'step', 'status', 'rolled-back', 'time', 'API calls'];
const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
console.log(line(headers));
console.log(line(widths.map((w) => '-'.repeat(w))));
for (const r of rows) console.log(line(r));
console.log(`\nrehearsed in ${((Date.now() - started) / 1000).toFixed(1)} s`);

const expected = ['completed', 'completed', 'rolled-back'];
const ok = results.every(
  ({ s, run }, i) => JSON.parse(run.outputs.status ?? '{}')[s.spec.name] === expected[i],
);
// For npm start's final table (scripts/rehearse-all.ts): one row per step.
const rowsFile = process.env.SHIPYARD_REHEARSAL_ECS_ROWS;
if (rowsFile) {
  writeFileSync(
    rowsFile,
    JSON.stringify(
      results.map(({ s }, i) => ({
        title: s.title,
        service: s.spec.name,
        strategy: s.spec.strategy ?? 'ROLLING',
        status: rows[i]![3],
        rolledBack: rows[i]![4],
        time: rows[i]![5],
        calls: rows[i]![6],
        expected: expected[i],
      })),
    ),
  );
}
if (!ok) {
  console.error('the ECS rehearsal did not end as expected');
  process.exitCode = 1;
}
