/**
 * A small simulation of CodeDeploy for ECS services on the CODE_DEPLOY controller, installed on a
 * CodeDeployClient with aws-sdk-client-mock, on the same virtual clock as the ECS stand-in
 * (stand-ins/ecs.ts). Each deployment group follows scripted timelines, one per CreateDeployment:
 * steps at times (virtual ms) after that call, moving the ECS target's lifecycle events, the task
 * sets' traffic weights and the deployment's status. A failure with automatic rollback starts a
 * rollback deployment as CodeDeploy does; StopDeployment stops the timeline.
 */
import {
  CodeDeployClient,
  CreateDeploymentCommand,
  GetDeploymentCommand,
  GetDeploymentConfigCommand,
  GetDeploymentGroupCommand,
  GetDeploymentTargetCommand,
  ListDeploymentTargetsCommand,
  StopDeploymentCommand,
  type CreateDeploymentCommandInput,
  type DeploymentConfigInfo,
  type DeploymentInfo,
  type ECSTarget,
  type LifecycleEvent,
} from '@aws-sdk/client-codedeploy';
import { mockClient } from 'aws-sdk-client-mock';
import type { Clock } from '../src/poll.js';
import type { SimulatedEcs } from './ecs.js';

/** The lifecycle events of an ECS target, in order. */
export const ECS_LIFECYCLE_EVENTS = [
  'BeforeInstall',
  'Install',
  'AfterInstall',
  'AllowTestTraffic',
  'AfterAllowTestTraffic',
  'BeforeAllowTraffic',
  'AllowTraffic',
  'AfterAllowTraffic',
] as const;
export type EcsLifecycleEvent = (typeof ECS_LIFECYCLE_EVENTS)[number];

export type CdAction = (d: SimDeployment, sim: SimulatedCodeDeploy) => void;
export interface CdStep {
  /** ms after the CreateDeployment call this timeline belongs to. */
  at: number;
  actions: CdAction[];
}
export const cdAt = (ms: number, ...actions: CdAction[]): CdStep => ({ at: ms, actions });

export interface SimGroupSpec {
  application: string;
  deploymentGroup: string;
  cluster: string;
  service: string;
  /** Default CodeDeployDefault.ECSAllAtOnce. */
  deploymentConfigName?: string;
  /** blueGreenDeploymentConfiguration.deploymentReadyOption */
  readyWaitMinutes?: number;
  /** terminateBlueInstancesOnDeploymentSuccess.terminationWaitTimeInMinutes */
  terminationWaitMinutes?: number;
  /** Automatic rollback on failure and on a stop (default true). */
  autoRollback?: boolean;
  /** One per CreateDeployment. */
  timelines?: CdStep[][];
}

export interface SimDeployment {
  info: DeploymentInfo;
  target: ECSTarget;
  group: SimGroupSpec;
  /** The task definition in the AppSpec. */
  taskDefinition: string;
  startedAt: number;
  steps: CdStep[];
  applied: number;
}

export interface CdSimOptions {
  clock: Clock;
  groups: SimGroupSpec[];
  /** Updated when a deployment succeeds or a rollback ends (the service's task definition). */
  ecs?: SimulatedEcs;
  /** Custom deployment configs, by name, next to the predefined ECS ones. */
  configs?: Record<string, DeploymentConfigInfo['trafficRoutingConfig']>;
}

const PREDEFINED: Record<string, DeploymentConfigInfo['trafficRoutingConfig']> = {
  'CodeDeployDefault.ECSAllAtOnce': { type: 'AllAtOnce' },
  'CodeDeployDefault.ECSCanary10Percent5Minutes': {
    type: 'TimeBasedCanary',
    timeBasedCanary: { canaryPercentage: 10, canaryInterval: 5 },
  },
  'CodeDeployDefault.ECSCanary10Percent15Minutes': {
    type: 'TimeBasedCanary',
    timeBasedCanary: { canaryPercentage: 10, canaryInterval: 15 },
  },
  'CodeDeployDefault.ECSLinear10PercentEvery1Minutes': {
    type: 'TimeBasedLinear',
    timeBasedLinear: { linearPercentage: 10, linearInterval: 1 },
  },
};

