/** The ECR repository checks: find, create with policy, tag mutability, reading the image back. */
import {
  BatchGetImageCommand,
  CreateRepositoryCommand,
  DescribeImagesCommand,
  DescribeRepositoriesCommand,
  ECRClient,
  PutLifecyclePolicyCommand,
} from '@aws-sdk/client-ecr';
import { mockClient } from 'aws-sdk-client-mock';
import {
  checkTagsWritable,
  createRepository,
  describePushedImage,
  findRepository,
  imageLifecyclePolicy,
  tagIsMutable,
  type RepositoryInfo,
} from '../../src/ecr/repository.js';
import { VirtualClock } from '../../src/virtual-clock.js';

const ecrMock = mockClient(ECRClient);
const ecr = new ECRClient({ region: 'eu-west-1' });
const awsError = (name: string, message = name) => Object.assign(new Error(message), { name });
const repo = (tagMutability: string, exclusionFilters: string[] = []): RepositoryInfo => ({
  name: 'api',
  tagMutability,
  exclusionFilters,
  created: false,
});

beforeEach(() => ecrMock.reset());

describe('findRepository', () => {
  it('returns the mutability settings of an existing repository', async () => {
    ecrMock.on(DescribeRepositoriesCommand).resolves({
      repositories: [
        {
          repositoryName: 'api',
          imageTagMutability: 'IMMUTABLE_WITH_EXCLUSION',
          imageTagMutabilityExclusionFilters: [{ filterType: 'WILDCARD', filter: 'latest' }],
        },
      ],
    });
    expect(await findRepository(ecr, { name: 'api', registryId: '123456789012' })).toEqual({
      name: 'api',
      registryId: '123456789012',
      tagMutability: 'IMMUTABLE_WITH_EXCLUSION',
      exclusionFilters: ['latest'],
      created: false,
    });
    expect(ecrMock.commandCalls(DescribeRepositoriesCommand)[0]?.args[0].input).toEqual({
      repositoryNames: ['api'],
      registryId: '123456789012',
    });
  });

  it('returns undefined for RepositoryNotFoundException and explains other errors', async () => {
    ecrMock.on(DescribeRepositoriesCommand).rejectsOnce(awsError('RepositoryNotFoundException'));
    expect(await findRepository(ecr, { name: 'api' })).toBeUndefined();
    ecrMock.on(DescribeRepositoriesCommand).rejects(awsError('ExpiredTokenException', 'expired'));
    await expect(findRepository(ecr, { name: 'api' })).rejects.toThrow(
      'AWS credentials expired or invalid: expired',
    );
  });
});

describe('createRepository', () => {
  it('creates with scan on push and the given mutability, then sets the lifecycle policy', async () => {
    ecrMock
      .on(CreateRepositoryCommand)
      .resolves({ repository: { repositoryName: 'api', imageTagMutability: 'IMMUTABLE' } });
    ecrMock.on(PutLifecyclePolicyCommand).resolves({});
    const created = await createRepository(ecr, {
      name: 'api',
      tagMutability: 'IMMUTABLE',
      scanOnPush: true,
      lifecyclePolicy: imageLifecyclePolicy(25),
    });
    expect(created).toMatchObject({ name: 'api', tagMutability: 'IMMUTABLE', created: true });
    expect(ecrMock.commandCalls(CreateRepositoryCommand)[0]?.args[0].input).toEqual({
      repositoryName: 'api',
      imageTagMutability: 'IMMUTABLE',
      imageScanningConfiguration: { scanOnPush: true },
    });
    const policy = JSON.parse(
      ecrMock.commandCalls(PutLifecyclePolicyCommand)[0]?.args[0].input.lifecyclePolicyText ?? '',
    );
    expect(policy.rules).toEqual([
      expect.objectContaining({
        rulePriority: 1,
        selection: expect.objectContaining({
          tagStatus: 'untagged',
          countType: 'sinceImagePushed',
          countNumber: 7,
        }),
        action: { type: 'expire' },
      }),
      // Tagged images only: a recent untagged image (a replaced cache manifest, a platform
      // manifest of an index) never takes the place of a release.
      expect.objectContaining({
        rulePriority: 2,
        selection: {
          tagStatus: 'tagged',
          tagPatternList: ['*'],
          countType: 'imageCountMoreThan',
          countNumber: 25,
        },
      }),
    ]);
  });

  it('uses the existing repository when another job created it first', async () => {
    ecrMock.on(CreateRepositoryCommand).rejects(awsError('RepositoryAlreadyExistsException'));
    ecrMock
      .on(DescribeRepositoriesCommand)
      .resolves({ repositories: [{ repositoryName: 'api', imageTagMutability: 'MUTABLE' }] });
    const found = await createRepository(ecr, {
      name: 'api',
      tagMutability: 'MUTABLE',
      scanOnPush: true,
      lifecyclePolicy: imageLifecyclePolicy(10),
    });
    expect(found.created).toBe(false);
    expect(ecrMock.commandCalls(PutLifecyclePolicyCommand)).toHaveLength(0);
  });
});

