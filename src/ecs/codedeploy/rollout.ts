/**
 * Roll out an ECS service on the CODE_DEPLOY controller: a CodeDeploy deployment instead of
 * UpdateService. Loaded with `import()` by ../rollout.ts only when such a service is present, so
 * the CodeDeploy SDK is a separate chunk the rolling path never loads.
 *
 * - plan: before any change, read the deployment group (it must exist and deploy this service) and
 *   its deployment config; the deadline grows by the group's wait times and the traffic routing.
 * - roll out: `desired-count` through UpdateService (allowed on CODE_DEPLOY services), then
 *   CreateDeployment with an AppSpec of the new revision (or the current one for a forced
 *   deployment), then follow it (./follow.ts).
 * - cancel: StopDeployment with automatic rollback; `rollback-on-failure` on a deadline does the same.
 */
import {
  CreateDeploymentCommand,
  GetDeploymentConfigCommand,
  GetDeploymentGroupCommand,
  StopDeploymentCommand,
  type DeploymentConfigInfo,
  type DeploymentGroupInfo,
} from '@aws-sdk/client-codedeploy';
import { UpdateServiceCommand, type Service } from '@aws-sdk/client-ecs';
import { awsErrorName, awsErrorText } from '../../aws.js';
import { formatDuration } from '../../duration.js';
import type { Clock, Timing } from '../../poll.js';
import type { Logger } from '../../logger.js';
import type { SeenEvent } from '../deployment.js';
import type { RollbackReport, ServiceReport } from '../rollout.js';
import { shortTaskDefinition } from '../task-definition.js';
import type { EcsApi } from '../watch.js';
import { appSpecRevision, appSpecYaml, defaultNames } from './appspec.js';
import { followCodeDeployment, type CodeDeployFollowResult } from './follow.js';
import type { CodeDeployApi, CodeDeployOptions } from './options.js';

export type { CodeDeployApi, CodeDeployOptions } from './options.js';

const MINUTE = 60_000;
const DEFAULT_CONFIG = 'CodeDeployDefault.ECSAllAtOnce';

/** What was read before any change, for one CODE_DEPLOY service. */
export interface CodeDeployPlan {
  application: string;
  deploymentGroup: string;
  /** The config the deployment runs with: the input's, else the group's. */
  deploymentConfig: string;
  containerName: string;
  containerPort: number;
  /** Added to `timeout`: the group's wait times and the config's traffic routing. */
  extraWait: { ms: number; text: string };
  autoRollback: boolean;
}

/**
 * The time a healthy deployment spends waiting, from the deployment group and config: the
 * deployment-ready wait, the wait before the original task set is terminated (the deployment
 * Succeeds only after it), and the canary interval or the linear steps.
 */
export function codeDeployWaits(
  group: DeploymentGroupInfo | undefined,
  routing: DeploymentConfigInfo['trafficRoutingConfig'],
): { ms: number; text: string } {
  const parts: string[] = [];
  let minutes = 0;
  const add = (n: number | undefined, text: string) => {
    if (!n || n <= 0) return;
    minutes += n;
    parts.push(text);
  };
  const blueGreen = group?.blueGreenDeploymentConfiguration;
  const ready = blueGreen?.deploymentReadyOption?.waitTimeInMinutes;
  add(ready, `${ready} min deployment-ready wait`);
  const termination = blueGreen?.terminateBlueInstancesOnDeploymentSuccess;
  if (termination?.action !== 'KEEP_ALIVE') {
    const wait = termination?.terminationWaitTimeInMinutes;
    add(wait, `${wait} min wait before the original task set is terminated`);
  }
  if (routing?.type === 'TimeBasedCanary') {
    const interval = routing.timeBasedCanary?.canaryInterval;
    add(interval, `${interval} min canary interval`);
  }
  if (routing?.type === 'TimeBasedLinear') {
    const percent = routing.timeBasedLinear?.linearPercentage ?? 0;
    const interval = routing.timeBasedLinear?.linearInterval ?? 0;
    if (percent > 0 && interval > 0) {
      const steps = Math.ceil(100 / percent);
      add(steps * interval, `${steps} linear steps × ${interval} min`);
    }
  }
  return { ms: minutes * MINUTE, text: parts.join(' + ') };
}

