// bench/swap-downtime: how long does a service stop answering while it is replaced on a host?
// A client polls /health every 50 ms while v1 is replaced by v2 on podman, two ways, in the same run:
//   - the deploy-ec2-ssm host script (src/ssm/remote-script.ts): pull first, then stop, run, verify;
//   - the naive sequence people paste into `aws ssm send-command`: stop; rm; pull; run.
// It prints the longest gap between successful answers, the failed polls, and how long the pull
// took and whether it finished before the old container stopped. v2 carries an incompressible
// payload layer (--payload-mb) so that the pull costs what a real image's pull costs.
// Target: longest gap under 2 s, and the pull done before the old container stops.
// Usage: npx tsx bench/swap-downtime.ts [--trials 3] [--payload-mb 48]
import http from 'node:http';
import { spawn } from 'node:child_process';
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
import { renderDeployScript } from '../src/ssm/remote-script.js';
import { parseDeployResult } from '../src/ssm/result.js';
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

/** Run bash with `script`, timestamping each stdout line as it arrives. */
function runTimed(script: string, env: Record<string, string>) {
  return new Promise<{ code: number | null; lines: Array<{ at: number; text: string }> }>(
    (resolve) => {
      const lines: Array<{ at: number; text: string }> = [];
      const child = spawn('bash', ['-c', script], { env: { ...process.env, ...env } });
      let buffered = '';
      child.stdout.on('data', (chunk: Buffer) => {
        const at = performance.now();
        buffered += chunk.toString();
        let nl: number;
        while ((nl = buffered.indexOf('\n')) >= 0) {
          lines.push({ at, text: buffered.slice(0, nl) });
          buffered = buffered.slice(nl + 1);
        }
      });
      child.stderr.resume();
      child.on('close', (code) => resolve({ code, lines }));
    },
  );
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
  for (const v of ['1', '2']) {
    await ok(['build', '-q', '--build-arg', `VERSION=${v}`, '-t', `${repo}:${v}-base`, context]);
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
  for (const tag of ['1', '2']) await ok(['push', '-q', `${repo}:${tag}`]);
  await ok(['rmi', '--force', `${repo}:1-base`, `${repo}:2-base`, `${repo}:1`, `${repo}:2`]);

  // The host script's ECR login: a stand-in aws that prints the registry password.
  const bin = join(work, 'bin');
  mkdirSync(bin);
  symlinkSync(
    fileURLToPath(new URL('../test/fixtures/host/stub-bin/aws', import.meta.url)),
    join(bin, 'aws'),
  );
  const scriptEnv = {
    ...env,
    PATH: `${bin}:${process.env.PATH}`,
    STUB_DIR: work,
    STUB_ECR_PASSWORD: registry.password,
  };
  writeFileSync(join(work, 'params'), '');
  const port = await freePort();
  const spec = (tag: string): DeploySpec => ({
    image: `${repo}:${tag}`,
    containerName: CONTAINER,
    ports: [{ hostIp: '127.0.0.1', hostPort: port, containerPort: 8000, protocol: 'tcp' }],
    env: [],
    envFromSsm: [],
    restartPolicy: 'unless-stopped',
    runOptions: [],
    engine: 'podman',
    registryLogin: 'ecr',
    region: 'eu-west-1',
    healthCmd: `curl -fsS -m 2 http://127.0.0.1:${port}/health`,
    healthTimeoutSeconds: 30,
    stopTimeoutSeconds: 10,
    keepImages: 3,
    lockFile: join(work, 'deploy.lock'),
  });

  /** v1 serving, v2 not in the local store. */
  async function reset() {
    await podman(['rm', '--force', '--time', '0', CONTAINER], { env });
    await podman(['rmi', '--force', `${repo}:2`], { env });
    const r = await runTimed(renderDeployScript(spec('1')), scriptEnv);
    if (r.code !== 0)
      throw new Error(`v1 deploy failed:\n${r.lines.map((l) => l.text).join('\n')}`);
  }

  async function version(): Promise<string> {
    const res = await fetch(`http://127.0.0.1:${port}/health`);
    return ((await res.json()) as { version: string }).version;
  }

  interface Trial {
    gap: number;
    failed: number;
    pull: number;
    pullBeforeStop: boolean;
    total: number;
  }
  const results: Record<'ours' | 'naive', Trial[]> = { ours: [], naive: [] };

  for (let t = 0; t < trials; t++) {
    // The host script, v1 -> v2.
    await reset();
    let poller = startPoller(port);
    let windowStart = performance.now();
    await new Promise((r) => setTimeout(r, WARM_UP_MS));
    let start = performance.now();
    const ours = await runTimed(renderDeployScript(spec('2')), scriptEnv);
    let end = performance.now();
    await poller.stop();
    const result = parseDeployResult(ours.lines.map((l) => l.text).join('\n'));
    if (ours.code !== 0 || result?.outcome !== 'deployed' || (await version()) !== '2')
      throw new Error(`host script trial failed: ${JSON.stringify(result)}`);
    const oursGap = gapStats(poller.answers, windowStart, end + 1000);
    results.ours.push({
      gap: oursGap.longestGapMs,
      failed: oursGap.failed,
      pull: at(ours.lines, 'pulled') - at(ours.lines, 'pulling'),
      pullBeforeStop: at(ours.lines, 'pulled') < at(ours.lines, 'stopping the previous'),
      total: end - start,
    });

    // The naive sequence, v1 -> v2, from the same starting point.
    await reset();
    const naive = [
      'set -u',
      `echo stopping; podman stop -t 10 ${CONTAINER} >/dev/null; podman rm ${CONTAINER} >/dev/null`,
      `echo pulling; podman pull -q ${repo}:2 >/dev/null; echo pulled`,
      `podman run -d --name ${CONTAINER} --restart unless-stopped -p 127.0.0.1:${port}:8000 ${repo}:2 >/dev/null`,
      'echo started',
    ].join('\n');
    poller = startPoller(port);
    windowStart = performance.now();
    await new Promise((r) => setTimeout(r, WARM_UP_MS));
    start = performance.now();
    const nv = await runTimed(naive, scriptEnv);
    // The naive sequence does not wait for health: give the app the same chance to answer.
    await new Promise((r) => setTimeout(r, 1500));
    end = performance.now();
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
    process.stderr.write(`trial ${t + 1}/${trials} done\n`);
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
    `\nswap-downtime: v1 -> v2 on podman (v2 = ${payloadMb} MB payload layer), ${trials} trial(s), /health polled every ${POLL_EVERY_MS} ms\n`,
  );
  printTable(
    [
      'method',
      'longest gap (median / max)',
      'failed polls',
      'pull time',
      'pull done before stop',
      'total',
    ],
    [
      row('deploy-ec2-ssm host script', results.ours),
      row('naive: stop; rm; pull; run', results.naive),
    ],
  );
  const worst = Math.max(...results.ours.map((x) => x.gap));
  const pulledFirst = results.ours.every((x) => x.pullBeforeStop);
  console.log(
    `\ntarget: longest gap < 2000 ms and the pull done before the old container stops -> ${
      worst < 2000 && pulledFirst ? 'met' : 'NOT met'
    } (worst gap ${ms(worst)})`,
  );
  console.log(
    'The naive total stops at `run` returning; the host script also waits for the health command.',
  );
} finally {
  await podman(['rm', '--force', '--time', '0', CONTAINER], { env });
  await engine.dispose();
  await registry.stop();
  rmSync(context, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
}
