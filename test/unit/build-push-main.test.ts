/**
 * The adapter (actions/build-push/main.ts) with @actions/core mocked, ECR mocked, and a fake
 * `podman` on PATH that records its arguments and stdin: the password from the ECR token is
 * masked before anything is logged, reaches podman on stdin only, and the outputs are set.
 */
import { jest } from '@jest/globals';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DescribeImagesCommand,
  DescribeRepositoriesCommand,
  ECRClient,
  GetAuthorizationTokenCommand,
} from '@aws-sdk/client-ecr';
import { mockClient } from 'aws-sdk-client-mock';

const SHA = '0123456789abcdef0123456789abcdef01234567';
const HOST = '123456789012.dkr.ecr.eu-west-1.amazonaws.com';
const PASSWORD = 'ecr-token-password-Zm9vYmFy';
const DIGEST = `sha256:${'ef'.repeat(32)}`;

const events: string[] = [];
let inputs: Record<string, string> = {};
const state: Record<string, string> = {};
const outputs: Record<string, string> = {};
const annotations: Array<{ message: string; title?: string }> = [];
let summary = '';

jest.unstable_mockModule('@actions/core', () => ({
  getInput: (name: string) => inputs[name] ?? '',
  setSecret: (value: string) => events.push(`setSecret ${value}`),
  setOutput: (name: string, value: string) => {
    outputs[name] = value;
  },
  saveState: (name: string, value: string) => {
    state[name] = value;
  },
  info: (line: string) => events.push(`info ${line}`),
  warning: (line: string) => events.push(`warning ${line}`),
  error: (message: string, props?: { title?: string }) =>
    annotations.push({ message, ...(props?.title ? { title: props.title } : {}) }),
  setFailed: (message: string) => events.push(`failed ${message}`),
  group: async <T>(title: string, work: () => Promise<T>): Promise<T> => {
    events.push(`group ${title}`);
    try {
      return await work();
    } finally {
      events.push('endgroup');
    }
  },
  summary: {
    addRaw(text: string) {
      summary += text;
      return this;
    },
    write: async () => undefined,
  },
}));

const { run } = await import('../../actions/build-push/main.js');

const ecrMock = mockClient(ECRClient);
const bin = mkdtempSync(join(tmpdir(), 'fake-podman-'));
const podmanLog = join(bin, 'calls.log');
const loginStdin = join(bin, 'login-stdin');
// A stand-in podman: records argv and the login's stdin, prints a build log, writes digest files.
writeFileSync(
  join(bin, 'podman'),
  `#!/bin/bash
printf '%s\\n' "$*" >> "${podmanLog}"
case "$1" in
  --version) echo "podman version 4.3.1" ;;
  login) cat > "${loginStdin}"; echo "Login Succeeded!" ;;
  logout) echo "Removed login credentials" ;;
  build)
    echo "STEP 1/2: FROM scratch"
    echo "STEP 2/2: COPY app /app"
    if [ -n "$FAKE_BUILD_FAILS" ]; then echo 'Error: building at STEP "COPY app /app": no such file' >&2; exit 125; fi
    echo "COMMIT" ;;
  push)
    for ((i = 1; i <= $#; i++)); do
      if [ "\${!i}" = --digestfile ]; then j=$((i + 1)); printf '%s' "${DIGEST}" > "\${!j}"; fi
    done ;;
esac
`,
);
chmodSync(join(bin, 'podman'), 0o755);

const savedEnv = { ...process.env };
let runnerTemp: string;
let context: string;

beforeEach(() => {
  events.length = 0;
  annotations.length = 0;
  summary = '';
  for (const k of Object.keys(state)) delete state[k];
  for (const k of Object.keys(outputs)) delete outputs[k];
  writeFileSync(podmanLog, '');
  ecrMock.reset();
  ecrMock.on(GetAuthorizationTokenCommand).callsFake(() => {
    events.push('GetAuthorizationToken');
    return {
      authorizationData: [
        {
          authorizationToken: Buffer.from(`AWS:${PASSWORD}`).toString('base64'),
          proxyEndpoint: `https://${HOST}`,
        },
      ],
    };
  });
  ecrMock.on(DescribeRepositoriesCommand).callsFake((input: { repositoryNames: string[] }) => ({
    repositories: [{ repositoryName: input.repositoryNames[0], imageTagMutability: 'MUTABLE' }],
  }));
  ecrMock
    .on(DescribeImagesCommand)
    .resolves({ imageDetails: [{ imageDigest: DIGEST, imageSizeInBytes: 2048 }] });
  runnerTemp = mkdtempSync(join(tmpdir(), 'runner-temp-'));
  context = mkdtempSync(join(tmpdir(), 'main-ctx-'));
  writeFileSync(join(context, 'Dockerfile'), 'FROM scratch\nCOPY app /app\n');
  process.env.PATH = `${bin}:${savedEnv.PATH ?? ''}`;
  process.env.RUNNER_TEMP = runnerTemp;
  process.env.GITHUB_SHA = SHA;
  process.env.GITHUB_SERVER_URL = 'https://github.com';
  process.env.GITHUB_REPOSITORY = 'org/api';
  delete process.env.FAKE_BUILD_FAILS;
  inputs = { repository: 'api', engine: 'podman', context };
});

