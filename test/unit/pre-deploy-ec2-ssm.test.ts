/**
 * deploy-ec2-ssm's pre-deploy-command: the input (split by shell-word rules), the settings block
 * that carries it to the host, the choice of the one host, and the rule that nothing is deployed
 * unless it exited 0 (through the scripted SSM of stand-ins/ssm-fleet.ts).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jest } from '@jest/globals';
import {
  DescribeInstanceInformationCommand,
  GetCommandInvocationCommand,
  ListCommandInvocationsCommand,
  SSMClient,
  SendCommandCommand,
} from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { run } from '../../actions/deploy-ec2-ssm/main.js';
import { MINIMAL_INPUTS, readInputs } from '../../src/inputs/deploy-ec2-ssm.js';
import { deployEc2Ssm, type DeployEc2SsmOptions } from '../../src/ssm/deploy.js';
import {
  firstOnlineInstance,
  parseOneOffResult,
  prepareOneOffCommand,
  preDeploySummary,
} from '../../src/ssm/pre-deploy.js';
import { renderDeployScript } from '../../src/ssm/remote-script.js';
import { RESULT_MARKER } from '../../src/ssm/result.js';
import type { DeploySpec } from '../../src/ssm/spec.js';
import { VirtualClock } from '../../src/virtual-clock.js';
import { lineLogger } from '../../src/logger.js';
import { FakeFleet, succeedsAt, type FakeInstance } from '../../stand-ins/ssm-fleet.js';
import { inputProblems } from './input-problems.js';

const IMAGE = '123456789012.dkr.ecr.eu-west-1.amazonaws.com/api:1.5.0';
const id = (n: number) => `i-${n.toString(16).padStart(17, '0')}`;
const NUL = String.fromCharCode(0);

// The splitter's own rules are tested in command-words.test.ts.
describe('inputs', () => {
  const read = (values: Record<string, string>) => {
    const inputs = readInputs((name) => ({ ...MINIMAL_INPUTS, ...values })[name] ?? '');
    if (inputs.mode !== 'rollout') throw new Error(`expected a rollout, got ${inputs.mode}`);
    return inputs;
  };

  it('without pre-deploy-command there is no pre-deploy', () => {
    expect(read({}).preDeploy).toBeUndefined();
  });

  it('splits the command and takes the deadline', () => {
    expect(
      read({ 'pre-deploy-command': `sh -c 'migrate --all'`, 'pre-deploy-timeout': '3m' }).preDeploy,
    ).toEqual({ command: ['sh', '-c', 'migrate --all'], timeoutMs: 180_000 });
    expect(read({ 'pre-deploy-command': 'migrate' }).preDeploy?.timeoutMs).toBe(600_000);
  });

  it('reports a bad command and a bad deadline with the other problems', () => {
    expect(
      inputProblems(() =>
        read({
          'pre-deploy-command': 'migrate && seed',
          'pre-deploy-timeout': '10s',
          'max-errors': 'x',
        }),
      ),
    ).toEqual([
      expect.stringMatching(/^input 'max-errors' /),
      expect.stringMatching(/^input 'pre-deploy-timeout' must be between 30s and/),
      expect.stringMatching(/^input 'pre-deploy-command' contains the shell operator '&&'/),
    ]);
  });
});

const spec: DeploySpec = {
  image: IMAGE,
  containerName: 'api',
  ports: [{ hostPort: 80, containerPort: 8000, protocol: 'tcp' }],
  env: [['GREETING', "it's $HOME"]],
  envFromSsm: [['DB_PASSWORD', '/api/db']],
  restartPolicy: 'unless-stopped',
  runOptions: ['--memory', '256m', '--label', 'a b'],
  engine: 'docker',
  registryLogin: 'ecr',
  healthTimeoutSeconds: 60,
  stopTimeoutSeconds: 10,
  keepImages: 3,
};

/** The settings block of a rendered script, evaluated by bash; the named variables, NUL-joined. */
function settingsAsBash(script: string, names: string[]): Record<string, string[]> {
  const block = script.slice(
    script.indexOf('# --- settings ---'),
    script.indexOf('# --- end of settings ---'),
  );
  const print = names
    .map((n) => `for x in "\${${n}[@]}"; do printf '%s\\0' "$x"; done; printf '\\n--\\n'`)
    .join('\n');
  const r = spawnSync('bash', ['-c', `set -eu\n${block}\n${print}`], { encoding: 'utf8' });
  expect(r.status).toBe(0);
  const parts = r.stdout.split('\n--\n');
  return Object.fromEntries(
    names.map((n, i) => [n, (parts[i] ?? '').split(NUL).slice(0, -1)]),
  ) as Record<string, string[]>;
}