describe('tag mutability', () => {
  it('follows the four ECR modes and wildcard exclusion filters', () => {
    expect(tagIsMutable(repo('MUTABLE'), 'latest')).toBe(true);
    expect(tagIsMutable(repo('IMMUTABLE'), 'latest')).toBe(false);
    expect(tagIsMutable(repo('IMMUTABLE_WITH_EXCLUSION', ['lat*']), 'latest')).toBe(true);
    expect(tagIsMutable(repo('IMMUTABLE_WITH_EXCLUSION', ['lat*']), 'v1')).toBe(false);
    expect(tagIsMutable(repo('MUTABLE_WITH_EXCLUSION', ['release-*']), 'release-1.2')).toBe(false);
    expect(tagIsMutable(repo('MUTABLE_WITH_EXCLUSION', ['release-*']), 'latest')).toBe(true);
    // A dot in a filter is a dot, not "any character".
    expect(tagIsMutable(repo('IMMUTABLE_WITH_EXCLUSION', ['v1.0']), 'v1x0')).toBe(false);
  });

  it('refuses latest in an immutable repository before anything is built', async () => {
    await expect(
      checkTagsWritable(ecr, repo('IMMUTABLE'), {
        tags: ['abc1234', 'latest'],
        movingTags: ['latest'],
        registry: 'reg.example',
      }),
    ).rejects.toThrow(
      "repository 'api' in reg.example has immutable tags, so 'latest' cannot move to the new image; set latest: false",
    );
    expect(ecrMock.calls()).toHaveLength(0);
  });

  it('refuses the buildx cache tag in an immutable repository', async () => {
    await expect(
      checkTagsWritable(ecr, repo('IMMUTABLE'), {
        tags: ['abc1234'],
        movingTags: ['buildcache'],
        registry: 'reg.example',
      }),
    ).rejects.toThrow(/registry cache tag 'buildcache' cannot be updated; set cache: none/);
  });

  it('refuses a tag that already exists in an immutable repository, and accepts new ones', async () => {
    ecrMock.on(BatchGetImageCommand).resolves({
      images: [{ imageId: { imageTag: 'v1.0.0', imageDigest: 'sha256:1' } }],
      failures: [{ imageId: { imageTag: 'abc1234' }, failureCode: 'ImageNotFound' }],
    });
    await expect(
      checkTagsWritable(ecr, repo('IMMUTABLE'), {
        tags: ['abc1234', 'v1.0.0'],
        movingTags: [],
        registry: 'reg.example',
      }),
    ).rejects.toThrow(/has immutable tags and already holds 'v1.0.0'/);
    expect(ecrMock.commandCalls(BatchGetImageCommand)[0]?.args[0].input.imageIds).toEqual([
      { imageTag: 'abc1234' },
      { imageTag: 'v1.0.0' },
    ]);

    ecrMock.on(BatchGetImageCommand).resolves({ images: [], failures: [] });
    await expect(
      checkTagsWritable(ecr, repo('IMMUTABLE'), {
        tags: ['abc1234'],
        movingTags: [],
        registry: 'reg.example',
      }),
    ).resolves.toBeUndefined();
  });

  it('asks nothing of a mutable repository', async () => {
    await checkTagsWritable(ecr, repo('MUTABLE'), {
      tags: ['abc1234', 'latest'],
      movingTags: ['latest'],
      registry: 'reg.example',
    });
    expect(ecrMock.calls()).toHaveLength(0);
  });
});

describe('describePushedImage', () => {
  it('waits while ECR does not list the image yet, then returns its digest and size', async () => {
    ecrMock
      .on(DescribeImagesCommand)
      .rejectsOnce(awsError('ImageNotFoundException'))
      .rejectsOnce(awsError('ThrottlingException'))
      .resolves({ imageDetails: [{ imageDigest: 'sha256:abc', imageSizeInBytes: 1234 }] });
    const clock = new VirtualClock();
    const image = await describePushedImage(ecr, { name: 'api' }, 'abc1234', { clock });
    expect(image).toEqual({ digest: 'sha256:abc', sizeBytes: 1234 });
    expect(ecrMock.commandCalls(DescribeImagesCommand)).toHaveLength(3);
    expect(clock.now()).toBeGreaterThan(0);
  });

  it('gives up at the deadline with the reason, and at once on access denied', async () => {
    ecrMock.on(DescribeImagesCommand).rejects(awsError('ImageNotFoundException'));
    await expect(
      describePushedImage(ecr, { name: 'api' }, 'abc1234', {
        clock: new VirtualClock(),
        timeoutMs: 20_000,
      }),
    ).rejects.toThrow(
      'could not read the pushed image back from ECR: ECR does not list api:abc1234 yet',
    );

    ecrMock.reset();
    ecrMock.on(DescribeImagesCommand).rejects(awsError('AccessDeniedException', 'no'));
    await expect(
      describePushedImage(ecr, { name: 'api' }, 'abc1234', { clock: new VirtualClock() }),
    ).rejects.toThrow(/not allowed to describe api:abc1234 \(ecr:DescribeImages\): no/);
    expect(ecrMock.commandCalls(DescribeImagesCommand)).toHaveLength(1);
  });
});