function awsError(name: string, message: string): Error {
  return Object.assign(new Error(message), { name, $metadata: {} });
}

export class SimulatedCodeDeploy {
  readonly client = new CodeDeployClient({ region: 'us-east-1' });
  readonly mock = mockClient(this.client);
  readonly deployments = new Map<string, SimDeployment>();
  private readonly created = new Map<string, number>();
  private ids = 0;

  constructor(readonly opts: CdSimOptions) {
    this.mock.on(GetDeploymentGroupCommand).callsFake((input) => {
      const group = this.group(input.applicationName, input.deploymentGroupName);
      return {
        deploymentGroupInfo: {
          applicationName: group.application,
          deploymentGroupName: group.deploymentGroup,
          deploymentConfigName: group.deploymentConfigName ?? 'CodeDeployDefault.ECSAllAtOnce',
          computePlatform: 'ECS',
          deploymentStyle: {
            deploymentType: 'BLUE_GREEN',
            deploymentOption: 'WITH_TRAFFIC_CONTROL',
          },
          ecsServices: [{ clusterName: group.cluster, serviceName: group.service }],
          autoRollbackConfiguration: {
            enabled: group.autoRollback ?? true,
            events: ['DEPLOYMENT_FAILURE', 'DEPLOYMENT_STOP_ON_ALARM'],
          },
          blueGreenDeploymentConfiguration: {
            deploymentReadyOption:
              group.readyWaitMinutes !== undefined
                ? { actionOnTimeout: 'STOP_DEPLOYMENT', waitTimeInMinutes: group.readyWaitMinutes }
                : { actionOnTimeout: 'CONTINUE_DEPLOYMENT' },
            terminateBlueInstancesOnDeploymentSuccess: {
              action: 'TERMINATE',
              terminationWaitTimeInMinutes: group.terminationWaitMinutes ?? 0,
            },
          },
        },
      };
    });
    this.mock.on(GetDeploymentConfigCommand).callsFake((input) => {
      const name = input.deploymentConfigName ?? '';
      const routing = this.opts.configs?.[name] ?? PREDEFINED[name];
      if (!routing) {
        throw awsError('DeploymentConfigDoesNotExistException', `No deployment config ${name}`);
      }
      return {
        deploymentConfigInfo: {
          deploymentConfigName: name,
          computePlatform: 'ECS',
          trafficRoutingConfig: routing,
        },
      };
    });
    this.mock.on(CreateDeploymentCommand).callsFake((input) => this.createDeployment(input));
    this.mock.on(GetDeploymentCommand).callsFake((input) => {
      const d = this.deployment(input.deploymentId);
      return { deploymentInfo: structuredClone(d.info) };
    });
    this.mock.on(ListDeploymentTargetsCommand).callsFake((input) => {
      const d = this.deployment(input.deploymentId);
      return { targetIds: [d.target.targetId ?? ''] };
    });
    this.mock.on(GetDeploymentTargetCommand).callsFake((input) => {
      const d = this.deployment(input.deploymentId);
      if (input.targetId !== d.target.targetId) {
        throw awsError('DeploymentTargetDoesNotExistException', 'No such target.');
      }
      return {
        deploymentTarget: {
          deploymentTargetType: 'ECSTarget',
          ecsTarget: structuredClone(d.target),
        },
      };
    });
    this.mock.on(StopDeploymentCommand).callsFake((input) => {
      const d = this.deployment(input.deploymentId);
      if (isFinished(d.info.status)) {
        throw awsError(
          'DeploymentAlreadyCompletedException',
          'The deployment is already completed.',
        );
      }
      d.steps = [];
      this.fail(d, 'Stopped', {
        code: 'MANUAL_STOP',
        message: 'The deployment was stopped by the user.',
        rollback: input.autoRollbackEnabled ?? d.group.autoRollback ?? true,
      });
      return { status: 'Pending', statusMessage: 'Stopping deployment' };
    });
  }

