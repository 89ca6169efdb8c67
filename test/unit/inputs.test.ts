import { InputReader } from '../../src/inputs/reader.js';
import { readInputs } from '../../src/inputs/wait-healthy.js';
import { inputProblems } from './input-problems.js';

const getter = (values: Record<string, string>) => (name: string) => values[name] ?? '';

describe('InputReader', () => {
  it('names the input, the accepted forms and the bad value', () => {
    const r = new InputReader(getter({ timeout: 'soon' }));
    r.duration('timeout', '5m');
    expect(inputProblems(() => r.finish())).toEqual([
      "input 'timeout' must be a duration like 90, 90s, 5m or 1h; got 'soon'",
    ]);
  });

  it('calls a negative duration what it is', () => {
    const r = new InputReader(getter({ timeout: '-5s' }));
    r.duration('timeout', '5m');
    expect(inputProblems(() => r.finish())[0]).toMatch(/'timeout' must be a positive duration/);
  });

  it('reports every bad input at once', () => {
    const r = new InputReader(getter({ a: 'x', b: 'maybe', c: '0' }));
    r.duration('a', '1s');
    r.boolean('b', true);
    r.integer('c', 1, { min: 1 });
    const problems = inputProblems(() => r.finish());
    expect(problems).toHaveLength(3);
    expect(problems[1]).toBe("input 'b' must be true or false; got 'maybe'");
    expect(problems[2]).toBe("input 'c' must be a whole number 1 or more; got '0'");
  });

  it('uses defaults for unset inputs and accepts YAML booleans in any case', () => {
    const r = new InputReader(getter({ flag: 'TRUE' }));
    expect(r.duration('t', '90')).toBe(90_000);
    expect(r.boolean('flag', false)).toBe(true);
    expect(r.choice('mode', ['a', 'b'] as const, 'b')).toBe('b');
    r.finish();
  });

  it('parses key/value lines, keeping inner spaces and rejecting repeats', () => {
    const r = new InputReader(getter({ env: 'A=1\n\n B = x y \nA=2\nnot a pair' }));
    expect(r.pairs('env', '=', /^[A-Z_]+$/, 'KEY=value')).toEqual([
      ['A', '1'],
      ['B', 'x y'],
      ['A', '2'],
    ]);
    const problems = inputProblems(() => r.finish());
    expect(problems).toEqual([
      "input 'env' names 'A' twice",
      "input 'env' must have one KEY=value per line; got 'not a pair'",
    ]);
  });
});

describe('readInputs', () => {
  it('applies the documented defaults', () => {
    const inputs = readInputs(getter({ url: 'http://127.0.0.1:8000/health' }));
    expect(inputs).toMatchObject({
      method: 'GET',
      timeoutMs: 300_000,
      intervalMs: 1000,
      maxIntervalMs: 1000,
      consecutiveSuccesses: 1,
      requestTimeoutMs: 5000,
      followRedirects: true,
      insecure: false,
      expect: { statuses: [[200, 299]] },
    });
    expect(inputs.urls.map(String)).toEqual(['http://127.0.0.1:8000/health']);
  });

  it('reads several URLs, headers as secrets and a JSON expectation', () => {
    const inputs = readInputs(
      getter({
        url: 'https://a.example/health\nhttps://b.example/health\n',
        headers: 'Authorization: Bearer s3cret-token\nX-Probe: yes',
        'json-path': 'checks.db',
        'json-value': 'up',
        'expected-status': '200-204, 301',
        'max-interval': '10s',
      }),
    );
    expect(inputs.urls).toHaveLength(2);
    expect(inputs.headers).toEqual({ Authorization: 'Bearer s3cret-token', 'X-Probe': 'yes' });
    expect(inputs.secrets).toContain('Bearer s3cret-token');
    expect(inputs.expect).toEqual({
      statuses: [
        [200, 204],
        [301, 301],
      ],
      json: { path: 'checks.db', value: 'up' },
    });
    expect(inputs.maxIntervalMs).toBe(10_000);
  });

  it.each([
    [{}, "input 'url' is required"],
    [{ url: 'not a url' }, "input 'url' must be http:// or https:// URLs"],
    [{ url: 'ftp://host/file' }, "input 'url' must be http:// or https:// URLs"],
    [
      { url: 'http://h/', 'expected-status': 'abc' },
      "input 'expected-status' must be status codes or ranges like 200, 200-299, 200-299,301; got 'abc'",
    ],
    [{ url: 'http://h/', 'expected-status': '299-200' }, "input 'expected-status'"],
    [{ url: 'http://h/', timeout: '-1m' }, "input 'timeout' must be a positive duration"],
    [
      { url: 'http://h/', interval: '5s', 'max-interval': '1s' },
      "input 'max-interval' must not be shorter than 'interval'",
    ],
    [
      { url: 'http://h/', 'json-path': 'status' },
      "input 'json-value' is required when 'json-path' is set",
    ],
    [
      { url: 'http://h/', method: 'DELETE' },
      "input 'method' must be one of GET, HEAD, POST, PUT, OPTIONS",
    ],
    [
      { url: 'http://h/', headers: 'no colon here' },
      "input 'headers' must have one 'Name: value' header per line",
    ],
    [
      { url: 'http://h/', 'consecutive-successes': '0' },
      "input 'consecutive-successes' must be a whole number between 1 and 1000",
    ],
  ])('rejects %p', (values, message) => {
    expect(
      inputProblems(() => readInputs(getter(values as Record<string, string>))).join('\n'),
    ).toContain(message);
  });
});
