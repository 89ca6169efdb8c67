import {
  judgeAnswer,
  lookupJsonPath,
  parseStatusRanges,
  statusMatches,
} from '../../src/health/expect.js';

describe('status ranges', () => {
  it('parses codes and ranges', () => {
    expect(parseStatusRanges('200-299, 301,404')).toEqual([
      [200, 299],
      [301, 301],
      [404, 404],
    ]);
  });
  it.each(['abc', '', '200-', '99', '600', '300-200', '200;204'])('rejects %p', (t) =>
    expect(parseStatusRanges(t)).toBeUndefined(),
  );
  it('matches inclusively', () => {
    const r = parseStatusRanges('200-204,301')!;
    expect([199, 200, 204, 205, 301].map((s) => statusMatches(s, r))).toEqual([
      false,
      true,
      true,
      false,
      true,
    ]);
  });
});

describe('lookupJsonPath', () => {
  const doc = { status: 'ok', checks: { db: 'up', list: [{ s: 1 }, { s: false }] }, 'a.b': 1 };
  it.each([
    ['status', 'ok'],
    ['checks.db', 'up'],
    ['checks.list.1.s', false],
    ['checks.list[0].s', 1],
  ])('%s', (path, value) => expect(lookupJsonPath(doc, path)).toEqual({ found: true, value }));
  it.each(['missing', 'status.length', 'checks.list.5', 'constructor', 'checks.db.x'])(
    'does not find %s',
    (path) => expect(lookupJsonPath(doc, path)).toEqual({ found: false }),
  );
});

describe('judgeAnswer', () => {
  const statuses = [[200, 299]] as const;
  it('accepts a matching answer', () => {
    expect(
      judgeAnswer(200, '{"status":"ok"}', { statuses, json: { path: 'status', value: 'ok' } }),
    ).toBeUndefined();
  });
  it('says which part did not match', () => {
    expect(judgeAnswer(503, '', { statuses })).toBe('status 503 (expected 200-299)');
    expect(judgeAnswer(200, 'starting', { statuses, bodyContains: 'ready' })).toBe(
      "body does not contain 'ready'",
    );
    expect(judgeAnswer(200, '<html>', { statuses, json: { path: 'status', value: 'ok' } })).toMatch(
      /not JSON/,
    );
    expect(
      judgeAnswer(200, '{"checks":{"db":"down"}}', {
        statuses,
        json: { path: 'checks.db', value: 'up' },
      }),
    ).toBe("JSON 'checks.db' is 'down', expected 'up'");
    expect(
      judgeAnswer(200, '{"ready":true}', { statuses, json: { path: 'ready', value: 'true' } }),
    ).toBeUndefined();
    expect(judgeAnswer(200, '{}', { statuses, json: { path: 'ready', value: 'true' } })).toBe(
      "JSON has no 'ready'",
    );
  });
});
