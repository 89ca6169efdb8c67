/**
 * Roll out one or more ECS services: force a new deployment, or register a revision with new images
 * (or from a file) and update the services to it; watch every service in parallel and report each
 * on its own. Everything that can be checked is checked before the first change: the services
 * exist, use rolling updates, and have the containers the images are for.
 */
import {
  DescribeServicesCommand,
  DescribeTaskDefinitionCommand,
  RegisterTaskDefinitionCommand,
  UpdateServiceCommand,
  type RegisterTaskDefinitionRequest,
  type Service,
} from '@aws-sdk/client-ecs';
import { systemClock, type Clock, type Timing } from '../poll.js';
import { silentLogger, type Logger } from '../logger.js';
import { awsErrorName, awsErrorText } from '../aws.js';
import { errorMessage } from '../errors.js';
import { ProgressLog } from '../progress.js';
import { formatDuration } from '../duration.js';
import {
  deploymentStartedBy,
  eventIds,
  primaryDeployment,
  stoppedTaskReasons,
  type SeenEvent,
  type StoppedTask,
} from './deployment.js';
import {
  registrationFrom,
  shortTaskDefinition,
  withImages,
  type ImageChanges,
} from './task-definition.js';
import { watchDeployment, type EcsApi, type StageChange, type WatchResult } from './watch.js';
import { followServiceDeployment } from './follow.js';
import {
  planPreDeploy,
  runPreDeployTasks,
  type OneOffReport,
  type PreDeployCandidate,
  type PreDeployOptions,
} from './one-off-task.js';
import {
  bakeTime,
  findServiceDeployment,
  probeServiceDeployments,
  ServiceDeploymentReader,
  strategyName,
  strategyOf,
  unavailableApi,
  DESCRIBE_PERMISSION,
  LIST_PERMISSION,
  type Strategy,
} from './service-deployment.js';
import type { CodeDeployApi, CodeDeployOptions } from './codedeploy/options.js';
import type { CodeDeployPlan } from './codedeploy/rollout.js';

export interface DeployEcsOptions extends ImageChanges, Timing {
  cluster: string;
  /** Names or ARNs. */
  services: readonly string[];
  /** A task definition read from a file: registered, with the images substituted. */
  taskDefinition?: { path: string; request: RegisterTaskDefinitionRequest };
  desiredCount?: number;
  forceNewDeployment: boolean;
  wait: boolean;
  timeoutMs: number;
  maxTaskFailures: number;
  rollbackOnFailure: boolean;
  /** When ECS rolls a service deployment back: wait for its rollback to finish (default: no). */
  waitForRollback?: boolean;
  /** `pre-deploy-command`: run each new revision once as a one-off task before any UpdateService. */
  preDeploy?: PreDeployOptions;
  ecs: EcsApi;
  /** Services on the CODE_DEPLOY controller: inputs, and the client (made only when needed). */
  codeDeploy?: CodeDeployOptions;
  logger?: Logger;
}

export type ServiceStatus =
  /** The new deployment rolled out. */
  | 'completed'
  /** Updated; not watched (wait: false). */
  | 'started'
  /** The rollout failed and nothing rolled it back. */
  | 'failed'
  | 'timed-out'
  /** The rollout failed and the service went back to its previous task definition. */
  | 'rolled-back'
  /** The rollout failed and so did the rollback-on-failure rollout. */
  | 'rollback-failed'
  | 'cancelled'
  /** An API call failed (permissions, invalid parameters): the state of the rollout is unknown. */
  | 'error'
  /** Not updated: the pre-deploy task did not succeed. */
  | 'not-started';

export interface RollbackReport {
  /** `ecs`: ECS's own rollback of a service deployment (alarm, lifecycle hook, circuit breaker). */
  by: 'ecs-circuit-breaker' | 'ecs' | 'codedeploy' | 'rollback-on-failure';
  /** For ECS's rollback of a service deployment: the service revision it returns to. */
  serviceRevisionArn?: string;
  taskDefinition?: string;
  deploymentId?: string;
  /** `completed` when the rollback rolled out; `in-progress` for ECS's own, which is not watched. */
  outcome: 'completed' | 'in-progress' | 'failed' | 'timed-out' | 'cancelled' | 'error' | 'skipped';
  headline: string;
  elapsedMs: number;
  /** Service events while the rollback was watched. */
  events: SeenEvent[];
  stoppedTasks: StoppedTask[];
}

