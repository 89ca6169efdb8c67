/**
 * A scripted SSM for tests and the fan-out bench: a fleet of instances, each with a timeline of
 * invocation statuses in virtual time after SendCommand, served through aws-sdk-client-mock as the
 * real API shapes them (pages of 50 invocations without output, GetCommandInvocation with output,
 * ListCommands counts, CancelCommand), with faults injected by name.
 */
import {
  CancelCommandCommand,
  DescribeInstanceInformationCommand,
  GetCommandInvocationCommand,
  ListCommandInvocationsCommand,
  ListCommandsCommand,
  SSMClient,
  SendCommandCommand,
} from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import type { Clock } from '../src/poll.js';

export interface Step {
  /** ms after SendCommand. */
  at: number;
  status: string;
  details?: string;
}

export interface FakeInstance {
  id: string;
  steps: Step[];
  stdout?: string;
  stderr?: string;
  /** ms after SendCommand before the invocation is listed (tag targets appear as SSM resolves them). */
  listedAfter?: number;
}

export type Operation =
  | 'SendCommand'
  | 'ListCommandInvocations'
  | 'GetCommandInvocation'
  | 'ListCommands'
  | 'CancelCommand'
  | 'DescribeInstanceInformation';

export interface FakeCall {
  op: Operation;
  at: number;
  input: Record<string, unknown>;
}

export const COMMAND_ID = '0a1b2c3d-4e5f-6789-abcd-ef0123456789';
const FINAL = new Set(['Success', 'Failed', 'Cancelled', 'TimedOut']);
const EPOCH = Date.UTC(2025, 0, 1);

export function awsError(name: string, message = name): Error {
  return Object.assign(new Error(message), { name, $metadata: {} });
}

/** `Success` for all of them after `at` ms, passing through Pending and InProgress. */
export function succeedsAt(at: number): Step[] {
  return [
    { at: 0, status: 'Pending' },
    { at: Math.min(1000, at / 2), status: 'InProgress' },
    { at, status: 'Success' },
  ];
}

export class FakeFleet {
  readonly mock = mockClient(SSMClient);
  readonly ssm = new SSMClient({ region: 'eu-west-1' });
  readonly calls: FakeCall[] = [];
  sentAt?: number;
  cancelledAt?: number;
  /** Agent ping status by instance, for DescribeInstanceInformation, as a function of time. */
  pings: (now: number) => Array<{ id: string; ping: string; lastPing?: Date }> = () =>
    this.instances.map((i) => ({ id: i.id, ping: 'Online' }));
  /** Every SendCommand: the ID it answered and the instance IDs it was given. */
  readonly sends: Array<{ commandId: string; instanceIds?: string[] }> = [];
  /** TargetCount ListCommands reports (tag targets); defaults to the fleet size. */
  targetCount?: number;
  /** ms after SendCommand during which the command is not visible (InvalidCommandId). */
  invisibleFor = 0;
  private readonly faults = new Map<Operation, string[]>();