/**
 * Check one CODE_DEPLOY service before any change: its load balancer (the AppSpec's container and
 * port), the deployment group (exists, deploys this service) and the deployment config.
 */
export async function planCodeDeploy(
  client: CodeDeployApi,
  cd: CodeDeployOptions,
  cluster: string,
  name: string,
  service: Service,
): Promise<{ plan: CodeDeployPlan } | { problems: string[] }> {
  const problems: string[] = [];
  const serviceName = service.serviceName ?? name;
  const defaults = defaultNames(cluster, serviceName);
  const application = cd.application ?? defaults.application;
  const deploymentGroup = cd.deploymentGroup ?? defaults.deploymentGroup;
  const lb = service.loadBalancers?.[0];
  if (!lb?.containerName || lb.containerPort === undefined) {
    problems.push(
      `service '${name}' uses the CODE_DEPLOY controller but has no load balancer with a container name and port, which the AppSpec needs`,
    );
  }

  let group: DeploymentGroupInfo | undefined;
  try {
    const out = await client.send(
      new GetDeploymentGroupCommand({
        applicationName: application,
        deploymentGroupName: deploymentGroup,
      }),
    );
    group = out.deploymentGroupInfo;
  } catch (error) {
    const which = (input: string, what: string, value: string, given: boolean) =>
      `input '${input}': CodeDeploy ${what} '${value}' not found (service '${name}' uses the CODE_DEPLOY controller${given ? '' : `; the default is the console's name ${value}`})`;
    switch (awsErrorName(error)) {
      case 'ApplicationDoesNotExistException':
        problems.push(
          which('codedeploy-application', 'application', application, !!cd.application),
        );
        break;
      case 'DeploymentGroupDoesNotExistException':
        problems.push(
          which(
            'codedeploy-deployment-group',
            'deployment group',
            deploymentGroup,
            !!cd.deploymentGroup,
          ),
        );
        break;
      default:
        throw new Error(
          `GetDeploymentGroup failed for service '${name}' (application '${application}', group '${deploymentGroup}'): ${awsErrorText(error)}`,
        );
    }
    return { problems };
  }
  const deploys = group?.ecsServices ?? [];
  const clusterName = cluster.split('/').pop();
  if (
    deploys.length > 0 &&
    !deploys.some((s) => s.serviceName === serviceName && s.clusterName === clusterName)
  ) {
    problems.push(
      `input 'codedeploy-deployment-group': deployment group '${deploymentGroup}' deploys ${deploys.map((s) => `${s.clusterName}/${s.serviceName}`).join(', ')}, not service '${serviceName}' of cluster '${clusterName}'`,
    );
  }

  const deploymentConfig = cd.deploymentConfig ?? group?.deploymentConfigName ?? DEFAULT_CONFIG;
  let routing: DeploymentConfigInfo['trafficRoutingConfig'];
  try {
    const out = await client.send(
      new GetDeploymentConfigCommand({ deploymentConfigName: deploymentConfig }),
    );
    routing = out.deploymentConfigInfo?.trafficRoutingConfig;
  } catch (error) {
    if (awsErrorName(error) === 'DeploymentConfigDoesNotExistException') {
      problems.push(
        `input 'codedeploy-deployment-config': CodeDeploy deployment config '${deploymentConfig}' not found`,
      );
    } else {
      throw new Error(
        `GetDeploymentConfig failed for '${deploymentConfig}' (service '${name}'): ${awsErrorText(error)}`,
      );
    }
  }
  if (problems.length > 0) return { problems };
  return {
    plan: {
      application,
      deploymentGroup,
      deploymentConfig,
      containerName: lb?.containerName ?? '',
      containerPort: lb?.containerPort ?? 0,
      extraWait: codeDeployWaits(group, routing),
      autoRollback: group?.autoRollbackConfiguration?.enabled ?? false,
    },
  };
}