export interface ServiceReport {
  /** As given in the `services` input. */
  service: string;
  status: ServiceStatus;
  /** What happened, one line (details are in the fields below). */
  headline: string;
  previousTaskDefinition: string;
  /** What the service was updated to (the previous one for a forced deployment). */
  taskDefinition: string;
  /** Images this rollout set, by container; empty when the task definition was not changed. */
  images: Array<[container: string, image: string]>;
  deploymentId?: string;
  /** From just before UpdateService to the verdict. */
  elapsedMs: number;
  /** Service events from the update to the verdict, oldest first. */
  events: SeenEvent[];
  stoppedTasks: StoppedTask[];
  /** The last progress line of the new deployment. */
  progress: string;
  rollback?: RollbackReport;
  strategy?: Strategy;
  /** Lifecycle stages of the service deployment, oldest first (BLUE_GREEN, LINEAR, CANARY). */
  stages?: StageChange[];
  serviceDeploymentArn?: string;
  /** Set for a service on the CODE_DEPLOY controller (deploymentId is then CodeDeploy's). */
  controller?: 'CODE_DEPLOY';
}

export interface DeployEcsResult {
  ok: boolean;
  services: ServiceReport[];
  /** Revisions registered by this run. */
  registered: string[];
  /** The pre-deploy one-off tasks, in the order they ran (pre-deploy-command). */
  preDeploy?: OneOffReport[];
}

/** Statuses that count as success. */
const OK_STATUSES: readonly ServiceStatus[] = ['completed', 'started'];
/** DescribeServices takes at most this many services per call. */
const DESCRIBE_BATCH = 10;
/** Events quoted in a failure message. */
const EVENTS_IN_MESSAGE = 5;

interface PlannedService {
  name: string;
  label: string;
  service: Service;
  previousTaskDefinition: string;
  /** Key into the registrations; undefined: keep the current task definition. */
  registration?: string;
  strategy: Strategy;
  /** Whether service deployments can be read (the API exists and IAM allows it). */
  serviceDeployments: boolean;
  /** For a service on the CODE_DEPLOY controller: what was read of its deployment group. */
  codeDeploy?: { client: CodeDeployApi; plan: CodeDeployPlan };
}

interface Registration {
  request: RegisterTaskDefinitionRequest;
  images: Array<[string, string]>;
  /** Where it came from, for messages: `task definition 'api:12'`, `file 'td.json'`. */
  source: string;
}

/**
 * The runner's clock and ECS's may differ: ListServiceDeployments is asked for deployments created
 * after this much before UpdateService; the revision number picks ours among them.
 */
const CLOCK_SKEW_MS = 60_000;

/** Something found before any change was made; the message names the input or resource. */
export class RolloutPlanError extends Error {
  constructor(readonly problems: string[]) {
    super(
      problems.length === 1
        ? problems[0]
        : `${problems.length} problems found before changing anything:\n- ${problems.join('\n- ')}`,
    );
    this.name = 'RolloutPlanError';
  }
}