  constructor(
    private readonly clock: Clock,
    public instances: FakeInstance[],
  ) {
    this.mock.on(SendCommandCommand).callsFake((input) => {
      this.record('SendCommand', input);
      this.sentAt = this.clock.now();
      // The first command has COMMAND_ID; each later one (chunks of 50 IDs) its own ID.
      const commandId =
        this.sends.length === 0 ? COMMAND_ID : `${COMMAND_ID}-${this.sends.length + 1}`;
      this.sends.push({ commandId, instanceIds: input.InstanceIds });
      return { Command: { CommandId: commandId, Status: 'Pending' } };
    });
    this.mock.on(ListCommandInvocationsCommand).callsFake((input) => {
      this.record('ListCommandInvocations', input);
      const visible = this.listed(input.CommandId);
      const start = Number(input.NextToken ?? 0);
      const size = Math.min(50, input.MaxResults ?? 50);
      const page = visible.slice(start, start + size);
      return {
        CommandInvocations: page.map((i) => {
          const s = this.stateOf(i);
          return {
            CommandId: COMMAND_ID,
            InstanceId: i.id,
            Status: s.status,
            StatusDetails: s.details ?? s.status,
          };
        }),
        ...(start + size < visible.length ? { NextToken: String(start + size) } : {}),
      };
    });
    this.mock.on(GetCommandInvocationCommand).callsFake((input) => {
      this.record('GetCommandInvocation', input);
      const inst = this.listed(input.CommandId).find((i) => i.id === input.InstanceId);
      if (!inst) throw awsError('InvocationDoesNotExist');
      const s = this.stateOf(inst);
      const final = FINAL.has(s.status);
      const ran = inst.steps.find((x) => x.status === 'InProgress');
      const ended = inst.steps.find((x) => FINAL.has(x.status));
      return {
        CommandId: COMMAND_ID,
        InstanceId: inst.id,
        Status: s.status,
        StatusDetails: s.details ?? s.status,
        StandardOutputContent: final ? (inst.stdout ?? '') : '',
        StandardErrorContent: final ? (inst.stderr ?? '') : '',
        ...(ran && ended
          ? {
              ExecutionStartDateTime: new Date(EPOCH + ran.at).toISOString(),
              ExecutionEndDateTime: new Date(EPOCH + ended.at).toISOString(),
            }
          : {}),
      };
    });
    this.mock.on(ListCommandsCommand).callsFake((input) => {
      this.record('ListCommands', input);
      const states = this.listed().map((i) => this.stateOf(i).status);
      const target = this.targetCount ?? this.instances.length;
      const done = states.filter((s) => FINAL.has(s)).length;
      const allDone = done === target && states.length === target;
      const status =
        this.cancelledAt !== undefined
          ? 'Cancelled'
          : !allDone
            ? 'InProgress'
            : states.every((s) => s === 'Success')
              ? 'Success'
              : 'Failed';
      return {
        Commands: [
          {
            CommandId: COMMAND_ID,
            Status: status,
            StatusDetails: target === 0 && allDone ? 'No Instances In Tag' : status,
            TargetCount: target,
            CompletedCount: done,
          },
        ],
      };
    });
    this.mock.on(CancelCommandCommand).callsFake((input) => {
      this.record('CancelCommand', input);
      this.cancelledAt = this.clock.now();
      return {};
    });
    this.mock.on(DescribeInstanceInformationCommand).callsFake((input) => {
      this.record('DescribeInstanceInformation', input);
      const all = this.pings(this.clock.now());
      const start = Number(input.NextToken ?? 0);
      const size = input.MaxResults ?? 50;
      return {
        InstanceInformationList: all.slice(start, start + size).map((p) => ({
          InstanceId: p.id,
          PingStatus: p.ping,
          PlatformType: 'Linux',
          ...(p.lastPing ? { LastPingDateTime: p.lastPing } : {}),
        })),
        ...(start + size < all.length ? { NextToken: String(start + size) } : {}),
      };
    });
  }

  /** The next `times` calls of `op` fail with the named AWS error. */
  failNext(op: Operation, errorName: string, times = 1): void {
    this.faults.set(op, [...(this.faults.get(op) ?? []), ...Array<string>(times).fill(errorName)]);
  }

  callsOf(op: Operation): FakeCall[] {
    return this.calls.filter((c) => c.op === op);
  }

  restore(): void {
    this.mock.restore();
  }

  private record(op: Operation, input: Record<string, unknown>): void {
    // A copy, as AWS would receive it: the SDK's paginators reuse one input object for every page.
    this.calls.push({ op, at: this.clock.now(), input: { ...input } });
    const fault = this.faults.get(op)?.shift();
    if (fault) throw awsError(fault, `${fault} (scripted)`);
    if (
      (op === 'ListCommandInvocations' || op === 'ListCommands') &&
      this.sentAt !== undefined &&
      this.clock.now() - this.sentAt < this.invisibleFor
    )
      throw awsError('InvalidCommandId');
  }

  private since(): number {
    return this.sentAt === undefined ? -1 : this.clock.now() - this.sentAt;
  }

  /** The instances of a command: those it was sent to by ID, else the whole fleet (tags). */
  private listed(commandId?: string): FakeInstance[] {
    const t = this.since();
    const ids = this.sends.find((c) => c.commandId === commandId)?.instanceIds;
    return t < 0
      ? []
      : this.instances.filter(
          (i) => (i.listedAfter ?? 0) <= t && (ids === undefined || ids.includes(i.id)),
        );
  }

  private stateOf(inst: FakeInstance): { status: string; details?: string } {
    const t = this.since();
    let current: Step = { at: 0, status: 'Pending' };
    for (const step of inst.steps) if (step.at <= t) current = step;
    if (
      this.cancelledAt !== undefined &&
      !FINAL.has(current.status) &&
      !['Undeliverable', 'Terminated'].includes(current.details ?? '')
    )
      return { status: 'Cancelled', details: 'Cancelled' };
    return current;
  }
}