  /** Calls of one command so far, by operation name, as the SDK was given them. */
  callsOf(operation: string): Array<Record<string, unknown>> {
    const command = {
      CreateDeployment: CreateDeploymentCommand,
      GetDeployment: GetDeploymentCommand,
      GetDeploymentConfig: GetDeploymentConfigCommand,
      GetDeploymentGroup: GetDeploymentGroupCommand,
      GetDeploymentTarget: GetDeploymentTargetCommand,
      ListDeploymentTargets: ListDeploymentTargetsCommand,
      StopDeployment: StopDeploymentCommand,
    }[operation];
    if (!command) throw new Error(`unknown operation ${operation}`);
    return this.mock
      .commandCalls(command as typeof GetDeploymentCommand)
      .map((c) => c.args[0].input as unknown as Record<string, unknown>);
  }

  now(): Date {
    return new Date(Date.UTC(2024, 0, 1) + this.opts.clock.now());
  }

  private group(application?: string, name?: string): SimGroupSpec {
    const byApp = this.opts.groups.filter((g) => g.application === application);
    if (byApp.length === 0) {
      throw awsError(
        'ApplicationDoesNotExistException',
        `No application found for name: ${application}`,
      );
    }
    const group = byApp.find((g) => g.deploymentGroup === name);
    if (!group) {
      throw awsError(
        'DeploymentGroupDoesNotExistException',
        `No Deployment Group found for name: ${name}`,
      );
    }
    return group;
  }

  private deployment(id: string | undefined): SimDeployment {
    const d = this.deployments.get(id ?? '');
    if (!d) throw awsError('DeploymentDoesNotExistException', `Deployment ${id} does not exist.`);
    // A rollback deployment moves on the timeline of the deployment that started it.
    for (const any of [...this.deployments.values()]) this.advance(any);
    return d;
  }

  private nextDeploymentId(): string {
    return `d-SIM${String(++this.ids).padStart(6, '0')}`;
  }

