/**
 * Reading a manifest back from a registry over the distribution HTTP API (`GET /v2/<name>/manifests/<ref>`),
 * to report the digest the registry really stores, not what the engine believes it pushed.
 * Handles both auth schemes registries use: Basic (the CNCF registry with htpasswd, ECR) and the
 * Bearer token dance (GHCR, Docker Hub, Harbor: 401 → token endpoint → retry).
 */
import { createHash } from 'node:crypto';
import { errorMessage } from '../errors.js';

export interface RegistryCredentials {
  username: string;
  password: string;
}

export interface ManifestInfo {
  /** `sha256:...` from Docker-Content-Digest, checked against the body. */
  digest: string;
  mediaType: string;
  /** Config plus layers, compressed, for a single-platform manifest. */
  sizeBytes?: number;
  /** For an index: how many platform manifests it lists. */
  platforms?: number;
}

export interface ReadManifestOptions {
  host: string;
  repository: string;
  /** A tag or a digest. */
  reference: string;
  credentials?: RegistryCredentials;
  fetch?: typeof fetch;
  timeoutMs?: number;
}

const MANIFEST_MEDIA_TYPES = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
];

/** Loopback registries may speak plain HTTP (docker and podman allow it for 127.0.0.0/8 and localhost). */
function isLoopbackHost(host: string): boolean {
  const name = host.replace(/:\d+$/, '');
  return name === 'localhost' || /^127\.\d+\.\d+\.\d+$/.test(name) || name === '[::1]';
}

/** `Bearer realm="...",service="...",scope="..."` → scheme and parameters. */
export function parseAuthenticate(header: string): {
  scheme: string;
  params: Record<string, string>;
} {
  const space = header.indexOf(' ');
  const scheme = (space < 0 ? header : header.slice(0, space)).toLowerCase();
  const params: Record<string, string> = {};
  const re = /([a-zA-Z_]+)="([^"]*)"/g;
  for (let m = re.exec(header); m; m = re.exec(header))
    params[(m[1] as string).toLowerCase()] = m[2] as string;
  return { scheme, params };
}

function basic(credentials: RegistryCredentials): string {
  return `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
}

export async function readManifest(opts: ReadManifestOptions): Promise<ManifestInfo> {
  const doFetch = opts.fetch ?? fetch;
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const bases = [
    `https://${opts.host}`,
    ...(isLoopbackHost(opts.host) ? [`http://${opts.host}`] : []),
  ];
  let lastError: unknown;
  for (const base of bases) {
    try {
      return await readFrom(base, opts, doFetch, timeoutMs);
    } catch (error) {
      lastError = error;
      // Only a transport failure (TLS to a plain-HTTP port: fetch's TypeError) is worth trying
      // the next scheme. By name: the error may come from another realm (test VMs).
      if ((error as Error | undefined)?.name !== 'TypeError') throw error;
    }
  }
  const cause = lastError instanceof Error ? (lastError.cause ?? lastError) : lastError;
  throw new Error(`could not reach ${opts.host}: ${errorMessage(cause)}`);
}

async function readFrom(
  base: string,
  opts: ReadManifestOptions,
  doFetch: typeof fetch,
  timeoutMs: number,
): Promise<ManifestInfo> {
  const url = `${base}/v2/${opts.repository}/manifests/${opts.reference}`;
  const get = (authorization?: string) =>
    doFetch(url, {
      headers: {
        accept: MANIFEST_MEDIA_TYPES.join(', '),
        ...(authorization ? { authorization } : {}),
      },
      signal: AbortSignal.timeout(timeoutMs),
    });

  let res = await get();
  if (res.status === 401) {
    const challenge = parseAuthenticate(res.headers.get('www-authenticate') ?? '');
    await res.arrayBuffer();
    if (challenge.scheme === 'basic' && opts.credentials) {
      res = await get(basic(opts.credentials));
    } else if (challenge.scheme === 'bearer' && challenge.params.realm) {
      const token = await bearerToken(challenge.params, opts, doFetch, timeoutMs);
      res = await get(`Bearer ${token}`);
    }
  }
  const body = Buffer.from(await res.arrayBuffer());
  if (res.status !== 200) {
    const what =
      res.status === 404
        ? 'not found'
        : res.status === 401 || res.status === 403
          ? 'access denied'
          : `status ${res.status}`;
    throw new Error(`reading ${opts.repository}:${opts.reference} from ${opts.host}: ${what}`);
  }
  const computed = `sha256:${createHash('sha256').update(body).digest('hex')}`;
  const header = res.headers.get('docker-content-digest');
  if (header && header !== computed) {
    throw new Error(
      `${opts.host} sent a manifest for ${opts.reference} whose content (${computed}) does not match its digest header (${header})`,
    );
  }
  const manifest = JSON.parse(body.toString('utf8')) as {
    mediaType?: string;
    config?: { size?: number };
    layers?: Array<{ size?: number }>;
    manifests?: unknown[];
  };
  const mediaType = manifest.mediaType ?? res.headers.get('content-type') ?? '';
  if (Array.isArray(manifest.manifests)) {
    return { digest: computed, mediaType, platforms: manifest.manifests.length };
  }
  const sizeBytes =
    (manifest.config?.size ?? 0) +
    (manifest.layers ?? []).reduce((sum, layer) => sum + (layer.size ?? 0), 0);
  return { digest: computed, mediaType, sizeBytes };
}

async function bearerToken(
  params: Record<string, string>,
  opts: ReadManifestOptions,
  doFetch: typeof fetch,
  timeoutMs: number,
): Promise<string> {
  const realm = new URL(params.realm as string);
  if (params.service) realm.searchParams.set('service', params.service);
  realm.searchParams.set('scope', params.scope ?? `repository:${opts.repository}:pull`);
  const res = await doFetch(realm, {
    headers: opts.credentials ? { authorization: basic(opts.credentials) } : {},
    signal: AbortSignal.timeout(timeoutMs),
  });
  const json = (await res.json().catch(() => ({}))) as { token?: string; access_token?: string };
  const token = json.token ?? json.access_token;
  if (res.status !== 200 || !token) {
    throw new Error(`the token endpoint of ${opts.host} answered ${res.status} without a token`);
  }
  return token;
}
