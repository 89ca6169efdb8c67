/** The build-push adapter: read inputs, build and push, write outputs and the job summary. */
import * as core from '@actions/core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ECRClient } from '@aws-sdk/client-ecr';
import { readInputs } from '../../src/inputs/build-push.js';
import { buildPush } from '../../src/image/build-push.js';
import { BuildError } from '../../src/image/build.js';
import { processRunner } from '../../src/image/engine.js';
import { failureMarkdown, summaryMarkdown } from '../../src/image/report.js';
import { awsClientConfig } from '../../src/aws.js';
import { errorMessage } from '../../src/errors.js';
import { cancelOnSignals } from '../../src/signals.js';
import { coreLogger, failWith, writeSummary } from '../shared/io.js';
import { STATE } from './state.js';

export async function run(): Promise<void> {
  let workDir: string | undefined;
  try {
    // The commit comes from the runner's variables (GITHUB_SHA, GITHUB_SERVER_URL, ...).
    const inputs = readInputs((name) => core.getInput(name), {
      sha: process.env.GITHUB_SHA,
      serverUrl: process.env.GITHUB_SERVER_URL,
      repository: process.env.GITHUB_REPOSITORY,
    });
    for (const secret of inputs.secrets) core.setSecret(secret);

    // Private (0700) dir for this run; the post step removes it if this process cannot.
    workDir = mkdtempSync(join(process.env.RUNNER_TEMP || tmpdir(), 'shipyard-build-push-'));
    core.saveState(STATE.workDir, workDir);
    const ecr =
      inputs.registry.kind === 'ecr'
        ? new ECRClient(awsClientConfig(inputs.region ? { region: inputs.region } : {}))
        : undefined;

    const stopOnSignal = cancelOnSignals();
    const result = await buildPush(
      { ...inputs, workDir },
      {
        run: processRunner(process.env),
        ...(ecr ? { ecr } : {}),
        logger: coreLogger,
        onLeftovers: (leftovers) => core.saveState(STATE.leftovers, JSON.stringify(leftovers)),
        signal: stopOnSignal.signal,
      },
    ).finally(() => stopOnSignal.dispose());

    core.setOutput('image', result.image);
    core.setOutput('image-uri-latest', result.imageLatest ?? '');
    core.setOutput('tags', JSON.stringify(result.tags));
    core.setOutput('digest', result.digest);
    core.setOutput('registry', result.registry);
    await writeSummary(summaryMarkdown(result));
    core.info(`pushed ${result.image} (${result.digest})`);
  } catch (error) {
    if (error instanceof BuildError) {
      // The annotation a reader sees first: the step that broke, and what the engine printed last.
      core.error(error.lastLines.join('\n'), {
        title: `build failed${error.step ? ` at ${error.step}` : ''}`.slice(0, 200),
      });
    }
    await writeSummary(failureMarkdown(errorMessage(error)));
    failWith(error);
  } finally {
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  }
}
