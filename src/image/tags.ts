/** What an image is tagged and labelled with: the commit SHA, `latest`, extra tags, OCI labels. */

export const LATEST_TAG = 'latest';
const SHORT_SHA_LENGTH = 7;
/** A git object name: SHA-1 (40) or SHA-256 (64) hex, or an abbreviation of at least 7. */
export const SHA_PATTERN = /^[0-9a-f]{7,64}$/;

export type ShaFormat = 'long' | 'short';

export interface TagOptions {
  /** Lowercase hex commit SHA. */
  sha: string;
  shaFormat: ShaFormat;
  latest: boolean;
  /** Extra tags, already checked against the tag grammar. */
  extra: readonly string[];
}

export function shaTag(sha: string, format: ShaFormat): string {
  return format === 'short' ? sha.slice(0, SHORT_SHA_LENGTH) : sha;
}

/** The SHA tag first (it names the image in the outputs), then `latest`, then the extras; no repeats. */
export function imageTags(opts: TagOptions): string[] {
  const tags = [shaTag(opts.sha, opts.shaFormat)];
  if (opts.latest) tags.push(LATEST_TAG);
  for (const tag of opts.extra) if (!tags.includes(tag)) tags.push(tag);
  return tags;
}

export interface SourceInfo {
  /** `https://github.com/org/repo`; omitted when unknown. */
  sourceUrl?: string;
  /** The full commit SHA. */
  revision: string;
  created: Date;
}

/**
 * The OCI annotations a registry UI and scanners read (image-spec annotations.md), then the
 * user's labels, which win on a clash.
 */
export function imageLabels(
  source: SourceInfo,
  userLabels: ReadonlyArray<readonly [string, string]>,
): Array<[string, string]> {
  const labels = new Map<string, string>();
  if (source.sourceUrl) labels.set('org.opencontainers.image.source', source.sourceUrl);
  labels.set('org.opencontainers.image.revision', source.revision);
  labels.set('org.opencontainers.image.created', source.created.toISOString());
  for (const [key, value] of userLabels) labels.set(key, value);
  return [...labels];
}
