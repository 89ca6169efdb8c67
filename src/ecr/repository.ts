/**
 * The ECR repository an image goes to: found (or created, with scan on push and a lifecycle
 * policy), its tag mutability checked against the tags about to be pushed, and the pushed image
 * read back (digest, size).
 */
import {
  BatchGetImageCommand,
  CreateRepositoryCommand,
  DescribeImagesCommand,
  DescribeRepositoriesCommand,
  PutLifecyclePolicyCommand,
  type Repository,
} from '@aws-sdk/client-ecr';
import { awsErrorName, isThrottling } from '../aws.js';
import { poll, type Clock } from '../poll.js';
import { explainAwsError } from './errors.js';
import type { EcrApi } from './auth.js';

export type TagMutability = 'MUTABLE' | 'IMMUTABLE';

export interface RepositoryInfo {
  name: string;
  /** The account; undefined: the caller's. */
  registryId?: string;
  /** MUTABLE, IMMUTABLE, or the _WITH_EXCLUSION forms. */
  tagMutability: string;
  /** Wildcard filters (`release-*`) that flip mutability for the tags they match. */
  exclusionFilters: string[];
  /** True when this run created it. */
  created: boolean;
}

interface RepoRef {
  name: string;
  registryId?: string;
}

const ids = (ref: RepoRef) => ({
  repositoryName: ref.name,
  ...(ref.registryId ? { registryId: ref.registryId } : {}),
});

function infoOf(repo: Repository, ref: RepoRef, created: boolean): RepositoryInfo {
  return {
    name: ref.name,
    ...(ref.registryId ? { registryId: ref.registryId } : {}),
    tagMutability: repo.imageTagMutability ?? 'MUTABLE',
    exclusionFilters: (repo.imageTagMutabilityExclusionFilters ?? []).flatMap((f) =>
      f.filter ? [f.filter] : [],
    ),
    created,
  };
}

/** The repository, or undefined when it does not exist. */
export async function findRepository(
  ecr: EcrApi,
  ref: RepoRef,
): Promise<RepositoryInfo | undefined> {
  try {
    const out = await ecr.send(
      new DescribeRepositoriesCommand({
        repositoryNames: [ref.name],
        ...(ref.registryId ? { registryId: ref.registryId } : {}),
      }),
    );
    const repo = out.repositories?.[0];
    return repo ? infoOf(repo, ref, false) : undefined;
  } catch (error) {
    if (awsErrorName(error) === 'RepositoryNotFoundException') return undefined;
    throw explainAwsError(error, `describe repository '${ref.name}' (ecr:DescribeRepositories)`);
  }
}

/**
 * Lifecycle policy of an image repository: untagged images expire after 7 days, and only the
 * newest `keepImages` tagged images are kept.
 *
 * ECR evaluates rules by priority; a rule counts every image its tag filter selects (newest
 * first), but may not expire one that a rule of higher priority selects (the user guide's
 * "Lifecycle policies" and its Example A). So:
 * - the count rule selects tagged images only (`*`): a recent untagged image, such as a cache
 *   manifest the next build replaced or a platform manifest of an index, never takes the place
 *   of a release (with `tagStatus: any` it would, even while the untagged rule protects it);
 * - with `cacheTag` (docker buildx keeps its registry cache under that tag of this repository),
 *   a first rule selects the cache image and never expires it (one image holds a tag, and it
 *   allows one), and the count rule keeps one more: ECR still counts the cache among the tagged
 *   images, so it never takes the place of an image either.
 */
export function imageLifecyclePolicy(keepImages: number, opts: { cacheTag?: string } = {}): string {
  const rules: object[] = [];
  if (opts.cacheTag) {
    rules.push({
      description: `Never expire the registry cache (tag ${opts.cacheTag})`,
      selection: {
        tagStatus: 'tagged',
        tagPatternList: [opts.cacheTag],
        countType: 'imageCountMoreThan',
        countNumber: 1,
      },
    });
  }
  rules.push(
    {
      description: 'Expire untagged images after 7 days',
      selection: {
        tagStatus: 'untagged',
        countType: 'sinceImagePushed',
        countUnit: 'days',
        countNumber: 7,
      },
    },
    {
      description: opts.cacheTag
        ? `Keep only the newest ${keepImages} images besides the cache`
        : `Keep only the newest ${keepImages} images`,
      selection: {
        tagStatus: 'tagged',
        tagPatternList: ['*'],
        countType: 'imageCountMoreThan',
        countNumber: opts.cacheTag ? keepImages + 1 : keepImages,
      },
    },
  );
  return JSON.stringify({
    rules: rules.map((rule, i) => ({ rulePriority: i + 1, ...rule, action: { type: 'expire' } })),
  });
}

/** Cache entries are cheap to rebuild: anything pushed more than 14 days ago goes. */
export function cacheLifecyclePolicy(): string {
  return JSON.stringify({
    rules: [
      {
        rulePriority: 1,
        description: 'Expire layer-cache entries pushed more than 14 days ago',
        selection: {
          tagStatus: 'any',
          countType: 'sinceImagePushed',
          countUnit: 'days',
          countNumber: 14,
        },
        action: { type: 'expire' },
      },
    ],
  });
}

export interface CreateRepositoryOptions extends RepoRef {
  tagMutability: TagMutability;
  /** Image repositories are scanned on push; a cache repository is not. */
  scanOnPush: boolean;
  lifecyclePolicy: string;
}

