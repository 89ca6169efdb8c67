/** Reading a manifest back over the distribution API: Basic and Bearer auth, digest checks, sizes. */
import http from 'node:http';
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { parseAuthenticate, readManifest } from '../../src/image/registry-api.js';

const manifest = JSON.stringify({
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: 'sha256:c', size: 100 },
  layers: [
    { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: 'sha256:l1', size: 1000 },
    { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: 'sha256:l2', size: 24 },
  ],
});
const digestOf = (body: string) => `sha256:${createHash('sha256').update(body).digest('hex')}`;

let server: http.Server | undefined;
afterEach(
  () => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())),
);

async function serve(handler: http.RequestListener): Promise<string> {
  server = http.createServer(handler);
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

it('answers a Basic challenge and checks the digest header against the body', async () => {
  const seen: Array<{ url?: string; auth?: string; accept?: string }> = [];
  const host = await serve((req, res) => {
    seen.push({ url: req.url, auth: req.headers.authorization, accept: req.headers.accept });
    if (req.headers.authorization !== `Basic ${Buffer.from('AWS:pw').toString('base64')}`) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="registry"' }).end();
      return;
    }
    res.writeHead(200, { 'docker-content-digest': digestOf(manifest) }).end(manifest);
  });
  const info = await readManifest({
    host,
    repository: 'team/api',
    reference: 'abc123',
    credentials: { username: 'AWS', password: 'pw' },
  });
  expect(info).toEqual({
    digest: digestOf(manifest),
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    sizeBytes: 1124,
  });
  expect(seen).toHaveLength(2);
  expect(seen[1]?.url).toBe('/v2/team/api/manifests/abc123');
  expect(seen[1]?.accept).toContain('application/vnd.oci.image.index.v1+json');
  expect(seen[1]?.accept).toContain('application/vnd.docker.distribution.manifest.v2+json');
});

it('follows the Bearer token flow with the credentials and the scope', async () => {
  let tokenRequest: URL | undefined;
  const host = await serve((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/token') {
      tokenRequest = url;
      const ok = req.headers.authorization === `Basic ${Buffer.from('bot:ghp').toString('base64')}`;
      res.writeHead(ok ? 200 : 401, { 'content-type': 'application/json' });
      res.end(ok ? '{"token":"T0K"}' : '{}');
    } else if (req.headers.authorization === 'Bearer T0K') {
      res.writeHead(200).end(manifest);
    } else {
      res
        .writeHead(401, {
          'www-authenticate': `Bearer realm="http://${req.headers.host}/token",service="reg",scope="repository:org/api:pull"`,
        })
        .end();
    }
  });
  const info = await readManifest({
    host,
    repository: 'org/api',
    reference: 'latest',
    credentials: { username: 'bot', password: 'ghp' },
  });
  expect(info.digest).toBe(digestOf(manifest));
  expect(tokenRequest?.searchParams.get('service')).toBe('reg');
  expect(tokenRequest?.searchParams.get('scope')).toBe('repository:org/api:pull');
});

it('refuses a manifest whose content does not match its digest header', async () => {
  const host = await serve((_req, res) =>
    res.writeHead(200, { 'docker-content-digest': `sha256:${'0'.repeat(64)}` }).end(manifest),
  );
  await expect(readManifest({ host, repository: 'api', reference: 'x' })).rejects.toThrow(
    /does not match its digest header/,
  );
});

it('counts the platforms of an index instead of a size', async () => {
  const index = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [{}, {}],
  });
  const host = await serve((_req, res) => res.writeHead(200).end(index));
  expect(await readManifest({ host, repository: 'api', reference: 'x' })).toEqual({
    digest: digestOf(index),
    mediaType: 'application/vnd.oci.image.index.v1+json',
    platforms: 2,
  });
});

it('says not found and access denied in words', async () => {
  let status = 404;
  const host = await serve((_req, res) => res.writeHead(status).end('{}'));
  await expect(readManifest({ host, repository: 'api', reference: 'x' })).rejects.toThrow(
    `reading api:x from ${host}: not found`,
  );
  status = 403;
  await expect(readManifest({ host, repository: 'api', reference: 'x' })).rejects.toThrow(
    `reading api:x from ${host}: access denied`,
  );
});

it('does not try plain HTTP for a host that is not loopback', async () => {
  const tried: string[] = [];
  const fakeFetch = (async (url: string | URL) => {
    tried.push(String(url));
    throw new TypeError('fetch failed', { cause: new Error('getaddrinfo ENOTFOUND') });
  }) as typeof fetch;
  await expect(
    readManifest({ host: 'reg.example', repository: 'api', reference: 'x', fetch: fakeFetch }),
  ).rejects.toThrow('could not reach reg.example: getaddrinfo ENOTFOUND');
  expect(tried).toEqual(['https://reg.example/v2/api/manifests/x']);
});

it('parses WWW-Authenticate parameters', () => {
  expect(
    parseAuthenticate('Bearer realm="https://a/token",service="a",scope="repository:x:pull"'),
  ).toEqual({
    scheme: 'bearer',
    params: { realm: 'https://a/token', service: 'a', scope: 'repository:x:pull' },
  });
});
