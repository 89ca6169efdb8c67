/** The inputs of actions/wait-healthy, parsed and checked before the first request. */
import { InputReader, shown, type InputGetter } from './reader.js';
import { parseStatusRanges, type Expectation } from '../health/expect.js';
import type { WaitHealthyOptions } from '../health/wait.js';
import { urlSecrets } from '../health/url-secrets.js';

export type WaitHealthyInputs = Omit<
  WaitHealthyOptions,
  'log' | 'clock' | 'random' | 'signal' | 'probe'
>;

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'OPTIONS'] as const;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

export function readInputs(get: InputGetter): WaitHealthyInputs {
  const r = new InputReader(get);

  const urls: URL[] = [];
  const urlLines = r.lines('url');
  if (urlLines.length === 0)
    r.problem('url', 'is required: one or more http(s) URLs, one per line');
  for (const line of urlLines) {
    let u: URL | undefined;
    try {
      u = new URL(line);
    } catch {
      u = undefined;
    }
    if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:') || u.hostname === '') {
      r.problem(
        'url',
        `must be http:// or https:// URLs like https://example.com/health, one per line; got ${shown(line)}`,
      );
    } else urls.push(u);
  }

  const statuses = r.parse(
    'expected-status',
    '200-299',
    parseStatusRanges,
    'status codes or ranges like 200, 200-299, 200-299,301',
  ) ?? [[200, 299]];
  const expect: Expectation = { statuses };
  const bodyContains = r.string('body-contains');
  if (bodyContains !== '') expect.bodyContains = bodyContains;
  const jsonPath = r.string('json-path');
  const jsonValue = r.string('json-value');
  if (jsonPath !== '' && jsonValue === '')
    r.problem('json-value', "is required when 'json-path' is set: the expected value, e.g. ok");
  if (jsonPath === '' && jsonValue !== '')
    r.problem(
      'json-path',
      "is required when 'json-value' is set: a dot path such as status or checks.db",
    );
  if (jsonPath !== '' && jsonValue !== '') expect.json = { path: jsonPath, value: jsonValue };

  const timeoutMs = r.duration('timeout', '5m');
  const intervalMs = r.duration('interval', '1s');
  const maxIntervalMs =
    r.string('max-interval') === '' ? intervalMs : r.duration('max-interval', '1s');
  if (maxIntervalMs < intervalMs) {
    r.problem(
      'max-interval',
      `must not be shorter than 'interval' (${r.string('interval', '1s')}); got ${shown(r.string('max-interval'))}`,
    );
  }
  const consecutiveSuccesses = r.integer('consecutive-successes', 1, { min: 1, max: 1000 });
  const requestTimeoutMs = r.duration('request-timeout', '5s');
  const method = r.string('method', 'GET').toUpperCase();
  if (!(METHODS as readonly string[]).includes(method)) {
    r.problem('method', `must be one of ${METHODS.join(', ')}; got ${shown(r.string('method'))}`);
  }
  const headers: Record<string, string> = {};
  for (const [name, value] of r.pairs('headers', ':', HEADER_NAME, "'Name: value' header"))
    headers[name] = value;
  for (const [name, value] of Object.entries(headers)) {
    const bad = nonLatin1(value);
    if (bad) {
      // Checked here: Node's own error ("Invalid character in header content") names no input.
      // The value itself is a secret and is never quoted.
      r.problem(
        'headers',
        `has a character outside Latin-1 in the value of ${shown(name)} (${bad}); ` +
          'HTTP header values must be Latin-1 text without control characters (percent-encode or base64 it)',
      );
    }
  }
  const followRedirects = r.boolean('follow-redirects', true);
  const insecure = r.boolean('insecure', false);

  r.finish();
  return {
    urls,
    method,
    headers,
    requestTimeoutMs,
    followRedirects,
    insecure,
    expect,
    timeoutMs,
    intervalMs,
    maxIntervalMs,
    consecutiveSuccesses,
    secrets: [...new Set([...Object.values(headers), ...urls.flatMap(urlSecrets)])],
  };
}

/**
 * Where a header value leaves what HTTP/1.1 can carry (tab, visible ASCII, 0x80-0xFF: the set
 * Node accepts), as `U+2018 at position 8` (1-based, in characters), or undefined when it does not.
 */
function nonLatin1(value: string): string | undefined {
  let position = 0;
  for (const ch of value) {
    position++;
    const code = ch.codePointAt(0)!;
    if (code === 0x09 || (code >= 0x20 && code <= 0x7e) || (code >= 0x80 && code <= 0xff)) continue;
    return `U+${code.toString(16).toUpperCase().padStart(4, '0')} at position ${position}`;
  }
  return undefined;
}

/** The smallest set of inputs this action accepts (used by the metadata tests). */
export const MINIMAL_INPUTS = { url: 'http://127.0.0.1/health' };