describe('the settings block of a one-off', () => {
  const hostile = [
    '/bin/sh',
    '-c',
    `echo "$(id)" 'it'\\''s' \`x\` ; rm -rf / # $HOME`,
    '',
    'line\nbreak',
    '--rm',
  ];

  it('carries the argv word for word, with the env and run-options but no ports', () => {
    const script = renderDeployScript(spec, { command: hostile, timeoutSeconds: 600 });
    const vars = settingsAsBash(script, [
      'mode',
      'oneoff_command',
      'oneoff_args',
      'execution_timeout',
      'ssm_env',
    ]);
    expect(vars).toEqual({
      mode: ['one-off'],
      oneoff_command: hostile,
      oneoff_args: [`--env=GREETING=it's $HOME`, '--memory', '256m', '--label', 'a b'],
      execution_timeout: ['600'],
      ssm_env: ['DB_PASSWORD', '/api/db'],
    });
  });

  it('a deploy has mode=deploy and no one-off', () => {
    const vars = settingsAsBash(renderDeployScript({ ...spec, executionTimeoutSeconds: 300 }), [
      'mode',
      'oneoff_command',
      'oneoff_args',
      'execution_timeout',
    ]);
    expect(vars).toEqual({
      mode: ['deploy'],
      oneoff_command: [],
      oneoff_args: [],
      execution_timeout: ['300'],
    });
  });

  it('refuses a one-off larger than SSM takes', () => {
    expect(() =>
      prepareOneOffCommand(spec, { command: ['x'.repeat(70_000)], timeoutMs: 60_000 }),
    ).toThrow(/more than the 60000 SSM accepts.*pre-deploy-command/);
  });
});

describe('the host', () => {
  const ping = (status: string) => ({ status });

  it('is the first in sorted order whose agent is Online; the ones before it are passed over', () => {
    const pings = new Map([
      [id(3), ping('Online')],
      [id(1), ping('ConnectionLost')],
      [id(2), ping('Online')],
    ]);
    expect(firstOnlineInstance([id(3), id(4), id(1), id(2)], pings)).toEqual({
      instanceId: id(2),
      skipped: [{ instanceId: id(1), pingStatus: 'ConnectionLost' }],
    });
  });

  it('is none when no agent is Online, every one reported', () => {
    const pings = new Map([[id(1), ping('Inactive')]]);
    expect(firstOnlineInstance([id(2), id(1)], pings)).toEqual({
      skipped: [
        { instanceId: id(1), pingStatus: 'Inactive' },
        { instanceId: id(2), pingStatus: 'not registered' },
      ],
    });
  });
});

