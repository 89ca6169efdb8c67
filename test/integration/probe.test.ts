/** The HTTP probe against real servers on loopback: every way an endpoint can answer or fail. */
import { probe, type ProbeRequest } from '../../src/health/probe.js';
import { closedPort, reply, serveForEachTest } from './servers.js';

const base = (url: string, extra: Partial<ProbeRequest> = {}): ProbeRequest => ({
  url: new URL(url),
  method: 'GET',
  headers: {},
  timeoutMs: 2000,
  followRedirects: true,
  insecure: false,
  ...extra,
});

const serve = serveForEachTest();

it('reads status and body', async () => {
  const s = await serve((_q, res) => reply(res, 200, '{"status":"ok"}'));
  expect(await probe(base(`${s.url}/health`))).toMatchObject({
    kind: 'answer',
    status: 200,
    body: '{"status":"ok"}',
  });
});

it('names a refused connection', async () => {
  const port = await closedPort();
  expect(await probe(base(`http://127.0.0.1:${port}/health`))).toMatchObject({
    kind: 'error',
    reason: 'connection refused',
  });
});

it('names a server that never answers, within the request timeout', async () => {
  const s = await serve(() => {}); // accepts, never replies
  const answer = await probe(base(`${s.url}/health`, { timeoutMs: 300 }));
  expect(answer).toMatchObject({
    kind: 'error',
    reason: 'no answer within 300ms (request-timeout)',
  });
  expect(answer.latencyMs).toBeLessThan(2000);
});

it('names a DNS failure', async () => {
  const answer = await probe(base('http://no-such-host.invalid/health'));
  expect(answer).toMatchObject({ kind: 'error' });
  expect(answer.kind === 'error' && answer.reason).toMatch(/^DNS lookup failed/);
});

it('follows redirects, relative and absolute, and reports the final URL', async () => {
  const target = await serve((_q, res) => reply(res, 200, 'ok'));
  const s = await serve((req, res) => {
    if (req.url === '/health') reply(res, 302, '', { location: '/v2/health' });
    else reply(res, 301, '', { location: `${target.url}/final` });
  });
  expect(await probe(base(`${s.url}/health`))).toMatchObject({
    kind: 'answer',
    status: 200,
    url: `${target.url}/final`,
  });
  expect(await probe(base(`${s.url}/health`, { followRedirects: false }))).toMatchObject({
    kind: 'answer',
    status: 302,
  });
});

it('stops a redirect loop', async () => {
  const s = await serve((_q, res) => reply(res, 302, '', { location: '/again' }));
  expect(await probe(base(`${s.url}/health`))).toMatchObject({
    kind: 'error',
    reason: 'more than 10 redirects',
  });
});

it('fails on a self-signed certificate unless insecure is set', async () => {
  const s = await serve((_q, res) => reply(res, 200, 'ok'), { tls: true });
  const strict = await probe(base(`${s.url}/health`));
  expect(strict.kind === 'error' && strict.reason).toMatch(
    /^TLS error: .*self.signed.*\(set insecure: true to accept it\)/i,
  );
  expect(await probe(base(`${s.url}/health`, { insecure: true }))).toMatchObject({
    kind: 'answer',
    status: 200,
  });
});

it.each(['127.0.0.1', '::1'])(
  'finds a server on localhost that listens only on %s',
  async (host) => {
    const s = await serve((_q, res) => reply(res, 200, 'ok'), { host });
    expect(await probe(base(`http://localhost:${s.port}/health`))).toMatchObject({
      kind: 'answer',
      status: 200,
    });
  },
);

it('sends the configured method and headers', async () => {
  const s = await serve((req, res) =>
    req.method === 'HEAD' ? reply(res, 405) : reply(res, 200, 'ok'),
  );
  expect(await probe(base(`${s.url}/h`, { headers: { authorization: 'Bearer x' } }))).toMatchObject(
    { status: 200 },
  );
  expect(s.requests[0]).toMatchObject({ method: 'GET', headers: { authorization: 'Bearer x' } });
  expect(await probe(base(`${s.url}/h`, { method: 'HEAD' }))).toMatchObject({ status: 405 });
});

it('names a connection reset by the server', async () => {
  const s = await serve((req) => req.socket.destroy());
  expect(await probe(base(`${s.url}/h`))).toMatchObject({
    kind: 'error',
    reason: 'connection reset by the server',
  });
});

it('keeps custom headers on a redirect within the origin and drops them when the origin changes', async () => {
  const other = await serve((_q, res) => reply(res, 200, 'ok'));
  const s = await serve((req, res) => {
    if (req.url === '/health') reply(res, 302, '', { location: '/ready' });
    else reply(res, 302, '', { location: `${other.url}/elsewhere` });
  });
  const headers = { authorization: 'Bearer x', 'x-api-key': 'k-123' };
  expect(await probe(base(`${s.url}/health`, { headers }))).toMatchObject({
    kind: 'answer',
    status: 200,
    url: `${other.url}/elsewhere`,
  });
  expect(s.requests.map((r) => [r.url, r.headers.authorization, r.headers['x-api-key']])).toEqual([
    ['/health', 'Bearer x', 'k-123'],
    ['/ready', 'Bearer x', 'k-123'],
  ]);
  expect(other.requests).toHaveLength(1);
  expect(other.requests[0]!.headers).not.toHaveProperty('authorization');
  expect(other.requests[0]!.headers).not.toHaveProperty('x-api-key');
  expect(other.requests[0]!.headers['user-agent']).toBe('shipyard-wait-healthy');
});

it('does not send custom headers back to the first origin once a redirect has left it', async () => {
  let first = '';
  const back = await serve((req, res) => {
    if (req.url === '/health') reply(res, 302, '', { location: `${first}/return` });
    else reply(res, 200, 'ok');
  });
  const s = await serve((req, res) =>
    req.url === '/health'
      ? reply(res, 302, '', { location: `${back.url}/health` })
      : reply(res, 200, 'ok'),
  );
  first = s.url;
  await probe(base(`${s.url}/health`, { headers: { authorization: 'Bearer x' } }));
  expect(s.requests.map((r) => [r.url, r.headers.authorization])).toEqual([
    ['/health', 'Bearer x'],
    ['/return', undefined],
  ]);
});

it('refuses a redirect from https to http, without sending the request', async () => {
  const plain = await serve((_q, res) => reply(res, 200, 'ok'));
  const s = await serve(
    (_q, res) => reply(res, 301, '', { location: `${plain.url}/health?token=abcdefgh1234` }),
    {
      tls: true,
    },
  );
  const answer = await probe(
    base(`${s.url}/health`, { insecure: true, headers: { authorization: 'Bearer x' } }),
  );
  expect(answer).toMatchObject({ kind: 'error' });
  expect(answer.kind === 'error' && answer.reason).toBe(
    `redirect from https to http refused (${plain.url}/health?token=***): it would send the request unencrypted`,
  );
  expect(plain.requests).toHaveLength(0);
});

it('names a redirect to an invalid location, with its secret query values as ***', async () => {
  const s = await serve((_q, res) =>
    reply(res, 302, '', { location: 'http://[::1/health?token=abcdefgh1234&page=2' }),
  );
  expect(await probe(base(`${s.url}/health`))).toMatchObject({
    kind: 'error',
    reason: "redirect to an invalid location 'http://[::1/health?token=***&page=2'",
  });
});
