/**
 * The commands element as the SSM agent runs it: written to _script.sh and started with
 * `sh -c <path>` (dash on Debian and Ubuntu). The deploy script must reach bash byte for byte.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { prepareDeployCommand } from '../../src/ssm/deploy.js';
import { wrapForRunShellScript } from '../../src/ssm/shell-wrapper.js';

/** A fresh state directory: where the wrapper keeps its copy of the script. */
function stateDir(): string {
  return join(mkdtempSync(join(tmpdir(), 'ssm-state-')), 'state');
}

/**
 * Run `commands` the way AWS-RunShellScript does; TMPDIR and the state directory are private so
 * leftovers can be seen.
 */
function runLikeTheAgent(wrap: (state: string) => string) {
  const dir = mkdtempSync(join(tmpdir(), 'ssm-agent-'));
  const tmp = mkdtempSync(join(tmpdir(), 'ssm-tmp-'));
  const state = stateDir();
  const commands = wrap(state);
  const script = join(dir, '_script.sh');
  writeFileSync(script, commands);
  chmodSync(script, 0o755);
  const run = spawnSync('sh', ['-c', script], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '', TMPDIR: tmp },
    input: 'this is the agent stdin\n',
    timeout: 10_000,
  });
  return { ...run, leftovers: [...readdirSync(tmp), ...readdirSync(state)], state };
}

const HOSTILE = [
  'it\'s "quoted" $(touch /tmp/shipyard-pwned) `id` ${HOME} \\ ; & | < > ( ) #',
  'SHIPYARD_DEPLOY_SCRIPT_END',
  'SHIPYARD_DEPLOY_SCRIPT_END_2',
  "case x in x) echo ')' ;; esac",
  '',
  '\ttrailing spaces   ',
].join('\n');

it('hands the script to bash unchanged, even the lines that look like its delimiter', () => {
  // The script prints its own payload from a here-document: what comes out is what went in.
  const script = `#!/usr/bin/env bash\nset -euo pipefail\n[[ -n "$BASH_VERSION" ]]\ncat <<'PAYLOAD'\n${HOSTILE}\nPAYLOAD\n`;
  const run = runLikeTheAgent((state) => wrapForRunShellScript(script, state));
  expect(run.stderr).toBe('');
  expect(run.status).toBe(0);
  expect(run.stdout).toBe(`${HOSTILE}\n`);
  expect(run.leftovers).toEqual([]);
});

it('turns every failure into exit code 1, so a script can never ask the agent to reboot', () => {
  for (const code of [1, 2, 137, 194]) {
    const run = runLikeTheAgent((state) =>
      wrapForRunShellScript(`echo before\nexit ${code}\n`, state),
    );
    expect([code, run.status, run.stdout]).toEqual([code, 1, 'before\n']);
    expect(run.leftovers).toEqual([]);
  }
});

it('gives the script no stdin to wait on or swallow', () => {
  const run = runLikeTheAgent((state) =>
    wrapForRunShellScript(
      'if read -r line; then echo "read: $line"; else echo "no input"; fi\n',
      state,
    ),
  );
  expect(run.stdout).toBe('no input\n');
});

it('keeps the copy of the script in a private state directory while it runs', () => {
  const run = runLikeTheAgent((state) =>
    wrapForRunShellScript('stat -c %a "$(dirname "$0")"; ls "$(dirname "$0")"\n', state),
  );
  const [mode, ...files] = run.stdout.trim().split('\n');
  expect(mode).toBe('700');
  expect(files).toEqual([expect.stringMatching(/^launch\.\d+\.sh$/)]);
  expect(run.leftovers).toEqual([]);
});

it('refuses a state directory that is a symlink', () => {
  const state = stateDir();
  const elsewhere = mkdtempSync(join(tmpdir(), 'ssm-elsewhere-'));
  symlinkSync(elsewhere, state);
  const dir = mkdtempSync(join(tmpdir(), 'ssm-agent-'));
  const script = join(dir, '_script.sh');
  writeFileSync(script, wrapForRunShellScript('echo ran\n', state));
  const run = spawnSync('sh', [script], { encoding: 'utf8' });
  expect(run.status).toBe(1);
  expect(run.stdout).toBe('');
  expect(run.stderr).toContain('cannot use');
  expect(readdirSync(elsewhere)).toEqual([]);
});

it('says so when the host has no bash', () => {
  const dir = mkdtempSync(join(tmpdir(), 'no-bash-'));
  // A PATH with sh and the few tools the wrapper needs, but no bash.
  for (const tool of ['sh', 'cat', 'mktemp', 'rm']) {
    const where = spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim();
    writeFileSync(join(dir, tool), `#!/bin/sh\nexec ${where} "$@"\n`);
    chmodSync(join(dir, tool), 0o755);
  }
  const script = join(dir, '_script.sh');
  writeFileSync(script, wrapForRunShellScript('echo hi\n', stateDir()));
  chmodSync(script, 0o755);
  const run = spawnSync('/bin/sh', ['-c', script], { encoding: 'utf8', env: { PATH: dir } });
  expect(run.status).toBe(1);
  expect(run.stderr).toBe('shipyard: bash is required on the instance\n');
});

const hasShellcheck = spawnSync('shellcheck', ['--version']).status === 0;
(hasShellcheck ? it : it.skip)(
  'passes shellcheck as a POSIX sh script around the real deploy script',
  () => {
    const { commands } = prepareDeployCommand({
      image: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/api:1.4.2',
      containerName: 'api',
      ports: [{ hostPort: 80, containerPort: 8000, protocol: 'tcp' }],
      env: [['QUOTES', `'"\`$(x)`]],
      envFromSsm: [['TOKEN', '/api/token']],
      restartPolicy: 'unless-stopped',
      runOptions: ['--memory', '512m'],
      engine: 'docker',
      registryLogin: 'ecr',
      healthCmd: 'curl -fsS http://127.0.0.1:8000/health',
      healthTimeoutSeconds: 60,
      stopTimeoutSeconds: 10,
      keepImages: 3,
    });
    const check = spawnSync('shellcheck', ['--shell=sh', '-'], {
      input: commands,
      encoding: 'utf8',
    });
    expect(check.stdout).toBe('');
    expect(check.status).toBe(0);
  },
);
