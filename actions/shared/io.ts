/** Adapter helpers shared by every action's main.ts (the only layer that talks to @actions/core). */
import { randomBytes } from 'node:crypto';
import * as core from '@actions/core';
import { errorMessage } from '../../src/errors.js';
import type { Logger } from '../../src/logger.js';

/** The library's Logger, as the runner shows it. */
export const coreLogger: Logger = {
  info: (line) => core.info(line),
  warning: (line) => core.warning(line),
  mask: (secret) => core.setSecret(secret),
  group: (title, work) => core.group(title, work),
};

/**
 * For lines that may quote hosts or containers (their output, a health command's answer): each
 * info line is logged with `logUntrusted`, so no workflow command in it can run.
 */
export const untrustedLogger: Logger = { ...coreLogger, info: (line) => logUntrusted(line) };

/** The job summary is a report, not the job: failing to write it warns instead of failing the step. */
export async function writeSummary(markdown: string): Promise<void> {
  try {
    await core.summary.addRaw(markdown).write();
  } catch (error) {
    core.warning(`could not write the job summary: ${errorMessage(error)}`);
  }
}

/** Every action ends through here: the message of whatever went wrong becomes the step's failure. */
export function failWith(error: unknown): void {
  core.setFailed(errorMessage(error));
}

/**
 * Log text that comes from outside (a host's output, a container's log): between
 * `::stop-commands::<token>` and `::<token>::`, the runner runs no workflow command in it, whatever
 * it holds (`::warning`, `##[`, leading spaces). The token is random, so the text cannot end it.
 */
export function logUntrusted(text: string): void {
  const token = randomBytes(16).toString('hex');
  core.info(`::stop-commands::${token}`);
  core.info(text);
  core.info(`::${token}::`);
}
