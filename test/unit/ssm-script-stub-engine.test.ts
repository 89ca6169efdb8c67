/**
 * The generated host script, run for real under bash against stand-ins for the engine, the AWS CLI
 * and sh (stand-ins/host/stub-bin) that record their argv byte for byte. fast-check generates
 * hostile values for every part of the spec; each must reach the program it is meant for intact,
 * and nothing in them may ever run (a canary file that `$(touch ...)` would create stays absent).
 */
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { filesHolding } from '../../scripts/engine/agent.js';
import {
  CANDIDATE_SUFFIX,
  renderDeployScript,
  SET_ASIDE_SUFFIX,
} from '../../src/ssm/remote-script.js';
import { RESULT_MARKER, parseDeployResult } from '../../src/ssm/result.js';
import { formatPortMapping, type DeploySpec, type PortMapping } from '../../src/ssm/spec.js';

const STUBS = fileURLToPath(new URL('../../stand-ins/host/stub-bin', import.meta.url));
const NUL = String.fromCharCode(0);
const ECR_PASSWORD = 'ecr-password-from-stub-7f3a';
const REPO = '127.0.0.1:5000/team/app';
const IMAGE = `${REPO}:2.0`;
const FORGED = `${RESULT_MARKER}${JSON.stringify({ outcome: 'deployed', container: 'x', newImage: 'forged' })}`;

const work = mkdtempSync(join(tmpdir(), 'shipyard-stub-engine-'));
const CANARY = join(work, 'pwned');
afterAll(() => rmSync(work, { recursive: true, force: true }));

interface Call {
  program: string;
  argv: string[];
}

interface StubRun {
  code: number | null;
  stdout: string;
  stderr: string;
  calls: Call[];
  envFile?: string;
  envFileMode?: string;
  loginStdin?: string;
  leftInTmp: string[];
  /** Files under the state directory that hold some secret token. */
  stateFiles: string[];
}

let runCounter = 0;

/** Render `spec`, run it with the stubs first on PATH, and collect what every stub saw. */
function runWithStubs(
  spec: DeploySpec,
  opts: { previous: boolean; crash: boolean; ssmValues: Map<string, string> },
): StubRun {
  const dir = join(work, `run-${++runCounter}`);
  const bin = join(dir, 'bin');
  const tmp = join(dir, 'tmp');
  const stubDir = join(dir, 'stub');
  for (const d of [bin, tmp, join(stubDir, 'containers')]) mkdirSync(d, { recursive: true });
  for (const [name, target] of [
    ['docker', 'engine'],
    ['podman', 'engine'],
    ['aws', 'aws'],
    ['sh', 'sh'],
  ] as const) {
    symlinkSync(join(STUBS, target), join(bin, name));
  }
  if (opts.previous) {
    writeFileSync(join(stubDir, 'containers', spec.containerName), `running|${REPO}:1.0\n`);
  }
  writeFileSync(
    join(stubDir, 'params'),
    [...opts.ssmValues].map(([name, value]) => `${name}${NUL}${value}${NUL}`).join(''),
  );
  const scriptPath = join(dir, 'deploy.sh');
  writeFileSync(scriptPath, renderDeployScript(spec));
  const r = spawnSync('bash', [scriptPath], {
    encoding: 'utf8',
    timeout: 30_000,
    env: {
      PATH: `${bin}:${process.env.PATH}`,
      HOME: dir,
      TMPDIR: tmp,
      STUB_DIR: stubDir,
      STUB_ECR_PASSWORD: ECR_PASSWORD,
      STUB_REPO: REPO,
      // Every engine call also prints a forged result line on stderr.
      STUB_FORGE: FORGED,
      ...(opts.crash ? { STUB_NEW_CRASHES: '1' } : {}),
    },
  });
  const callsDir = join(stubDir, 'calls');
  const calls = existsSync(callsDir)
    ? readdirSync(callsDir)
        .sort()
        .map((file) => {
          const raw = readFileSync(join(callsDir, file), 'utf8');
          return { program: file.split('-').slice(2).join('-'), argv: raw.split(NUL).slice(0, -1) };
        })
    : [];
  const read = (file: string) =>
    existsSync(join(stubDir, file)) ? readFileSync(join(stubDir, file), 'utf8') : undefined;
  return {
    code: r.status,
    stdout: r.stdout,
    stderr: r.stderr,
    calls,
    envFile: read('env-file-copy'),
    envFileMode: read('env-file-mode')?.trim(),
    loginStdin: read('login-stdin'),
    leftInTmp: readdirSync(tmp),
    stateFiles: filesHolding(spec.stateDir as string, 'S3CRET-'),
  };
}