  private createDeployment(input: CreateDeploymentCommandInput) {
    const group = this.group(input.applicationName, input.deploymentGroupName);
    const busy = [...this.deployments.values()].find(
      (d) => d.group === group && !isFinished(d.info.status),
    );
    if (busy) {
      throw awsError(
        'DeploymentLimitExceededException',
        `The Deployment Group '${group.deploymentGroup}' already has an active Deployment '${busy.info.deploymentId}'`,
      );
    }
    const content = input.revision?.appSpecContent?.content ?? '';
    const taskDefinition = /TaskDefinition: "([^"]+)"/.exec(content)?.[1] ?? '';
    const n = this.created.get(group.deploymentGroup) ?? 0;
    this.created.set(group.deploymentGroup, n + 1);
    const d = this.start(group, taskDefinition, group.timelines?.[n] ?? [], {
      ...(input.deploymentConfigName ? { deploymentConfigName: input.deploymentConfigName } : {}),
      ...(input.description ? { description: input.description } : {}),
      creator: 'user',
    });
    return { deploymentId: d.info.deploymentId };
  }

  private start(
    group: SimGroupSpec,
    taskDefinition: string,
    steps: CdStep[],
    extra: Partial<DeploymentInfo>,
  ): SimDeployment {
    const deploymentId = this.nextDeploymentId();
    const d: SimDeployment = {
      info: {
        deploymentId,
        applicationName: group.application,
        deploymentGroupName: group.deploymentGroup,
        deploymentConfigName: group.deploymentConfigName ?? 'CodeDeployDefault.ECSAllAtOnce',
        computePlatform: 'ECS',
        status: 'Created',
        createTime: this.now(),
        deploymentOverview: {
          Pending: 1,
          InProgress: 0,
          Succeeded: 0,
          Failed: 0,
          Skipped: 0,
          Ready: 0,
        },
        ...extra,
      },
      target: {
        deploymentId,
        targetId: `${group.cluster}:${group.service}`,
        targetArn: `arn:aws:ecs:us-east-1:123456789012:service/${group.cluster}/${group.service}`,
        status: 'Pending',
        lastUpdatedAt: this.now(),
        lifecycleEvents: ECS_LIFECYCLE_EVENTS.map((name) => ({
          lifecycleEventName: name,
          status: 'Pending',
        })),
        taskSetsInfo: [
          {
            identifer: 'ecs-svc/1000000000000000001',
            taskSetLabel: 'Blue',
            trafficWeight: 100,
            status: 'PRIMARY',
          },
          {
            identifer: 'ecs-svc/1000000000000000002',
            taskSetLabel: 'Green',
            trafficWeight: 0,
            status: 'ACTIVE',
          },
        ],
      },
      group,
      taskDefinition,
      startedAt: this.opts.clock.now(),
      steps: [...steps].sort((a, b) => a.at - b.at),
      applied: 0,
    };
    this.deployments.set(deploymentId, d);
    return d;
  }

  private advance(d: SimDeployment): void {
    const elapsed = this.opts.clock.now() - d.startedAt;
    while (d.applied < d.steps.length && (d.steps[d.applied] as CdStep).at <= elapsed) {
      for (const action of (d.steps[d.applied] as CdStep).actions) action(d, this);
      d.applied++;
    }
  }

  /** The deployment fails (or is stopped); with automatic rollback, a rollback deployment starts. */
  fail(
    d: SimDeployment,
    status: 'Failed' | 'Stopped',
    error: {
      code: NonNullable<DeploymentInfo['errorInformation']>['code'];
      message: string;
      rollback?: boolean;
    },
  ): void {
    d.info.status = status;
    d.info.completeTime = this.now();
    d.info.errorInformation = { code: error.code, message: error.message };
    d.target.status = 'Failed';
    d.info.deploymentOverview = {
      ...d.info.deploymentOverview,
      InProgress: 0,
      Pending: 0,
      Failed: 1,
    };
    const rollback = error.rollback ?? d.group.autoRollback ?? true;
    if (!rollback) return;
    const back = this.start(d.group, '', [], {
      creator: 'codeDeployRollback',
      status: 'InProgress',
      rollbackInfo: { rollbackTriggeringDeploymentId: d.info.deploymentId },
    });
    d.info.rollbackInfo = {
      rollbackDeploymentId: back.info.deploymentId,
      rollbackMessage: `Rollback in progress: deployment ${back.info.deploymentId} reroutes traffic to the original task set.`,
    };
  }

  /** The rollback deployment started by `d`'s failure ends. */
  endRollback(d: SimDeployment, status: 'Succeeded' | 'Failed'): void {
    const back = this.deployments.get(d.info.rollbackInfo?.rollbackDeploymentId ?? '');
    if (!back) throw new Error(`deployment ${d.info.deploymentId} has no rollback`);
    back.info.status = status;
    back.info.completeTime = this.now();
    if (status === 'Failed') {
      back.info.errorInformation = {
        code: 'ECS_UPDATE_ERROR',
        message: 'The rollback failed: the original task set could not be scaled up.',
      };
    }
    if (d.info.rollbackInfo) {
      d.info.rollbackInfo.rollbackMessage =
        status === 'Succeeded'
          ? `Deployment ${back.info.deploymentId} rolled back to the original task set.`
          : `Rollback deployment ${back.info.deploymentId} failed.`;
    }
  }
}

function isFinished(status: DeploymentInfo['status']): boolean {
  return status === 'Succeeded' || status === 'Failed' || status === 'Stopped';
}

function lifecycleEvent(d: SimDeployment, name: EcsLifecycleEvent): LifecycleEvent {
  const e = d.target.lifecycleEvents?.find((l) => l.lifecycleEventName === name);
  if (!e) throw new Error(`no lifecycle event ${name}`);
  return e;
}

