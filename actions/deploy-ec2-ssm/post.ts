/**
 * The post step: when the main step was stopped while following its command (the job was
 * cancelled or timed out; the runner gives main about 7.5 s after SIGINT), cancel the command so
 * that no host starts a deploy unwatched, and report where each host was. Hosts that had started
 * are not stopped by the cancel: their deploy runs detached and ends on the new or the previous
 * version within execution-timeout. It does nothing when the main step finished, whatever the
 * outcome: main cancelled on its own deadline and reported.
 */
import * as core from '@actions/core';
import { SSMClient } from '@aws-sdk/client-ssm';
import { awsClientConfig } from '../../src/aws.js';
import { errorMessage } from '../../src/errors.js';
import { describeInstanceFailure, readCancelledHosts } from '../../src/ssm/deploy.js';
import { cancelCommand } from '../../src/ssm/run-command.js';
import { logUntrusted } from '../shared/io.js';
import { STATE } from './state.js';

export async function post(): Promise<void> {
  const commandId = core.getState(STATE.commandId);
  if (commandId === '' || core.getState(STATE.finished) === 'true') return;
  const region = core.getState(STATE.region);
  const ssm = new SSMClient(awsClientConfig(region ? { region } : {}));
  for (const id of commandIdsOf(commandId, core.getState(STATE.commandIds)))
    await cancelAndReport(ssm, id, core.getState(STATE.image));
}

function commandIdsOf(first: string, list: string): string[] {
  try {
    const ids = JSON.parse(list) as unknown;
    if (Array.isArray(ids) && ids.every((id) => typeof id === 'string') && ids.length > 0)
      return ids as string[];
  } catch {
    /* an older state: the first command only */
  }
  return [first];
}

async function cancelAndReport(ssm: SSMClient, commandId: string, image: string): Promise<void> {
  core.info(`the deploy step stopped while command ${commandId} was running: cancelling it`);
  const { error } = await cancelCommand(ssm, commandId);
  if (error) core.warning(`could not cancel command ${commandId}: ${error}`);
  else core.info(`cancelled command ${commandId}: hosts that had not started will not`);
  try {
    const hosts = await readCancelledHosts(ssm, commandId, image);
    for (const h of hosts)
      logUntrusted(
        `${h.instanceId}: ${h.succeeded ? `deployed ${h.newImage ?? ''}` : describeInstanceFailure(h)}`,
      );
  } catch (e) {
    core.warning(`could not read where each host was: ${errorMessage(e)}`);
  }
}