// --- arbitraries -------------------------------------------------------------------------------

/** Fragments that run something if any layer evaluates them, plus quoting and parsing traps. */
const trap = fc.constantFrom(
  `$(touch ${CANARY})`,
  `\`touch ${CANARY}\``,
  `; touch ${CANARY}`,
  `| touch ${CANARY}`,
  `&& touch ${CANARY} &`,
  `\ntouch ${CANARY}\n`,
  `'$(touch ${CANARY})'`,
  `"$(touch ${CANARY})"`,
  `'"'"'; touch ${CANARY}; '`,
  "'",
  '"',
  '\\',
  "'\\''",
  '$HOME',
  '${PATH}',
  '$1',
  '*',
  '~',
  '!!',
  '#',
  ' ',
  '\t',
  '\r',
  '%s%n',
  '-e',
  '--',
  '=',
  'é',
  '😀',
);
const hostile = fc
  .array(fc.oneof(trap, fc.string({ unit: 'binary', maxLength: 6 })), { maxLength: 5 })
  .map((parts) => parts.join(''))
  .filter((s) => !s.includes(NUL));
/** SSM values go through an env-file, one line per variable: no line breaks there. */
const hostileLine = hostile.filter((s) => !/[\r\n]/.test(s));

const envName = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,12}$/);
const containerName = fc.stringMatching(/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,24}$/);
const parameterName = fc.stringMatching(/^\/?[a-zA-Z0-9_.-]{1,12}(?:\/[a-zA-Z0-9_.-]{1,12}){0,3}$/);
const port = fc.integer({ min: 1, max: 65535 });
const portMapping: fc.Arbitrary<PortMapping> = fc.record(
  {
    hostIp: fc.constantFrom('127.0.0.1', '0.0.0.0', '::1'),
    hostPort: port,
    containerPort: port,
    protocol: fc.constantFrom('tcp' as const, 'udp' as const),
  },
  { requiredKeys: ['hostPort', 'containerPort', 'protocol'] },
);
const runOption = fc.oneof(
  hostile.map((v) => ['--label', v]),
  hostile.map((v) => [`--log-opt=tag=${v}`]),
  hostile.map((v) => ['--entrypoint', v]),
  hostile.map((v) => ['-w', v]),
  fc.constant(['--read-only']),
  fc.constant(['-m', '64m']),
);

const scenario = fc
  .record({
    names: fc.uniqueArray(envName, { minLength: 0, maxLength: 6 }),
    envValues: fc.array(hostile, { minLength: 6, maxLength: 6 }),
    ssmCount: fc.integer({ min: 0, max: 3 }),
    parameters: fc.uniqueArray(parameterName, { minLength: 3, maxLength: 3 }),
    secrets: fc.array(hostileLine, { minLength: 3, maxLength: 3 }),
    containerName,
    ports: fc.uniqueArray(portMapping, {
      maxLength: 3,
      selector: (p) => `${p.hostIp ?? ''}|${p.hostPort}|${p.protocol}`,
    }),
    runOptions: fc.array(runOption, { maxLength: 4 }).map((groups) => groups.flat()),
    healthCmd: hostile.filter((s) => s.trim() !== ''),
    engine: fc.constantFrom('docker' as const, 'podman' as const),
    registryLogin: fc.constantFrom('ecr' as const, 'none' as const),
    region: fc.option(fc.constantFrom('eu-west-1', 'us-gov-west-1'), { nil: undefined }),
    keepImages: fc.integer({ min: 1, max: 6 }),
    previous: fc.boolean(),
    crash: fc.boolean(),
    // A health command that names $SHIPYARD_PORT_<port> lets the candidate run first.
    portable: fc.boolean(),
  })
  .map((s) => {
    const ssmCount = Math.min(s.ssmCount, s.names.length);
    const ssmNames = s.names.slice(0, ssmCount);
    const envNames = s.names.slice(ssmCount);
    // Each secret carries a unique token, to look for it in everything the script printed.
    const secrets = ssmNames.map((_, i) => `S3CRET-${i}-${s.secrets[i]}`);
    const spec: DeploySpec = {
      image: IMAGE,
      containerName: s.containerName,
      ports: s.ports,
      env: envNames.map((name, i) => [name, s.envValues[i] as string]),
      envFromSsm: ssmNames.map((name, i) => [name, s.parameters[i] as string]),
      restartPolicy: 'unless-stopped',
      runOptions: s.runOptions,
      engine: s.engine,
      registryLogin: s.registryLogin,
      ...(s.region ? { region: s.region } : {}),
      healthCmd:
        s.portable && s.ports[0]
          ? `curl http://127.0.0.1:$SHIPYARD_PORT_${s.ports[0].containerPort}/ ${s.healthCmd}`
          : s.healthCmd,
      healthTimeoutSeconds: 5,
      stopTimeoutSeconds: 3,
      keepImages: s.keepImages,
      stateDir: join(work, 'state'),
      executionTimeoutSeconds: 120,
    };
    const ssmValues = new Map(
      ssmNames.map((_, i) => [s.parameters[i] as string, secrets[i] as string]),
    );
    return { spec, secrets, ssmValues, previous: s.previous, crash: s.crash };
  })
  .map((s) => {
    const candidate =
      s.spec.ports.length > 0 &&
      (s.spec.healthCmd ?? '').includes('$SHIPYARD_PORT_') &&
      !s.spec.runOptions.some((o) => o.startsWith('--network'));
    return { ...s, candidate };
  });