describe('before the rollout', () => {
  let fleet: FakeFleet;
  let clock: VirtualClock;
  let lines: string[];
  afterEach(() => fleet.restore());

  const oneOffLine = (r: Record<string, unknown>) =>
    `${RESULT_MARKER}${JSON.stringify({ container: 'api', newImage: IMAGE, mode: 'one-off', ...r })}`;
  const deployedLine = `${RESULT_MARKER}${JSON.stringify({ outcome: 'deployed', container: 'api', newImage: IMAGE })}`;

  function setUp(instances: FakeInstance[]) {
    clock = new VirtualClock();
    fleet = new FakeFleet(clock, instances);
    lines = [];
  }

  function options(extra: Partial<DeployEc2SsmOptions> = {}): DeployEc2SsmOptions {
    return {
      ssm: fleet.ssm,
      region: 'eu-west-1',
      spec,
      targets: { kind: 'instances', instanceIds: fleet.instances.map((i) => i.id) },
      documentName: 'AWS-RunShellScript',
      maxConcurrency: '50%',
      maxErrors: '0',
      comment: 'org/api@abc1234 via shipyard',
      timeoutMs: 600_000,
      executionTimeoutMs: 300_000,
      waitForAgentMs: 0,
      clock,
      random: () => 0.5,
      logger: lineLogger((line) => lines.push(line)),
      preDeploy: { command: ['migrate', '--all'], timeoutMs: 300_000 },
      ...extra,
    };
  }
  const sentCommands = () =>
    fleet.callsOf('SendCommand').map((c) => c.input as { Parameters: Record<string, string[]> });

  it('a command that exits 3: the step fails with its exit code and output, and no deploy is sent', async () => {
    const stdout = `==> running\n    | migration 0042 failed\n${oneOffLine({ outcome: 'failed', exitCode: 3, reason: 'the one-off command exited with code 3', outputTail: 'migration 0042 failed' })}\n`;
    setUp([
      {
        id: id(2),
        steps: [
          { at: 0, status: 'InProgress' },
          { at: 5000, status: 'Failed' },
        ],
        stdout,
      },
      {
        id: id(1),
        steps: [
          { at: 0, status: 'InProgress' },
          { at: 5000, status: 'Failed' },
        ],
        stdout,
      },
    ]);
    const rollout = await deployEc2Ssm(
      options({ targets: { kind: 'instances', instanceIds: [id(2), id(1)] } }),
    );
    expect(fleet.sends).toEqual([{ commandId: expect.any(String), instanceIds: [id(1)] }]);
    expect(rollout.status).toBe('failed');
    expect(rollout.preDeploy).toMatchObject({
      status: 'failed',
      instanceId: id(1),
      exitCode: 3,
      outputTail: 'migration 0042 failed',
    });
    expect(rollout.reason).toBe(
      `pre-deploy-command failed on ${id(1)} (exit code 3): the one-off command exited with code 3; nothing was deployed\nmigration 0042 failed`,
    );
    expect(lines).toContain(`last lines of its output:\n  | migration 0042 failed`);
    expect(preDeploySummary(rollout.preDeploy!)).toContain('migration 0042 failed');
    // The one-off's own deadline, plus the slack that lets the host report first.
    const [sent] = sentCommands();
    expect(sent?.Parameters.executionTimeout).toEqual(['330']);
    expect(sent?.Parameters.commands?.[0]).toMatch(/^mode=one-off$/m);
    expect(sent?.Parameters.commands?.[0]).toContain('oneoff_command=(\n  migrate\n  --all\n)');
  });

  it('a command that exits 0: then the rollout is sent, to every host', async () => {
    const stdout = `${oneOffLine({ outcome: 'succeeded', exitCode: 0, outputTail: 'migrated' })}\n${deployedLine}\n`;
    setUp([
      { id: id(1), steps: succeedsAt(5000), stdout },
      { id: id(2), steps: succeedsAt(5000), stdout },
    ]);
    const rollout = await deployEc2Ssm(options());
    expect(fleet.sends.map((s) => s.instanceIds)).toEqual([[id(1)], [id(1), id(2)]]);
    expect(
      sentCommands().map((c) => /^mode=one-off$/m.test(c.Parameters.commands?.[0] ?? '')),
    ).toEqual([true, false]);
    expect(rollout.status).toBe('succeeded');
    expect(rollout.succeeded).toBe(2);
    expect(rollout.preDeploy).toMatchObject({
      status: 'succeeded',
      exitCode: 0,
      outputTail: 'migrated',
    });
  });

  it('a host result without exit code 0 (a failed pull) stops the rollout too', async () => {
    const stdout = `${oneOffLine({ outcome: 'failed', failedStep: 'pull', reason: 'could not pull x: manifest unknown' })}\n`;
    setUp([
      {
        id: id(1),
        steps: [
          { at: 0, status: 'InProgress' },
          { at: 5000, status: 'Failed' },
        ],
        stdout,
      },
    ]);
    const rollout = await deployEc2Ssm(options());
    expect(fleet.sends).toHaveLength(1);
    expect(rollout.preDeploy?.exitCode).toBeUndefined();
    expect(rollout.reason).toMatch(
      /^pre-deploy-command failed on .*: could not pull x: manifest unknown; nothing was deployed/,
    );
  });

  it('tag targets: the first Online instance in sorted order; an offline one before it is passed over', async () => {
    const stdout = `${oneOffLine({ outcome: 'failed', exitCode: 1 })}\n`;
    setUp([
      { id: id(1), steps: succeedsAt(5000), stdout },
      {
        id: id(2),
        steps: [
          { at: 0, status: 'InProgress' },
          { at: 5000, status: 'Failed' },
        ],
        stdout,
      },
    ]);
    fleet.pings = () => [
      { id: id(2), ping: 'Online' },
      { id: id(1), ping: 'ConnectionLost', lastPing: new Date(0) },
    ];
    const rollout = await deployEc2Ssm(
      options({ targets: { kind: 'tags', tags: [{ key: 'app', values: ['api'] }] } }),
    );
    expect(fleet.sends.map((s) => s.instanceIds)).toEqual([[id(2)]]);
    expect(lines.some((l) => l.includes(`passing over ${id(1)} (ConnectionLost`))).toBe(true);
    expect(rollout.preDeploy?.instanceId).toBe(id(2));
  });

  it('no Online host: nothing is sent at all', async () => {
    setUp([{ id: id(1), steps: succeedsAt(5000) }]);
    fleet.pings = () => [{ id: id(1), ping: 'ConnectionLost' }];
    const rollout = await deployEc2Ssm(options());
    expect(fleet.sends).toEqual([]);
    expect(rollout.status).toBe('failed');
    expect(rollout.reason).toMatch(/no targeted instance has an Online SSM agent/);
  });

  it('the one-off result is read from the marker line, a forged indented one ignored', () => {
    const out = `    ! ${oneOffLine({ outcome: 'succeeded', exitCode: 0 })}\n${oneOffLine({ outcome: 'failed', exitCode: 2 })}\n`;
    expect(parseOneOffResult(out)).toEqual({ outcome: 'failed', exitCode: 2 });
    expect(
      parseOneOffResult('    ! ' + oneOffLine({ outcome: 'succeeded', exitCode: 0 })),
    ).toBeUndefined();
  });
});