export async function deployEcs(opts: DeployEcsOptions): Promise<DeployEcsResult> {
  const clock = opts.clock ?? systemClock;
  const start = clock.now();
  const given = opts.logger ?? silentLogger;
  // Every line goes through progressLog, so its heartbeat knows when the log was last written.
  const progressLog = new ProgressLog(given, clock);
  const logger: Logger = { ...given, info: (line) => progressLog.say(line) };

  const { planned, registrations } = await plan(opts);
  const preDeployPlan = opts.preDeploy
    ? await planPreDeploy(opts.ecs, opts.preDeploy, preDeployCandidates(planned, registrations))
    : undefined;
  if (preDeployPlan && 'problems' in preDeployPlan)
    throw new RolloutPlanError(preDeployPlan.problems);

  // Register every new revision before touching any service: a rejected task definition then
  // leaves all services as they were.
  const registeredArn = new Map<string, string>();
  for (const [key, reg] of registrations) {
    let arn: string | undefined;
    try {
      const out = await opts.ecs.send(new RegisterTaskDefinitionCommand(reg.request));
      arn = out.taskDefinition?.taskDefinitionArn;
    } catch (error) {
      throw new Error(`RegisterTaskDefinition failed for ${reg.source}: ${awsErrorText(error)}`);
    }
    if (!arn) throw new Error(`RegisterTaskDefinition returned no ARN for ${reg.source}`);
    registeredArn.set(key, arn);
    const images = reg.images.map(([c, i]) => `${c}=${i}`).join(', ');
    logger.info(
      `registered ${shortTaskDefinition(arn)} from ${reg.source}${images ? ` with ${images}` : ''}`,
    );
  }

  // The one-off task runs the registered revision; it must succeed before any service is updated.
  let preDeploy: OneOffReport[] | undefined;
  if (opts.preDeploy && preDeployPlan && 'planned' in preDeployPlan) {
    preDeploy = await runPreDeployTasks({
      ecs: opts.ecs,
      cluster: opts.cluster,
      planned: preDeployPlan.planned,
      arnOf: (key) => registeredArn.get(key) ?? key,
      preDeploy: opts.preDeploy,
      clock,
      random: opts.random,
      signal: opts.signal,
      logger,
    });
    if (!preDeploy.every((r) => r.status === 'succeeded')) {
      return {
        ok: false,
        services: planned.map((p) => notStarted(p, clock.now() - start)),
        registered: [...registeredArn.values()],
        preDeploy,
      };
    }
  }

  const progress = new Map<string, string>();
  const reader = new ServiceDeploymentReader(opts.ecs, clock);
  const heartbeat = () =>
    progressLog.remind(() =>
      progress.size === 0
        ? undefined
        : [...progress.entries()].map(([label, text]) => `${label} (${text})`).join('; '),
    );

  const services = await Promise.all(
    planned.map((p) => {
      const newTaskDefinition =
        p.registration === undefined ? undefined : registeredArn.get(p.registration);
      const images = registrations.get(p.registration ?? '')?.images ?? [];
      // Whatever goes wrong with one service is reported with it; the others go on.
      return rollOutService(opts, p, newTaskDefinition, images, {
        clock,
        logger,
        progress,
        heartbeat,
        reader,
      }).catch((error: unknown): ServiceReport => ({
        ...newReport(p, newTaskDefinition, images),
        headline: `unexpected error: ${errorMessage(error)}`,
        elapsedMs: clock.now() - start,
      }));
    }),
  );
  return {
    ok: services.every((s) => OK_STATUSES.includes(s.status)),
    services,
    registered: [...registeredArn.values()],
    ...(preDeploy ? { preDeploy } : {}),
  };
}

/** What the one-off task would run for each service, in input order. */
function preDeployCandidates(
  planned: readonly PlannedService[],
  registrations: ReadonlyMap<string, Registration>,
): PreDeployCandidate[] {
  return planned.map((p) => {
    const reg = p.registration === undefined ? undefined : registrations.get(p.registration);
    const common = { service: p.service, serviceName: p.name };
    return reg
      ? {
          ...common,
          key: p.registration as string,
          where: reg.source,
          containers: reg.request.containerDefinitions ?? [],
          updated: reg.images.map(([c]) => c),
        }
      : {
          ...common,
          key: p.previousTaskDefinition,
          where: `task definition '${shortTaskDefinition(p.previousTaskDefinition)}' of service '${p.name}'`,
          describe: p.previousTaskDefinition,
          updated: [],
        };
  });
}

function notStarted(p: PlannedService, elapsedMs: number): ServiceReport {
  return {
    ...newReport(p, undefined, []),
    status: 'not-started',
    headline: 'not updated: the pre-deploy task did not succeed',
    elapsedMs,
  };
}

