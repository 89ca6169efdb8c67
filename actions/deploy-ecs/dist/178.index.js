export const id = 178;
export const ids = [178];
export const modules = {

/***/ 9178:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

// ESM COMPAT FLAG
__webpack_require__.r(__webpack_exports__);

// EXPORTS
__webpack_require__.d(__webpack_exports__, {
  codeDeployWaits: () => (/* binding */ codeDeployWaits),
  planCodeDeploy: () => (/* binding */ planCodeDeploy),
  rollOutCodeDeploy: () => (/* binding */ rollOutCodeDeploy),
  stopDeployment: () => (/* binding */ stopDeployment)
});

// EXTERNAL MODULE: ./node_modules/@aws-sdk/client-codedeploy/dist-cjs/index.js
var dist_cjs = __webpack_require__(7507);
// EXTERNAL MODULE: ./node_modules/@aws-sdk/client-ecs/dist-cjs/index.js
var client_ecs_dist_cjs = __webpack_require__(212);
// EXTERNAL MODULE: ./src/aws.ts
var aws = __webpack_require__(4258);
// EXTERNAL MODULE: ./src/duration.ts
var duration = __webpack_require__(7607);
// EXTERNAL MODULE: ./src/ecs/task-definition.ts
var task_definition = __webpack_require__(7652);
// EXTERNAL MODULE: ./src/ecs/codedeploy/appspec.ts
var appspec = __webpack_require__(4660);
// EXTERNAL MODULE: ./src/poll.ts
var poll = __webpack_require__(9810);
// EXTERNAL MODULE: ./src/ecs/timeline.ts
var ecs_timeline = __webpack_require__(5518);
// EXTERNAL MODULE: ./src/ecs/follow.ts
var follow = __webpack_require__(6808);
// EXTERNAL MODULE: ./src/ecs/watch.ts
var watch = __webpack_require__(8414);
;// CONCATENATED MODULE: ./src/ecs/codedeploy/follow.ts
/**
 * Follow one CodeDeploy deployment of an ECS service until CodeDeploy says how it ended: Succeeded
 * (after the deployment group's waits and the traffic routing), Failed or Stopped, rolled back by
 * CodeDeploy or not. The ECS target (GetDeploymentTarget) is read every poll while it runs: its
 * lifecycle events make one log line per change, its task sets the traffic percentage. The
 * deployment itself (GetDeployment) is read when the target says it finished, and every few polls
 * in case it ended without the target saying so (an alarm, a stop); DescribeServices every few
 * polls for the service events.
 */







/** The deployment is read every this many polls even while its target runs. */
const DEPLOYMENT_EVERY_POLLS = 5;
const FINISHED = new Set(['Succeeded', 'Failed', 'Stopped']);
const TARGET_FINISHED = new Set(['Succeeded', 'Failed', 'Skipped']);
/** The lifecycle event under way: the one in progress, else the last one that finished. */
function currentEvent(target) {
    const events = target?.lifecycleEvents ?? [];
    const running = events.find((e) => e.status === 'InProgress' || e.status === 'Failed');
    if (running?.lifecycleEventName)
        return running.lifecycleEventName;
    const done = events.filter((e) => e.status === 'Succeeded');
    return done[done.length - 1]?.lifecycleEventName ?? 'Pending';
}
/** `production traffic 10%`: the replacement (Green) task set's weight; '' before it has any. */
function trafficOf(target) {
    const green = target?.taskSetsInfo?.find((t) => t.taskSetLabel === 'Green');
    const weight = green?.trafficWeight;
    return weight ? `production traffic ${weight}%` : '';
}
/**
 * Why a deployment failed, in one line: CodeDeploy's error code and message, the lifecycle event
 * that failed with its diagnostics, and what CodeDeploy says of its rollback.
 */
function codeDeployFailure(info, target) {
    const parts = [];
    const err = info.errorInformation;
    if (err?.code || err?.message)
        parts.push([err.code, err.message].filter((t) => t !== undefined).join(': '));
    for (const e of target?.lifecycleEvents ?? []) {
        if (e.status !== 'Failed')
            continue;
        const d = e.diagnostics;
        const detail = [d?.errorCode, d?.message].filter((t) => t).join(': ');
        parts.push(`lifecycle event ${e.lifecycleEventName ?? '?'} failed${detail ? ` (${detail})` : ''}`);
    }
    if (info.rollbackInfo?.rollbackMessage)
        parts.push(info.rollbackInfo.rollbackMessage);
    return parts.length > 0 ? parts.join('; ') : `status ${info.status ?? 'unknown'}`;
}
async function followCodeDeployment(opts) {
    const { codeDeploy, label, clock } = opts;
    const start = clock.now();
    const timeline = new ecs_timeline/* DeploymentTimeline */.X(label, opts.logger, start, 'lifecycle event');
    let progress = 'waiting for CodeDeploy to start the deployment';
    let info;
    let target;
    let targetId;
    let targetProblem = false;
    let rollbackId;
    let rollbackAnnounced = false;
    let attempts = 0;
    const throttled = (error) => {
        opts.logger.info(`${label}: CodeDeploy is throttling requests (${(0,aws/* awsErrorName */.ZH)(error)}); backing off`);
        return { kind: 'wait', reason: progress, backoff: true };
    };
    async function readTarget() {
        try {
            if (targetId === undefined) {
                const out = await codeDeploy.send(new dist_cjs.ListDeploymentTargetsCommand({ deploymentId: opts.deploymentId }));
                targetId = out.targetIds?.[0];
                if (targetId === undefined)
                    return;
            }
            const out = await codeDeploy.send(new dist_cjs.GetDeploymentTargetCommand({ deploymentId: opts.deploymentId, targetId }));
            target = out.deploymentTarget?.ecsTarget ?? target;
        }
        catch (error) {
            // The target is progress and diagnostics, not the verdict: say once why it is missing.
            if ((0,aws/* isThrottling */.E2)(error) || targetProblem)
                return;
            targetProblem = true;
            opts.logger.info(`${label}: could not read the deployment's ECS target (${(0,aws/* awsErrorText */.xL)(error)}); following its status only`);
        }
    }
    function noteStage() {
        const traffic = trafficOf(target);
        timeline.note(currentEvent(target), traffic, clock.now(), [opts.kind, traffic]);
    }
    function progressOf() {
        const status = info?.status ?? 'Created';
        const parts = [
            `lifecycle event ${currentEvent(target)}`,
            trafficOf(target),
            status === 'Ready' ? 'status Ready: waiting for ContinueDeployment' : `status ${status}`,
        ];
        return parts.filter((p) => p !== '').join(', ');
    }
    async function followRollback() {
        const out = await codeDeploy.send(new dist_cjs.GetDeploymentCommand({ deploymentId: rollbackId }));
        const status = out.deploymentInfo?.status;
        progress = `CodeDeploy rollback ${rollbackId} ${status ?? 'unknown'}`;
        if (!status || !FINISHED.has(status))
            return { kind: 'wait', reason: progress };
        const reason = info ? codeDeployFailure(info, target) : '';
        return status === 'Succeeded'
            ? {
                kind: 'done',
                value: {
                    outcome: 'rolled-back',
                    headline: `rolled back by CodeDeploy: ${reason}`,
                    rollback: { deploymentId: rollbackId, outcome: 'completed' },
                },
            }
            : {
                kind: 'done',
                value: {
                    outcome: 'rollback-failed',
                    headline: `the deployment failed and CodeDeploy's rollback ${rollbackId} ${status.toUpperCase()} too: ${reason}${out.deploymentInfo?.errorInformation?.message ? `; rollback: ${out.deploymentInfo.errorInformation.message}` : ''}`,
                    rollback: { deploymentId: rollbackId, outcome: 'failed' },
                },
            };
    }
    async function attempt() {
        attempts++;
        try {
            if (rollbackId !== undefined)
                return await followRollback();
            const targetRunning = target === undefined || !TARGET_FINISHED.has(target.status ?? '');
            if (targetRunning)
                await readTarget();
            const targetDone = target !== undefined && TARGET_FINISHED.has(target.status ?? '');
            if (info === undefined || targetDone || attempts % DEPLOYMENT_EVERY_POLLS === 1) {
                const out = await codeDeploy.send(new dist_cjs.GetDeploymentCommand({ deploymentId: opts.deploymentId }));
                info = out.deploymentInfo ?? info;
            }
        }
        catch (error) {
            if ((0,aws/* isThrottling */.E2)(error))
                return throttled(error);
            return {
                kind: 'done',
                value: { outcome: 'error', headline: `GetDeployment failed: ${(0,aws/* awsErrorText */.xL)(error)}` },
            };
        }
        const status = info?.status ?? 'Created';
        const finished = FINISHED.has(status);
        // The last look at the target, for the failing lifecycle event's diagnostics.
        if (finished && status !== 'Succeeded' && !TARGET_FINISHED.has(target?.status ?? ''))
            await readTarget();
        noteStage();
        progress = progressOf();
        if (attempts % follow/* EVENTS_EVERY_POLLS */.P === 1 || finished)
            await timeline.readEvents(opts.ecs, opts);
        if (!finished || !info)
            return { kind: 'wait', reason: progress };
        const reason = codeDeployFailure(info, target);
        const rollbackDeployment = info.rollbackInfo?.rollbackDeploymentId;
        if (status === 'Succeeded') {
            return {
                kind: 'done',
                value: {
                    outcome: 'completed',
                    headline: `rolled out in ${(0,duration/* formatDuration */.a)(clock.now() - start)} (${opts.kind})`,
                },
            };
        }
        if (rollbackDeployment) {
            if (opts.waitForRollback) {
                rollbackId = rollbackDeployment;
                if (!rollbackAnnounced) {
                    rollbackAnnounced = true;
                    opts.logger.info(`${label}: CodeDeploy is rolling back (deployment ${rollbackDeployment}): ${reason}; waiting for the rollback (wait-for-rollback)`);
                }
                return { kind: 'wait', reason: progress };
            }
            return {
                kind: 'done',
                value: {
                    outcome: 'rolled-back',
                    headline: `CodeDeploy is rolling back: ${reason}`,
                    rollback: { deploymentId: rollbackDeployment, outcome: 'in-progress' },
                },
            };
        }
        return {
            kind: 'done',
            value: status === 'Failed'
                ? { outcome: 'failed', headline: `deployment FAILED: ${reason}` }
                : {
                    outcome: 'stopped',
                    headline: `the deployment was STOPPED before it finished: ${reason}`,
                },
        };
    }
    const result = await (0,poll/* poll */.w)({
        timeoutMs: opts.timeoutMs,
        intervalMs: watch/* POLL_INTERVAL_MS */.fv,
        maxIntervalMs: watch/* MAX_THROTTLED_INTERVAL_MS */.ZR,
        clock,
        random: opts.random,
        signal: opts.signal,
        attempt: async () => {
            const step = await attempt();
            opts.onAttempt?.(progress);
            return step;
        },
    });
    const base = {
        elapsedMs: clock.now() - start,
        progress,
        stages: timeline.stages,
        events: timeline.events,
    };
    switch (result.outcome) {
        case 'done':
            return { ...base, ...result.value };
        case 'aborted':
            return { ...base, outcome: 'cancelled', headline: `cancelled while waiting: ${progress}` };
        case 'failed':
        case 'deadline':
            return {
                ...base,
                outcome: 'timed-out',
                headline: `not rolled out within ${(0,duration/* formatDuration */.a)(opts.timeoutMs)}: ${progress}`,
                ...(rollbackId ? { rollback: { deploymentId: rollbackId, outcome: 'in-progress' } } : {}),
            };
    }
}

;// CONCATENATED MODULE: ./src/ecs/codedeploy/rollout.ts
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







const MINUTE = 60_000;
const DEFAULT_CONFIG = 'CodeDeployDefault.ECSAllAtOnce';
/**
 * The time a healthy deployment spends waiting, from the deployment group and config: the
 * deployment-ready wait, the wait before the original task set is terminated (the deployment
 * Succeeds only after it), and the canary interval or the linear steps.
 */
function codeDeployWaits(group, routing) {
    const parts = [];
    let minutes = 0;
    const add = (n, text) => {
        if (!n || n <= 0)
            return;
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
async function planCodeDeploy(client, cd, cluster, name, service) {
    const problems = [];
    const serviceName = service.serviceName ?? name;
    const defaults = (0,appspec/* defaultNames */.A_)(cluster, serviceName);
    const application = cd.application ?? defaults.application;
    const deploymentGroup = cd.deploymentGroup ?? defaults.deploymentGroup;
    const lb = service.loadBalancers?.[0];
    if (!lb?.containerName || lb.containerPort === undefined) {
        problems.push(`service '${name}' uses the CODE_DEPLOY controller but has no load balancer with a container name and port, which the AppSpec needs`);
    }
    let group;
    try {
        const out = await client.send(new dist_cjs.GetDeploymentGroupCommand({
            applicationName: application,
            deploymentGroupName: deploymentGroup,
        }));
        group = out.deploymentGroupInfo;
    }
    catch (error) {
        const which = (input, what, value, given) => `input '${input}': CodeDeploy ${what} '${value}' not found (service '${name}' uses the CODE_DEPLOY controller${given ? '' : `; the default is the console's name ${value}`})`;
        switch ((0,aws/* awsErrorName */.ZH)(error)) {
            case 'ApplicationDoesNotExistException':
                problems.push(which('codedeploy-application', 'application', application, !!cd.application));
                break;
            case 'DeploymentGroupDoesNotExistException':
                problems.push(which('codedeploy-deployment-group', 'deployment group', deploymentGroup, !!cd.deploymentGroup));
                break;
            default:
                throw new Error(`GetDeploymentGroup failed for service '${name}' (application '${application}', group '${deploymentGroup}'): ${(0,aws/* awsErrorText */.xL)(error)}`);
        }
        return { problems };
    }
    const deploys = group?.ecsServices ?? [];
    const clusterName = cluster.split('/').pop();
    if (deploys.length > 0 &&
        !deploys.some((s) => s.serviceName === serviceName && s.clusterName === clusterName)) {
        problems.push(`input 'codedeploy-deployment-group': deployment group '${deploymentGroup}' deploys ${deploys.map((s) => `${s.clusterName}/${s.serviceName}`).join(', ')}, not service '${serviceName}' of cluster '${clusterName}'`);
    }
    const deploymentConfig = cd.deploymentConfig ?? group?.deploymentConfigName ?? DEFAULT_CONFIG;
    let routing;
    try {
        const out = await client.send(new dist_cjs.GetDeploymentConfigCommand({ deploymentConfigName: deploymentConfig }));
        routing = out.deploymentConfigInfo?.trafficRoutingConfig;
    }
    catch (error) {
        if ((0,aws/* awsErrorName */.ZH)(error) === 'DeploymentConfigDoesNotExistException') {
            problems.push(`input 'codedeploy-deployment-config': CodeDeploy deployment config '${deploymentConfig}' not found`);
        }
        else {
            throw new Error(`GetDeploymentConfig failed for '${deploymentConfig}' (service '${name}'): ${(0,aws/* awsErrorText */.xL)(error)}`);
        }
    }
    if (problems.length > 0)
        return { problems };
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
async function rollOutCodeDeploy(r) {
    const { clock, logger, label, plan } = r;
    const started = clock.now();
    const taskDefinition = r.newTaskDefinition ?? r.previousTaskDefinition;
    const report = {
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
    const end = (status, headline) => {
        logger.info(`${label}: ${headline}`);
        return { ...report, status, headline, elapsedMs: clock.now() - started };
    };
    if (r.desiredCount !== undefined) {
        try {
            await r.ecs.send(new client_ecs_dist_cjs/* UpdateServiceCommand */.kZr({
                cluster: r.cluster,
                service: r.service,
                desiredCount: r.desiredCount,
            }));
        }
        catch (error) {
            return end('error', `UpdateService (desired-count) failed: ${(0,aws/* awsErrorText */.xL)(error)}`);
        }
        logger.info(`${label}: desired count set to ${r.desiredCount}`);
    }
    if (r.newTaskDefinition === undefined && !r.forceNewDeployment) {
        return end('completed', `desired count set to ${r.desiredCount}; no CodeDeploy deployment (force-new-deployment is false and the revision did not change)`);
    }
    const content = (0,appspec/* appSpecYaml */.ec)({
        taskDefinitionArn: taskDefinition,
        containerName: plan.containerName,
        containerPort: plan.containerPort,
        hooks: r.cd.hooks ?? [],
    });
    let deploymentId;
    try {
        const out = await r.codeDeploy.send(new dist_cjs.CreateDeploymentCommand({
            applicationName: plan.application,
            deploymentGroupName: plan.deploymentGroup,
            ...(r.cd.deploymentConfig ? { deploymentConfigName: r.cd.deploymentConfig } : {}),
            ...(r.cd.description ? { description: r.cd.description } : {}),
            revision: (0,appspec/* appSpecRevision */.q$)(content),
        }));
        deploymentId = out.deploymentId;
    }
    catch (error) {
        return end('error', `CreateDeployment failed: ${(0,aws/* awsErrorText */.xL)(error)}`);
    }
    if (!deploymentId)
        return end('error', 'CreateDeployment answered without a deployment ID');
    report.deploymentId = deploymentId;
    r.cd.onDeploymentCreated?.(r.service, deploymentId);
    const kind = `CodeDeploy ${plan.deploymentConfig}`;
    logger.info(`${label}: CodeDeploy deployment ${deploymentId} started with ${(0,task_definition/* shortTaskDefinition */.P5)(taskDefinition)} (application ${plan.application}, deployment group ${plan.deploymentGroup}, ${plan.deploymentConfig})`);
    if (!r.wait)
        return end('started', `CodeDeploy deployment ${deploymentId} started (not waiting: wait is false)`);
    const timeoutMs = r.timeoutMs + plan.extraWait.ms;
    if (plan.extraWait.ms > 0) {
        logger.info(`${label}: waiting up to ${(0,duration/* formatDuration */.a)(timeoutMs)}: timeout ${(0,duration/* formatDuration */.a)(r.timeoutMs)} + ${plan.extraWait.text} (${kind})`);
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
            return end('failed', follow.headline +
                (r.rollbackOnFailure && !plan.autoRollback
                    ? '; not rolled back: CodeDeploy rolls back its own deployments when the deployment group enables automatic rollback'
                    : ''));
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
            if (!r.rollbackOnFailure)
                return end('timed-out', follow.headline);
            // rollback-on-failure: CodeDeploy's own rollback, started by stopping the deployment.
            const stop = await stopDeployment(r.codeDeploy, deploymentId);
            report.rollback = {
                by: 'rollback-on-failure',
                taskDefinition: r.previousTaskDefinition,
                outcome: stop.stopped ? 'in-progress' : 'error',
                headline: `${stop.text} (rollback-on-failure)`,
                elapsedMs: 0,
                events: [],
                stoppedTasks: [],
            };
            return end(stop.stopped ? 'rolled-back' : 'rollback-failed', follow.headline);
        }
    }
}
function codeDeployRollback(follow, previous) {
    const outcome = follow.rollback?.outcome ?? 'in-progress';
    const to = (0,task_definition/* shortTaskDefinition */.P5)(previous);
    return {
        by: 'codedeploy',
        taskDefinition: previous,
        ...(follow.rollback?.deploymentId ? { deploymentId: follow.rollback.deploymentId } : {}),
        outcome,
        headline: outcome === 'completed'
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
async function stopDeployment(client, deploymentId) {
    try {
        await client.send(new dist_cjs.StopDeploymentCommand({ deploymentId, autoRollbackEnabled: true }));
        return {
            stopped: true,
            text: `stopped CodeDeploy deployment ${deploymentId} with automatic rollback`,
        };
    }
    catch (error) {
        return {
            stopped: false,
            text: `could not stop CodeDeploy deployment ${deploymentId}: ${(0,aws/* awsErrorText */.xL)(error)}`,
        };
    }
}


/***/ })

};