// --- the property ------------------------------------------------------------------------------

describe('host script under bash with a stub engine', () => {
  it('passes every hostile value through intact and runs none of them', () => {
    fc.assert(
      fc.property(scenario, ({ spec, secrets, ssmValues, previous, crash, candidate }) => {
        rmSync(CANARY, { force: true }); // so that a shrunk counterexample fails on its own
        const run = runWithStubs(spec, { previous, crash, ssmValues });
        const where = `\n--- stdout ---\n${run.stdout}\n--- stderr ---\n${run.stderr}`;
        const engineCalls = run.calls.filter((c) => c.program === spec.engine);
        const sub = (name: string) => engineCalls.filter((c) => c.argv[0] === name);

        // Nothing ran: no canary, and only the engine, aws and sh were called through PATH.
        expect(existsSync(CANARY)).toBe(false);
        expect(new Set(run.calls.map((c) => c.program))).toEqual(
          new Set([
            spec.engine,
            ...(spec.registryLogin === 'ecr' || spec.envFromSsm.length > 0 ? ['aws'] : []),
            ...(crash ? [] : ['sh']),
          ]),
        );

        // The outcome, the exit code, and the result line alone on stderr.
        const expected = !crash
          ? 'deployed'
          : candidate
            ? 'rejected'
            : previous
              ? 'rolled-back'
              : 'failed-no-previous';
        const result = parseDeployResult(run.stdout);
        // The forged lines the engine printed reached the log only indented: one marker line.
        expect(run.stdout.split('\n').filter((l) => l.startsWith(RESULT_MARKER))).toHaveLength(1);
        // `login` writes its stderr straight to the log: the launcher shows that line indented.
        if (spec.registryLogin === 'ecr') expect(run.stdout).toContain(`    ! ${FORGED}`);
        if (result?.outcome !== expected) throw new Error(`expected ${expected}${where}`);
        expect(run.code).toBe(expected === 'deployed' ? 0 : 1);
        expect(result.container).toBe(spec.containerName);
        expect(result.newImage).toBe(IMAGE);
        expect(run.stderr.startsWith(RESULT_MARKER)).toBe(true);
        expect(run.stderr.trimEnd().split('\n')).toHaveLength(1);
        expect(parseDeployResult(run.stderr)).toEqual(result);

        // `create` got every value as its own argv entry, unchanged and in order: the final
        // container (pre-flight), then the candidate on loopback ports when it runs first.
        const creates = sub('create');
        expect(creates).toHaveLength(candidate ? 2 : 1);
        const envFileArg = creates[0]?.argv.find((a) => a.startsWith('--env-file='));
        const common = [
          ...spec.env.map(([name, value]) => `--env=${name}=${value}`),
          ...spec.runOptions,
          IMAGE,
        ];
        const head = (name: string) => [
          'create',
          `--name=${name}`,
          `--label=shipyard.restart-policy=${spec.restartPolicy}`,
          ...(spec.envFromSsm.length > 0 ? [envFileArg] : []),
        ];
        expect(creates[0]?.argv).toEqual([
          ...head(`${spec.containerName}-shipyard-next`),
          `--restart=${spec.restartPolicy}`,
          ...spec.ports.map((p) => `--publish=${formatPortMapping(p)}`),
          ...common,
        ]);
        if (candidate) {
          const ports = [...new Set(spec.ports.map((p) => `${p.containerPort}/${p.protocol}`))];
          expect(creates[1]?.argv).toEqual([
            ...head(`${spec.containerName}${CANDIDATE_SUFFIX}`),
            '--restart=no',
            ...ports.map((p) => `--publish=127.0.0.1::${p}`),
            ...common,
          ]);
        }

        // The health command reached sh -c as one opaque string: for the candidate, then again
        // for the final container.
        if (!crash) {
          expect(run.calls.filter((c) => c.program === 'sh').map((c) => c.argv)).toEqual(
            Array.from({ length: candidate ? 2 : 1 }, () => ['-c', spec.healthCmd]),
          );
        }

        // SSM: parameter names as --name=..., values only in the 0600 env-file, which is gone.
        const ssmCalls = run.calls.filter((c) => c.program === 'aws' && c.argv.includes('ssm'));
        expect(ssmCalls.map((c) => c.argv.find((a) => a.startsWith('--name=')))).toEqual(
          spec.envFromSsm.map(([, parameter]) => `--name=${parameter}`),
        );
        if (spec.envFromSsm.length > 0) {
          expect(run.envFile).toBe(
            spec.envFromSsm.map(([name], i) => `${name}=${secrets[i]}\n`).join(''),
          );
          expect(run.envFileMode).toBe('600');
        } else expect(run.envFile).toBeUndefined();
        expect(run.leftInTmp).toEqual([]);
        expect(run.stateFiles).toEqual([]);
        const everyArg = run.calls.flatMap((c) => c.argv).join('\n');
        secrets.forEach((_, i) => {
          const token = `S3CRET-${i}-`;
          expect(run.stdout).not.toContain(token);
          expect(run.stderr).not.toContain(token);
          expect(everyArg).not.toContain(token);
        });
        for (const c of run.calls.filter((c) => c.program === 'aws')) {
          expect(c.argv.includes(`--region=${spec.region}`)).toBe(spec.region !== undefined);
        }

        // ECR: the password went through stdin only.
        if (spec.registryLogin === 'ecr') {
          expect(sub('login').map((c) => c.argv)).toEqual([
            ['login', '--username', 'AWS', '--password-stdin', '127.0.0.1:5000'],
          ]);
          expect(run.loginStdin).toBe(`${ECR_PASSWORD}\n`);
          expect(everyArg).not.toContain(ECR_PASSWORD);
        } else expect(sub('login')).toEqual([]);

        // The previous container was set aside, and then removed or restored; a rejected
        // candidate never touched it.
        const aside = `${spec.containerName}${SET_ASIDE_SUFFIX}`;
        const next = `${spec.containerName}-shipyard-next`;
        const renames = sub('rename').map((c) => c.argv.slice(1));
        if (expected === 'rejected') {
          expect(renames).toEqual([]);
          expect(sub('stop')).toEqual([]);
        } else if (previous) {
          expect(renames[0]).toEqual([spec.containerName, aside]);
          expect(renames[1]).toEqual([next, spec.containerName]);
          expect(sub('stop')[0]?.argv).toEqual(['stop', '-t', '3', aside]);
          if (crash) expect(renames[2]).toEqual([aside, spec.containerName]);
          else expect(sub('rm').map((c) => c.argv)).toContainEqual(['rm', '--force', aside]);
          // docker takes the restart policy away while it is set aside (podman 4 cannot).
          if (spec.engine === 'docker')
            expect(sub('update').map((c) => c.argv)).toContainEqual([
              'update',
              '--restart=no',
              aside,
            ]);
        } else expect(renames).toEqual([[next, spec.containerName]]);

        // Pruning: stub lists v5..v1 of the repository, newest first; keep the newest keepImages.
        const removed = sub('rmi').map((c) => c.argv[1]);
        if (crash) expect(removed).toEqual([]);
        else {
          const tags = [5, 4, 3, 2, 1].slice(spec.keepImages).map((v) => `${REPO}:v${v}`);
          expect(removed).toEqual(tags);
        }
      }),
      { numRuns: 40 },
    );
  }, 120_000);
});
