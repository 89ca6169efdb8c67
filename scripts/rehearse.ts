/**
 * `npm start`: the example pipeline rehearsed end to end on this machine, with no AWS account.
 *
 *   test -> build-push (v1) -> deploy-ec2-ssm host script -> wait-healthy -> v2 -> broken v3 rejected
 *
 * Every stage runs the real thing: the example's own tests; the committed build-push bundle run as
 * the runner runs it, against an ECR stand-in (the AWS JSON stub in front of a real registry); the
 * very command deploy-ec2-ssm would send through SSM (same generator, same sh wrapper), run on this
 * machine as the SSM agent runs it, with its own engine store as a host would have; the committed
 * wait-healthy bundle. It ends with a table and removes everything it started, also on Ctrl-C
 * and when a stage fails: each thing is registered for removal as soon as it is started.
 *
 * SHIPYARD_REHEARSAL_KEEP=1 leaves the host engine and its container running (its dir is printed).
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import http from 'node:http';
import {
  engineAvailable,
  exampleAppContext,
  freePort,
  runProcess,
  startRegistry,
  tempEngine,
  type Registry,
} from './engine/engine.js';
import { startEcrStandIn } from '../stand-ins/ecr.js';
import { prepareDeployCommand } from '../src/ssm/deploy.js';
import { parseDeployResult, type DeployResult } from '../src/ssm/result.js';
import type { DeploySpec } from '../src/ssm/spec.js';
import { runAction } from '../stand-ins/runner.js';
import { errorMessage } from '../src/errors.js';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const keep = process.env.SHIPYARD_REHEARSAL_KEEP === '1';
const REPOSITORY = 'shipyard-example';
const CONTAINER = 'shipyard-example';
const HEALTH_TIMEOUT_SECONDS = 8;

interface Row {
  version: string;
  digest: string;
  result: string;
  deployMs: number;
  downtime: string;
  /** Polls without a healthy answer while this release was deployed. */
  failedPolls: number;
  serving: string;
}

const work = mkdtempSync(join(tmpdir(), 'shipyard-rehearsal-'));
/** Registered as each thing is started, so a failure at any stage still removes it. */
const cleanups: Array<() => Promise<unknown>> = [];
let cleaning: Promise<void> | undefined;

function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const run of cleanups.reverse()) await run().catch(() => {});
    rmSync(work, { recursive: true, force: true });
  })();
  return cleaning;
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.log(`\n${signal}: stopping and cleaning up`);
    void cleanup().then(() => process.exit(130));
  });
}

const stage = (title: string) => console.log(`\n== ${title}`);
const indent = (text: string) => text.trimEnd().replace(/^/gm, '   ');

/** Run an action bundle as the runner does: INPUT_* variables, command files, its own log. */
async function runBundle(
  bundle: string,
  inputs: Record<string, string>,
  env: Record<string, string>,
): Promise<{ code: number | null; outputs: Record<string, string>; log: string }> {
  let pending = '';
  let group: { title: string; lines: number } | undefined;
  // Print what a person reads in the runner's log: the runner's own commands (::add-mask:: and
  // friends) are hidden, and a ::group:: is folded to its title, as the log viewer shows it.
  const show = (chunk: string) => {
    const lines = (pending + chunk).split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      if (line.startsWith('::group::')) group = { title: line.slice('::group::'.length), lines: 0 };
      else if (line.startsWith('::endgroup::')) {
        if (group) console.log(indent(`> ${group.title} (${group.lines} lines folded)`));
        group = undefined;
      } else if (group) group.lines++;
      else if (line.startsWith('::error'))
        console.log(indent(`error: ${line.replace(/^::error[^:]*::/, '').replace(/%0A/g, '\n')}`));
      else if (line !== '' && !line.startsWith('::')) console.log(indent(line));
    }
  };
  const run = await runAction(bundle, inputs, {
    // The runners run Node 24: the AWS SDK's notice about this machine's Node 20 is not news here.
    env: { NODE_NO_WARNINGS: '1', ...env },
    timeoutMs: 10 * 60_000,
    onOutput: show,
  });
  return { code: run.code, outputs: run.outputs, log: run.stdout + run.stderr };
}

/**
 * Polls /health every 50 ms and reports the longest time between healthy answers and the number
 * of polls that got no healthy answer.
 */