interface Shared {
  clock: Clock;
  logger: Logger;
  /** Latest progress of every service still being watched, for the heartbeat. */
  progress: Map<string, string>;
  heartbeat: () => void;
  /** Service deployments of every service, read together. */
  reader: ServiceDeploymentReader;
}

/** Describe the services and the task definitions; every problem is found before any change. */
async function plan(opts: DeployEcsOptions) {
  const problems: string[] = [];
  const found = new Map<string, Service>();
  for (let i = 0; i < opts.services.length; i += DESCRIBE_BATCH) {
    const batch = opts.services.slice(i, i + DESCRIBE_BATCH);
    let out;
    try {
      out = await opts.ecs.send(
        new DescribeServicesCommand({ cluster: opts.cluster, services: [...batch] }),
      );
    } catch (error) {
      if (awsErrorName(error) === 'ClusterNotFoundException') {
        throw new RolloutPlanError([`input 'cluster': cluster '${opts.cluster}' not found`]);
      }
      throw new Error(`DescribeServices failed: ${awsErrorText(error)}`);
    }
    for (const name of batch) {
      const service = (out.services ?? []).find((s) => matchesService(name, s));
      if (service) found.set(name, service);
    }
  }

  const planned: PlannedService[] = [];
  for (const name of opts.services) {
    const service = found.get(name);
    if (!service) {
      problems.push(`service '${name}' not found in cluster '${opts.cluster}'`);
      continue;
    }
    if (service.status !== 'ACTIVE') {
      problems.push(
        `service '${name}' in cluster '${opts.cluster}' is ${service.status ?? 'not active'}`,
      );
    }
    const controller = service.deploymentController?.type ?? 'ECS';
    if (controller === 'EXTERNAL') {
      problems.push(
        `service '${name}' uses the EXTERNAL deployment controller, whose task sets deploy-ecs does not manage: it deploys services on the ECS controller (rolling, blue/green, linear, canary) and on CODE_DEPLOY`,
      );
    }
    planned.push({
      name,
      label: service.serviceName ?? name,
      service,
      previousTaskDefinition: service.taskDefinition ?? '',
      strategy: strategyOf(service),
      serviceDeployments: true,
    });
  }
  if (problems.length > 0) throw new RolloutPlanError(problems);

  // CODE_DEPLOY services: the CodeDeploy SDK is loaded only now, and only for them.
  const viaCodeDeploy = planned.filter(
    (p) => p.service.deploymentController?.type === 'CODE_DEPLOY',
  );
  if (viaCodeDeploy.length > 0) {
    const { planCodeDeploy } = await import('./codedeploy/rollout.js');
    const cd = opts.codeDeploy ?? {};
    if (!cd.client) throw new Error('deployEcs: a CODE_DEPLOY service needs codeDeploy.client');
    const client = await cd.client();
    for (const p of viaCodeDeploy) {
      const checked = await planCodeDeploy(client, cd, opts.cluster, p.name, p.service);
      if ('problems' in checked) problems.push(...checked.problems);
      else p.codeDeploy = { client, plan: checked.plan };
    }
    if (problems.length > 0) throw new RolloutPlanError(problems);
  }

  // Service deployments are the truth for BLUE_GREEN, LINEAR and CANARY: check they can be read
  // before any change. A rolling watch needs them only to explain a failure: its first
  // ListServiceDeployments is its probe (see watchService), so a rollout that succeeds costs no call.
  for (const p of planned) {
    if (p.strategy === 'ROLLING' || p.codeDeploy) continue;
    let missing: string | undefined;
    try {
      missing = await probeServiceDeployments(opts.ecs, opts.cluster, p.name);
    } catch (error) {
      throw new Error(
        `ListServiceDeployments failed for service '${p.name}': ${awsErrorText(error)}`,
      );
    }
    if (missing === undefined) continue;
    p.serviceDeployments = false;
    problems.push(
      `service '${p.name}' uses the ${p.strategy} strategy, which deploy-ecs follows through service deployments, but ${missing}: allow ecs:ListServiceDeployments and ecs:DescribeServiceDeployments`,
    );
  }
  if (problems.length > 0) throw new RolloutPlanError(problems);

  const registrations = new Map<string, Registration>();
  const changesImages = opts.image !== undefined || (opts.images ?? []).length > 0;
  if (opts.taskDefinition) {
    const source = `file '${opts.taskDefinition.path}'`;
    const rendered = withImages(
      opts.taskDefinition.request,
      opts,
      `the task definition in ${source}`,
    );
    if ('problems' in rendered) throw new RolloutPlanError(rendered.problems);
    registrations.set('file', { request: rendered.request, images: rendered.images, source });
    for (const p of planned) p.registration = 'file';
  } else if (changesImages) {
    // One new revision per task definition in use, shared by the services that run it.
    for (const p of planned) {
      const current = p.previousTaskDefinition;
      p.registration = current;
      if (registrations.has(current)) continue;
      let out;
      try {
        out = await opts.ecs.send(
          new DescribeTaskDefinitionCommand({ taskDefinition: current, include: ['TAGS'] }),
        );
      } catch (error) {
        throw new Error(
          `DescribeTaskDefinition failed for '${shortTaskDefinition(current)}' (service '${p.name}'): ${awsErrorText(error)}`,
        );
      }
      const source = `task definition '${shortTaskDefinition(current)}'`;
      const rendered = withImages(
        registrationFrom(out.taskDefinition ?? {}, out.tags),
        opts,
        `${source} of service '${p.name}'`,
      );
      if ('problems' in rendered) problems.push(...rendered.problems);
      else
        registrations.set(current, { request: rendered.request, images: rendered.images, source });
    }
    if (problems.length > 0) throw new RolloutPlanError(problems);
  }
  return { planned, registrations };
}

