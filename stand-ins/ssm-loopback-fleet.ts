/**
 * SSM Run Command on loopback, in real time, over the hosts of hosts.ts: each SendCommand starts
 * the deploy on its instances (Pending → InProgress → Success/Failed, at most MaxConcurrency at a
 * time), and while a host is InProgress the host model says it does not serve, so the ELBv2
 * stand-in sees exactly when a host is mid-deploy. A separate process (the committed
 * deploy-ec2-ssm bundle, through runner.ts) drives it with AWS_ENDPOINT_URL_SSM. Unlike
 * ssm-fleet.ts (scripted timelines on a virtual clock, in process), nothing here is scripted per
 * call: the answers follow from the commands sent and the time passed.
 *
 *   const hosts = SimulatedHosts.numbered(2);
 *   const fleet = await startLoopbackSsmFleet({ hosts, deployMs: 300, outcomes: { [id]: 'rolled-back' } });
 *   await runAction(MAIN, inputs, { env: { ...fleet.actionEnv(), GITHUB_REPOSITORY: 'org/api' } });
 */
import { randomUUID } from 'node:crypto';
import { startAwsStub, type AwsCall, type AwsReply, type AwsStub } from './aws-json.js';
import type { SimulatedHosts } from './hosts.js';
import { RESULT_MARKER, parseDeployResult, type DeployResult } from '../src/ssm/result.js';
import { batchSizeOf } from '../src/ssm/lb/plan.js';
import { splitCommandWords } from '../src/inputs/command-words.js';

/** What the host script ends with on a host; `rejected` never stops the old container. */
export type HostDeployOutcome = 'deployed' | 'rolled-back' | 'failed-no-previous' | 'rejected';

export type InvocationStatus = 'Pending' | 'InProgress' | 'Success' | 'Failed' | 'Cancelled';

export interface LoopbackSsmFleetOptions {
  hosts: SimulatedHosts;
  /** ms from InProgress to the result, for every host without its own. 200 unless given. */
  deployMs?: number;
  deployMsByHost?: Record<string, number>;
  /** ms an invocation stays Pending once its turn comes (delivery to the agent). 20 unless given. */
  deliveryMs?: number;
  /** `deployed` for every host not named. */
  outcomes?: Record<string, HostDeployOutcome>;
  /** The image each host ran before; `failed-no-previous` hosts had none. */
  previousImage?: string;
  /** Agent ping status by host; `Online` for running hosts, `ConnectionLost` for stopped ones. */
  pingStatus?: Record<string, string>;
  region?: string;
}

export interface LoopbackInvocation {
  instanceId: string;
  status: InvocationStatus;
  /** ms since the fleet started. */
  startedAt?: number;
  endedAt?: number;
  stdout: string;
  stderr: string;
}

/** A command as sent. MaxConcurrency paces it; MaxErrors is recorded, not enforced. */
export interface LoopbackCommand {
  commandId: string;
  instanceIds: string[];
  /** The raw input, as the SDK sent it. */
  input: Record<string, unknown>;
  /** ms since the fleet started. */
  sentAt: number;
  cancelledAt?: number;
  maxConcurrency: number;
  invocations: Map<string, LoopbackInvocation>;
}

/** One host deploy, whether or not SSM still tracks it: it goes on after a cancel, as the host script does. */
export interface HostDeploy {
  commandId: string;
  instanceId: string;
  startedAt: number;
  /** Set when the deploy has finished on the host. */
  result?: DeployResult;
}

export interface LoopbackSsmFleet {
  endpoint: string;
  stub: AwsStub;
  calls: AwsCall[];
  callsOf(operation: string): AwsCall[];
  /** Every command sent, in order. */
  commands: LoopbackCommand[];
  /** Every deploy started on a host, in order, with its result once finished. */
  hostDeploys: HostDeploy[];
  /** Answer the next `count` calls of `operation` with ThrottlingException. */
  throttleNext(operation: string, count: number): void;
  /** Environment for a bundle run: the SSM endpoint, region, throw-away credentials. */
  actionEnv(): Record<string, string>;
  clientConfig(): {
    endpoint: string;
    region: string;
    credentials: { accessKeyId: string; secretAccessKey: string };
  };
  close(): Promise<void>;
}

