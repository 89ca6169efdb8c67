/** The job summary of build-push: what was pushed, where, how big, how long, and the cache. */
import { code, heading, table } from '../summary/markdown.js';
import { formatDuration } from '../duration.js';
import type { BuildPushResult, CacheReport } from './build-push.js';

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

export function describeCache(cache: CacheReport): string {
  if (cache.mode === 'none') return cache.note ? `not used: ${cache.note}` : 'off (cache: none)';
  const hits =
    cache.steps === 0
      ? 'no build steps'
      : cache.cachedSteps === 0
        ? `no step from the cache (of ${cache.steps})`
        : `${cache.cachedSteps} of ${cache.steps} steps from the cache`;
  return `${hits}; registry cache ${code(cache.ref ?? '')}`;
}

export function summaryMarkdown(result: BuildPushResult): string {
  const timing =
    result.flavour === 'buildx'
      ? `${formatDuration(result.buildMs)} (build and push)`
      : `${formatDuration(result.buildMs)} build, ${formatDuration(result.pushMs)} push`;
  const rows: string[][] = [
    [
      'repository',
      `${code(`${result.registry}/${result.repository}`)}${result.repositoryCreated ? ' (created)' : ''}`,
    ],
    ['tags', result.tags.map(code).join(' ')],
    [
      'digest',
      `${code(result.digest)}${result.digestSource === 'engine' ? ' (as the engine reported it; not read back from the registry)' : ''}`,
    ],
    [
      'image size',
      result.sizeBytes === undefined ? 'unknown' : `${formatBytes(result.sizeBytes)} (compressed)`,
    ],
    ['time', timing],
    ['cache', describeCache(result.cache)],
  ];
  return heading(`build-push: pushed ${code(result.image)}`) + table(['', ''], rows);
}

export function failureMarkdown(message: string): string {
  return (
    heading('build-push: failed') +
    `${message
      .split('\n')
      .map((l) => `> ${l}`)
      .join('\n')}\n`
  );
}