export interface CodeDeployRollout extends Timing {
  codeDeploy: CodeDeployApi;
  cd: CodeDeployOptions;
  plan: CodeDeployPlan;
  ecs: EcsApi;
  cluster: string;
  /** As given in `services`. */
  service: string;
  label: string;
  previousTaskDefinition: string;
  /** The registered revision; undefined: deploy the current one again (forced). */
  newTaskDefinition?: string;
  images: Array<[string, string]>;
  seenEventIds: Set<string>;
  desiredCount?: number;
  forceNewDeployment: boolean;
  wait: boolean;
  timeoutMs: number;
  rollbackOnFailure: boolean;
  waitForRollback: boolean;
  clock: Clock;
  logger: Logger;
  onAttempt: (progress: string) => void;
}

export async function rollOutCodeDeploy(r: CodeDeployRollout): Promise<ServiceReport> {
  const { clock, logger, label, plan } = r;
  const started = clock.now();
  const taskDefinition = r.newTaskDefinition ?? r.previousTaskDefinition;
  const report: ServiceReport = {
    service: r.service,
    status: 'error',
    headline: '',
    previousTaskDefinition: r.previousTaskDefinition,
    taskDefinition,
    images: r.images,
    elapsedMs: 0,
    events: [],
    stoppedTasks: [],
    progress: '',
    controller: 'CODE_DEPLOY',
  };
  const end = (status: ServiceReport['status'], headline: string): ServiceReport => {
    logger.info(`${label}: ${headline}`);
    return { ...report, status, headline, elapsedMs: clock.now() - started };
  };

  if (r.desiredCount !== undefined) {
    try {
      await r.ecs.send(
        new UpdateServiceCommand({
          cluster: r.cluster,
          service: r.service,
          desiredCount: r.desiredCount,
        }),
      );
    } catch (error) {
      return end('error', `UpdateService (desired-count) failed: ${awsErrorText(error)}`);
    }
    logger.info(`${label}: desired count set to ${r.desiredCount}`);
  }
  if (r.newTaskDefinition === undefined && !r.forceNewDeployment) {
    return end(
      'completed',
      `desired count set to ${r.desiredCount}; no CodeDeploy deployment (force-new-deployment is false and the revision did not change)`,
    );
  }

  const content = appSpecYaml({
    taskDefinitionArn: taskDefinition,
    containerName: plan.containerName,
    containerPort: plan.containerPort,
    hooks: r.cd.hooks ?? [],
  });
  let deploymentId: string | undefined;
  try {
    const out = await r.codeDeploy.send(
      new CreateDeploymentCommand({
        applicationName: plan.application,
        deploymentGroupName: plan.deploymentGroup,
        ...(r.cd.deploymentConfig ? { deploymentConfigName: r.cd.deploymentConfig } : {}),
        ...(r.cd.description ? { description: r.cd.description } : {}),
        revision: appSpecRevision(content),
      }),
    );
    deploymentId = out.deploymentId;
  } catch (error) {
    return end('error', `CreateDeployment failed: ${awsErrorText(error)}`);
  }
  if (!deploymentId) return end('error', 'CreateDeployment answered without a deployment ID');
  report.deploymentId = deploymentId;
  r.cd.onDeploymentCreated?.(r.service, deploymentId);
  const kind = `CodeDeploy ${plan.deploymentConfig}`;
  logger.info(
    `${label}: CodeDeploy deployment ${deploymentId} started with ${shortTaskDefinition(taskDefinition)} (application ${plan.application}, deployment group ${plan.deploymentGroup}, ${plan.deploymentConfig})`,
  );
  if (!r.wait)
    return end(
      'started',
      `CodeDeploy deployment ${deploymentId} started (not waiting: wait is false)`,
    );

  const timeoutMs = r.timeoutMs + plan.extraWait.ms;
  if (plan.extraWait.ms > 0) {
    logger.info(
      `${label}: waiting up to ${formatDuration(timeoutMs)}: timeout ${formatDuration(r.timeoutMs)} + ${plan.extraWait.text} (${kind})`,
    );
  }
  const follow = await followCodeDeployment({
    codeDeploy: r.codeDeploy,
    ecs: r.ecs,
    cluster: r.cluster,
    service: r.service,
    label,
    deploymentId,
    kind,
    seenEventIds: r.seenEventIds,
    timeoutMs,
    waitForRollback: r.waitForRollback,
    clock,
    random: r.random,
    signal: r.signal,
    logger,
    onAttempt: r.onAttempt,
  });
  Object.assign(report, {
    events: follow.events,
    progress: follow.progress,
    stages: follow.stages,
  });

  switch (follow.outcome) {
    case 'completed':
    case 'error':
      return end(follow.outcome, follow.headline);
    case 'failed':
      return end(
        'failed',
        follow.headline +
          (r.rollbackOnFailure && !plan.autoRollback
            ? '; not rolled back: CodeDeploy rolls back its own deployments when the deployment group enables automatic rollback'
            : ''),
      );
    case 'stopped':
      return end('failed', follow.headline);
    case 'rolled-back':
    case 'rollback-failed':
      report.rollback = codeDeployRollback(follow, r.previousTaskDefinition);
      return end(follow.outcome, follow.headline);
    case 'cancelled': {
      const stop = await stopDeployment(r.codeDeploy, deploymentId);
      return end('cancelled', `${follow.headline}; ${stop.text}`);
    }
    case 'timed-out': {
      if (follow.rollback) {
        report.rollback = codeDeployRollback(follow, r.previousTaskDefinition);
        return end('timed-out', follow.headline);
      }
      if (!r.rollbackOnFailure) return end('timed-out', follow.headline);
      // rollback-on-failure: CodeDeploy's own rollback, started by stopping the deployment.
      const stop = await stopDeployment(r.codeDeploy, deploymentId);
      report.rollback = {
        by: 'rollback-on-failure',
        taskDefinition: r.previousTaskDefinition,
        outcome: stop.stopped ? 'in-progress' : 'error',
        headline: `${stop.text} (rollback-on-failure)`,
        elapsedMs: 0,
        events: [] as SeenEvent[],
        stoppedTasks: [],
      };
      return end(stop.stopped ? 'rolled-back' : 'rollback-failed', follow.headline);
    }
  }
}

