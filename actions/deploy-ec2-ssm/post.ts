/**
 * The post step: when the main step was killed while following its command (the job was cancelled
 * or timed out), cancel the command so that no instance goes on with a half-done deploy unwatched.
 * It does nothing when the main step finished, whatever the outcome: it cancelled on its own deadline.
 */
import * as core from '@actions/core';
import { SSMClient } from '@aws-sdk/client-ssm';
import { awsClientConfig } from '../../src/aws.js';
import { cancelCommand } from '../../src/ssm/run-command.js';
import { STATE } from './state.js';

async function post(): Promise<void> {
  const commandId = core.getState(STATE.commandId);
  if (commandId === '' || core.getState(STATE.finished) === 'true') return;
  const region = core.getState(STATE.region);
  core.info(`the deploy step stopped while command ${commandId} was running: cancelling it`);
  const ssm = new SSMClient(awsClientConfig(region ? { region } : {}));
  const { error } = await cancelCommand(ssm, commandId);
  if (error) core.warning(`could not cancel command ${commandId}: ${error}`);
  else core.info(`cancelled command ${commandId}`);
}

await post();
