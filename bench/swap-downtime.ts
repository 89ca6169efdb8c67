// bench/swap-downtime: how long does a service stop answering while it is replaced on a host, and
// what is left when the deploy is killed? A client polls /health every 50 ms on podman. Every deploy
// runs as SSM runs it (scripts/engine/agent.ts: sh, a process group of its own). Rows:
//   - good release v1 -> v2 with the host script (candidate first, then the swap), against the
//     naive sequence people paste into `aws ssm send-command` (stop; rm; pull; run);
//   - broken release v2 -> v3 (never healthy) with candidate first, against the old order (swap,
//     then health, then rollback: what a health-cmd with the port written in still gets);
//   - kill rows: SIGKILL to the command's process group (what the agent does on cancel and at
//     execution-timeout) at each phase: pull, stop, start, health, rollback. The detached deploy
//     must finish by itself on the new or the previous version before its deadline, and no file in
//     the state or temp directories may hold the env-from-ssm secret afterwards.
// v2 carries an incompressible payload layer (--payload-mb) so that its pull costs what a real
// image's pull costs. Targets: good release gap < 2 s with the pull done before the old container
// stops; broken release 0 failed polls; every kill ends serving, in time, with no secret left.
// Usage: npx tsx bench/swap-downtime.ts [--trials 3] [--payload-mb 48]
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  engineAvailable,
  exampleAppContext,
  freePort,
  podman,
  podmanLogin,
  startRegistry,
  tempEngine,
} from '../scripts/engine/engine.js';
import {
  filesHolding,
  runDirOf,
  startLikeTheAgent,
  waitForDetachedResult,
} from '../scripts/engine/agent.js';
import { prepareDeployCommand } from '../src/ssm/deploy.js';
import { parseDeployResult, type DeployResult } from '../src/ssm/result.js';
import type { DeploySpec } from '../src/ssm/spec.js';

import { median, printTable, ms } from './lib.mjs';

const arg = (name: string, fallback: number) =>
  Number(process.argv[process.argv.indexOf(name) + 1]) || fallback;
const trials = arg('--trials', 3);
const payloadMb = arg('--payload-mb', 48);
const POLL_EVERY_MS = 50;
const CONTAINER = 'swap-bench';

if (!engineAvailable()) {
  console.error('swap-downtime needs podman and the local registry: scripts/engine/install.sh');
  process.exit(1);
}

/** Polls /health every 50 ms (start to start) and keeps the time of every answer. */
function startPoller(port: number) {
  const answers: Array<{ at: number; ok: boolean }> = [];
  let stopped = false;
  const timer = setInterval(() => {
    const req = http.get(
      { host: '127.0.0.1', port, path: '/health', agent: false, timeout: 1000 },
      (res) => {
        res.resume();
        res.on('end', () => answers.push({ at: performance.now(), ok: res.statusCode === 200 }));
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => answers.push({ at: performance.now(), ok: false }));
  }, POLL_EVERY_MS);
  return {
    answers,
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      await new Promise((r) => setTimeout(r, 1100)); // let the last requests answer
    },
  };
}

/**
 * Longest time without a successful answer within [from, to], the window edges included (a service
 * still down at `to` counts until `to`), and the failed polls in it.
 */
function gapStats(answers: Array<{ at: number; ok: boolean }>, from: number, to: number) {
  const inWindow = answers.filter((a) => a.at >= from && a.at <= to);
  const okTimes = [from, ...inWindow.filter((a) => a.ok).map((a) => a.at), to].sort(
    (a, b) => a - b,
  );
  let longest = 0;
  for (let i = 1; i < okTimes.length; i++)
    longest = Math.max(longest, (okTimes[i] as number) - (okTimes[i - 1] as number));
  return { longestGapMs: longest, failed: inWindow.filter((a) => !a.ok).length };
}

/** Poll for a while before the swap, so the window starts with the old version answering. */
const WARM_UP_MS = 500;

/** Run a command text as the agent does, timestamping each stdout line as it arrives. */
async function runTimed(commands: string, env: Record<string, string>, dir: string) {
  mkdirSync(dir, { recursive: true });
  const run = startLikeTheAgent(commands, { env, dir });
  const r = await run.done;
  return { code: r.code, lines: run.lines, stdout: r.stdout, stderr: r.stderr };
}

const at = (lines: Array<{ at: number; text: string }>, needle: string) =>
  lines.find((l) => l.text.includes(needle))?.at ?? NaN;

