/**
 * The commands element as the SSM agent runs it: written to _script.sh and started with
 * `sh -c <path>` (dash on Debian and Ubuntu). The deploy script must reach bash byte for byte.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { prepareDeployCommand } from '../../src/ssm/deploy.js';
import { wrapForRunShellScript } from '../../src/ssm/shell-wrapper.js';

/** Run `commands` the way AWS-RunShellScript does; TMPDIR is private so leftovers can be seen. */
function runLikeTheAgent(commands: string) {
  const dir = mkdtempSync(join(tmpdir(), 'ssm-agent-'));
  const tmp = mkdtempSync(join(tmpdir(), 'ssm-tmp-'));
  const script = join(dir, '_script.sh');
  writeFileSync(script, commands);
  chmodSync(script, 0o755);
  const run = spawnSync('sh', ['-c', script], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '', TMPDIR: tmp },
    input: 'this is the agent stdin\n',
    timeout: 10_000,
  });
  return { ...run, leftovers: readdirSync(tmp) };
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
  const run = runLikeTheAgent(wrapForRunShellScript(script));
  expect(run.stderr).toBe('');
  expect(run.status).toBe(0);
  expect(run.stdout).toBe(`${HOSTILE}\n`);
  expect(run.leftovers).toEqual([]);
});

it('turns every failure into exit code 1, so a script can never ask the agent to reboot', () => {
  for (const code of [1, 2, 137, 194]) {
    const run = runLikeTheAgent(wrapForRunShellScript(`echo before\nexit ${code}\n`));
    expect([code, run.status, run.stdout]).toEqual([code, 1, 'before\n']);
    expect(run.leftovers).toEqual([]);
  }
});

it('gives the script no stdin to wait on or swallow', () => {
  const run = runLikeTheAgent(
    wrapForRunShellScript('if read -r line; then echo "read: $line"; else echo "no input"; fi\n'),
  );
  expect(run.stdout).toBe('no input\n');
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
  writeFileSync(script, wrapForRunShellScript('echo hi\n'));
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