describe('the action', () => {
  let ssm: { restore(): void };
  let dir: string;
  const saved = { ...process.env };
  afterEach(() => {
    ssm.restore();
    jest.restoreAllMocks();
    process.env = { ...saved };
    process.exitCode = undefined;
  });

  it('a failing pre-deploy-command: exit code output, tail in the summary, one command sent', async () => {
    const mock = mockClient(SSMClient);
    ssm = mock;
    dir = mkdtempSync(join(tmpdir(), 'deploy-ec2-ssm-pre-'));
    for (const f of ['output', 'state', 'summary']) writeFileSync(join(dir, f), '');
    process.env.GITHUB_OUTPUT = join(dir, 'output');
    process.env.GITHUB_STATE = join(dir, 'state');
    process.env.GITHUB_STEP_SUMMARY = join(dir, 'summary');
    process.env.AWS_REGION = 'eu-west-1';
    const inputs = { ...MINIMAL_INPUTS, 'pre-deploy-command': "sh -c 'exit 3'" };
    for (const [name, value] of Object.entries(inputs))
      process.env[`INPUT_${name.toUpperCase()}`] = value;
    const host = MINIMAL_INPUTS['instance-ids'];
    const line = `${RESULT_MARKER}${JSON.stringify({ outcome: 'failed', container: 'api', newImage: MINIMAL_INPUTS.image, mode: 'one-off', exitCode: 3, reason: 'the one-off command exited with code 3', outputTail: 'relation "users" already exists' })}`;
    mock.on(DescribeInstanceInformationCommand).resolves({
      InstanceInformationList: [{ InstanceId: host, PingStatus: 'Online' }],
    });
    mock.on(SendCommandCommand).resolves({ Command: { CommandId: 'cmd-1' } });
    mock.on(ListCommandInvocationsCommand).resolves({
      CommandInvocations: [{ InstanceId: host, Status: 'Failed', StatusDetails: 'Failed' }],
    });
    mock.on(GetCommandInvocationCommand).resolves({
      Status: 'Failed',
      StandardOutputContent: `==> running\n${line}\n`,
      StandardErrorContent: `${line}\n`,
    });
    const stdout: string[] = [];
    jest.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      stdout.push(String(chunk));
      return true;
    });
    await run();
    expect(process.exitCode).toBe(1);
    expect(mock.commandCalls(SendCommandCommand)).toHaveLength(1);
    const outputs = readFileSync(join(dir, 'output'), 'utf8');
    expect(outputs).toMatch(/pre-deploy-exit-code<<.*\n3\n/);
    expect(outputs).toMatch(/status<<.*\nfailed\n/);
    expect(readFileSync(join(dir, 'summary'), 'utf8')).toContain('relation "users" already exists');
    expect(stdout.join('')).toMatch(
      /::error::deploy-ec2-ssm failed.*\n?.*pre-deploy-command failed on i-0123456789abcdef0 \(exit code 3\)/,
    );
  });
});
