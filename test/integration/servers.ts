/** Real HTTP(S) servers on loopback for the health-check tests. Each records the requests it saw. */
import http from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { listenOnReachablePort } from '../../stand-ins/listen.js';

export interface TestServer {
  url: string;
  port: number;
  requests: Array<{ method: string; url: string; headers: http.IncomingHttpHeaders }>;
  close(): Promise<void>;
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, n: number) => void;

export async function startServer(
  handler: Handler,
  opts: { host?: string; tls?: boolean } = {},
): Promise<TestServer> {
  const requests: TestServer['requests'] = [];
  const listener: http.RequestListener = (req, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    handler(req, res, requests.length);
  };
  const server = opts.tls
    ? https.createServer(
        {
          key: readFileSync(new URL('../fixtures/tls/key.pem', import.meta.url)),
          cert: readFileSync(new URL('../fixtures/tls/cert.pem', import.meta.url)),
        },
        listener,
      )
    : http.createServer(listener);
  const host = opts.host ?? '127.0.0.1';
  const port = await listenOnReachablePort(server, host);
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `${opts.tls ? 'https' : 'http'}://${shownHost}:${port}`,
    port,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export function reply(
  res: http.ServerResponse,
  status: number,
  body = '',
  headers: http.OutgoingHttpHeaders = {},
) {
  res.writeHead(status, { 'content-type': 'text/plain', ...headers });
  res.end(body);
}

/** A port that nothing listens on (bound then released). */
export async function closedPort(): Promise<number> {
  const s = await startServer(() => {});
  await s.close();
  return s.port;
}

/** `serve(...)` starts a server that is closed after the current test (jest's afterEach). */
export function serveForEachTest(): (
  ...args: Parameters<typeof startServer>
) => Promise<TestServer> {
  let servers: TestServer[] = [];
  afterEach(async () => {
    await Promise.all(servers.map((s) => s.close()));
    servers = [];
  });
  return async (...args) => {
    const server = await startServer(...args);
    servers.push(server);
    return server;
  };
}

/** GET a service that is still starting: connection errors are retried for about 5 s. */
export async function getWithRetry(url: string): Promise<Response> {
  for (let i = 0; ; i++) {
    try {
      return await fetch(url);
    } catch (err) {
      if (i >= 50) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
