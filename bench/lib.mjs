// Shared helpers for the benchmark scripts: statistics, a runner-like action launcher, printing.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const median = (xs) => quantile(xs, 0.5);
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
    child.on('close', (code) =>
      resolve({ code, endedAt: performance.now(), stdout, outputs: readFileSync(output, 'utf8') }),
    ),
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