async function rollOutService(
  opts: DeployEcsOptions,
  p: PlannedService,
  newTaskDefinition: string | undefined,
  images: Array<[string, string]>,
  shared: Shared,
): Promise<ServiceReport> {
  const { clock, logger } = shared;
  if (p.codeDeploy) {
    const { rollOutCodeDeploy } = await import('./codedeploy/rollout.js');
    return rollOutCodeDeploy({
      ...opts,
      ...p.codeDeploy,
      codeDeploy: p.codeDeploy.client,
      cd: opts.codeDeploy ?? {},
      service: p.name,
      label: p.label,
      previousTaskDefinition: p.previousTaskDefinition,
      newTaskDefinition,
      images,
      seenEventIds: eventIds(p.service.events),
      waitForRollback: opts.waitForRollback ?? false,
      clock,
      logger,
      onAttempt: (text) => {
        shared.progress.set(p.label, text);
        shared.heartbeat();
      },
    }).finally(() => shared.progress.delete(p.label));
  }
  const started = clock.now();
  const report = newReport(p, newTaskDefinition, images);
  const seenEventIds = eventIds(p.service.events);

  const knownIds = new Set((p.service.deployments ?? []).map((d) => d.id ?? ''));
  const update = await startDeployment(opts, p, knownIds, {
    taskDefinition: newTaskDefinition,
    desiredCount: opts.desiredCount,
  });
  if ('error' in update) {
    return { ...report, headline: update.error, elapsedMs: clock.now() - started };
  }
  report.deploymentId = update.deploymentId;
  logger.info(
    update.isNew
      ? `${p.label}: deployment ${update.deploymentId} started with ${shortTaskDefinition(report.taskDefinition)}`
      : `${p.label}: the update started no new deployment (nothing changed); watching ${update.deploymentId}`,
  );
  if (!opts.wait) {
    return {
      ...report,
      status: 'started',
      headline: `deployment ${update.deploymentId} started (not waiting: wait is false)`,
      elapsedMs: clock.now() - started,
    };
  }

  const watch = await watchService(opts, p, { ...update, knownIds }, seenEventIds, shared);
  Object.assign(report, {
    headline: watch.headline,
    events: watch.events,
    stoppedTasks: watch.stoppedTasks,
    progress: watch.progress,
    elapsedMs: clock.now() - started,
    ...(watch.stages ? { stages: watch.stages } : {}),
    ...(watch.serviceDeploymentArn ? { serviceDeploymentArn: watch.serviceDeploymentArn } : {}),
  });
  switch (watch.outcome) {
    case 'completed':
    case 'cancelled':
    case 'error':
      report.status = watch.outcome;
      logger.info(`${p.label}: ${watch.headline}`);
      return report;
    case 'superseded':
    case 'stopped':
      // Someone else deployed or stopped it: rolling back would undo what they did.
      report.status = 'failed';
      logger.info(`${p.label}: ${watch.headline}`);
      return report;
    case 'ecs-rollback-failed':
    case 'rolled-back-by-ecs':
      // ECS rolls back itself: an UpdateService now would fight its rollback.
      report.status = watch.outcome === 'rolled-back-by-ecs' ? 'rolled-back' : 'rollback-failed';
      report.rollback = {
        by: watch.ecsRollback?.by ?? 'ecs-circuit-breaker',
        ...(watch.ecsRollback?.serviceRevisionArn
          ? { serviceRevisionArn: watch.ecsRollback.serviceRevisionArn }
          : {}),
        ...(watch.ecsRollback?.taskDefinition
          ? { taskDefinition: watch.ecsRollback.taskDefinition }
          : {}),
        ...(watch.ecsRollback?.deploymentId
          ? { deploymentId: watch.ecsRollback.deploymentId }
          : {}),
        outcome: watch.ecsRollback?.outcome ?? 'in-progress',
        headline: ecsRollbackHeadline(
          watch.ecsRollback?.outcome,
          watch.ecsRollback?.taskDefinition ?? p.previousTaskDefinition,
        ),
        elapsedMs: 0,
        events: [],
        stoppedTasks: [],
      };
      logger.info(`${p.label}: ${watch.headline}`);
      return report;
    case 'failed':
    case 'timed-out':
      report.status = watch.outcome;
      logger.info(`${p.label}: ${watch.headline}`);
      if (opts.rollbackOnFailure) await rollBack(opts, p, report, seenEventIds, shared);
      return report;
  }
}

