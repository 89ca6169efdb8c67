/**
 * `npm start`: the example pipeline rehearsed end to end on this machine, with no AWS account.
 * Each stage uses the real parts: the example app's own tests, podman to build and run it, and
 * the committed wait-healthy bundle (run exactly as the runner runs it) to verify it.
 * Everything it starts is removed at the end, also on Ctrl-C.
 */
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  engineAvailable,
  exampleAppContext,
  freePort,
  podman,
  runCommand,
} from './engine/engine.js';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'shipyard-rehearsal-'));
const cleanups: Array<() => Promise<unknown>> = [];
const rows: string[][] = [];

async function cleanup() {
  for (const fn of cleanups.reverse()) await fn().catch(() => {});
  cleanups.length = 0;
  rmSync(work, { recursive: true, force: true });
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.log(`\n${signal}: cleaning up`);
    void cleanup().then(() => process.exit(130));
  });
}

function stage(name: string) {
  console.log(`\n== ${name}`);
}

async function must(what: string, p: ReturnType<typeof runCommand>): Promise<string> {
  const r = await p;
  if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code}):\n${r.stderr || r.stdout}`);
  return r.stdout.trim();
}

/** Run the committed wait-healthy bundle as the runner would. */
function waitHealthy(
  inputs: Record<string, string>,
): Promise<{ code: number | null; outputs: string; log: string }> {
  const output = join(work, `wh-output-${Date.now()}`);
  writeFileSync(output, '');
  writeFileSync(join(work, 'summary.md'), '', { flag: 'a' });
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    GITHUB_OUTPUT: output,
    GITHUB_STEP_SUMMARY: join(work, 'summary.md'),
  };
  for (const [k, v] of Object.entries(inputs)) env[`INPUT_${k.toUpperCase()}`] = v;
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(repoRoot, 'actions/wait-healthy/dist/index.js')], {
      env,
    });
    let log = '';
    child.stdout.on('data', (d) => {
      log += d;
      process.stdout.write(`   ${String(d).trimEnd().split('\n').join('\n   ')}\n`);
    });
    child.on('close', (code) => resolve({ code, outputs: readFileSync(output, 'utf8'), log }));
  });
}

async function main() {
  if (!engineAvailable()) {
    console.error(
      'npm start needs podman, the CNCF registry, skopeo and busybox-static: run `sudo bash scripts/engine/install.sh` first.',
    );
    process.exit(2);
  }
  const started = Date.now();
  const container = `shipyard-rehearsal-${process.pid}`;

  stage('test: the example service');
  await must('examples/app/test.sh', runCommand('bash', [join(repoRoot, 'examples/app/test.sh')]));
  console.log('   example tests passed');

  stage('build: v1 of the example service');
  const context = await exampleAppContext();
  cleanups.push(async () => rmSync(context, { recursive: true, force: true }));
  const image = 'localhost/shipyard-example:v1';
  const t0 = Date.now();
  await must(
    'podman build',
    podman(['build', '-q', '--build-arg', 'VERSION=v1', '-t', image, context]),
  );
  cleanups.push(() => podman(['rmi', '-f', image]));
  const imageId = (
    await must('podman inspect', podman(['image', 'inspect', '--format', '{{.Id}}', image]))
  ).slice(0, 12);
  console.log(`   built ${image} (${imageId}) in ${Date.now() - t0} ms`);

  stage('deploy: run v1 on this machine');
  const port = await freePort();
  cleanups.push(() => podman(['rm', '-f', '-t', '0', container]));
  await must(
    'podman run',
    podman(['run', '-d', '--name', container, '-p', `127.0.0.1:${port}:8000`, image]),
  );
  console.log(`   ${container} listening on 127.0.0.1:${port}`);

  stage('verify: wait-healthy until /health says ok');
  const health = await waitHealthy({
    url: `http://localhost:${port}/health`,
    'json-path': 'status',
    'json-value': 'ok',
    timeout: '60s',
    interval: '250ms',
  });
  const healthy = /healthy<<.*\ntrue\n/.test(health.outputs);
  rows.push(['v1', imageId, healthy ? 'healthy' : 'NOT healthy', `${Date.now() - t0} ms`]);

  console.log('\n== result');
  console.table(
    rows.map(([version, image_, result, time]) => ({ version, image: image_, result, time })),
  );
  console.log(
    `rehearsal ${healthy ? 'passed' : 'FAILED'} in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
  if (!healthy) process.exitCode = 1;
}

try {
  await main();
} catch (error) {
  console.error(`\nrehearsal failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
} finally {
  await cleanup();
}
