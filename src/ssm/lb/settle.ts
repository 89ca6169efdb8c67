/**
 * After a cancel or a deadline: put back into their target groups the hosts this run took out
 * that serve, so that no serving host is left deregistered. A host whose deploy never started
 * serves its old version; one with a result serves unless the result says nothing runs; one
 * stopped mid-deploy goes on detached and records its result on the host, so it is asked for that
 * result (a short Run Command that waits for the host's deploy lock, then prints the last result).
 */
import type { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { awsErrorText } from '../../aws.js';
import { formatDuration } from '../../duration.js';
import { silentLogger } from '../../logger.js';
import { instanceOutcome, readCancelledHosts, type InstanceOutcome } from '../deploy.js';
import { quote } from '../quote.js';
import { RESULT_MARKER } from '../result.js';
import { MAX_INSTANCE_IDS } from '../targets.js';
import { runCommand, sendSettingsOf, type SendSettings } from '../run-command.js';
import { servesAfter, type OutOfService } from './rolling.js';
import { moveTargets } from './target-groups.js';

export interface SettleOptions extends SendSettings {
  elb: ElasticLoadBalancingV2Client;
  hosts: OutOfService[];
  image: string;
  containerName: string;
  stateDir: string;
  /** How long hosts still deploying may be waited for. */
  budgetMs: number;
}

export interface SettleResult {
  /** Registered again. */
  putBack: string[];
  /** Still out of their groups, each with why. */
  leftOut: Array<{ instanceId: string; why: string }>;
}

export async function settleOutOfService(opts: SettleOptions): Promise<SettleResult> {
  const logger = opts.logger ?? silentLogger;
  const ids = [...new Set(opts.hosts.map((h) => h.instanceId))].sort();
  const verdicts = new Map<string, { serves: boolean; why: string }>();
  const ask: string[] = [];

  // What each host's own deploy command says.
  const commandIds = new Set(opts.hosts.flatMap((h) => (h.commandId ? [h.commandId] : [])));
  const seen = new Map<string, InstanceOutcome>();
  for (const commandId of commandIds) {
    try {
      for (const o of await readCancelledHosts(opts.ssm, commandId, opts.image))
        seen.set(o.instanceId, o);
    } catch (error) {
      logger.info(`could not read command ${commandId}: ${awsErrorText(error)}`);
    }
  }
  for (const id of ids) {
    const host = opts.hosts.find((h) => h.instanceId === id);
    const o = seen.get(id);
    if (!host?.commandId) verdicts.set(id, { serves: true, why: 'no deploy was sent to it' });
    else if (o === undefined) ask.push(id);
    else if (o.result !== undefined) verdicts.set(id, { serves: servesAfter(o), why: o.result });
    else if (servesAfter(o))
      verdicts.set(id, { serves: true, why: `its deploy never started (${o.statusWords})` });
    else ask.push(id);
  }

  if (ask.length > 0) {
    logger.info(
      `${ask.length} host(s) were mid-deploy: asking them for their result, for up to ${formatDuration(opts.budgetMs)}: ${ask.join(', ')}`,
    );
    for (const [id, verdict] of await askHosts(opts, ask)) verdicts.set(id, verdict);
  }

  const putBack = ids.filter((id) => verdicts.get(id)?.serves === true);
  const groups = new Map<string, OutOfService[]>();
  for (const h of opts.hosts)
    if (putBack.includes(h.instanceId))
      groups.set(h.groupArn, [...(groups.get(h.groupArn) ?? []), h]);
  const failedGroups = new Set<string>();
  for (const [arn, regs] of groups) {
    try {
      await moveTargets(opts.elb, 'register', arn, regs);
      logger.info(
        `registered ${regs.map((r) => r.instanceId).join(', ')} in ${regs[0]?.groupName ?? arn} again`,
      );
    } catch (error) {
      for (const r of regs) failedGroups.add(r.instanceId);
      logger.info(
        `could not register hosts in ${regs[0]?.groupName ?? arn} again: ${awsErrorText(error)}`,
      );
    }
  }
  return {
    putBack: putBack.filter((id) => !failedGroups.has(id)),
    leftOut: ids
      .filter((id) => !putBack.includes(id) || failedGroups.has(id))
      .map((instanceId) => ({
        instanceId,
        why: failedGroups.has(instanceId)
          ? 'RegisterTargets failed'
          : (verdicts.get(instanceId)?.why ?? 'its state is unknown'),
      })),
  };
}

/**
 * The script that reads a host's last result once its deploy lock is free: the deploy holds the
 * lock until it has written its result, so this waits for a deploy that goes on detached.
 */
export function readResultScript(
  stateDir: string,
  containerName: string,
  waitSeconds: number,
): string {
  return [
    `state_dir=${quote(stateDir)}`,
    `result_file="$state_dir/last-result."${quote(containerName)}`,
    `if ! flock -w ${Math.max(1, Math.floor(waitSeconds))} "$state_dir/lock" true; then echo 'the deploy still holds the lock'; exit 3; fi`,
    `if [ ! -s "$result_file" ]; then echo 'no result recorded'; exit 4; fi`,
    // Stored as `<epoch> <json>`; printed as the result line the deploy prints.
    `sed -n 's/^[0-9]* /${RESULT_MARKER}/p' "$result_file" | tail -n 1`,
  ].join('\n');
}

async function askHosts(
  opts: SettleOptions,
  ids: string[],
): Promise<Map<string, { serves: boolean; why: string }>> {
  const verdicts = new Map<string, { serves: boolean; why: string }>();
  const waitSeconds = Math.max(1, Math.floor(opts.budgetMs / 1000) - 10);
  // SendCommand takes 50 instance IDs: one command per 50, all waiting within the same budget.
  const chunks: string[][] = [];
  for (let i = 0; i < ids.length; i += MAX_INSTANCE_IDS)
    chunks.push(ids.slice(i, i + MAX_INSTANCE_IDS));
  await Promise.all(
    chunks.map(async (chunk) => {
      try {
        const run = await runCommand({
          ...sendSettingsOf(opts),
          targets: { kind: 'instances', instanceIds: chunk },
          commands: readResultScript(opts.stateDir, opts.containerName, waitSeconds),
          executionTimeoutSeconds: waitSeconds + 10,
          maxConcurrency: '100%',
          maxErrors: '100%',
          comment: 'shipyard: read the result of an interrupted deploy',
          timeoutMs: opts.budgetMs,
        });
        // The answer is the result line the deploy printed: read it as a deploy's output.
        for (const o of run.invocations.map((inv) => instanceOutcome(inv, opts.image)))
          verdicts.set(
            o.instanceId,
            o.result !== undefined
              ? { serves: servesAfter(o), why: `${o.result} (${o.newImage ?? opts.image})` }
              : { serves: false, why: `no result: ${o.outputTail?.trim() || o.statusWords}` },
          );
      } catch (error) {
        (opts.logger ?? silentLogger).info(
          `could not ask ${chunk.join(', ')} for their result: ${awsErrorText(error)}`,
        );
      }
    }),
  );
  for (const id of ids)
    if (!verdicts.has(id))
      verdicts.set(id, { serves: false, why: 'its result could not be read in time' });
  return verdicts;
}