/** A service's report before anything happened: an error until the rollout says otherwise. */
function newReport(
  p: PlannedService,
  newTaskDefinition: string | undefined,
  images: Array<[string, string]>,
): ServiceReport {
  return {
    service: p.name,
    status: 'error',
    headline: '',
    previousTaskDefinition: p.previousTaskDefinition,
    taskDefinition: newTaskDefinition ?? p.previousTaskDefinition,
    images,
    elapsedMs: 0,
    events: [],
    stoppedTasks: [],
    progress: '',
    strategy: p.strategy,
  };
}

/** UpdateService, and which deployment it started (or, when it started none, the current one). */
async function startDeployment(
  opts: DeployEcsOptions,
  p: PlannedService,
  knownIds: Set<string>,
  change: { taskDefinition?: string; desiredCount?: number },
): Promise<Update | { error: string }> {
  let service: Service | undefined;
  const startedAfter = new Date((opts.clock ?? systemClock).now() - CLOCK_SKEW_MS);
  try {
    const out = await opts.ecs.send(
      new UpdateServiceCommand({
        cluster: opts.cluster,
        service: p.name,
        forceNewDeployment: opts.forceNewDeployment,
        ...(change.taskDefinition ? { taskDefinition: change.taskDefinition } : {}),
        ...(change.desiredCount !== undefined ? { desiredCount: change.desiredCount } : {}),
      }),
    );
    service = out.service;
  } catch (error) {
    return { error: `UpdateService failed: ${awsErrorText(error)}` };
  }
  const deployments = service?.deployments ?? [];
  const fresh = deploymentStartedBy(knownIds, deployments);
  const tracked = fresh ?? primaryDeployment(deployments);
  if (!tracked?.id) return { error: 'UpdateService answered without any deployment' };
  return { deploymentId: tracked.id, isNew: fresh !== undefined, startedAfter };
}

interface Update {
  deploymentId: string;
  isNew: boolean;
  /** Just before UpdateService, less the allowance for clock skew. */
  startedAfter: Date;
}

