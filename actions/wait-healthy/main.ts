/** The wait-healthy adapter: read inputs, wait, write outputs and the job summary. */
import * as core from '@actions/core';
import { readInputs } from '../../src/inputs/wait-healthy.js';
import { describeUnhealthy, waitHealthy, type WaitHealthyResult } from '../../src/health/wait.js';
import { formatDuration } from '../../src/duration.js';
import { heading, table } from '../../src/summary/markdown.js';
import { cancelOnSignals } from '../../src/signals.js';
import { coreLogger, failWith, writeSummary } from '../shared/io.js';

export async function run(): Promise<void> {
  try {
    const inputs = readInputs((name) => core.getInput(name));
    for (const secret of inputs.secrets ?? []) core.setSecret(secret);

    const stopOnSignal = cancelOnSignals();
    const result = await waitHealthy({
      ...inputs,
      logger: coreLogger,
      signal: stopOnSignal.signal,
    });
    stopOnSignal.dispose();

    core.setOutput('healthy', String(result.healthy));
    core.setOutput('attempts', String(result.attempts));
    core.setOutput('elapsed-ms', String(result.elapsedMs));
    core.setOutput(
      'status',
      JSON.stringify(Object.fromEntries(result.urls.map((u) => [u.url, u.lastStatus ?? null]))),
    );
    await writeSummary(summaryMarkdown(result));

    if (result.healthy)
      core.info(`healthy after ${formatDuration(result.elapsedMs)} (${result.attempts} requests)`);
    else core.setFailed(describeUnhealthy(result, inputs.timeoutMs));
  } catch (error) {
    failWith(error);
  }
}

function summaryMarkdown(result: WaitHealthyResult): string {
  const rows = result.urls.map((u) => [
    u.url,
    u.healthy ? 'healthy' : `unhealthy: ${u.problem ?? ''}`,
    String(u.attempts),
    u.healthy ? formatDuration(u.elapsedMs) : `gave up after ${formatDuration(u.elapsedMs)}`,
    u.lastStatus === undefined ? 'no answer' : String(u.lastStatus),
    u.lastLatencyMs === undefined
      ? ''
      : `${Math.round(u.lastLatencyMs)} ms (max ${Math.round(u.maxLatencyMs ?? 0)} ms)`,
  ]);
  return (
    heading(`wait-healthy: ${result.healthy ? 'healthy' : 'not healthy'}`) +
    table(['URL', 'result', 'attempts', 'time to healthy', 'last status', 'latency'], rows)
  );
}
