/**
 * Post step: the safety net. The main step logs out and deletes its temp dir itself; when it was
 * killed or cancelled before it could, this removes the logins, temporary builders and files left.
 */
import * as core from '@actions/core';
import { existsSync, rmSync } from 'node:fs';
import { processRunner } from '../../src/image/engine.js';
import { describeLeftover, parseLeftovers, removeLeftovers } from '../../src/image/leftovers.js';
import { coreLogger } from '../shared/io.js';
import { STATE } from './state.js';
import { errorMessage } from '../../src/errors.js';

export async function post(): Promise<void> {
  try {
    const leftovers = parseLeftovers(core.getState(STATE.leftovers));
    const workDir = core.getState(STATE.workDir);
    const workDirLeft = workDir !== '' && existsSync(workDir);
    if (leftovers.length === 0 && !workDirLeft) {
      core.info('nothing left to clean up: the build step logged out and removed its files');
      return;
    }
    if (leftovers.length > 0) {
      core.info(`cleaning up after the build step: ${leftovers.map(describeLeftover).join(', ')}`);
      // Before the dir goes: a podman logout needs the auth file that lives in it.
      await removeLeftovers(processRunner(process.env), leftovers, coreLogger);
    }
    if (workDirLeft) {
      rmSync(workDir, { recursive: true, force: true });
      core.info(`removed ${workDir}`);
    }
  } catch (error) {
    // A failed cleanup is worth a warning, not a failed job.
    core.warning(`cleanup failed: ${errorMessage(error)}`);
  }
}