afterEach(() => {
  for (const dir of [runnerTemp, context]) rmSync(dir, { recursive: true, force: true });
});

afterAll(() => {
  process.env = savedEnv;
  rmSync(bin, { recursive: true, force: true });
});

it('masks the ECR password before logging anything and gives it to podman on stdin only', async () => {
  await run();

  expect(events.filter((e) => e.startsWith('failed'))).toEqual([]);
  const masked = events.indexOf(`setSecret ${PASSWORD}`);
  const firstInfo = events.findIndex((e) => e.startsWith('info '));
  expect(masked).toBeGreaterThan(events.indexOf('GetAuthorizationToken'));
  expect(masked).toBeLessThan(firstInfo);
  expect(readFileSync(loginStdin, 'utf8')).toBe(PASSWORD);
  const argv = readFileSync(podmanLog, 'utf8');
  expect(argv).toContain(`login --authfile ${runnerTemp}/`);
  expect(argv).not.toContain(PASSWORD);
  expect(events.join('\n').replace(`setSecret ${PASSWORD}`, '')).not.toContain(PASSWORD);
  expect(summary).not.toContain(PASSWORD);
});

it('sets the outputs and the summary, and leaves nothing behind', async () => {
  await run();
  expect(outputs).toEqual({
    image: `${HOST}/api:${SHA}`,
    'image-uri-latest': `${HOST}/api:latest`,
    tags: JSON.stringify([SHA, 'latest']),
    digest: DIGEST,
    registry: HOST,
  });
  expect(summary).toContain(DIGEST);
  expect(summary).toContain('2.0 KiB');
  // The private dir (auth file included) is gone, and the last leftovers list is empty.
  expect(state.work_dir).toMatch(new RegExp(`^${runnerTemp}/shipyard-build-push-`));
  expect(existsSync(state.work_dir as string)).toBe(false);
  expect(JSON.parse(state.leftovers as string)).toEqual([]);
  expect(readFileSync(podmanLog, 'utf8')).toMatch(/^logout --authfile .*auth\.json /m);
});

it('a build failure becomes an annotation with the step and the last lines', async () => {
  process.env.FAKE_BUILD_FAILS = '1';
  await run();
  expect(annotations).toHaveLength(1);
  expect(annotations[0]?.title).toBe('build failed at STEP 2/2: COPY app /app');
  // stdout and stderr lines may interleave either way.
  expect(annotations[0]?.message.split('\n').sort()).toEqual([
    'Error: building at STEP "COPY app /app": no such file',
    'STEP 1/2: FROM scratch',
    'STEP 2/2: COPY app /app',
  ]);
  expect(events).toContain(
    'failed build failed at STEP 2/2: COPY app /app: building at STEP "COPY app /app": no such file',
  );
  expect(summary).toContain('build-push: failed');
  expect(readFileSync(podmanLog, 'utf8')).toMatch(/^logout /m);
});

it('bad inputs fail before any AWS call or engine command, naming each input', async () => {
  inputs = { repository: 'api', engine: 'podman', tags: 'bad tag', 'keep-images': 'ten' };
  await run();
  expect(events).toEqual([
    "failed 2 inputs are invalid:\n- input 'tags' has an invalid tag 'bad tag' (up to 128 letters, digits, _ . and -, not starting with . or -)\n- input 'keep-images' must be a whole number between 1 and 10000; got 'ten'",
  ]);
  expect(ecrMock.calls()).toHaveLength(0);
  expect(readFileSync(podmanLog, 'utf8')).toBe('');
});
