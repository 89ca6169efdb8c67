// Shared helpers for the benchmark scripts: statistics, a runner-like action launcher, printing.
import { spawn, spawnSync } from 'node:child_process';
import http from 'node:http';
import { mkdtempSync, writeFileSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const median = (xs) => quantile(xs, 0.5);

/** Every bundle stays within this, with all its chunks (test/unit/bundle-budget.test.ts too). */
const BUNDLE_BUDGET_BYTES = 1_200_000;

/**
 * Rows for an action's bundle: the main file, loaded at start-up, and with every chunk ncc split
 * off (`<n>.index.js`, loaded with import() only on the path that needs it: `chunksWhat`).
 */
export function bundleSizeRows(action, chunksWhat) {
  const dist = `actions/${action}/dist`;
  const main = statSync(`${dist}/index.js`).size;
  const chunks = readdirSync(dist)
    .filter((f) => /^\d+\.index\.js$/.test(f))
    .reduce((n, f) => n + statSync(`${dist}/${f}`).size, 0);
  const mb = (bytes) => `${(bytes / 1e6).toFixed(2)} MB`;
  const target = (bytes) =>
    `<= ${mb(BUNDLE_BUDGET_BYTES)} (${bytes <= BUNDLE_BUDGET_BYTES ? 'met' : 'NOT met'})`;
  if (chunks === 0) return [[`${action} bundle size`, `${mb(main)} (${main} bytes)`, target(main)]];
  return [
    [`${action} bundle size (main, loaded at start-up)`, `${mb(main)} (${main} bytes)`, ''],
    [
      `${action} bundle size (+ lazily loaded chunks: ${chunksWhat})`,
      `${mb(main + chunks)} (+${chunks} bytes)`,
      target(main + chunks),
    ],
  ];
}
export function quantile(xs, q) {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}
export const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Start an action bundle as the runner would; resolves with exit code, outputs file and timing. */
export function launchAction(bundle, inputs, env = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'shipyard-bench-'));
  const output = join(dir, 'output');
  const summary = join(dir, 'summary');
  writeFileSync(output, '');
  writeFileSync(summary, '');
  const childEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    GITHUB_OUTPUT: output,
    GITHUB_STEP_SUMMARY: summary,
    ...env,
  };
  for (const [k, v] of Object.entries(inputs)) childEnv[`INPUT_${k.toUpperCase()}`] = v;
  const startedAt = performance.now();
  const child = spawn(process.execPath, [bundle], {
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stdout += d));
  const done = new Promise((resolve) =>
    child.on('close', (code) => {
      const outputs = readFileSync(output, 'utf8');
      rmSync(dir, { recursive: true, force: true });
      resolve({ code, endedAt: performance.now(), stdout, outputs });
    }),
  );
  return { startedAt, done, child };
}

/** Print rows as an aligned text table. */
export function printTable(headers, rows) {
  const all = [headers, ...rows].map((r) => r.map(String));
  const widths = headers.map((_, i) => Math.max(...all.map((r) => r[i].length)));
  for (const [n, r] of all.entries()) {
    console.log(r.map((c, i) => c.padEnd(widths[i])).join('  '));
    if (n === 0) console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  }
}

export const ms = (x) => (Number.isFinite(x) ? `${Math.round(x)} ms` : 'n/a');

/**
 * Start-up as every action run pays it: from spawning the bundle to its first request arriving on
 * a loopback server, against a bare `node -e 0` (spawn to exit). The server answers like an AWS
 * API refusing the call (400 AccessDeniedException), and the child is killed at once.
 * `inputs(url)` gives the action's inputs; `endpointVars` are set to the server's URL
 * (AWS_ENDPOINT_URL_ECS, ...), with throw-away credentials.
 */
export async function measureStartup({ bundle, inputs, env = {}, endpointVars = [], runs = 15 }) {
  const bare = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    spawnSync(process.execPath, ['-e', '0']);
    bare.push(performance.now() - t);
  }
  let onRequest = () => {};
  const server = http.createServer((_req, res) => {
    onRequest();
    res.writeHead(400, {
      'content-type': 'application/x-amz-json-1.1',
      'x-amzn-errortype': 'AccessDeniedException',
    });
    res.end('{"message":"startup bench"}');
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${server.address().port}`;
  const awsEnv = {
    AWS_ACCESS_KEY_ID: 'AKIDBENCH',
    AWS_SECRET_ACCESS_KEY: 'bench',
    AWS_REGION: 'us-east-1',
  };
  for (const name of endpointVars) awsEnv[name] = url;
  const toFirstRequest = [];
  for (let i = 0; i < runs; i++) {
    const action = launchAction(bundle, inputs(url), { ...awsEnv, ...env });
    const first = await Promise.race([
      new Promise((resolve) => (onRequest = () => resolve(performance.now()))),
      action.done.then(() => NaN),
    ]);
    onRequest = () => {};
    action.child.kill('SIGKILL');
    await action.done;
    if (Number.isNaN(first)) throw new Error(`${bundle} exited before sending any request`);
    toFirstRequest.push(first - action.startedAt);
  }
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  return { bareMs: median(bare), firstRequestMs: median(toFirstRequest) };
}

/** The start-up rows every bench prints, with the start-up budget (`budgetMs` over a bare node). */
export function startupRows(name, { bareMs, firstRequestMs }, budgetMs) {
  return [
    ['bare node -e 0 (to exit), median', ms(bareMs), ''],
    [`${name} bundle (to first request), median`, ms(firstRequestMs), ''],
    ['difference', ms(firstRequestMs - bareMs), `<= ${budgetMs} ms`],
  ];
}
