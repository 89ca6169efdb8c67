/**
 * Before sending: wait until the SSM agent of every targeted instance is Online, so that a deploy
 * right after an instance boots does not end as Undeliverable. Tag targets are resolved with the
 * same filters SSM uses (keys ANDed, values ORed), over every page.
 */
import { DescribeInstanceInformationCommand, type SSMClient } from '@aws-sdk/client-ssm';
import { awsErrorName, isThrottling } from '../aws.js';
import { formatDuration } from '../duration.js';
import { poll, systemClock, type Clock } from '../poll.js';
import { progressLog } from './progress.js';
import { describeTargets, type RolloutTargets } from './targets.js';

export interface WaitForAgentsOptions {
  ssm: SSMClient;
  targets: RolloutTargets;
  /** For messages: where the instances were looked for. */
  region: string;
  timeoutMs: number;
  intervalMs?: number;
  maxIntervalMs?: number;
  clock?: Clock;
  random?: () => number;
  signal?: AbortSignal;
  log?: (line: string) => void;
}

export type AgentsResult =
  | { ready: true; instanceIds: string[]; elapsedMs: number }
  | { ready: false; reason: string; notOnline: NotOnline[]; elapsedMs: number };

export interface NotOnline {
  instanceId: string;
  /** `ConnectionLost`, `Inactive`, or `not registered` when SSM does not know the instance. */
  pingStatus: string;
}

const PING_WORDS: Record<string, string> = {
  ConnectionLost: 'agent not reporting (instance stopped, agent down, or no route to SSM)',
  Inactive: 'agent inactive',
  'not registered':
    'not registered with SSM (no agent, no instance profile with AmazonSSMManagedInstanceCore, or another region)',
};

export function describeNotOnline(n: NotOnline): string {
  return `${n.instanceId} (${n.pingStatus}: ${PING_WORDS[n.pingStatus] ?? 'not online'})`;
}

export async function waitForAgents(opts: WaitForAgentsOptions): Promise<AgentsResult> {
  const clock = opts.clock ?? systemClock;
  const progress = progressLog(opts.log ?? (() => {}), clock);
  const where = `${describeTargets(opts.targets)} in ${opts.region}`;
  let notOnline: NotOnline[] = [];
  let matched = 0;

  const result = await poll<string[]>({
    timeoutMs: opts.timeoutMs,
    intervalMs: opts.intervalMs ?? 3000,
    maxIntervalMs: opts.maxIntervalMs ?? 15_000,
    clock,
    random: opts.random,
    signal: opts.signal,
    attempt: async () => {
      let pings: Map<string, string>;
      try {
        pings = await listPingStatuses(opts.ssm, opts.targets);
      } catch (error) {
        if (isThrottling(error))
          return { kind: 'wait', reason: 'SSM is throttling; backing off', backoff: true };
        return {
          kind: 'fail',
          reason: `could not list SSM agents (ssm:DescribeInstanceInformation): ${awsErrorName(error)}: ${(error as Error).message}`,
        };
      }
      const expected =
        opts.targets.kind === 'instances' ? opts.targets.instanceIds : [...pings.keys()].sort();
      matched = expected.length;
      notOnline = expected
        .filter((id) => pings.get(id) !== 'Online')
        .map((id) => ({ instanceId: id, pingStatus: pings.get(id) ?? 'not registered' }));
      if (matched === 0) {
        progress.state(`waiting for an instance registered with SSM to match ${where}`);
        return { kind: 'wait', reason: `no instance registered with SSM matches ${where}` };
      }
      const online = matched - notOnline.length;
      progress.state(
        `SSM agents online: ${online}/${matched}` +
          (notOnline.length
            ? `; waiting for ${notOnline.map((n) => n.instanceId).join(', ')}`
            : ''),
      );
      if (notOnline.length === 0) return { kind: 'done', value: expected };
      return {
        kind: 'wait',
        reason: `SSM agents not online: ${notOnline.map(describeNotOnline).join('; ')}`,
        backoff: false,
      };
    },
  });

  if (result.outcome === 'done')
    return { ready: true, instanceIds: result.value, elapsedMs: result.elapsedMs };
  const reason =
    result.outcome === 'deadline'
      ? `${result.reason} after ${formatDuration(result.elapsedMs)} (wait-for-agent)`
      : result.reason;
  return { ready: false, reason, notOnline, elapsedMs: result.elapsedMs };
}

/** Instance ID -> PingStatus for every instance SSM knows among the targets, over every page. */
async function listPingStatuses(
  ssm: SSMClient,
  targets: RolloutTargets,
): Promise<Map<string, string>> {
  const Filters =
    targets.kind === 'instances'
      ? [{ Key: 'InstanceIds', Values: targets.instanceIds }]
      : targets.tags.map((t) => ({ Key: `tag:${t.key}`, Values: t.values }));
  const pings = new Map<string, string>();
  let NextToken: string | undefined;
  do {
    const page = await ssm.send(
      new DescribeInstanceInformationCommand({ Filters, MaxResults: 50, NextToken }),
    );
    for (const info of page.InstanceInformationList ?? [])
      if (info.InstanceId) pings.set(info.InstanceId, info.PingStatus ?? 'unknown');
    NextToken = page.NextToken;
  } while (NextToken);
  return pings;
}