function codeDeployRollback(follow: CodeDeployFollowResult, previous: string): RollbackReport {
  const outcome = follow.rollback?.outcome ?? 'in-progress';
  const to = shortTaskDefinition(previous);
  return {
    by: 'codedeploy',
    taskDefinition: previous,
    ...(follow.rollback?.deploymentId ? { deploymentId: follow.rollback.deploymentId } : {}),
    outcome,
    headline:
      outcome === 'completed'
        ? `CodeDeploy rolled back to ${to}`
        : outcome === 'failed'
          ? `CodeDeploy's rollback to ${to} FAILED`
          : `CodeDeploy is rolling back to ${to}`,
    elapsedMs: 0,
    events: [],
    stoppedTasks: [],
  };
}

/** StopDeployment with automatic rollback: whether it was stopped, and that in words (never throws). */
export async function stopDeployment(
  client: CodeDeployApi,
  deploymentId: string,
): Promise<{ stopped: boolean; text: string }> {
  try {
    await client.send(new StopDeploymentCommand({ deploymentId, autoRollbackEnabled: true }));
    return {
      stopped: true,
      text: `stopped CodeDeploy deployment ${deploymentId} with automatic rollback`,
    };
  } catch (error) {
    return {
      stopped: false,
      text: `could not stop CodeDeploy deployment ${deploymentId}: ${awsErrorText(error)}`,
    };
  }
}