const FINAL = new Set<InvocationStatus>(['Success', 'Failed', 'Cancelled']);

export async function startLoopbackSsmFleet(
  options: LoopbackSsmFleetOptions,
): Promise<LoopbackSsmFleet> {
  const started = Date.now();
  const region = options.region ?? 'eu-west-1';
  const hosts = options.hosts;
  const commands: LoopbackCommand[] = [];
  const hostDeploys: HostDeploy[] = [];
  const throttled = new Map<string, number>();
  const timers = new Set<NodeJS.Timeout>();
  const elapsed = () => Date.now() - started;
  const later = (ms: number, run: () => void) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      run();
    }, ms);
    timers.add(timer);
  };

  const pingOf = (id: string) =>
    options.pingStatus?.[id] ?? (hosts.get(id)?.state === 'running' ? 'Online' : 'ConnectionLost');

  /** Instances matching SSM targets: keys ANDed, values ORed, as SSM resolves tags. */
  function resolveTargets(targets: Array<{ Key?: string; Values?: string[] }>): string[] {
    return hosts.ids().filter((id) =>
      targets.every((t) => {
        const values = t.Values ?? [];
        if (t.Key === 'InstanceIds') return values.includes(id);
        const key = t.Key?.startsWith('tag:') ? t.Key.slice(4) : undefined;
        const tag = key === undefined ? undefined : hosts.get(id)?.tags[key];
        return tag !== undefined && values.includes(tag);
      }),
    );
  }

  /** Starts the next Pending invocations while fewer than MaxConcurrency run. */
  function pump(command: LoopbackCommand) {
    const all = [...command.invocations.values()];
    let running = all.filter((i) => i.startedAt !== undefined && !FINAL.has(i.status)).length;
    for (const inv of all) {
      if (running >= command.maxConcurrency) break;
      if (
        inv.status !== 'Pending' ||
        inv.startedAt !== undefined ||
        command.cancelledAt !== undefined
      )
        continue;
      running++;
      inv.startedAt = elapsed();
      later(options.deliveryMs ?? 20, () => startDeploy(command, inv));
    }
  }

  function startDeploy(command: LoopbackCommand, inv: LoopbackInvocation) {
    if (inv.status !== 'Pending') return;
    inv.status = 'InProgress';
    inv.startedAt = elapsed();
    if (isResultRead(command.input)) return answerResultRead(command, inv);
    const id = inv.instanceId;
    const outcome = options.outcomes?.[id] ?? 'deployed';
    const { container, image } = settingsOf(command.input);
    const previousImage =
      outcome === 'failed-no-previous'
        ? ''
        : (options.previousImage ?? `${image.replace(/:[^:/]*$/, '')}:previous`);
    const deploy: HostDeploy = {
      commandId: command.commandId,
      instanceId: id,
      startedAt: inv.startedAt,
    };
    hostDeploys.push(deploy);
    if (outcome !== 'rejected') hosts.setServing(id, false);
    inv.stdout = `${say(`deploying ${image} as ${container}`)}\n`;
    later(options.deployMsByHost?.[id] ?? options.deployMs ?? 200, () => {
      const fields = hostResultFields(outcome, container, image, previousImage);
      const line = `${RESULT_MARKER}${JSON.stringify(fields)}`;
      // Read back with the action's own parser: a line it could not read would fail the bench, not the stand-in.
      deploy.result = parseDeployResult(line);
      hosts.setServing(id, outcome !== 'failed-no-previous');
      // A cancelled invocation stopped being tracked; the deploy itself finished on the host.
      if (inv.status !== 'InProgress') return;
      inv.stdout +=
        (outcome === 'deployed'
          ? say(`deployed ${image} as ${container}`)
          : say(`${outcome}: ${fields.reason}`)) + `\n${line}\n`;
      inv.stderr = `${line}\n`;
      inv.status = outcome === 'deployed' ? 'Success' : 'Failed';
      inv.endedAt = elapsed();
      pump(command);
    });
  }

  /**
   * The command deploy-ec2-ssm's put-back sends (src/ssm/lb/settle.ts): it waits for the host's
   * deploy lock, so it answers once the host's last deploy has finished, with the result recorded.
   */
  function answerResultRead(command: LoopbackCommand, inv: LoopbackInvocation) {
    const check = () => {
      if (inv.status !== 'InProgress') return;
      const last = hostDeploys.filter((d) => d.instanceId === inv.instanceId).at(-1);
      if (last !== undefined && last.result === undefined) return later(20, check);
      inv.stdout = last?.result
        ? `${RESULT_MARKER}${JSON.stringify(last.result)}\n`
        : 'no result recorded\n';
      inv.status = last?.result ? 'Success' : 'Failed';
      inv.endedAt = elapsed();
      pump(command);
    };
    check();
  }

  function commandStatus(c: LoopbackCommand) {
    const states = [...c.invocations.values()].map((i) => i.status);
    const done = states.filter((s) => FINAL.has(s)).length;
    const errors = states.filter((s) => s === 'Failed').length;
    const status =
      done < states.length
        ? c.cancelledAt !== undefined
          ? 'Cancelling'
          : states.every((s) => s === 'Pending')
            ? 'Pending'
            : 'InProgress'
        : c.cancelledAt !== undefined
          ? 'Cancelled'
          : errors > 0
            ? 'Failed'
            : 'Success';
    const details =
      status === 'Success' && states.length === 0 && c.input.Targets
        ? 'No Instances In Tag'
        : status;
    return { status, details, done, errors };
  }

  const find = (commandId: unknown) => commands.find((c) => c.commandId === commandId);
  const epochSeconds = (ms: number) => (started + ms) / 1000;
  const isoOf = (ms: number | undefined) =>
    ms === undefined ? '' : new Date(started + ms).toISOString();

  const handle = (call: AwsCall): AwsReply => {
    const left = throttled.get(call.operation) ?? 0;
    if (left > 0) {
      throttled.set(call.operation, left - 1);
      return { error: { type: 'ThrottlingException', message: 'Rate exceeded' } };
    }
    const input = call.input;
    switch (call.operation) {
      case 'SendCommand': {
        const explicit = (input.InstanceIds as string[] | undefined) ?? [];
        if (explicit.length > 50)
          return {
            error: {
              type: 'ValidationException',
              message: `1 validation error detected: Value at 'instanceIds' failed to satisfy constraint: Member must have length less than or equal to 50`,
            },
          };
        const unknown = explicit.filter((id) => !hosts.get(id));
        if (unknown.length > 0)
          return {
            error: {
              type: 'InvalidInstanceId',
              message: `Instances [[${unknown.join(', ')}]] not in a valid state for account ${'123456789012'}`,
            },
          };
        const ids = input.Targets
          ? resolveTargets(input.Targets as Array<{ Key?: string; Values?: string[] }>)
          : explicit;
        const command: LoopbackCommand = {
          commandId: randomUUID(),
          instanceIds: ids,
          input,
          sentAt: elapsed(),
          maxConcurrency: batchSizeOf(String(input.MaxConcurrency ?? '50'), ids.length),
          invocations: new Map(
            ids.map((id) => [id, { instanceId: id, status: 'Pending', stdout: '', stderr: '' }]),
          ),
        };
        commands.push(command);
        pump(command);
        return {
          body: {
            Command: {
              CommandId: command.commandId,
              DocumentName: input.DocumentName,
              Comment: input.Comment,
              InstanceIds: explicit,
              Targets: input.Targets ?? [],
              RequestedDateTime: epochSeconds(command.sentAt),
              Status: 'Pending',
              StatusDetails: 'Pending',
              MaxConcurrency: input.MaxConcurrency ?? '50',
              MaxErrors: input.MaxErrors ?? '0',
              TargetCount: ids.length,
              CompletedCount: 0,
              ErrorCount: 0,
            },
          },
        };
      }
      case 'ListCommandInvocations': {
        const command = find(input.CommandId);
        if (!command) return { error: { type: 'InvalidCommandId', message: '' } };
        const all = [...command.invocations.values()];
        const start = Number(input.NextToken ?? 0);
        const size = Math.min(50, Number(input.MaxResults ?? 50));
        return {
          body: {
            CommandInvocations: all.slice(start, start + size).map((i) => ({
              CommandId: command.commandId,
              InstanceId: i.instanceId,
              InstanceName: '',
              Comment: command.input.Comment ?? '',
              DocumentName: command.input.DocumentName,
              DocumentVersion: '$DEFAULT',
              RequestedDateTime: epochSeconds(command.sentAt),
              Status: i.status,
              StatusDetails: i.status,
              StandardOutputUrl: '',
              StandardErrorUrl: '',
              CommandPlugins: [],
            })),
            ...(start + size < all.length ? { NextToken: String(start + size) } : {}),
          },
        };
      }
      case 'GetCommandInvocation': {
        const inv = find(input.CommandId)?.invocations.get(String(input.InstanceId));
        if (!inv) return { error: { type: 'InvocationDoesNotExist', message: '' } };
        const final = FINAL.has(inv.status);
        return {
          body: {
            CommandId: input.CommandId,
            InstanceId: inv.instanceId,
            DocumentName: find(input.CommandId)?.input.DocumentName,
            PluginName: 'aws:runShellScript',
            ResponseCode:
              !final || inv.status === 'Cancelled' ? -1 : inv.status === 'Success' ? 0 : 1,
            ExecutionStartDateTime: isoOf(inv.status === 'Pending' ? undefined : inv.startedAt),
            ExecutionEndDateTime: isoOf(inv.endedAt),
            Status: inv.status,
            StatusDetails: inv.status,
            StandardOutputContent: inv.stdout,
            StandardErrorContent: inv.stderr,
          },
        };
      }
      case 'ListCommands': {
        const list = input.CommandId
          ? commands.filter((c) => c.commandId === input.CommandId)
          : commands;
        if (input.CommandId && list.length === 0)
          return { error: { type: 'InvalidCommandId', message: '' } };
        return {
          body: {
            Commands: list.map((c) => {
              const s = commandStatus(c);
              return {
                CommandId: c.commandId,
                DocumentName: c.input.DocumentName,
                Comment: c.input.Comment ?? '',
                InstanceIds: c.input.InstanceIds ?? [],
                Targets: c.input.Targets ?? [],
                RequestedDateTime: epochSeconds(c.sentAt),
                Status: s.status,
                StatusDetails: s.details,
                MaxConcurrency: c.input.MaxConcurrency ?? '50',
                MaxErrors: c.input.MaxErrors ?? '0',
                TargetCount: c.invocations.size,
                CompletedCount: s.done,
                ErrorCount: s.errors,
              };
            }),
          },
        };
      }
      case 'CancelCommand': {
        const command = find(input.CommandId);
        if (!command) return { error: { type: 'InvalidCommandId', message: '' } };
        const only = input.InstanceIds as string[] | undefined;
        command.cancelledAt = elapsed();
        for (const inv of command.invocations.values()) {
          if (FINAL.has(inv.status) || (only && !only.includes(inv.instanceId))) continue;
          // The agent stops following the script; a deploy already under way goes on on the host.
          inv.status = 'Cancelled';
          inv.endedAt = elapsed();
        }
        return { body: {} };
      }
      case 'DescribeInstanceInformation': {
        const filters = (input.Filters as Array<{ Key?: string; Values?: string[] }>) ?? [];
        const ids = resolveTargets(filters);
        const start = Number(input.NextToken ?? 0);
        const size = Number(input.MaxResults ?? 50);
        return {
          body: {
            InstanceInformationList: ids.slice(start, start + size).map((id) => ({
              InstanceId: id,
              PingStatus: pingOf(id),
              LastPingDateTime:
                pingOf(id) === 'Online' ? Date.now() / 1000 : (started - 3_600_000) / 1000,
              PlatformType: 'Linux',
              PlatformName: 'Amazon Linux',
              AgentVersion: '3.3.0.0',
              ResourceType: 'EC2Instance',
            })),
            ...(start + size < ids.length ? { NextToken: String(start + size) } : {}),
          },
        };
      }
      default:
        return { error: { type: 'InvalidAction', message: `${call.operation} is not simulated` } };
    }
  };

  const stub = await startAwsStub(handle);
  const credentials = { accessKeyId: 'AKIDSTUB', secretAccessKey: 'stub-secret' };
  return {
    endpoint: stub.endpoint,
    stub,
    calls: stub.calls,
    callsOf: stub.callsOf,
    commands,
    hostDeploys,
    throttleNext(operation, count) {
      throttled.set(operation, (throttled.get(operation) ?? 0) + count);
    },
    actionEnv: () => ({
      AWS_ENDPOINT_URL_SSM: stub.endpoint,
      AWS_REGION: region,
      AWS_ACCESS_KEY_ID: credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
      AWS_EC2_METADATA_DISABLED: 'true',
    }),
    clientConfig: () => ({ endpoint: stub.endpoint, region, credentials }),
    async close() {
      for (const timer of timers) clearTimeout(timer);
      await stub.close();
    },
  };
}

