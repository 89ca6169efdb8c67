import { describeUnhealthy, waitHealthy, type WaitHealthyOptions } from '../../src/health/wait.js';
import type { ProbeAnswer, ProbeRequest } from '../../src/health/probe.js';
import { VirtualClock } from '../../src/virtual-clock.js';
import { displayUrl } from '../../src/health/url-secrets.js';
import { lineLogger } from '../../src/logger.js';

type Scripted = Array<Partial<ProbeAnswer> & { kind: 'answer' | 'error' }>;

/** A probe that answers from a per-URL script (the last entry repeats) and records each call. */
function scriptedProbe(scripts: Record<string, Scripted>) {
  const calls: ProbeRequest[] = [];
  const counts = new Map<string, number>();
  const probe = async (req: ProbeRequest): Promise<ProbeAnswer> => {
    calls.push(req);
    const script = scripts[req.url.href] ?? [];
    const n = counts.get(req.url.href) ?? 0;
    counts.set(req.url.href, n + 1);
    const entry = script[Math.min(n, script.length - 1)];
    return entry?.kind === 'error'
      ? ({ reason: 'connection refused', latencyMs: 1, url: req.url.href, ...entry } as ProbeAnswer)
      : ({
          status: 200,
          body: '',
          latencyMs: 5,
          url: req.url.href,
          ...entry,
          kind: 'answer',
        } as ProbeAnswer);
  };
  return { probe, calls };
}

function options(
  urls: string[],
  probe: WaitHealthyOptions['probe'],
  extra: Partial<WaitHealthyOptions> = {},
): WaitHealthyOptions {
  return {
    urls: urls.map((u) => new URL(u)),
    method: 'GET',
    headers: {},
    requestTimeoutMs: 5000,
    followRedirects: true,
    insecure: false,
    expect: { statuses: [[200, 299]] },
    timeoutMs: 60_000,
    intervalMs: 1000,
    maxIntervalMs: 1000,
    consecutiveSuccesses: 1,
    clock: new VirtualClock(),
    random: () => 0.5,
    probe,
    ...extra,
  };
}

const A = 'http://a.test/health';
const B = 'http://b.test/health';
const refused = { kind: 'error' as const };
const status = (s: number, body = '') => ({ kind: 'answer' as const, status: s, body });

it('is healthy once every URL is, and stops probing a URL once it is healthy', async () => {
  const { probe, calls } = scriptedProbe({
    [A]: [refused, status(503), status(200)],
    [B]: [status(200)],
  });
  const result = await waitHealthy(options([A, B], probe));
  expect(result.healthy).toBe(true);
  expect(result.attempts).toBe(4);
  expect(result.elapsedMs).toBe(2000);
  expect(result.urls.map((u) => [u.url, u.attempts, u.elapsedMs, u.lastStatus])).toEqual([
    [A, 3, 2000, 200],
    [B, 1, 0, 200],
  ]);
  expect(calls.filter((c) => c.url.href === B)).toHaveLength(1);
});

it('needs the given number of healthy answers in a row, restarting the count after a failure', async () => {
  const { probe } = scriptedProbe({
    [A]: [status(200), status(200), status(500), status(200), status(200), status(200)],
  });
  const result = await waitHealthy(options([A], probe, { consecutiveSuccesses: 3 }));
  expect(result.healthy).toBe(true);
  expect(result.urls[0]?.attempts).toBe(6);
});

it('gives up at the deadline with the last reason and a masked body excerpt', async () => {
  const body = `{"error":"db down","token":"Bearer hunter22"} ${'x'.repeat(400)}`;
  const { probe } = scriptedProbe({ [A]: [status(503, body)], [B]: [status(200)] });
  const result = await waitHealthy(
    options([A, B], probe, { timeoutMs: 5000, secrets: ['Bearer hunter22'] }),
  );
  expect(result.healthy).toBe(false);
  const a = result.urls[0]!;
  expect(a.problem).toBe('status 503 (expected 200-299)');
  expect(a.bodyExcerpt).toHaveLength(200);
  expect(a.bodyExcerpt).toContain('"token":"***"');
  expect(a.bodyExcerpt).not.toContain('hunter22');
  expect(a.elapsedMs).toBe(5000);
  const message = describeUnhealthy(result, 5000);
  expect(message.split('\n')).toHaveLength(2); // headline + one line for the one unhealthy URL
  expect(message).toContain(
    `${A}: status 503 (expected 200-299) (6 attempts in 5.0s); last body: {"error"`,
  );
});

