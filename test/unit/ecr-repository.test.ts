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
      // ECR requires the tagStatus "any" rule to have the lowest priority.
      expect.objectContaining({
        rulePriority: 2,
        selection: { tagStatus: 'any', countType: 'imageCountMoreThan', countNumber: 25 },
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