export async function createRepository(
  ecr: EcrApi,
  opts: CreateRepositoryOptions,
): Promise<RepositoryInfo> {
  let repo: Repository | undefined;
  try {
    const out = await ecr.send(
      new CreateRepositoryCommand({
        ...ids(opts),
        imageTagMutability: opts.tagMutability,
        imageScanningConfiguration: { scanOnPush: opts.scanOnPush },
      }),
    );
    repo = out.repository;
  } catch (error) {
    // Another job created it in the meantime: that is the state we want.
    if (awsErrorName(error) === 'RepositoryAlreadyExistsException') {
      const existing = await findRepository(ecr, opts);
      if (existing) return existing;
    }
    throw explainAwsError(error, `create repository '${opts.name}' (ecr:CreateRepository)`);
  }
  try {
    await ecr.send(
      new PutLifecyclePolicyCommand({ ...ids(opts), lifecyclePolicyText: opts.lifecyclePolicy }),
    );
  } catch (error) {
    throw explainAwsError(
      error,
      `set the lifecycle policy of the new repository '${opts.name}' (ecr:PutLifecyclePolicy)`,
    );
  }
  return infoOf(repo ?? { imageTagMutability: opts.tagMutability }, opts, true);
}

function wildcardMatches(filter: string, tag: string): boolean {
  const re = new RegExp(`^${filter.split('*').map(escapeRegExp).join('.*')}$`);
  return re.test(tag);
}
function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Whether pushing `tag` may overwrite an existing one in this repository. */
export function tagIsMutable(repo: RepositoryInfo, tag: string): boolean {
  const excluded = repo.exclusionFilters.some((f) => wildcardMatches(f, tag));
  switch (repo.tagMutability) {
    case 'IMMUTABLE':
      return false;
    case 'IMMUTABLE_WITH_EXCLUSION':
      return excluded;
    case 'MUTABLE_WITH_EXCLUSION':
      return !excluded;
    default:
      return true;
  }
}

/** Which of `tags` already exist in the repository. */
async function existingTags(ecr: EcrApi, ref: RepoRef, tags: readonly string[]): Promise<string[]> {
  if (tags.length === 0) return [];
  try {
    const out = await ecr.send(
      new BatchGetImageCommand({ ...ids(ref), imageIds: tags.map((imageTag) => ({ imageTag })) }),
    );
    const found = new Set((out.images ?? []).map((i) => i.imageId?.imageTag));
    return tags.filter((t) => found.has(t));
  } catch (error) {
    throw explainAwsError(error, `look up tags in '${ref.name}' (ecr:BatchGetImage)`);
  }
}

/**
 * Refuse, before anything is built, tags an immutable repository would reject: tags that move on
 * every build (`latest`, the build cache tag) and tags that already exist.
 */
export async function checkTagsWritable(
  ecr: EcrApi,
  repo: RepositoryInfo,
  opts: { tags: readonly string[]; movingTags: readonly string[]; registry: string },
): Promise<void> {
  const where = `repository '${repo.name}' in ${opts.registry}`;
  for (const tag of opts.movingTags) {
    if (tagIsMutable(repo, tag)) continue;
    throw new Error(
      tag === 'latest'
        ? `${where} has immutable tags, so 'latest' cannot move to the new image; set latest: false (and tag releases with 'tags'), or make the repository's tags mutable`
        : `${where} has immutable tags, so the registry cache tag '${tag}' cannot be updated; set cache: none, or exclude '${tag}' from tag immutability`,
    );
  }
  const fixed = opts.tags.filter((t) => !opts.movingTags.includes(t) && !tagIsMutable(repo, t));
  const clashes = await existingTags(ecr, repo, fixed);
  if (clashes.length > 0) {
    throw new Error(
      `${where} has immutable tags and already holds ${clashes.map((t) => `'${t}'`).join(', ')}; ` +
        'an image pushed for this commit before cannot be replaced (delete it, or push under another tag)',
    );
  }
}

export interface PushedImage {
  digest: string;
  sizeBytes?: number;
}

/**
 * The pushed image as ECR records it. Polls briefly: right after a push, DescribeImages can
 * still say ImageNotFoundException.
 */
export async function describePushedImage(
  ecr: EcrApi,
  ref: RepoRef,
  tag: string,
  opts: { clock?: Clock; timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<PushedImage> {
  const result = await poll<PushedImage>({
    timeoutMs: opts.timeoutMs ?? 60_000,
    intervalMs: 1000,
    maxIntervalMs: 8000,
    ...(opts.clock ? { clock: opts.clock } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
    attempt: async () => {
      try {
        const out = await ecr.send(
          new DescribeImagesCommand({ ...ids(ref), imageIds: [{ imageTag: tag }] }),
        );
        const detail = out.imageDetails?.[0];
        if (!detail?.imageDigest) {
          return { kind: 'wait', reason: `ECR does not list ${ref.name}:${tag} yet` };
        }
        return {
          kind: 'done',
          value: {
            digest: detail.imageDigest,
            ...(detail.imageSizeInBytes !== undefined
              ? { sizeBytes: detail.imageSizeInBytes }
              : {}),
          },
        };
      } catch (error) {
        if (awsErrorName(error) === 'ImageNotFoundException')
          return {
            kind: 'wait',
            reason: `ECR does not list ${ref.name}:${tag} yet`,
            backoff: true,
          };
        if (isThrottling(error))
          return { kind: 'wait', reason: 'DescribeImages is throttled', backoff: true };
        return {
          kind: 'fail',
          reason: explainAwsError(error, `describe ${ref.name}:${tag} (ecr:DescribeImages)`)
            .message,
        };
      }
    },
  });
  if (result.outcome === 'done') return result.value;
  throw new Error(`could not read the pushed image back from ECR: ${result.reason}`);
}