it('reports a flapping service that never holds the streak', async () => {
  const flapping = Array.from({ length: 30 }, (_, i) => status(i % 2 === 0 ? 200 : 500));
  const { probe } = scriptedProbe({ [A]: flapping });
  const result = await waitHealthy(
    options([A], probe, { consecutiveSuccesses: 2, timeoutMs: 10_000 }),
  );
  expect(result.healthy).toBe(false);
  // The 11th attempt, at the deadline, was healthy, but one healthy answer is not a streak of two.
  expect(result.urls[0]).toMatchObject({
    attempts: 11,
    problem: 'flapping: fewer than 2 healthy answers in a row',
  });
});

it('backs off while failing when max-interval is larger, and probes at interval otherwise', async () => {
  const { probe, calls } = scriptedProbe({ [A]: [refused] });
  await waitHealthy(
    options([A], probe, {
      timeoutMs: 30_000,
      intervalMs: 1000,
      maxIntervalMs: 8000,
      random: () => 1,
    }),
  );
  // 0, 2, 6, 14, 22, 30 s
  expect(calls).toHaveLength(6);
  const fixed = scriptedProbe({ [A]: [refused] });
  await waitHealthy(options([A], fixed.probe, { timeoutMs: 30_000 }));
  expect(fixed.calls).toHaveLength(31);
});

it('logs one line per change of state, not one per attempt', async () => {
  const lines: string[] = [];
  const { probe } = scriptedProbe({
    [A]: [refused, refused, refused, status(503), status(503), status(200)],
  });
  await waitHealthy(options([A], probe, { logger: lineLogger((l) => lines.push(l)) }));
  expect(lines).toEqual([
    `${A}: connection refused after 1 attempt(s), 0ms`,
    `${A}: status 503 (expected 200-299) after 4 attempt(s), 3.0s`,
    `${A}: healthy after 6 attempt(s), 5.0s`,
  ]);
});

it('never stays silent for more than a minute while waiting', async () => {
  const lines: string[] = [];
  const { probe } = scriptedProbe({ [A]: [status(503)] });
  await waitHealthy(
    options([A], probe, { timeoutMs: 180_000, logger: lineLogger((l) => lines.push(l)) }),
  );
  expect(lines.filter((l) => l.startsWith('still waiting'))).toHaveLength(3);
  expect(lines[1]).toBe(
    `still waiting after 1m00s: ${A} (status 503 (expected 200-299), 61 attempts)`,
  );
});

it('gives the attempt at the deadline the time that is left, not the full request timeout', async () => {
  const { probe, calls } = scriptedProbe({ [A]: [refused] });
  await waitHealthy(options([A], probe, { timeoutMs: 1500, requestTimeoutMs: 5000 }));
  expect(calls.map((c) => c.timeoutMs)).toEqual([1500, 500, 250]);
});

describe('displayUrl', () => {
  it.each([
    ['https://h/x?token=abc&page=2', 'https://h/x?token=***&page=2'],
    [
      'https://h/x?KEY=1&Signature=zz&sig=a&PassWord=p&secret=s',
      'https://h/x?KEY=***&Signature=***&sig=***&PassWord=***&secret=***',
    ],
    [
      'https://b.s3.amazonaws.com/o?X-Amz-Credential=AKIA%2F2024&X-Amz-Signature=abc&X-Amz-Date=20240101',
      'https://b.s3.amazonaws.com/o?X-Amz-Credential=***&X-Amz-Signature=***&X-Amz-Date=20240101',
    ],
    [
      'https://h/x?access_token=t&api-key=k&apiKey=k2&keyboard=q',
      'https://h/x?access_token=***&api-key=***&apiKey=***&keyboard=q',
    ],
    ['https://u:pw@h/x?token=&flag&token', 'https://u:***@h/x?token=&flag&token'],
    ['https://h/x?a=1#token=frag', 'https://h/x?a=1#token=frag'],
  ])('shows %s as %s', (url, shown) => {
    expect(displayUrl(new URL(url))).toBe(shown);
  });
});

it('shows secret query values as *** in what it logs and returns', async () => {
  const url = 'http://a.test/health?token=tok-very-secret&page=2';
  const { probe } = scriptedProbe({ [url]: [status(503), status(200)] });
  const lines: string[] = [];
  const result = await waitHealthy(
    options([url], probe, { logger: lineLogger((l) => lines.push(l)) }),
  );
  expect(result.urls[0]!.url).toBe('http://a.test/health?token=***&page=2');
  expect(lines.join('\n')).toContain('http://a.test/health?token=***&page=2: status 503');
  expect(lines.join('\n')).not.toContain('tok-very-secret');
});
