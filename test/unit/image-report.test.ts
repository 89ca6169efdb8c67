/** The job summary of build-push. */
import { describeCache, formatBytes, summaryMarkdown } from '../../src/image/report.js';
import type { BuildPushResult } from '../../src/image/build-push.js';

const result: BuildPushResult = {
  registry: 'reg.example',
  repository: 'api',
  image: 'reg.example/api:abc1234',
  imageLatest: 'reg.example/api:latest',
  tags: ['abc1234', 'latest'],
  digest: `sha256:${'a'.repeat(64)}`,
  digestSource: 'registry',
  sizeBytes: 52_428_800,
  buildMs: 12_300,
  pushMs: 2_100,
  cache: { mode: 'registry', ref: 'reg.example/api-buildcache', steps: 5, cachedSteps: 3 },
  flavour: 'podman',
  repositoryCreated: true,
};

it('formats sizes in binary units', () => {
  expect(formatBytes(512)).toBe('512 B');
  expect(formatBytes(2048)).toBe('2.0 KiB');
  expect(formatBytes(52_428_800)).toBe('50 MiB');
  expect(formatBytes(3 * 1024 ** 3)).toBe('3.0 GiB');
});

it('says how much came from the cache, or why there was none', () => {
  expect(describeCache(result.cache)).toBe(
    '3 of 5 steps from the cache; registry cache `reg.example/api-buildcache`',
  );
  expect(describeCache({ ...result.cache, cachedSteps: 0 })).toBe(
    'no step from the cache (of 5); registry cache `reg.example/api-buildcache`',
  );
  expect(describeCache({ mode: 'none', steps: 5, cachedSteps: 0 })).toBe('off (cache: none)');
  expect(describeCache({ mode: 'none', steps: 5, cachedSteps: 0, note: 'no buildx' })).toBe(
    'not used: no buildx',
  );
});

it('lists repository, tags, digest, size, times and cache', () => {
  const md = summaryMarkdown(result);
  expect(md).toContain('### build-push: pushed `reg.example/api:abc1234`');
  expect(md).toContain('| repository | `reg.example/api` (created) |');
  expect(md).toContain('| tags | `abc1234` `latest` |');
  expect(md).toContain(`| digest | \`sha256:${'a'.repeat(64)}\` |`);
  expect(md).toContain('| image size | 50 MiB (compressed) |');
  expect(md).toContain('| time | 12s build, 2.1s push |');
  const buildx = summaryMarkdown({ ...result, flavour: 'buildx', digestSource: 'engine' });
  expect(buildx).toContain('| time | 12s (build and push) |');
  expect(buildx).toContain('(as the engine reported it; not read back from the registry)');
});
