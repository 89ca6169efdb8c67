/**
 * An ECR stand-in: the AWS JSON stub answering the ECR calls build-push makes, backed by a real
 * local registry (the "proxy endpoint"), so the ECR path runs end to end without AWS:
 * GetAuthorizationToken hands out the registry's password, DescribeImages reports the digest and
 * size the registry really holds.
 */
import { startAwsStub, type AwsStub } from './aws-json.js';
import type { Registry } from '../scripts/engine/engine.js';

const MANIFEST_TYPES = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.oci.image.index.v1+json',
].join(', ');

/** GET (or HEAD) on the registry's HTTP API with its basic-auth credentials. */
export function registryRequest(
  registry: Registry,
  path: string,
  method: 'GET' | 'HEAD' = 'GET',
): Promise<Response> {
  return fetch(`http://${registry.host}${path}`, {
    method,
    headers: {
      authorization: `Basic ${Buffer.from(`${registry.user}:${registry.password}`).toString('base64')}`,
      accept: MANIFEST_TYPES,
    },
  });
}

/** The registry must have been started with user `AWS`, as ECR's tokens are. */
/** The tags a repository has in the registry ([] when it does not exist). */
export async function registryTags(registry: Registry, name: string): Promise<string[]> {
  const res = await registryRequest(registry, `/v2/${name}/tags/list`);
  if (res.status === 404) return [];
  return ((await res.json()) as { tags: string[] | null }).tags ?? [];
}

/** The digest the registry holds for a tag (or `status <code>` when it has none). */
export async function registryDigest(
  registry: Registry,
  name: string,
  tag: string,
): Promise<string> {
  const res = await registryRequest(registry, `/v2/${name}/manifests/${tag}`, 'HEAD');
  return res.headers.get('docker-content-digest') ?? `status ${res.status}`;
}

export function startEcrStandIn(registry: Registry): Promise<AwsStub> {
  const repositories = new Map<string, string>(); // name -> tag mutability
  return startAwsStub(async (call) => {
    const name = (call.input.repositoryName ??
      (call.input.repositoryNames as string[] | undefined)?.[0]) as string;
    switch (call.operation) {
      case 'GetAuthorizationToken':
        return {
          body: {
            authorizationData: [
              {
                authorizationToken: Buffer.from(`AWS:${registry.password}`).toString('base64'),
                proxyEndpoint: `http://${registry.host}`,
                expiresAt: Date.now() / 1000 + 12 * 3600,
              },
            ],
          },
        };
      case 'DescribeRepositories':
        return repositories.has(name)
          ? {
              body: {
                repositories: [
                  { repositoryName: name, imageTagMutability: repositories.get(name) },
                ],
              },
            }
          : {
              error: {
                type: 'RepositoryNotFoundException',
                message: `The repository with name '${name}' does not exist`,
              },
            };
      case 'CreateRepository':
        repositories.set(name, String(call.input.imageTagMutability ?? 'MUTABLE'));
        return {
          body: {
            repository: { repositoryName: name, imageTagMutability: repositories.get(name) },
          },
        };
      case 'PutLifecyclePolicy':
        return {
          body: { repositoryName: name, lifecyclePolicyText: call.input.lifecyclePolicyText },
        };
      case 'DescribeImages': {
        const tag = (call.input.imageIds as Array<{ imageTag: string }>)[0]?.imageTag ?? '';
        const res = await registryRequest(registry, `/v2/${name}/manifests/${tag}`);
        if (res.status !== 200)
          return { error: { type: 'ImageNotFoundException', message: `no ${name}:${tag}` } };
        const manifest = (await res.json()) as { layers: Array<{ size: number }> };
        return {
          body: {
            imageDetails: [
              {
                repositoryName: name,
                imageDigest: res.headers.get('docker-content-digest'),
                imageSizeInBytes: manifest.layers.reduce((sum, l) => sum + l.size, 0),
                imageTags: [tag],
              },
            ],
          },
        };
      }
      default:
        return {
          error: {
            type: 'InvalidAction',
            message: `the ECR stand-in does not answer ${call.operation}`,
          },
        };
    }
  });
}