const registry = await startRegistry({ user: 'AWS', password: 'bench-registry-password' });
const engine = tempEngine();
const work = mkdtempSync(join(tmpdir(), 'shipyard-swap-bench-'));
const context = await exampleAppContext();
const env = { ...engine.env };
const ok = async (args: string[]) => {
  const r = await podman(args, { env });
  if (r.code !== 0) throw new Error(`podman ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
};

try {
  const repo = `${registry.host}/bench/swap`;
  await podmanLogin(registry, { env });
  for (const [v, broken] of [
    ['1', 'false'],
    ['2', 'false'],
    ['3', 'true'],
  ] as const) {
    await ok([
      'build',
      '-q',
      '--build-arg',
      `VERSION=${v}`,
      '--build-arg',
      `BROKEN=${broken}`,
      '-t',
      `${repo}:${v}-base`,
      context,
    ]);
  }
  // v2 gets a layer of random bytes, so its pull takes real time (no compression helps).
  const payloadCtx = join(work, 'payload');
  mkdirSync(payloadCtx);
  writeFileSync(join(payloadCtx, 'payload.bin'), randomBytes(payloadMb * 1024 * 1024));
  writeFileSync(
    join(payloadCtx, 'Containerfile'),
    `FROM ${repo}:2-base\nCOPY payload.bin /payload.bin\n`,
  );
  await ok(['build', '-q', '-t', `${repo}:2`, payloadCtx]);
  await ok(['tag', `${repo}:1-base`, `${repo}:1`]);
  await ok(['tag', `${repo}:3-base`, `${repo}:3`]);
  for (const tag of ['1', '2', '3']) await ok(['push', '-q', `${repo}:${tag}`]);
  await ok([
    'rmi',
    '--force',
    ...['1', '2', '3'].flatMap((v) => [`${repo}:${v}-base`, `${repo}:${v}`]),
  ]);
  await ok(['logout', registry.host]);

  // The host script's ECR login and env-from-ssm: a stand-in aws.
  const bin = join(work, 'bin');
  mkdirSync(bin);
  symlinkSync(
    fileURLToPath(new URL('../stand-ins/host/stub-bin/aws', import.meta.url)),
    join(bin, 'aws'),
  );
  const SECRET = `bench-secret-${randomBytes(6).toString('hex')}`;
  writeFileSync(join(work, 'params'), `/bench/secret\0${SECRET}\0`);
  const tmp = join(work, 'tmp');
  mkdirSync(tmp);
  const scriptEnv = {
    ...env,
    PATH: `${bin}:${process.env.PATH}`,
    STUB_DIR: work,
    STUB_ECR_PASSWORD: registry.password,
    TMPDIR: tmp,
  };
  const stateDir = join(work, 'state');
  const port = await freePort();
  const HEALTH_TIMEOUT_S = 10;
  const EXECUTION_TIMEOUT_S = 120;
  /** portable: the health command names $SHIPYARD_PORT_8000, so the candidate runs first. */
  const spec = (tag: string, portable = true): DeploySpec => ({
    image: `${repo}:${tag}`,
    containerName: CONTAINER,
    ports: [{ hostIp: '127.0.0.1', hostPort: port, containerPort: 8000, protocol: 'tcp' }],
    env: [],
    envFromSsm: [['DB_PASSWORD', '/bench/secret']],
    restartPolicy: 'unless-stopped',
    runOptions: [],
    engine: 'podman',
    registryLogin: 'ecr',
    region: 'eu-west-1',
    healthCmd: portable
      ? 'curl -fsS -m 2 "http://127.0.0.1:$SHIPYARD_PORT_8000/health"'
      : `curl -fsS -m 2 http://127.0.0.1:${port}/health`,
    healthTimeoutSeconds: HEALTH_TIMEOUT_S,
    stopTimeoutSeconds: 10,
    keepImages: 3,
    stateDir,
    executionTimeoutSeconds: EXECUTION_TIMEOUT_S,
  });
  let runs = 0;
  const deploy = (s: DeploySpec) =>
    runTimed(prepareDeployCommand(s).commands, scriptEnv, join(work, `run-${++runs}`));

  /** `from` serving, `drop` not in the local store. */
  async function reset(from: string, drop: string) {
    await podman(['rm', '--force', '--time', '0', CONTAINER], { env });
    await podman(['rmi', '--force', `${repo}:${drop}`], { env });
    const r = await deploy(spec(from));
    if (r.code !== 0) throw new Error(`v${from} deploy failed:\n${r.stdout}`);
  }

  async function version(): Promise<string> {
    const res = await fetch(`http://127.0.0.1:${port}/health`);
    return ((await res.json()) as { version: string }).version;
  }

  /** One swap under the poller: `from` serving, then the deploy of `to`. */
  async function timedSwap(from: string, to: string, portable: boolean) {
    await reset(from, to);
    const poller = startPoller(port);
    const windowStart = performance.now();
    await new Promise((r) => setTimeout(r, WARM_UP_MS));
    const start = performance.now();
    const r = await deploy(spec(to, portable));
    const end = performance.now();
    await poller.stop();
    const gap = gapStats(poller.answers, windowStart, end + 1000);
    return {
      result: parseDeployResult(r.stderr),
      gap: gap.longestGapMs,
      failed: gap.failed,
      pull: at(r.lines, 'pulled') - at(r.lines, 'pulling'),
      pullBeforeStop: at(r.lines, 'pulled') < at(r.lines, 'stopping the previous'),
      total: end - start,
      serving: await version(),
    };
  }

  interface Trial {
    gap: number;
    failed: number;
    pull: number;
    pullBeforeStop: boolean;
    total: number;
  }
  const results: Record<'ours' | 'naive' | 'rejected' | 'oldOrder', Trial[]> = {
    ours: [],
    naive: [],
    rejected: [],
    oldOrder: [],
  };

  for (let t = 0; t < trials; t++) {
    const ours = await timedSwap('1', '2', true);
    if (ours.result?.outcome !== 'deployed' || ours.serving !== '2')
      throw new Error(`host script trial failed: ${JSON.stringify(ours.result)}`);
    results.ours.push(ours);

    // The naive sequence, v1 -> v2, from the same starting point.
    await reset('1', '2');
    const naive = [
      'set -u',
      `echo stopping; podman stop -t 10 ${CONTAINER} >/dev/null; podman rm ${CONTAINER} >/dev/null`,
      `echo ${registry.password} | podman login -u AWS --password-stdin ${registry.host} >/dev/null`,
      `echo pulling; podman pull -q ${repo}:2 >/dev/null; echo pulled`,
      `podman run -d --name ${CONTAINER} --restart unless-stopped -p 127.0.0.1:${port}:8000 ${repo}:2 >/dev/null`,
      'echo started',
    ].join('\n');
    const poller = startPoller(port);
    const windowStart = performance.now();
    await new Promise((r) => setTimeout(r, WARM_UP_MS));
    const start = performance.now();
    const nv = await runTimed(naive, scriptEnv, join(work, `naive-${t}`));
    // The naive sequence does not wait for health: give the app the same chance to answer.
    await new Promise((r) => setTimeout(r, 1500));
    const end = performance.now();
    await poller.stop();
    if (nv.code !== 0 || (await version()) !== '2') throw new Error('naive trial failed');
    const naiveGap = gapStats(poller.answers, windowStart, end);
    results.naive.push({
      gap: naiveGap.longestGapMs,
      failed: naiveGap.failed,
      pull: at(nv.lines, 'pulled') - at(nv.lines, 'pulling'),
      pullBeforeStop: at(nv.lines, 'pulled') < at(nv.lines, 'stopping'),
      total: at(nv.lines, 'started') - start,
    });

    // A broken release, candidate first: rejected, v1 never stops.
    const rejected = await timedSwap('1', '3', true);
    if (rejected.result?.outcome !== 'rejected' || rejected.serving !== '1')
      throw new Error(`broken release trial: ${JSON.stringify(rejected.result)}`);
    results.rejected.push(rejected);
    // The same broken release in the old order: swapped in, unhealthy, rolled back.
    const oldOrder = await timedSwap('1', '3', false);
    if (oldOrder.result?.outcome !== 'rolled-back' || oldOrder.serving !== '1')
      throw new Error(`old-order trial: ${JSON.stringify(oldOrder.result)}`);
    results.oldOrder.push(oldOrder);
    process.stderr.write(`trial ${t + 1}/${trials} done\n`);
  }

  // Kill rows: the old order (a health-cmd with the port written in), so that every phase of
  // the swap is reached; v3 for the rollback phase.
  const killRows: string[][] = [];
  let killsOk = true;
  for (const [phase, line, to] of [
    ['pull', 'pulling ', '2'],
    ['stop', 'stopping the previous container', '2'],
    ['start', `starting ${CONTAINER} from`, '2'],
    ['health', `for the health command to succeed on ${CONTAINER}`, '2'],
    ['rollback', 'rolling back:', '3'],
  ] as const) {
    await reset('1', to);
    const poller = startPoller(port);
    const dir = join(work, `kill-${phase}`);
    mkdirSync(dir);
    const launched = performance.now();
    const run = startLikeTheAgent(prepareDeployCommand(spec(to, false)).commands, {
      env: scriptEnv,
      dir,
    });
    await run.waitFor(line, 120_000);
    run.killGroup();
    const killedAt = performance.now();
    const killed = await run.done;
    const runDir = runDirOf(killed.stdout);
    if (!runDir) throw new Error(`no run directory in:\n${killed.stdout}`);
    const result = JSON.parse(await waitForDetachedResult(runDir, 150_000)) as DeployResult;
    const endedAt = performance.now();
    await new Promise((r) => setTimeout(r, 500));
    const serving = await version().catch(() => 'nothing');
    await poller.stop();
    const gap = gapStats(poller.answers, killedAt, endedAt + 500);
    const leftovers = filesHolding(stateDir, SECRET).length + filesHolding(tmp, SECRET).length;
    const inTime = (endedAt - launched) / 1000 <= EXECUTION_TIMEOUT_S;
    const expected = to === '3' ? '1' : '2';
    const good = serving === expected && inTime && leftovers === 0;
    killsOk &&= good;
    killRows.push([
      phase,
      result.outcome,
      `v${serving}`,
      ms(endedAt - killedAt),
      inTime ? 'yes' : 'NO',
      ms(gap.longestGapMs),
      String(leftovers),
    ]);
  }

  const row = (name: string, xs: Trial[]) => [
    name,
    `${ms(median(xs.map((x) => x.gap)))} / ${ms(Math.max(...xs.map((x) => x.gap)))}`,
    String(median(xs.map((x) => x.failed))),
    ms(median(xs.map((x) => x.pull))),
    xs.every((x) => x.pullBeforeStop) ? 'yes' : xs.some((x) => x.pullBeforeStop) ? 'some' : 'no',
    ms(median(xs.map((x) => x.total))),
  ];
  console.log(
    `\nswap-downtime: on podman (v2 = ${payloadMb} MB payload layer, v3 never healthy, health-timeout ${HEALTH_TIMEOUT_S}s), ${trials} trial(s), /health polled every ${POLL_EVERY_MS} ms\n`,
  );
  printTable(
    [
      'release, method',
      'longest gap (median / max)',
      'failed polls',
      'pull time',
      'pull done before stop',
      'total',
    ],
    [
      row('good v1->v2, deploy-ec2-ssm (candidate first)', results.ours),
      row('good v1->v2, naive: stop; rm; pull; run', results.naive),
      row('broken v1->v3, deploy-ec2-ssm (candidate first)', results.rejected),
      row('broken v1->v3, old order (swap, health, rollback)', results.oldOrder),
    ],
  );
  console.log(
    '\nkilled with SIGKILL to the process group (the agent on cancel and execution-timeout):\n',
  );
  printTable(
    [
      'killed during',
      'detached deploy ended',
      'serving after',
      'kill -> end',
      `within ${EXECUTION_TIMEOUT_S}s deadline`,
      'longest gap after kill',
      'files holding the secret',
    ],
    killRows,
  );
  const worst = Math.max(...results.ours.map((x) => x.gap));
  const pulledFirst = results.ours.every((x) => x.pullBeforeStop);
  const brokenFailed = Math.max(...results.rejected.map((x) => x.failed));
  console.log(
    `\ntargets: good release longest gap < 2000 ms with the pull before the stop -> ${
      worst < 2000 && pulledFirst ? 'met' : 'NOT met'
    } (worst ${ms(worst)}); broken release 0 failed polls -> ${brokenFailed === 0 ? 'met' : 'NOT met'} (${brokenFailed}); every kill ends serving in time with no secret left -> ${killsOk ? 'met' : 'NOT met'}`,
  );
  console.log(
    'The naive total stops at `run` returning; the host script also checks the candidate and the final container.',
  );
} finally {
  await podman(['rm', '--force', '--time', '0', CONTAINER], { env });
  await engine.dispose();
  await registry.stop();
  rmSync(context, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
}