function downtimeProbe(port: number) {
  let lastOk: number | undefined;
  let longestGap = 0;
  let failed = 0;
  let stopped = false;
  const tick = () => {
    if (stopped) return;
    const started = Date.now();
    const req = http.get(
      { host: '127.0.0.1', port, path: '/health', timeout: 1000, agent: false },
      (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode === 200) {
            if (lastOk !== undefined) longestGap = Math.max(longestGap, started - lastOk);
            lastOk = started;
          } else failed++;
        });
      },
    );
    req.on('error', () => failed++);
    req.on('timeout', () => req.destroy());
    setTimeout(tick, 50);
  };
  tick();
  return {
    stop: () => {
      stopped = true;
      if (lastOk !== undefined) longestGap = Math.max(longestGap, Date.now() - lastOk - 50);
      return { longestGap, failed };
    },
  };
}

/** What the example serves on the host right now (its /health names the version). */
async function servingVersion(port: number): Promise<string> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/health`, {
      signal: AbortSignal.timeout(2000),
    });
    const body = (await res.json()) as { version?: string };
    return res.ok ? (body.version ?? '?') : `unhealthy (${res.status})`;
  } catch {
    return 'nothing';
  }
}

async function main(): Promise<number> {
  if (!engineAvailable()) {
    console.error(
      'npm start needs podman, the CNCF registry, skopeo and busybox-static: run `bash scripts/engine/install.sh` as root first.',
    );
    return 2;
  }
  const started = Date.now();

  stage(
    'stand-ins: a registry with ECR-style credentials, ECR in front of it, a runner and a host',
  );
  const registry: Registry = await startRegistry({
    user: 'AWS',
    password: `rehearsal-${process.pid}-${Date.now()}`,
  });
  cleanups.push(() => registry.stop());
  const ecr = await startEcrStandIn(registry);
  cleanups.push(() => ecr.close());
  const runner = tempEngine();
  cleanups.push(() => runner.dispose());
  const host = tempEngine();
  // SHIPYARD_REHEARSAL_KEEP=1 keeps it (the final container runs in it), also after a failure.
  if (!keep) cleanups.push(() => host.dispose());
  // The host's instance role, for the AWS CLI the host script calls: `aws ecr get-login-password`.
  const hostBin = join(work, 'host-bin');
  mkdirSync(hostBin);
  writeFileSync(
    join(hostBin, 'aws'),
    "#!/bin/sh\n# Stand-in for the AWS CLI on an instance: the instance role's ECR password.\n" +
      'case "$*" in *"ecr get-login-password"*) printf \'%s\\n\' "$REHEARSAL_ECR_PASSWORD" ;; *) echo "aws stand-in: $*" >&2; exit 1 ;; esac\n',
  );
  chmodSync(join(hostBin, 'aws'), 0o755);
  const port = await freePort();
  console.log(
    indent(`registry ${registry.host} (user AWS), ECR API ${ecr.endpoint}, service port ${port}`),
  );
  const awsEnv = {
    AWS_ENDPOINT_URL_ECR: ecr.endpoint,
    AWS_ACCESS_KEY_ID: 'AKIDREHEARSAL',
    AWS_SECRET_ACCESS_KEY: 'rehearsal-secret',
    AWS_REGION: 'us-east-1',
  };

  stage('test: the example service');
  const tests = await runProcess('bash', [join(repoRoot, 'examples/app/test.sh')]);
  if (tests.code !== 0)
    throw new Error(`examples/app/test.sh failed:\n${tests.stdout}${tests.stderr}`);
  console.log(
    indent(`${tests.stdout.split('\n').filter((l) => l.startsWith('ok')).length} checks passed`),
  );
  const context = await exampleAppContext();
  cleanups.push(async () => rmSync(context, { recursive: true, force: true }));

  const rows: Row[] = [];
  const releases = [
    { version: 'v1', buildArgs: 'VERSION=v1', expect: 'deployed' },
    { version: 'v2', buildArgs: 'VERSION=v2', expect: 'deployed' },
    {
      version: 'v3',
      buildArgs: 'VERSION=v3\nBROKEN=true',
      expect: 'rejected',
      note: ' (broken: /health answers 500)',
    },
  ];
  let previous: string | undefined;
  for (const [i, release] of releases.entries()) {
    const sha = `${String(i + 1).repeat(7)}${'0'.repeat(33)}`;
    stage(`build-push: ${release.version}${release.note ?? ''}`);
    const build = await runBundle(
      'actions/build-push/dist/index.js',
      {
        repository: REPOSITORY,
        engine: 'podman',
        context,
        sha,
        'build-args': release.buildArgs,
        'create-repository': 'true',
      },
      { ...runner.env, ...awsEnv },
    );
    if (build.code !== 0) throw new Error(`build-push failed for ${release.version}`);
    const imageByDigest = `${build.outputs.registry}/${REPOSITORY}@${build.outputs.digest}`;

    stage(`deploy-ec2-ssm: ${release.version} to this machine, as the SSM agent would run it`);
    const spec: DeploySpec = {
      image: imageByDigest,
      containerName: CONTAINER,
      ports: [{ hostIp: '127.0.0.1', hostPort: port, containerPort: 8000, protocol: 'tcp' }],
      env: [['GREETING', 'hello from the rehearsal']],
      envFromSsm: [],
      restartPolicy: 'unless-stopped',
      runOptions: ['--memory=64m'],
      engine: 'podman',
      registryLogin: 'ecr',
      region: 'us-east-1',
      // $SHIPYARD_PORT_8000: the candidate's loopback port first, then the real one.
      healthCmd: 'curl -fsS -m 2 "http://127.0.0.1:$SHIPYARD_PORT_8000/health"',
      healthTimeoutSeconds: HEALTH_TIMEOUT_SECONDS,
      stopTimeoutSeconds: 5,
      keepImages: 3,
      stateDir: join(work, 'state'),
      lockTimeoutSeconds: 60,
    };
    const { commands } = prepareDeployCommand(spec);
    const scriptPath = join(work, `_script-${release.version}.sh`);
    writeFileSync(scriptPath, commands);
    const probe = previous ? downtimeProbe(port) : undefined;
    const t0 = Date.now();
    const deploy = await runProcess('sh', [scriptPath], {
      env: {
        ...host.env,
        PATH: `${hostBin}:${process.env.PATH ?? ''}`,
        REHEARSAL_ECR_PASSWORD: registry.password,
      },
      timeoutMs: 180_000,
    });
    const deployMs = Date.now() - t0;
    const gap = probe?.stop();
    console.log(
      indent(
        deploy.stdout
          .split('\n')
          .filter((l) => l.startsWith('==>') || l.startsWith('    no candidate'))
          .join('\n') || deploy.stdout,
      ),
    );
    const result: DeployResult | undefined = parseDeployResult(deploy.stderr);
    console.log(indent(`result: ${result?.outcome ?? 'no result line'} (exit ${deploy.code})`));

    stage(`wait-healthy: http://localhost:${port}/health`);
    const expected = result?.outcome === 'deployed' ? release.version : previous;
    const health = await runBundle(
      'actions/wait-healthy/dist/index.js',
      {
        url: `http://localhost:${port}/health`,
        'json-path': 'version',
        'json-value': expected ?? '',
        timeout: '30s',
        interval: '250ms',
      },
      {},
    );
    const serving = await servingVersion(port);
    rows.push({
      version: release.version,
      digest: `${build.outputs.digest?.slice(0, 19)}…`,
      result: `${result?.outcome ?? 'none'}${result?.outcome === release.expect ? '' : ` (expected ${release.expect})`}`,
      deployMs,
      failedPolls: gap?.failed ?? 0,
      downtime:
        gap === undefined
          ? 'first deploy'
          : `${gap.failed} failed polls, longest gap ${gap.longestGap} ms`,
      serving: `${serving}${health.code === 0 ? '' : ' (wait-healthy failed)'}`,
    });
    if (result?.outcome === 'deployed') previous = release.version;
  }

  if (keep) {
    console.log(`\nkept: container ${CONTAINER} on 127.0.0.1:${port}, engine dir ${host.dir}`);
  }

  console.log('\n== result\n');
  const header = ['version', 'image digest', 'result', 'deploy time', 'downtime', 'serving after'];
  const table = rows.map((r) => [
    r.version,
    r.digest,
    r.result,
    `${(r.deployMs / 1000).toFixed(1)} s`,
    r.downtime,
    r.serving,
  ]);
  const widths = header.map((h, i) =>
    Math.max(h.length, ...table.map((row) => (row[i] ?? '').length)),
  );
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  console.log(
    [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...table.map(line)].join(
      '\n',
    ),
  );

  const ok =
    rows.length === 3 &&
    rows.every((r, i) => r.result === releases[i]?.expect) &&
    rows[2]?.serving === 'v2' &&
    rows[2]?.failedPolls === 0;
  console.log(
    `\nrehearsal ${ok ? 'passed' : 'FAILED'} in ${((Date.now() - started) / 1000).toFixed(1)} s: ` +
      (ok
        ? 'v1 and v2 deployed; the broken v3 was rejected as a candidate while v2 kept serving'
        : 'see the table above'),
  );
  return ok ? 0 : 1;
}

try {
  process.exitCode = await main();
} catch (error) {
  console.error(`\nrehearsal failed: ${errorMessage(error)}`);
  process.exitCode = 1;
} finally {
  await cleanup();
}
