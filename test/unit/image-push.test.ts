/** Pushing a tag: the digest, and a refusal turned into the registry's reason naming the tag. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  digestFromMetadata,
  pushFailureReason,
  pushReference,
  PushError,
} from '../../src/image/push.js';
import type { CommandRunner } from '../../src/image/engine.js';
import { silentLogger } from '../../src/logger.js';

const DIGEST = `sha256:${'ab'.repeat(32)}`;
const workDir = mkdtempSync(join(tmpdir(), 'push-test-'));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

it.each([
  [
    'denied: User: arn:aws:sts::1:assumed-role/ci is not authorized to perform: ecr:InitiateLayerUpload on resource: arn:aws:ecr:eu-west-1:1:repository/api',
    'access denied: the credentials may not push to this repository',
  ],
  [
    "name unknown: The repository with name 'api' does not exist in the registry with id '123456789012'",
    'the repository does not exist in the registry',
  ],
  [
    "tag invalid: The image tag 'latest' already exists in the 'api' repository and cannot be overwritten because the repository is immutable.",
    'the tag already exists and the repository has immutable tags',
  ],
  [
    'unauthorized: authentication required',
    'access denied: the credentials may not push to this repository',
  ],
  ['dial tcp: lookup reg.example: no such host', 'the registry could not be reached'],
])('reads %s', (text, reason) => {
  expect(pushFailureReason(`Error: writing manifest: ${text}`)).toBe(reason);
});

it('podman: passes --digestfile and returns the digest it wrote', async () => {
  const fake: CommandRunner = async (_cmd, args) => {
    writeFileSync(args[args.indexOf('--digestfile') + 1] as string, DIGEST);
    return { code: 0, stdout: '', stderr: '' };
  };
  const digest = await pushReference({
    run: fake,
    engine: 'podman',
    reference: 'reg/api:abc',
    authFile: '/tmp/a.json',
    workDir,
    logger: silentLogger,
  });
  expect(digest).toBe(DIGEST);
});

it('docker: reads the digest docker push prints', async () => {
  const fake: CommandRunner = async () => ({
    code: 0,
    stdout: `The push refers to repository [reg/api]\nabc: digest: ${DIGEST} size: 528\n`,
    stderr: '',
  });
  expect(
    await pushReference({
      run: fake,
      engine: 'docker',
      reference: 'reg/api:abc',
      workDir,
      logger: silentLogger,
    }),
  ).toBe(DIGEST);
});

it('a refused push names the reference, the reason and the registry message', async () => {
  const fake: CommandRunner = async () => ({
    code: 125,
    stdout: 'Getting image source signatures\n',
    stderr:
      "Error: writing manifest: uploading manifest latest to reg/api: tag invalid: The image tag 'latest' already exists in the 'api' repository and cannot be overwritten because the repository is immutable.\n",
  });
  const error = await pushReference({
    run: fake,
    engine: 'podman',
    reference: 'reg/api:latest',
    workDir,
    logger: silentLogger,
  }).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(PushError);
  expect((error as PushError).message).toMatch(
    /^push of reg\/api:latest failed: the tag already exists and the repository has immutable tags \(writing manifest: uploading manifest latest/,
  );
});

it('reads the digest from a buildx metadata file, and nothing from a broken one', () => {
  const good = join(workDir, 'meta.json');
  writeFileSync(good, JSON.stringify({ 'containerimage.digest': DIGEST, 'image.name': 'x' }));
  expect(digestFromMetadata(good)).toBe(DIGEST);
  const bad = join(workDir, 'bad.json');
  writeFileSync(bad, '{"containerimage.digest": "md5:nope"}');
  expect(digestFromMetadata(bad)).toBeUndefined();
  expect(digestFromMetadata(join(workDir, 'missing.json'))).toBeUndefined();
});