/**
 * What an ECR lifecycle policy expires, by the evaluation rules of the ECR user guide
 * ("Lifecycle policies", and its multi-rule Example A): every rule selects the images its tag
 * filter matches and counts all of them, newest first; it may expire one only when no rule of
 * higher priority matches that image. Tag patterns: `*` matches any run of characters.
 */
function expiredBy(
  policyText: string,
  images: Array<{ name: string; tags: string[]; ageDays: number }>,
) {
  type Rule = {
    rulePriority: number;
    selection: {
      tagStatus: 'tagged' | 'untagged' | 'any';
      tagPatternList?: string[];
      countType: 'imageCountMoreThan' | 'sinceImagePushed';
      countNumber: number;
    };
  };
  const rules = (JSON.parse(policyText) as { rules: Rule[] }).rules.sort(
    (a, b) => a.rulePriority - b.rulePriority,
  );
  const wildcard = (p: string) =>
    new RegExp(
      `^${p
        .split('*')
        .map((x) => x.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
        .join('.*')}$`,
    );
  const matches = (rule: Rule, image: (typeof images)[number]) => {
    const sel = rule.selection;
    if (sel.tagStatus === 'any') return true;
    if (sel.tagStatus === 'untagged') return image.tags.length === 0;
    return (
      image.tags.length > 0 &&
      (sel.tagPatternList ?? []).every((p) => image.tags.some((t) => wildcard(p).test(t)))
    );
  };
  const expired = new Set<string>();
  rules.forEach((rule, i) => {
    const selected = images
      .filter((img) => matches(rule, img))
      .sort((a, b) => a.ageDays - b.ageDays);
    const marked =
      rule.selection.countType === 'imageCountMoreThan'
        ? selected.slice(rule.selection.countNumber)
        : selected.filter((img) => img.ageDays > rule.selection.countNumber);
    for (const img of marked)
      if (!rules.slice(0, i).some((higher) => matches(higher, img))) expired.add(img.name);
  });
  return [...expired].sort();
}

describe('the lifecycle policy of a created image repository', () => {
  /** A week of builds with docker buildx: image N, then cache manifest N, one pair a day. */
  const history = (builds: number) =>
    Array.from({ length: builds }, (_, i) => {
      const age = builds - i; // days
      return [
        { name: `image-${i + 1}`, tags: [`sha${i + 1}`], ageDays: age + 0.5 },
        {
          name: `cache-${i + 1}`,
          tags: i === builds - 1 ? ['buildcache'] : [],
          ageDays: age,
        },
      ];
    }).flat();

  it('keeps the newest N images besides the cache, which it never expires nor counts', () => {
    const images = history(6);
    const policy = imageLifecyclePolicy(3, { cacheTag: 'buildcache' });
    const gone = expiredBy(policy, images);
    // The newest cache (tagged) stays, and the three newest images; older images go.
    expect(gone.filter((n) => n.startsWith('image-'))).toEqual(['image-1', 'image-2', 'image-3']);
    expect(gone).not.toContain('cache-6');
  });

  it('keeps the cache image even when it is older than every image', () => {
    const images = [
      { name: 'cache', tags: ['buildcache'], ageDays: 40 },
      ...Array.from({ length: 8 }, (_, i) => ({
        name: `image-${i + 1}`,
        tags: [`sha${i + 1}`, ...(i === 7 ? ['latest'] : [])],
        ageDays: 8 - i,
      })),
    ];
    const gone = expiredBy(imageLifecyclePolicy(3, { cacheTag: 'buildcache' }), images);
    expect(gone).not.toContain('cache');
    // At least the newest 3 stay (4 when the cache is older than them: ECR still counts it).
    expect(gone.length).toBeGreaterThanOrEqual(4);
    expect(gone).toEqual(expect.not.arrayContaining(['image-6', 'image-7', 'image-8']));
  });

  it('without a cache tag in the repository, keeps exactly the newest N tagged images', () => {
    const images = Array.from({ length: 6 }, (_, i) => ({
      name: `image-${i + 1}`,
      tags: [`sha${i + 1}`],
      ageDays: 6 - i,
    }));
    expect(expiredBy(imageLifecyclePolicy(4), images)).toEqual(['image-1', 'image-2']);
  });
});
