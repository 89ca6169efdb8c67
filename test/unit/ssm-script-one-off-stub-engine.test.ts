/**
 * The host script in mode=one-off (pre-deploy-command), run for real under bash against the
 * stand-ins of stand-ins/host/stub-bin, which record their argv byte for byte. fast-check
 * generates hostile command words, env values and secrets: the one-off container must be created
 * with exactly the service's env and run-options, the image, then the command's words, each its
 * own argv entry; nothing in them may run; the service container is never touched; the exit code
 * is the one the command returned; no secret is left behind or printed.
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
import { renderDeployScript } from '../../src/ssm/remote-script.js';
import { parseOneOffResult } from '../../src/ssm/pre-deploy.js';
import { RESULT_MARKER } from '../../src/ssm/result.js';
import type { DeploySpec } from '../../src/ssm/spec.js';

const STUBS = fileURLToPath(new URL('../../stand-ins/host/stub-bin', import.meta.url));
const NUL = String.fromCharCode(0);
const REPO = '127.0.0.1:5000/team/app';
const IMAGE = `${REPO}:2.0`;
const FORGED = `${RESULT_MARKER}${JSON.stringify({ outcome: 'succeeded', exitCode: 0, container: 'x', newImage: 'forged' })}`;

const work = mkdtempSync(join(tmpdir(), 'shipyard-one-off-stub-'));
const CANARY = join(work, 'pwned');
afterAll(() => rmSync(work, { recursive: true, force: true }));

const trap = fc.constantFrom(
  `$(touch ${CANARY})`,
  `\`touch ${CANARY}\``,
  `; touch ${CANARY}`,
  `&& touch ${CANARY} &`,
  `\ntouch ${CANARY}\n`,
  `'"'"'; touch ${CANARY}; '`,
  "'",
  '"',
  '\\',
  '$HOME',
  '*',
  '#',
  ' ',
  '-e',
  '--rm',
  '',
  '😀',
);
const hostile = fc
  .array(fc.oneof(trap, fc.string({ unit: 'binary', maxLength: 5 })), { maxLength: 4 })
  .map((parts) => parts.join(''))
  .filter((s) => !s.includes(NUL));
const hostileLine = hostile.filter((s) => !/[\r\n]/.test(s));
const envName = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,10}$/);

const scenario = fc.record({
  command: fc.array(hostile, { minLength: 1, maxLength: 6 }),
  names: fc.uniqueArray(envName, { maxLength: 4 }),
  values: fc.array(hostile, { minLength: 4, maxLength: 4 }),
  secret: hostileLine,
  withSecret: fc.boolean(),
  runOptions: fc.array(
    fc.oneof(
      hostile.map((v) => ['--label', v]),
      fc.constant(['--read-only']),
    ),
    { maxLength: 3 },
  ),
  containerName: fc.stringMatching(/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,20}$/),
  engine: fc.constantFrom('docker' as const, 'podman' as const),
  exitCode: fc.constantFrom(0, 1, 3, 127),
  previous: fc.boolean(),
});

let counter = 0;

describe('one-off host script under bash with a stub engine', () => {
  it('creates the one-off with the exact argv, runs nothing else, and reports its exit code', () => {
    fc.assert(
      fc.property(scenario, (s) => {
        rmSync(CANARY, { force: true });
        const dir = join(work, `run-${++counter}`);
        const bin = join(dir, 'bin');
        const stubDir = join(dir, 'stub');
        const stateDir = join(dir, 'state');
        for (const d of [bin, join(dir, 'tmp'), join(stubDir, 'containers')])
          mkdirSync(d, { recursive: true });
        for (const [name, target] of [
          ['docker', 'engine'],
          ['podman', 'engine'],
          ['aws', 'aws'],
          ['sh', 'sh'],
        ] as const)
          symlinkSync(join(STUBS, target), join(bin, name));
        if (s.previous)
          writeFileSync(join(stubDir, 'containers', s.containerName), `running|${REPO}:1.0\n`);
        const secret = `S3CRET-${s.secret}`;
        writeFileSync(join(stubDir, 'params'), `/app/db${NUL}${secret}${NUL}`);
        const spec: DeploySpec = {
          image: IMAGE,
          containerName: s.containerName,
          ports: [{ hostPort: 8080, containerPort: 8000, protocol: 'tcp' }],
          env: s.names.map((n, i) => [n, s.values[i] as string]),
          envFromSsm: s.withSecret ? [['DB_PASSWORD', '/app/db']] : [],
          restartPolicy: 'unless-stopped',
          runOptions: s.runOptions.flat(),
          engine: s.engine,
          registryLogin: 'none',
          region: 'eu-west-1',
          healthTimeoutSeconds: 5,
          stopTimeoutSeconds: 3,
          keepImages: 3,
          stateDir,
        };
        const script = join(dir, 'one-off.sh');
        writeFileSync(
          script,
          renderDeployScript(spec, { command: s.command, timeoutSeconds: 120 }),
        );
        const r = spawnSync('bash', [script], {
          encoding: 'utf8',
          timeout: 30_000,
          env: {
            PATH: `${bin}:${process.env.PATH}`,
            HOME: dir,
            TMPDIR: join(dir, 'tmp'),
            STUB_DIR: stubDir,
            STUB_FORGE: FORGED,
            STUB_ONEOFF_RC: String(s.exitCode),
          },
        });
        const where = `\n--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr}`;
        const calls = readdirSync(join(stubDir, 'calls'))
          .sort()
          .map((file) => ({
            program: file.split('-').slice(2).join('-'),
            argv: readFileSync(join(stubDir, 'calls', file), 'utf8')
              .split(NUL)
              .slice(0, -1),
          }));
        const engine = calls.filter((c) => c.program === s.engine).map((c) => c.argv);
        const oneOff = `${s.containerName}-shipyard-oneoff`;

        expect(existsSync(CANARY)).toBe(false);
        // Nothing but the engine (and aws for the secret) was called: no health command, no sh.
        expect(new Set(calls.map((c) => c.program))).toEqual(
          new Set([s.engine, ...(s.withSecret ? ['aws'] : [])]),
        );

        // create: the service's env and run-options, no ports, the image, then the words.
        const creates = engine.filter((a) => a[0] === 'create');
        expect(creates).toHaveLength(1);
        const envFile = creates[0]?.find((a) => a.startsWith('--env-file='));
        expect(creates[0]).toEqual([
          'create',
          `--name=${oneOff}`,
          `--label=shipyard.one-off=${s.containerName}`,
          ...(s.withSecret ? [envFile] : []),
          ...spec.env.map(([n, v]) => `--env=${n}=${v}`),
          ...spec.runOptions,
          IMAGE,
          ...s.command,
        ]);
        expect(engine).toContainEqual(['start', '--attach', oneOff]);
        expect(engine).toContainEqual(['rm', '--force', oneOff]);
        // The service container was not touched.
        for (const verb of ['rename', 'stop', 'update', 'rmi'])
          expect(engine.filter((a) => a[0] === verb)).toEqual([]);
        expect(engine.filter((a) => a[0] !== 'create' && a.includes(s.containerName))).toEqual([]);
        expect(existsSync(join(stubDir, 'containers', oneOff))).toBe(false);

        // The verdict: the command's exit code, in the one result line; forged lines indented.
        expect(r.stdout.split('\n').filter((l) => l.startsWith(RESULT_MARKER))).toHaveLength(1);
        const result = parseOneOffResult(r.stderr);
        if (result?.exitCode !== s.exitCode) throw new Error(`exit code ${s.exitCode}?${where}`);
        expect(result.outcome).toBe(s.exitCode === 0 ? 'succeeded' : 'failed');
        expect(r.status).toBe(s.exitCode === 0 ? 0 : 1);
        expect(result.outputTail).toContain(`stub one-off output of ${oneOff}`);
        expect(r.stdout).toContain(`    | stub one-off output of ${oneOff}`);

        // The secret: in the env-file only (0600), which is gone; never printed or in argv.
        if (s.withSecret) {
          expect(readFileSync(join(stubDir, 'env-file-copy'), 'utf8')).toBe(
            `DB_PASSWORD=${secret}\n`,
          );
          expect(readFileSync(join(stubDir, 'env-file-mode'), 'utf8').trim()).toBe('600');
        }
        expect(filesHolding(stateDir, 'S3CRET-')).toEqual([]);
        expect(r.stdout + r.stderr).not.toContain('S3CRET-');
        expect(calls.flatMap((c) => c.argv).join('\n')).not.toContain('S3CRET-');
      }),
      { numRuns: 30 },
    );
  }, 120_000);
});
