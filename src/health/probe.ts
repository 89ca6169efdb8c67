/**
 * One HTTP request to a health endpoint, with every way it can go wrong named in plain words.
 * Built on node:http/https rather than fetch: we need per-request TLS verification control,
 * manual redirects and the raw socket error codes, none of which Node 20's fetch exposes.
 */
import http from 'node:http';
import https from 'node:https';
import { displayUrl, maskQueryText } from './url-secrets.js';

export interface ProbeRequest {
  url: URL;
  method: string;
  headers: Record<string, string>;
  timeoutMs: number;
  followRedirects: boolean;
  /** Accept any TLS certificate. */
  insecure: boolean;
}

export type ProbeAnswer =
  | { kind: 'answer'; status: number; body: string; latencyMs: number; url: string }
  | { kind: 'error'; reason: string; latencyMs: number; url: string };

const MAX_REDIRECTS = 10;
/** Enough for any health document; the rest is drained, not kept. */
const MAX_BODY_BYTES = 1 << 20;

export async function probe(req: ProbeRequest, now: () => number = Date.now): Promise<ProbeAnswer> {
  const started = now();
  const deadline = started + req.timeoutMs;
  let url = req.url;
  let method = req.method;
  // Custom headers (credentials, API keys) go to the origin they were written for, never elsewhere.
  let headers = req.headers;
  for (let hop = 0; ; hop++) {
    const result = await requestOnce(url, method, headers, req, Math.max(1, deadline - now()));
    const latencyMs = now() - started;
    if ('error' in result) return { kind: 'error', reason: result.error, latencyMs, url: url.href };
    const location = result.location;
    if (
      req.followRedirects &&
      location &&
      result.status >= 300 &&
      result.status < 400 &&
      result.status !== 304
    ) {
      if (hop >= MAX_REDIRECTS) {
        return {
          kind: 'error',
          reason: `more than ${MAX_REDIRECTS} redirects`,
          latencyMs,
          url: url.href,
        };
      }
      let next: URL;
      try {
        next = new URL(location, url);
      } catch {
        return {
          kind: 'error',
          reason: `redirect to an invalid location '${maskQueryText(location)}'`,
          latencyMs,
          url: url.href,
        };
      }
      if (next.protocol !== 'http:' && next.protocol !== 'https:') {
        return {
          kind: 'error',
          reason: `redirect to unsupported scheme ${next.protocol}`,
          latencyMs,
          url: url.href,
        };
      }
      if (url.protocol === 'https:' && next.protocol === 'http:') {
        return {
          kind: 'error',
          reason: `redirect from https to http refused (${displayUrl(next)}): it would send the request unencrypted`,
          latencyMs,
          url: url.href,
        };
      }
      // Once a redirect leaves the origin, the rest of the chain goes without them, even back
      // to the first origin: the hop that sent us there was not written by its owner.
      if (next.origin !== url.origin) headers = {};
      // As browsers and curl do: 303 always, and 301/302 after POST, become GET.
      if (
        result.status === 303 ||
        ((result.status === 301 || result.status === 302) && method === 'POST')
      ) {
        method = 'GET';
      }
      url = next;
      continue;
    }
    return { kind: 'answer', status: result.status, body: result.body, latencyMs, url: url.href };
  }
}

type Raw = { status: number; body: string; location?: string } | { error: string };

function requestOnce(
  url: URL,
  method: string,
  headers: Record<string, string>,
  req: ProbeRequest,
  timeoutMs: number,
): Promise<Raw> {
  return new Promise((resolve) => {
    const isHttps = url.protocol === 'https:';
    const options: https.RequestOptions = {
      method,
      headers: { 'user-agent': 'shipyard-wait-healthy', ...headers },
      agent: false,
      // Try every address a name resolves to, so a server listening on only ::1 or only
      // 127.0.0.1 is found (Node 17+ no longer prefers IPv4)...
      autoSelectFamily: true,
      // ...and `localhost` means both loopbacks even where /etc/hosts lists only one (RFC 6761; curl does the same).
      ...(url.hostname === 'localhost' ? { lookup: lookupLocalhost } : {}),
      ...(isHttps ? { rejectUnauthorized: !req.insecure } : {}),
    } as https.RequestOptions;
    let settled = false;
    const finish = (raw: Raw) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(raw);
    };
    const client = (isHttps ? https : http).request(url, options, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        if (size < MAX_BODY_BYTES) chunks.push(chunk);
        size += chunk.length;
      });
      res.on('end', () =>
        finish({
          status: res.statusCode ?? 0,
          body: Buffer.concat(chunks).subarray(0, MAX_BODY_BYTES).toString('utf8'),
          location: res.headers.location,
        }),
      );
      res.on('error', (err) => finish({ error: describeNetworkError(err) }));
    });
    const timer = setTimeout(() => {
      finish({ error: `no answer within ${formatMs(timeoutMs)} (request-timeout)` });
      client.destroy();
    }, timeoutMs);
    client.on('error', (err) => finish({ error: describeNetworkError(err) }));
    client.end();
  });
}

const LOOPBACKS = [
  { address: '::1', family: 6 },
  { address: '127.0.0.1', family: 4 },
];

function lookupLocalhost(
  _host: string,
  opts: { all?: boolean; family?: number },
  callback: (err: null, address: string | typeof LOOPBACKS, family?: number) => void,
): void {
  const family = opts.family === 4 || opts.family === 6 ? opts.family : 0;
  const candidates = family === 0 ? LOOPBACKS : LOOPBACKS.filter((a) => a.family === family);
  if (opts.all) callback(null, candidates);
  else callback(null, candidates[0]!.address, candidates[0]!.family);
}

function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

const TLS_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_NOT_YET_VALID',
]);

/** Turn a socket or TLS error into the words a person would use. */
function describeNetworkError(err: unknown): string {
  const e = err as NodeJS.ErrnoException & { errors?: unknown[] };
  // With autoSelectFamily, failures of every address come back as one AggregateError.
  if (e?.name === 'AggregateError' && Array.isArray(e.errors) && e.errors.length > 0) {
    return describeNetworkError(e.errors[e.errors.length - 1]);
  }
  const code = e?.code ?? '';
  const detail = e?.message ?? String(err);
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ENOTFOUND':
      return 'DNS lookup failed (no such host)';
    case 'EAI_AGAIN':
      return 'DNS lookup failed (temporary failure)';
    case 'ECONNRESET':
    case 'EPIPE':
      return 'connection reset by the server';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'host unreachable';
    case 'ETIMEDOUT':
      return 'connection timed out';
    case 'HPE_INVALID_CONSTANT':
    case 'HPE_INVALID_VERSION':
      return 'the server did not answer HTTP';
  }
  if (
    TLS_CODES.has(code) ||
    code.startsWith('CERT_') ||
    code.startsWith('ERR_TLS') ||
    code.startsWith('ERR_SSL')
  ) {
    return `TLS error: ${detail} (set insecure: true to accept it)`;
  }
  if (/wrong version number|ssl|tls/i.test(detail)) return `TLS error: ${detail}`;
  return code ? `${detail} (${code})` : detail;
}
