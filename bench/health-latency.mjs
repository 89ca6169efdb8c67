// bench/health-latency: how soon after a service turns healthy does wait-healthy report it, and at
// what cost in requests, against fixed-delay pollers (3 s: the default of the most used health-check
// action; 1 s; 250 ms: the default of the wait-on package). Each trial runs all four against one
// server that refuses connections, then answers 503, then turns healthy at a random moment.
// Also: the bundle's cold start (node start to first request on the wire) against a bare `node -e 0`.
// Trials run in concurrent batches (each on its own port): a periodic poller's latency is uniform over
// its period, so the median needs many trials to settle (20 trials leave about +/-110 ms of noise, 100 about +/-50 ms).
// Usage: node bench/health-latency.mjs [--trials 100] [--concurrency 10]
import http from 'node:http';
import {
  launchAction,
  bundleSizeRows,
  measureStartup,
  median,
  quantile,
  printTable,
  ms,
  sleep,
  mean,
  startupRows,
} from './lib.mjs';

const BUNDLE = 'actions/wait-healthy/dist/index.js';
const arg = (name, fallback) => Number(process.argv[process.argv.indexOf(name) + 1]) || fallback;
const trials = arg('--trials', 100);
const concurrency = arg('--concurrency', 10);

/** A server on a fixed port that is closed, then 503, then healthy, counting requests per poller. */
async function timelineServer(port, refuseMs, unhealthyMs) {
  const counts = {};
  let healthyAt = Infinity;
  const server = http.createServer((req, res) => {
    const who = req.headers['x-poller'] ?? 'unknown';
    counts[who] = (counts[who] ?? 0) + 1;
    const healthy = performance.now() >= healthyAt;
    res.writeHead(healthy ? 200 : 503, { 'content-type': 'application/json' });
    res.end(healthy ? '{"status":"ok"}' : '{"status":"starting"}');
  });
  const t0 = performance.now();
  const opened = sleep(refuseMs).then(
    () => new Promise((resolve) => server.listen(port, '127.0.0.1', resolve)),
  );
  healthyAt = t0 + refuseMs + unhealthyMs;
  return {
    counts,
    healthyAt,
    opened,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(r);
      }),
  };
}

/** The usual shell loop: request, and if not healthy sleep a fixed delay (end-to-start). */
async function fixedPoller(url, delayMs, name, deadline) {
  for (;;) {
    const ok = await new Promise((resolve) => {
      const req = http.get(url, { headers: { 'x-poller': name }, agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode === 200));
      });
      req.on('error', () => resolve(false));
      req.setTimeout(5000, () => req.destroy());
    });
    if (ok) return performance.now();
    if (performance.now() > deadline) return NaN;
    await sleep(delayMs);
  }
}

async function freePort() {
  const s = http.createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

const pollers = [
  { name: 'wait-healthy (defaults)', delay: null },
  { name: 'fixed 3 s', delay: 3000 },
  { name: 'fixed 1 s', delay: 1000 },
  { name: 'fixed 250 ms', delay: 250 },
];
const latency = Object.fromEntries(pollers.map((p) => [p.name, []]));
const requests = Object.fromEntries(pollers.map((p) => [p.name, []]));

console.log(
  `health-latency: ${trials} trials, ${concurrency} at a time (refused 1-2 s, then 503 for 0.5-3 s, then healthy)\n`,
);
async function trial() {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/health`;
  const server = await timelineServer(
    port,
    1000 + Math.random() * 1000,
    500 + Math.random() * 2500,
  );
  const deadline = server.healthyAt + 15_000;
  const action = launchAction(BUNDLE, {
    url,
    headers: 'X-Poller: wait-healthy (defaults)',
    timeout: '60s',
  });
  const reported = await Promise.all([
    action.done.then((r) => (r.code === 0 ? r.endedAt : NaN)),
    ...pollers.slice(1).map((p) => fixedPoller(url, p.delay, p.name, deadline)),
  ]);
  for (const [i, p] of pollers.entries()) {
    latency[p.name].push(reported[i] - server.healthyAt);
    requests[p.name].push(server.counts[p.name] ?? 0);
  }
  await server.close();
  process.stdout.write('.');
}
for (let done = 0; done < trials; done += concurrency) {
  await Promise.all(Array.from({ length: Math.min(concurrency, trials - done) }, trial));
}
console.log('\n');
printTable(
  ['poller', 'median latency', 'p95 latency', 'mean requests'],
  pollers.map((p) => [
    p.name,
    ms(median(latency[p.name])),
    ms(quantile(latency[p.name], 0.95)),
    mean(requests[p.name]).toFixed(1),
  ]),
);

// Cold start: node start to the first request arriving, against a bare `node -e 0`.
const startup = await measureStartup({
  bundle: BUNDLE,
  inputs: (url) => ({ url: `${url}/health` }),
});
console.log('');
printTable(
  ['start-up and size', 'median', 'target'],
  [...startupRows('wait-healthy', startup, 100), ...bundleSizeRows('wait-healthy')],
);
const ours = latency[pollers[0].name];
const oneSecond = requests['fixed 1 s'];
console.log(
  `\ntargets: median latency ${ms(median(ours))} (<= 600 ms and <= a third of the 3 s poller's ${ms(median(latency['fixed 3 s']) / 3)}); ` +
    `requests ${mean(requests[pollers[0].name]).toFixed(1)} vs the 1 s poller's ${mean(oneSecond).toFixed(1)}`,
);
