/** deploy-ec2-ssm inputs: every bad input is named, all at once, before any AWS call. */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jest } from '@jest/globals';
import { SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { MINIMAL_INPUTS, readInputs } from '../../src/inputs/deploy-ec2-ssm.js';
import { run } from '../../actions/deploy-ec2-ssm/main.js';
import { inputProblems } from './input-problems.js';

const ECR_IMAGE = MINIMAL_INPUTS.image;
const read = (values: Record<string, string>) =>
  readInputs((name) => ({ ...MINIMAL_INPUTS, ...values })[name] ?? '');

const problems = (values: Record<string, string>) => inputProblems(() => read(values));

/** The inputs of a rollout (anything but print-script). */
function rollout(values: Record<string, string>) {
  const inputs = read(values);
  if (inputs.mode !== 'rollout') throw new Error(`expected a rollout, got ${inputs.mode}`);
  return inputs;
}

it('applies the documented defaults', () => {
  const inputs = rollout({});
  expect(inputs).toMatchObject({
    mode: 'rollout',
    targets: { kind: 'instances', instanceIds: ['i-0123456789abcdef0'] },
    maxConcurrency: '50%',
    maxErrors: '0',
    timeoutMs: 600_000,
    executionTimeoutMs: 300_000,
    waitForAgentMs: 120_000,
    documentName: 'AWS-RunShellScript',
    ecrRegion: 'eu-west-1',
    output: {},
  });
  expect(inputs.region).toBeUndefined();
  expect(inputs.comment).toBeUndefined();
  expect(inputs.spec).toEqual({
    image: ECR_IMAGE,
    containerName: 'api',
    ports: [],
    env: [],
    envFromSsm: [],
    restartPolicy: 'unless-stopped',
    runOptions: [],
    engine: 'docker',
    registryLogin: 'ecr',
    healthTimeoutSeconds: 60,
    stopTimeoutSeconds: 10,
    keepImages: 3,
    lockTimeoutSeconds: 190, // 300 s of execution minus 60 + 2 * 10 + 30
    executionTimeoutSeconds: 300,
  });
});

it('reads a full set of inputs into the host spec and the rollout settings', () => {
  const inputs = rollout({
    'instance-ids': '',
    targets: 'tag:Name=web\ntag:Name=api\ntag:Env=prod',
    'max-concurrency': '2',
    'max-errors': '10%',
    region: 'us-east-1',
    comment: 'release 1.4.2',
    timeout: '20m',
    'execution-timeout': '8m',
    ports: '80:8000\n127.0.0.1:9100:9100/udp',
    env: 'LOG_LEVEL=info\nGREETING=it\'s "quoted" $(not run)',
    'env-from-ssm': 'DATABASE_URL=/api/prod/database-url',
    'restart-policy': 'on-failure:3',
    'run-options': "--memory 512m --cpus=1 -v /data:/data --log-opt 'tag=api prod'",
    engine: 'podman',
    'health-cmd': 'curl -fsS http://127.0.0.1:8000/health',
    'health-timeout': '90s',
    'stop-timeout': '20',
    'keep-images': '5',
    'wait-for-agent': '0',
    'output-s3-bucket': 'deploy-logs',
    'output-s3-key-prefix': 'api/',
    'cloudwatch-log-group': '/shipyard/deploys',
  });
  expect(inputs.targets).toEqual({
    kind: 'tags',
    tags: [
      { key: 'Name', values: ['web', 'api'] },
      { key: 'Env', values: ['prod'] },
    ],
  });
  expect(inputs).toMatchObject({
    maxConcurrency: '2',
    maxErrors: '10%',
    region: 'us-east-1',
    comment: 'release 1.4.2',
    timeoutMs: 1_200_000,
    executionTimeoutMs: 480_000,
    waitForAgentMs: 0,
    output: {
      s3BucketName: 'deploy-logs',
      s3KeyPrefix: 'api/',
      cloudWatchLogGroup: '/shipyard/deploys',
    },
  });
  expect(inputs.spec).toMatchObject({
    region: 'us-east-1',
    ports: [
      { hostPort: 80, containerPort: 8000, protocol: 'tcp' },
      { hostIp: '127.0.0.1', hostPort: 9100, containerPort: 9100, protocol: 'udp' },
    ],
    env: [
      ['LOG_LEVEL', 'info'],
      ['GREETING', 'it\'s "quoted" $(not run)'],
    ],
    envFromSsm: [['DATABASE_URL', '/api/prod/database-url']],
    restartPolicy: 'on-failure:3',
    runOptions: ['--memory', '512m', '--cpus=1', '-v', '/data:/data', '--log-opt', 'tag=api prod'],
    engine: 'podman',
    healthCmd: 'curl -fsS http://127.0.0.1:8000/health',
    healthTimeoutSeconds: 90,
    stopTimeoutSeconds: 20,
    keepImages: 5,
  });
});

it('shortens the default execution-timeout to a shorter rollout timeout', () => {
  expect(rollout({ timeout: '3m' }).executionTimeoutMs).toBe(180_000);
});

it('needs the image and the container name', () => {
  expect(problems({ image: '', 'container-name': '' })).toEqual([
    "input 'image' is required: the full image reference, e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com/api:1.4.2",
    "input 'container-name' is required: a container name: letters, digits, _ . and -, starting with a letter or digit",
  ]);
});

it.each([
  [
    'a malformed reference',
    { image: 'registry.example.com/API:1' },
    /^input 'image' has an invalid repository name 'API'/,
  ],
  [
    'a reference without tag or digest',
    { image: `${ECR_IMAGE.split(':')[0]}` },
    /^input 'image' must name a tag or a digest/,
  ],
  ['a bad container name', { 'container-name': '-api' }, /^input 'container-name' must be letters/],
  [
    'a bad port mapping',
    { ports: '80:8000\n80:x' },
    /^input 'ports' has an invalid mapping '80:x': container port 'x'/,
  ],
  [
    'a host port mapped twice (the spec rule, reported as an input problem)',
    { ports: '80:8000\n80:9000' },
    /^input 'ports' maps host port 80\/tcp twice$/,
  ],
  [
    'a health-timeout longer than the host script waits',
    { 'health-timeout': '25h', timeout: '48h', 'execution-timeout': '48h' },
    /^input 'health-timeout' must be a whole number of seconds between 1 and 86400; got 90000$/,
  ],
  [
    'an IPv6 host address that is not one',
    { ports: '[::1::2]:80:8000' },
    /^input 'ports' has an invalid mapping '\[::1::2\]:80:8000': '::1::2' is not an IPv6 address/,
  ],
  [
    'a memory limit below what engines accept',
    { 'run-options': '--memory 512' },
    /^input 'run-options' has '--memory 512': 512 bytes is below the engines' minimum of 6 MB/,
  ],
  [
    'a bind of the host root without allow-host-access',
    { 'run-options': '-v /:/host' },
    /^input 'run-options' has '-v \/:\/host', which binds the host path '\/'.*set allow-host-access: true/,
  ],
  [
    'a bad allow-host-access',
    { 'allow-host-access': 'yes please' },
    /^input 'allow-host-access' must be/,
  ],
  [
    'a refused run option',
    { 'run-options': '--memory 1g --privileged' },
    /^input 'run-options' has flag '--privileged', which is refused: .*Allowed flags: --add-host/,
  ],
  [
    'an unknown run option',
    { 'run-options': '--gpus all' },
    /^input 'run-options' has flag '--gpus', which is refused: it is not on the allow-list/,
  ],
  [
    'a shell expansion in run options',
    { 'run-options': '--label x=$(id)' },
    /^input 'run-options' has '\$'/,
  ],
  [
    'a malformed instance ID',
    { 'instance-ids': 'i-123\ni-0123456789abcdef0' },
    /^input 'instance-ids' must hold instance IDs like i-0123456789abcdef0; got 'i-123'$/,
  ],
  [
    'a malformed target',
    { 'instance-ids': '', targets: 'Name=web' },
    /^input 'targets' must have one tag:Key=Value per line, e.g. tag:Name=web; got 'Name=web'$/,
  ],
  [
    'a max-concurrency of 0',
    { 'max-concurrency': '0' },
    /^input 'max-concurrency' must be a number of instances \(1 or more\) or a percentage like 50%; got '0'$/,
  ],
  ['a max-errors over 100%', { 'max-errors': '150%' }, /^input 'max-errors' must be a number/],
  [
    'a malformed region',
    { region: 'Europe' },
    /^input 'region' must be an AWS region like eu-west-1/,
  ],
  [
    'a comment over 100 characters',
    { comment: 'c'.repeat(101) },
    /^input 'comment' must be at most 100 characters \(SSM's limit\); got 101$/,
  ],
  [
    'an execution-timeout longer than the rollout',
    { timeout: '5m', 'execution-timeout': '6m' },
    /^input 'execution-timeout' \(6m00s\) must not be longer than 'timeout' \(5m00s\)/,
  ],
  [
    'an execution-timeout too short to roll back',
    { 'execution-timeout': '60s' },
    /^input 'execution-timeout' \(1m00s\) must be at least 1m50s/,
  ],
  [
    'ECR login for an image outside ECR',
    { image: 'ghcr.io/org/api:1' },
    /^input 'registry-login' is ecr, but the image's registry 'ghcr.io' is not ECR/,
  ],
  ['an env name that is not one', { env: 'BAD-NAME=1' }, /^input 'env' must have one KEY=value/],
  [
    'a variable in both env and env-from-ssm',
    { env: 'TOKEN=x', 'env-from-ssm': 'TOKEN=/api/token' },
    /^input 'env-from-ssm' sets TOKEN, which 'env' sets too/,
  ],
  [
    'a malformed SSM parameter name',
    { 'env-from-ssm': 'TOKEN=/api/to ken' },
    /^input 'env-from-ssm' must map TOKEN to a parameter name/,
  ],
  [
    'a bad restart policy',
    { 'restart-policy': 'sometimes' },
    /^input 'restart-policy' must be no, always, unless-stopped/,
  ],
  [
    'an unknown engine',
    { engine: 'containerd' },
    /^input 'engine' must be one of docker, podman; got 'containerd'$/,
  ],
  [
    'keep-images of 0',
    { 'keep-images': '0' },
    /^input 'keep-images' must be a whole number between 1 and 100; got '0'$/,
  ],
  [
    'a key prefix without a bucket',
    { 'output-s3-key-prefix': 'x/' },
    /^input 'output-s3-key-prefix' needs 'output-s3-bucket'$/,
  ],
])('refuses %s, naming the input', (_what, values, message) => {
  const found = problems(values);
  expect(found).toHaveLength(1);
  expect(found[0]).toMatch(message);
});

it('lets allow-host-access unlock host binds and capabilities, and never --privileged', () => {
  const inputs = read({
    'run-options': '--cap-add SYS_ADMIN -v /var/run/docker.sock:/var/run/docker.sock',
    'allow-host-access': 'true',
  });
  expect(inputs.spec.allowHostAccess).toBe(true);
  expect(inputs.spec.runOptions).toContain('SYS_ADMIN');
  expect(problems({ 'run-options': '--privileged', 'allow-host-access': 'true' })[0]).toMatch(
    /'--privileged', which is refused/,
  );
  expect(read({ force: 'true' }).spec.force).toBe(true);
});

it('refuses both instance-ids and targets, and neither, naming both inputs', () => {
  expect(problems({ targets: 'tag:Name=web' })).toEqual([
    "input 'instance-ids' and 'targets' are both set: use one of them",
  ]);
  expect(problems({ 'instance-ids': '' })).toEqual([
    "input 'instance-ids' or 'targets' is required: instance IDs one per line, or tag:Key=Value lines",
  ]);
});

it('refuses more than 50 instance IDs, pointing at targets', () => {
  const ids = Array.from({ length: 51 }, (_, n) => `i-${String(n).padStart(17, '0')}`).join('\n');
  expect(problems({ 'instance-ids': ids })).toEqual([
    "input 'instance-ids' may list at most 50 instances (SSM's limit); got 51: use 'targets' with a tag for larger fleets",
  ]);
});

it('reports every problem at once', () => {
  expect(
    problems({ image: 'x y', ports: 'eighty', 'max-errors': 'some', timeout: 'soon' }),
  ).toHaveLength(4);
});

it('lets print-script go without targets, and public images without a login', () => {
  expect(read({ 'instance-ids': '', 'print-script': 'true' })).toEqual({
    mode: 'print-script',
    spec: read({}).spec,
    ecrRegion: 'eu-west-1',
  });
  expect(read({ 'print-script': 'true' }).mode).toBe('print-script');
  expect(read({ image: 'nginx:1.27', 'registry-login': 'none' }).spec.image).toBe('nginx:1.27');
});

describe('the action', () => {
  const ssm = mockClient(SSMClient);
  let dir: string;
  let stdout: string[];
  const saved = { ...process.env };
  beforeEach(() => {
    ssm.reset();
    dir = mkdtempSync(join(tmpdir(), 'deploy-ec2-ssm-'));
    for (const f of ['output', 'state', 'summary']) writeFileSync(join(dir, f), '');
    process.env.GITHUB_OUTPUT = join(dir, 'output');
    process.env.GITHUB_STATE = join(dir, 'state');
    process.env.GITHUB_STEP_SUMMARY = join(dir, 'summary');
    process.env.AWS_REGION = 'eu-west-1';
    stdout = [];
    jest.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      stdout.push(String(chunk));
      return true;
    });
  });
  afterEach(() => {
    jest.restoreAllMocks();
    process.env = { ...saved };
    process.exitCode = undefined;
  });
  afterAll(() => ssm.restore());

  function setInputs(values: Record<string, string>) {
    for (const [name, value] of Object.entries({ ...MINIMAL_INPUTS, ...values }))
      process.env[`INPUT_${name.toUpperCase()}`] = value;
  }

  it.each([
    ['no image', { image: '' }, "input 'image' is required"],
    ['a malformed image', { image: 'ECR/Api:1' }, "input 'image' has an invalid"],
    ['a bad port', { ports: '80:70000' }, "input 'ports' has an invalid mapping"],
    [
      'a refused run option',
      { 'run-options': '--privileged' },
      "input 'run-options' has flag '--privileged'",
    ],
    [
      'both target inputs',
      { targets: 'tag:Name=web' },
      "input 'instance-ids' and 'targets' are both set",
    ],
    ['no target input', { 'instance-ids': '' }, "input 'instance-ids' or 'targets' is required"],
  ])('fails on %s without calling AWS', async (_what, values, message) => {
    setInputs(values);
    await run();
    expect(process.exitCode).toBe(1);
    expect(stdout.join('')).toContain(`::error::${message}`);
    expect(ssm.calls()).toHaveLength(0);
  });

  it('prints the script and stops without calling AWS with print-script', async () => {
    setInputs({ 'print-script': 'true', 'instance-ids': '', env: 'GREETING=hello world' });
    await run();
    expect(process.exitCode).toBeUndefined();
    expect(ssm.calls()).toHaveLength(0);
    const printed = stdout.join('');
    expect(printed).toContain('set -euo pipefail');
    expect(printed).toContain('hello world');
    expect(readFileSync(join(dir, 'summary'), 'utf8')).toContain('nothing was sent');
    expect(readFileSync(join(dir, 'output'), 'utf8')).toMatch(/status<<.*\nprinted\n/);
  });
});