// Timeline actions: what CodeDeploy does to a deployment.

/**
 * The lifecycle events up to `name` have succeeded and `name` is in progress: what a target shows
 * as the deployment walks. The deployment is InProgress.
 */
export const reaches =
  (name: EcsLifecycleEvent): CdAction =>
  (d, sim) => {
    const now = sim.now();
    d.info.status = 'InProgress';
    d.info.deploymentOverview = { ...d.info.deploymentOverview, Pending: 0, InProgress: 1 };
    d.target.status = 'InProgress';
    d.target.lastUpdatedAt = now;
    for (const e of d.target.lifecycleEvents ?? []) {
      const i = ECS_LIFECYCLE_EVENTS.indexOf(e.lifecycleEventName as EcsLifecycleEvent);
      const at = ECS_LIFECYCLE_EVENTS.indexOf(name);
      if (i < at && e.status !== 'Succeeded' && e.status !== 'Skipped') {
        e.status = 'Succeeded';
        e.endTime = now;
      }
      if (i === at) {
        e.status = 'InProgress';
        e.startTime = now;
      }
    }
  };

/** The replacement (Green) task set gets `percent` of production traffic, the original the rest. */
export const shifts =
  (percent: number): CdAction =>
  (d) => {
    for (const t of d.target.taskSetsInfo ?? []) {
      t.trafficWeight = t.taskSetLabel === 'Green' ? percent : 100 - percent;
    }
  };

/** The deployment is Ready: it waits for ContinueDeployment (deployment-ready option). */
export const ready: CdAction = (d) => {
  d.info.status = 'Ready';
  d.info.deploymentOverview = { ...d.info.deploymentOverview, InProgress: 0, Ready: 1 };
};

/** Every lifecycle event succeeded: the deployment Succeeded and the service runs the new revision. */
export const cdSucceeds: CdAction = (d, sim) => {
  for (const e of d.target.lifecycleEvents ?? []) {
    if (e.status !== 'Skipped') e.status = 'Succeeded';
  }
  shifts(100)(d, sim);
  d.info.status = 'Succeeded';
  d.info.completeTime = sim.now();
  d.info.deploymentOverview = {
    ...d.info.deploymentOverview,
    InProgress: 0,
    Ready: 0,
    Succeeded: 1,
  };
  d.target.status = 'Succeeded';
  const svc = sim.opts.ecs?.service(d.group.service);
  if (svc && d.taskDefinition) svc.taskDefinition = d.taskDefinition;
};

/** The hook of lifecycle event `name` (a Lambda function) reports Failed. */
export const cdHookFails =
  (name: EcsLifecycleEvent, functionArn: string): CdAction =>
  (d, sim) => {
    const e = lifecycleEvent(d, name);
    e.status = 'Failed';
    e.endTime = sim.now();
    e.diagnostics = {
      errorCode: 'ScriptFailed',
      scriptName: functionArn,
      message: `The lifecycle hook ${functionArn} returned Failed.`,
    };
    sim.fail(d, 'Failed', {
      code: 'HOOK_EXECUTION_FAILURE',
      message: `An error occurred during the execution of the lifecycle hook for ${name}.`,
    });
  };

/** A CloudWatch alarm of the deployment group fires: CodeDeploy stops the deployment. */
export const cdAlarmFires =
  (alarm: string): CdAction =>
  (d, sim) =>
    sim.fail(d, 'Stopped', {
      code: 'ALARM_ACTIVE',
      message: `One or more alarms have been activated according to the Amazon CloudWatch metrics you selected, and the affected deployments have been stopped. Activated alarms: <${alarm}>`,
    });

/** The rollback this deployment's failure started ends. */
export const cdRollbackEnds =
  (status: 'Succeeded' | 'Failed'): CdAction =>
  (d, sim) =>
    sim.endRollback(d, status);
