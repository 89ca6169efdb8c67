// bench/ssm-fanout: how many SSM API calls deploy-ec2-ssm makes to follow a rollout of 10, 100 and
// 1,000 instances (scripted SSM, instances finishing at staggered times over several polls, in
// virtual time), against the usual loop that asks GetCommandInvocation for every instance on every
// poll. Target: status tracking at most 1 call per 50 instances per poll, plus one output read per
// instance in all.
// Then the bundle's start-up: node start to the first request on the wire (a loopback SSM stub)
// against a bare `node -e 0`, and the bundle sizes.
// Usage: npx tsx bench/ssm-fanout.ts [--runs 15]
import { runCommand } from '../src/ssm/run-command.js';
import type { RolloutTargets } from '../src/ssm/targets.js';
import { VirtualClock } from '../src/virtual-clock.js';
import { FakeFleet, succeedsAt } from '../stand-ins/ssm-fleet.js';
import { bundleSizeRows, measureStartup, printTable, startupRows } from './lib.mjs';

const runs = Number(process.argv[process.argv.indexOf('--runs') + 1]) || 15;

// --- Part 1: API calls to follow a rollout -------------------------------------------------------

interface Fanout {
  instances: number;
  polls: number;
  maxStatusPerPoll: number;
  statusCalls: number;
  reads: number;
  naive: number;
  seconds: number;
}

async function fanout(n: number): Promise<Fanout> {
  const clock = new VirtualClock();
  // Hosts finish between 20 s and 3 min after the send, 20 at a time (max-concurrency waves);
  // a few fail, so the reads are not all of successful hosts.
  const fleet = new FakeFleet(
    clock,
    Array.from({ length: n }, (_, i) => ({
      id: `i-${i.toString(16).padStart(17, '0')}`,
      steps:
        i % 37 === 5
          ? [
              { at: 0, status: 'InProgress' },
              { at: 20_000 + (i % 20) * 8000, status: 'Failed' },
            ]
          : succeedsAt(20_000 + (i % 20) * 8000),
      stdout: 'shipyard-deploy-result: {"outcome":"deployed","container":"api","newImage":"x:1"}',
    })),
  );
  const targets: RolloutTargets =
    n <= 50
      ? { kind: 'instances', instanceIds: fleet.instances.map((i) => i.id) }
      : { kind: 'tags', tags: [{ key: 'Env', values: ['prod'] }] };
  const result = await runCommand({
    ssm: fleet.ssm,
    region: 'eu-west-1',
    targets,
    documentName: 'AWS-RunShellScript',
    commands: 'true',
    executionTimeoutSeconds: 300,
    maxConcurrency: '50%',
    maxErrors: '10%',
    comment: 'bench',
    timeoutMs: 30 * 60_000,
    clock,
  });
  fleet.restore();
  if (result.outcome !== 'finished' || result.invocations.length !== n)
    throw new Error(`rollout of ${n} did not finish: ${result.outcome} ${result.reason ?? ''}`);
  // In virtual time every call of one poll is made at the same instant.
  const perPoll = new Map<number, number>();
  for (const c of fleet.calls)
    if (c.op === 'ListCommandInvocations' || c.op === 'ListCommands')
      perPoll.set(c.at, (perPoll.get(c.at) ?? 0) + 1);
  const statusCalls = [...perPoll.values()].reduce((a, b) => a + b, 0);
  return {
    instances: n,
    polls: perPoll.size,
    maxStatusPerPoll: Math.max(...perPoll.values()),
    statusCalls,
    reads: fleet.callsOf('GetCommandInvocation').length,
    // The yardstick: GetCommandInvocation for every instance on every poll, same cadence.
    naive: n * perPoll.size,
    seconds: result.elapsedMs / 1000,
  };
}

console.log('ssm-fanout: SSM calls to follow a rollout (virtual time, default poll cadence)\n');
const figures: Fanout[] = [];
for (const n of [10, 100, 1000]) figures.push(await fanout(n));
printTable(
  [
    'instances',
    'rollout',
    'polls',
    'status calls/poll (max)',
    'target/poll',
    'output reads',
    'ours in all',
    'one Get per instance per poll',
  ],
  figures.map((f) => [
    f.instances,
    `${Math.round(f.seconds)} s`,
    f.polls,
    f.maxStatusPerPoll,
    `<= ${Math.ceil(f.instances / 50)}`,
    `${f.reads} (target ${f.instances})`,
    f.statusCalls + f.reads,
    f.naive,
  ]),
);
const met = figures.every(
  (f) => f.maxStatusPerPoll <= Math.ceil(f.instances / 50) && f.reads === f.instances,
);
console.log(`\ntargets ${met ? 'met' : 'NOT met'}`);

// --- Part 2: start-up and size --------------------------------------------------------------------

const MAIN = 'actions/deploy-ec2-ssm/dist/index.js';

const startup = await measureStartup({
  bundle: MAIN,
  inputs: () => ({
    image: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/api:1.4.2',
    'container-name': 'api',
    'instance-ids': 'i-0123456789abcdef0',
  }),
  endpointVars: ['AWS_ENDPOINT_URL_SSM'],
  runs,
});
console.log('');
printTable(['start-up', 'median', 'target'], startupRows('deploy-ec2-ssm', startup, 190));

console.log('');
// The ELBv2 client and the batch code: chunks loaded with import() only with target-groups.
printTable(
  ['bundle', 'size', 'target'],
  bundleSizeRows('deploy-ec2-ssm', 'ELBv2, for target-groups'),
);
