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
import { logUntrusted, untrustedLogger } from '../shared/io.js';
import { STATE } from './state.js';
import type { OutOfService } from '../../src/ssm/lb/rolling.js';
import { DEFAULT_STATE_DIR } from '../../src/ssm/spec.js';

export async function post(): Promise<void> {
  const commandId = core.getState(STATE.commandId);
  const outOfService = outOfServiceOf(core.getState(STATE.outOfService));
  const cancel = commandId !== '' && core.getState(STATE.finished) !== 'true';
  // Nothing recorded, nothing to do: not even a client (its construction is not free).
  if (!cancel && outOfService.length === 0) return;
  const region = core.getState(STATE.region);
  const ssm = new SSMClient(awsClientConfig(region ? { region } : {}));
  if (cancel)
    for (const id of commandIdsOf(commandId, core.getState(STATE.commandIds)))
      await cancelAndReport(ssm, id, core.getState(STATE.image));
  // Whatever stopped the main step, no host that serves stays out of its target groups.
  if (outOfService.length > 0) await putBack(ssm, region, outOfService);
}

/** The longest the post step waits for hosts still deploying detached. */
const PUT_BACK_BUDGET_MS = 15 * 60_000;

async function putBack(ssm: SSMClient, region: string, hosts: OutOfService[]): Promise<void> {
  core.info(
    `${new Set(hosts.map((h) => h.instanceId)).size} host(s) are out of their target groups: putting back those that serve`,
  );
  const settings = JSON.parse(core.getState(STATE.hostSettings) || '{}') as Partial<{
    containerName: string;
    stateDir: string;
    documentName: string;
    executionTimeoutMs: number;
  }>;
  try {
    const { putBackServingHosts } = await import('./load-balanced.js');
    const settled = await putBackServingHosts({
      ssm,
      region,
      hosts,
      image: core.getState(STATE.image),
      containerName: settings.containerName ?? '',
      stateDir: settings.stateDir ?? DEFAULT_STATE_DIR,
      documentName: settings.documentName ?? 'AWS-RunShellScript',
      budgetMs: Math.min(PUT_BACK_BUDGET_MS, settings.executionTimeoutMs ?? PUT_BACK_BUDGET_MS),
      logger: untrustedLogger,
    });
    if (settled.putBack.length > 0)
      core.info(`put back into their target groups: ${settled.putBack.join(', ')}`);
    for (const h of settled.leftOut)
      core.warning(`${h.instanceId} stays out of its target groups: ${h.why}`);
  } catch (e) {
    core.warning(
      `could not put the hosts back into their target groups (${errorMessage(e)}): register them by hand: ${hosts.map((h) => `${h.instanceId}:${h.port} in ${h.groupName}`).join(', ')}`,
    );
  }
}

function outOfServiceOf(text: string): OutOfService[] {
  try {
    const hosts = JSON.parse(text || '[]') as unknown;
    return Array.isArray(hosts) ? (hosts as OutOfService[]) : [];
  } catch {
    return [];
  }
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