function ecsRollbackHeadline(
  outcome: 'in-progress' | 'completed' | 'failed' | undefined,
  taskDefinition: string,
): string {
  const to = shortTaskDefinition(taskDefinition);
  switch (outcome) {
    case undefined:
    case 'in-progress':
      return `ECS is rolling back to ${to}`;
    case 'completed':
      return `ECS rolled back to ${to}`;
    case 'failed':
      return `ECS's rollback to ${to} FAILED`;
  }
}

function watchService(
  opts: DeployEcsOptions,
  p: PlannedService,
  /** The deployment to watch, and the deployments there were before it. */
  update: Update & { knownIds: ReadonlySet<string> },
  seenEventIds: Set<string>,
  shared: Shared,
  label = p.label,
): Promise<WatchResult> {
  const onAttempt = (text: string) => {
    shared.progress.set(label, text);
    shared.heartbeat();
  };
  if (p.strategy !== 'ROLLING' && update.isNew) {
    const config = p.service.deploymentConfiguration;
    const bake = bakeTime(p.strategy, config);
    if (bake.ms > 0) {
      shared.logger.info(
        `${label}: waiting up to ${formatDuration(opts.timeoutMs + bake.ms)}: timeout ${formatDuration(opts.timeoutMs)} + ${bake.text} (${strategyName(p.strategy)})`,
      );
    }
    return followServiceDeployment({
      ecs: opts.ecs,
      reader: shared.reader,
      cluster: opts.cluster,
      service: p.name,
      label,
      strategy: p.strategy,
      config,
      deploymentId: update.deploymentId,
      startedAfter: update.startedAfter,
      seenEventIds,
      previousTaskDefinition: p.previousTaskDefinition,
      timeoutMs: opts.timeoutMs + bake.ms,
      waitForRollback: opts.waitForRollback ?? false,
      clock: shared.clock,
      random: opts.random,
      signal: opts.signal,
      logger: shared.logger,
      onAttempt,
    }).finally(() => shared.progress.delete(label));
  }
  let serviceDeploymentArn: string | undefined;
  // Read only at decisive moments; the first read is the rolling path's probe of the API.
  const serviceDeployment = async () => {
    if (!p.serviceDeployments) return undefined;
    try {
      serviceDeploymentArn ??= await findServiceDeployment(
        opts.ecs,
        opts.cluster,
        p.name,
        update.startedAfter,
        update.deploymentId,
      );
      return serviceDeploymentArn ? await shared.reader.read(serviceDeploymentArn) : undefined;
    } catch (error) {
      const missing = unavailableApi(
        error,
        serviceDeploymentArn ? DESCRIBE_PERMISSION : LIST_PERMISSION,
      );
      if (!missing) throw error;
      p.serviceDeployments = false;
      shared.logger.info(
        `${p.label}: ${missing}; following the rolling deployment through DescribeServices only (allow ecs:ListServiceDeployments and ecs:DescribeServiceDeployments for alarm and rollback reasons)`,
      );
      return undefined;
    }
  };
  return watchDeployment({
    ecs: opts.ecs,
    cluster: opts.cluster,
    service: p.name,
    label,
    deploymentId: update.deploymentId,
    isNewDeployment: update.isNew,
    knownDeploymentIds: update.knownIds,
    seenEventIds,
    previousTaskDefinition: p.previousTaskDefinition,
    timeoutMs: opts.timeoutMs,
    maxTaskFailures: opts.maxTaskFailures,
    clock: shared.clock,
    random: opts.random,
    signal: opts.signal,
    logger: shared.logger,
    onAttempt,
    ...(p.serviceDeployments && update.isNew ? { serviceDeployment } : {}),
  }).finally(() => {
    shared.progress.delete(label);
    if (serviceDeploymentArn) shared.reader.unfollow(serviceDeploymentArn);
  });
}

