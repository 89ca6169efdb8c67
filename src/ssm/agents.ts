/**
 * Before sending: wait until the SSM agent of every targeted instance is Online, so that a deploy
 * right after an instance boots does not end as Undeliverable. Tag targets are resolved with the
 * same filters SSM uses (keys ANDed, values ORed), over every page.
 */
import { paginateDescribeInstanceInformation, type SSMClient } from '@aws-sdk/client-ssm';
import { awsErrorText, isThrottling } from '../aws.js';
import { formatDuration } from '../duration.js';
import { poll, systemClock, type WaitSettings } from '../poll.js';
import { ssmCadence } from './cadence.js';
import { ProgressLog } from '../progress.js';
import { silentLogger, type Logger } from '../logger.js';
import { describeTargets, type RolloutTargets } from './targets.js';

export interface WaitForAgentsOptions extends WaitSettings {
  ssm: SSMClient;
  targets: RolloutTargets;
  /** For messages: where the instances were looked for. */
  region: string;
  timeoutMs: number;
  logger?: Logger;
}

export type AgentsResult =
  | {
      ready: true;
      /** Online, to deploy to. */
      instanceIds: string[];
      /** Agents silent for longer than OFFLINE_AFTER_MS (a stopped instance): not waited for. */
      offline: NotOnline[];
      elapsedMs: number;
    }
  | { ready: false; reason: string; notOnline: NotOnline[]; elapsedMs: number };

export interface NotOnline {
  instanceId: string;
  /** `ConnectionLost`, `Inactive`, or `not registered` when SSM does not know the instance. */
  pingStatus: string;
  /** When the agent was last heard from. */
  lastPing?: Date;
}

/**
 * An agent that has not pinged for this long is offline (a stopped instance, a dead agent), not
 * registering: waiting for it would only hold the rollout. Agents ping SSM every 5 minutes.
 */
const OFFLINE_AFTER_MS = 15 * 60_000;

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
  const progress = new ProgressLog(opts.logger ?? silentLogger, clock);
  const where = `${describeTargets(opts.targets)} in ${opts.region}`;
  let notOnline: NotOnline[] = [];
  let offline: NotOnline[] = [];
  let matched = 0;

  const result = await poll<string[]>({
    ...ssmCadence(opts),
    timeoutMs: opts.timeoutMs,
    attempt: async () => {
      let pings: Map<string, Ping>;
      try {
        pings = await listPingStatuses(opts.ssm, opts.targets);
      } catch (error) {
        if (isThrottling(error))
          return { kind: 'wait', reason: 'SSM is throttling; backing off', backoff: true };
        return {
          kind: 'fail',
          reason: `could not list SSM agents (ssm:DescribeInstanceInformation): ${awsErrorText(error)}`,
        };
      }
      const expected =
        opts.targets.kind === 'instances' ? opts.targets.instanceIds : [...pings.keys()].sort();
      matched = expected.length;
      const now = clock.now();
      const all = expected
        .filter((id) => pings.get(id)?.status !== 'Online')
        .map((id): NotOnline => {
          const ping = pings.get(id);
          return {
            instanceId: id,
            pingStatus: ping?.status ?? 'not registered',
            ...(ping?.last ? { lastPing: ping.last } : {}),
          };
        });
      offline = all.filter(
        (n) => n.lastPing !== undefined && now - n.lastPing.getTime() > OFFLINE_AFTER_MS,
      );
      notOnline = all.filter((n) => !offline.includes(n));
      if (matched === 0) {
        progress.state(`waiting for an instance registered with SSM to match ${where}`);
        return { kind: 'wait', reason: `no instance registered with SSM matches ${where}` };
      }
      const online = matched - notOnline.length - offline.length;
      progress.state(
        `SSM agents online: ${online}/${matched}` +
          (offline.length
            ? `; offline, not waited for: ${offline.map(describeOffline).join(', ')}`
            : '') +
          (notOnline.length
            ? `; waiting for ${notOnline.map((n) => n.instanceId).join(', ')}`
            : ''),
      );
      if (notOnline.length === 0 && online > 0)
        return {
          kind: 'done',
          value: expected.filter((id) => !offline.some((o) => o.instanceId === id)),
        };
      if (notOnline.length === 0)
        return {
          kind: 'fail',
          reason: `no SSM agent of ${where} is online: ${offline.map(describeOffline).join(', ')}`,
        };
      return {
        kind: 'wait',
        reason: `SSM agents not online: ${notOnline.map(describeNotOnline).join('; ')}`,
        backoff: false,
      };
    },
  });

  if (result.outcome === 'done')
    return { ready: true, instanceIds: result.value, offline, elapsedMs: result.elapsedMs };
  const reason =
    result.outcome === 'deadline'
      ? `${result.reason} after ${formatDuration(result.elapsedMs)} (wait-for-agent)`
      : result.reason;
  return { ready: false, reason, notOnline, elapsedMs: result.elapsedMs };
}

/** `i-0abc (ConnectionLost since 2026-12-01 10:00 UTC)`. */
export function describeOffline(n: NotOnline): string {
  const since = n.lastPing
    ? ` since ${n.lastPing.toISOString().slice(0, 16).replace('T', ' ')} UTC`
    : '';
  return `${n.instanceId} (${n.pingStatus}${since})`;
}

export interface Ping {
  status: string;
  last?: Date;
}

/** Instance ID -> ping for every instance SSM knows among the targets, over every page. */
export async function listPingStatuses(
  ssm: SSMClient,
  targets: RolloutTargets,
): Promise<Map<string, Ping>> {
  const Filters =
    targets.kind === 'instances'
      ? [{ Key: 'InstanceIds', Values: targets.instanceIds }]
      : targets.tags.map((t) => ({ Key: `tag:${t.key}`, Values: t.values }));
  const pings = new Map<string, Ping>();
  const pages = paginateDescribeInstanceInformation({ client: ssm, pageSize: 50 }, { Filters });
  for await (const page of pages)
    for (const info of page.InstanceInformationList ?? [])
      if (info.InstanceId)
        pings.set(info.InstanceId, {
          status: info.PingStatus ?? 'unknown',
          ...(info.LastPingDateTime ? { last: new Date(info.LastPingDateTime) } : {}),
        });
  return pings;
}
