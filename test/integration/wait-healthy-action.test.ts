/** The committed wait-healthy bundle, run as the runner runs it, against real servers. */
import { closedPort, reply, serveForEachTest } from './servers.js';
import { runAction } from '../../stand-ins/runner.js';

const BUNDLE = 'actions/wait-healthy/dist/index.js';
const serve = serveForEachTest();

it('waits for a service that turns healthy after a few requests and sets the outputs', async () => {
  const s = await serve((_q, res, n) =>
    n < 4 ? reply(res, 503, 'starting') : reply(res, 200, '{"status":"ok"}'),
  );
  const run = await runAction(BUNDLE, {
    url: `${s.url}/health`,
    interval: '100ms',
    'json-path': 'status',
    'json-value': 'ok',
  });
  expect(run.code).toBe(0);
  expect(run.outputs).toMatchObject({ healthy: 'true', attempts: '4' });
  expect(JSON.parse(run.outputs.status!)).toEqual({ [`${s.url}/health`]: 200 });
  expect(Number(run.outputs['elapsed-ms'])).toBeGreaterThanOrEqual(300);
  expect(run.stdout).toContain('status 503 (expected 200-299)');
  expect(run.summary).toContain(`| ${s.url}/health | healthy | 4 |`);
});

it('rides out a flapping service with consecutive-successes', async () => {
  // healthy, down, healthy, healthy, healthy...
  const s = await serve((_q, res, n) => reply(res, n === 2 ? 500 : 200, 'x'));
  const run = await runAction(BUNDLE, {
    url: `${s.url}/`,
    interval: '50ms',
    'consecutive-successes': '3',
  });
  expect(run.code).toBe(0);
  expect(run.outputs.attempts).toBe('5');
});

it('fails at the deadline with one line per unhealthy URL, and a masked body excerpt', async () => {
  const hang = await serve(() => {});
  const sick = await serve((req, res) =>
    reply(res, 503, `{"error":"db down","echo":"${req.headers['x-token']}"}`),
  );
  const healthy = await serve((_q, res) => reply(res, 200, 'ok'));
  const refusedPort = await closedPort();
  const run = await runAction(BUNDLE, {
    url: [hang.url, sick.url, healthy.url, `http://127.0.0.1:${refusedPort}/`].join('\n'),
    timeout: '1500ms',
    interval: '200ms',
    'request-timeout': '400ms',
    headers: 'X-Token: tok-very-secret',
  });
  expect(run.code).toBe(1);
  expect(run.outputs.healthy).toBe('false');
  const failure = run.stdout.split('\n').filter((l) => l.startsWith('::error::'));
  expect(failure).toHaveLength(1);
  const message = decodeURIComponent(failure[0]!.replace(/%0A/g, '\n'));
  expect(message).toMatch(
    new RegExp(`${hang.url}/: no answer within \\d+ms \\(request-timeout\\)`),
  );
  expect(message).toContain(`${sick.url}/: status 503 (expected 200-299)`);
  expect(message).toContain('last body: {"error":"db down","echo":"***"}');
  expect(message).toContain(`http://127.0.0.1:${refusedPort}/: connection refused`);
  expect(message).not.toContain(healthy.url);
  // The only place the value may appear is the runner's own masking command.
  const shown = run.stdout.replace('::add-mask::tok-very-secret\n', '') + run.summary;
  expect(run.stdout).toContain('::add-mask::tok-very-secret');
  expect(shown).not.toContain('tok-very-secret');
  expect(JSON.parse(run.outputs.status!)).toMatchObject({
    [`${sick.url}/`]: 503,
    [`${hang.url}/`]: null,
  });
});

it('checks with GET by default, so a server that rejects HEAD is still healthy', async () => {
  const s = await serve((req, res) => reply(res, req.method === 'HEAD' ? 405 : 200, 'ok'));
  const run = await runAction(BUNDLE, { url: `${s.url}/health` });
  expect(run.code).toBe(0);
  expect(s.requests.map((r) => r.method)).toEqual(['GET']);
});

it('follows a redirect to the health page', async () => {
  const s = await serve((req, res) =>
    req.url === '/health' ? reply(res, 302, '', { location: '/ready' }) : reply(res, 200, 'ready'),
  );
  const run = await runAction(BUNDLE, { url: `${s.url}/health`, 'body-contains': 'ready' });
  expect(run.code).toBe(0);
});

it('accepts a self-signed certificate only with insecure: true', async () => {
  const s = await serve((_q, res) => reply(res, 200, 'ok'), { tls: true });
  const strict = await runAction(BUNDLE, { url: s.url, timeout: '300ms' });
  expect(strict.code).toBe(1);
  expect(strict.stdout).toMatch(/TLS error/);
  const lax = await runAction(BUNDLE, { url: s.url, insecure: 'true' });
  expect(lax.code).toBe(0);
});

it('rejects bad input before sending any request', async () => {
  const s = await serve((_q, res) => reply(res, 200, 'ok'));
  const run = await runAction(BUNDLE, {
    url: `${s.url}/health`,
    'expected-status': 'abc',
    timeout: '-5s',
  });
  expect(run.code).toBe(1);
  expect(run.stdout).toContain("input 'expected-status' must be status codes or ranges");
  expect(run.stdout).toContain("input 'timeout' must be a positive duration");
  expect(s.requests).toHaveLength(0);
});

it('shows secret query parameters as *** in logs, summary and outputs, and masks only the long ones', async () => {
  const s = await serve((_q, res) => reply(res, 503, 'not yet'));
  const run = await runAction(BUNDLE, {
    url: `${s.url}/health?Token=tok-query-secret&sig=ab1&page=2&X-Amz-Signature=f00dcafe0123`,
    timeout: '300ms',
    interval: '100ms',
  });
  expect(run.code).toBe(1);
  expect(s.requests[0]!.url).toBe(
    '/health?Token=tok-query-secret&sig=ab1&page=2&X-Amz-Signature=f00dcafe0123',
  );
  const shownUrl = `${s.url}/health?Token=***&sig=***&page=2&X-Amz-Signature=***`;
  expect(Object.keys(JSON.parse(run.outputs.status!))).toEqual([shownUrl]);
  expect(run.summary).toContain(`| ${shownUrl} |`);
  expect(run.stdout).toContain(`${shownUrl}: status 503`);
  // Long values are masked by the runner too; a 3-character value is not (it would blank every 'ab1').
  expect(run.stdout).toContain('::add-mask::tok-query-secret');
  expect(run.stdout).toContain('::add-mask::f00dcafe0123');
  expect(run.stdout).not.toContain('::add-mask::ab1');
  const shown =
    run.stdout.replace(/::add-mask::.*\n/g, '') + run.summary + JSON.stringify(run.outputs);
  for (const value of ['tok-query-secret', 'f00dcafe0123', 'sig=ab1'])
    expect(shown).not.toContain(value);
});

it('names the headers input when a header value is not Latin-1, before sending any request', async () => {
  const s = await serve((_q, res) => reply(res, 200, 'ok'));
  const run = await runAction(BUNDLE, {
    url: `${s.url}/health`,
    headers: 'X-Team: caf\u00e9\nAuthorization: Bearer \u2018quoted\u2019',
  });
  expect(run.code).toBe(1);
  expect(run.stdout).toContain(
    "input 'headers' has a character outside Latin-1 in the value of 'Authorization' (U+2018 at position 8)",
  );
  expect(run.stdout).not.toContain('Invalid character in header content');
  expect(run.stdout).not.toContain('quoted');
  expect(s.requests).toHaveLength(0);
});