/** rollback-on-failure: update the service back to what it ran before, and wait for that too. */
async function rollBack(
  opts: DeployEcsOptions,
  p: PlannedService,
  report: ServiceReport,
  seenEventIds: Set<string>,
  shared: Shared,
): Promise<void> {
  const { clock, logger } = shared;
  const started = clock.now();
  const previous = p.previousTaskDefinition;
  const rollback: RollbackReport = {
    by: 'rollback-on-failure',
    taskDefinition: previous,
    outcome: 'skipped',
    headline: '',
    elapsedMs: 0,
    events: [],
    stoppedTasks: [],
  };
  report.rollback = rollback;
  if (previous === report.taskDefinition) {
    rollback.headline = `not rolled back: the failed deployment already runs the previous task definition ${shortTaskDefinition(previous)}`;
    logger.info(`${p.label}: ${rollback.headline}`);
    return;
  }

  logger.info(`${p.label}: rolling back to ${shortTaskDefinition(previous)} (rollback-on-failure)`);
  // The failed deployment is not the rollback's: the rollback is the next new one.
  const knownIds = new Set((p.service.deployments ?? []).map((d) => d.id ?? ''));
  if (report.deploymentId) knownIds.add(report.deploymentId);
  const update = await startDeployment(opts, p, knownIds, {
    taskDefinition: previous,
    // Put the count back only if this run changed it; otherwise autoscaling owns it.
    ...(opts.desiredCount !== undefined && p.service.desiredCount !== undefined
      ? { desiredCount: p.service.desiredCount }
      : {}),
  });
  if ('error' in update) {
    Object.assign(rollback, { outcome: 'error', headline: `rollback ${update.error}` });
    report.status = 'rollback-failed';
    logger.info(`${p.label}: ${rollback.headline}`);
    return;
  }
  rollback.deploymentId = update.deploymentId;
  const watch = await watchService(
    opts,
    p,
    { ...update, knownIds },
    seenEventIds,
    shared,
    `${p.label} (rollback)`,
  );
  rollback.events = watch.events;
  rollback.elapsedMs = clock.now() - started;
  rollback.stoppedTasks = watch.stoppedTasks;
  if (watch.outcome === 'completed') {
    rollback.outcome = 'completed';
    rollback.headline = `rolled back to ${shortTaskDefinition(previous)} in ${formatDuration(rollback.elapsedMs)}`;
    report.status = 'rolled-back';
  } else {
    rollback.outcome =
      watch.outcome === 'rolled-back-by-ecs' ||
      watch.outcome === 'superseded' ||
      watch.outcome === 'ecs-rollback-failed' ||
      watch.outcome === 'stopped'
        ? 'failed'
        : watch.outcome;
    rollback.headline = `rollback to ${shortTaskDefinition(previous)} did not complete: ${watch.headline}`;
    report.status = 'rollback-failed';
  }
  logger.info(`${p.label}: ${rollback.headline}`);
}

/** A name matches the service by name or ARN (`arn:aws:ecs:...:service/cluster/name`). */
function matchesService(given: string, s: Service): boolean {
  return given === s.serviceName || given === s.serviceArn;
}

/** The step's failure message: one block per service that did not roll out. */
export function describeFailures(result: DeployEcsResult): string {
  const preDeployFailed = (result.preDeploy ?? []).find((r) => r.status !== 'succeeded');
  if (preDeployFailed) {
    return `pre-deploy-command ${preDeployFailed.status} (${shortTaskDefinition(preDeployFailed.taskDefinition)}): ${preDeployFailed.headline}\nno service was updated`;
  }
  const failed = result.services.filter((s) => !OK_STATUSES.includes(s.status));
  const blocks = failed.map((s) => {
    const lines = [`${s.service}: ${s.status}: ${s.headline}`];
    const reasons = stoppedTaskReasons(s.stoppedTasks);
    if (reasons.length > 0) lines.push(`  stopped tasks: ${reasons.join(' | ')}`);
    const last = s.events.slice(-EVENTS_IN_MESSAGE).map((e) => e.message);
    lines.push(
      last.length > 0
        ? `  last events: ${last.join(' | ')}`
        : '  last events: none since the update',
    );
    if (s.rollback) lines.push(`  rollback: ${s.rollback.headline}`);
    return lines.join('\n');
  });
  return `${failed.length} of ${result.services.length} services did not roll out:\n${blocks.join('\n')}`;
}