/** A command that reads a host's recorded result rather than deploying (no settings block). */
export function isResultRead(input: Record<string, unknown>): boolean {
  const commands = (input.Parameters as { commands?: string[] } | undefined)?.commands?.[0] ?? '';
  return commands.includes('last-result.') && !commands.includes('# --- settings ---');
}

/** The container and image a deploy-ec2-ssm command was sent for, from its settings block. */
export function settingsOf(input: Record<string, unknown>): { container: string; image: string } {
  const commands = (input.Parameters as { commands?: string[] } | undefined)?.commands?.[0] ?? '';
  const value = (name: string) => {
    const line = commands.split('\n').find((l) => l.startsWith(`${name}=`));
    return line === undefined ? undefined : splitCommandWords(name, line.slice(name.length + 1))[0];
  };
  return {
    container: value('container') ?? 'app',
    image: value('image') ?? 'registry.example/app:1',
  };
}

/**
 * The fields of the result line the host script prints for this outcome, in the order finish()
 * in src/ssm/host/deploy.sh writes them, "" for unknown.
 */
function hostResultFields(
  outcome: HostDeployOutcome,
  container: string,
  image: string,
  previousImage: string,
) {
  const digest = (seed: string) =>
    `sha256:${Buffer.from(seed).toString('hex').padEnd(64, '0').slice(0, 64)}`;
  const reasons: Record<HostDeployOutcome, string> = {
    deployed: '',
    'rolled-back': `not healthy after 5s; the previous container (${previousImage}) is running again`,
    'failed-no-previous': 'not healthy after 5s; there was no previous container to go back to',
    rejected: 'the candidate was not healthy after 5s; the previous container never stopped',
  };
  return {
    outcome,
    container,
    newImage: image,
    newImageId: digest(image),
    previousImage,
    previousImageId: previousImage ? digest(previousImage) : '',
    reason: reasons[outcome],
    failedStep: outcome === 'deployed' ? '' : outcome === 'rejected' ? 'candidate' : 'health',
  };
}

function say(text: string): string {
  return `==> ${new Date().toISOString().slice(11, 19)} ${text}`;
}
