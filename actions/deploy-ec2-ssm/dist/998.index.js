export const id = 998;
export const ids = [998];
export const modules = {

/***/ 3998:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {


// EXPORTS
__webpack_require__.d(__webpack_exports__, {
  deployLoadBalanced: () => (/* binding */ deployLoadBalanced),
  putBackServingHosts: () => (/* binding */ putBackServingHosts)
});

// EXTERNAL MODULE: ./node_modules/@aws-sdk/client-elastic-load-balancing-v2/dist-cjs/index.js
var dist_cjs = __webpack_require__(586);
// EXTERNAL MODULE: ./src/aws.ts
var aws = __webpack_require__(4258);
// EXTERNAL MODULE: ./src/duration.ts
var duration = __webpack_require__(7607);
// EXTERNAL MODULE: ./src/poll.ts
var poll = __webpack_require__(9810);
// EXTERNAL MODULE: ./src/logger.ts + 1 modules
var src_logger = __webpack_require__(205);
// EXTERNAL MODULE: ./src/ssm/deploy.ts
var deploy = __webpack_require__(5122);
// EXTERNAL MODULE: ./src/ssm/statuses.ts
var statuses = __webpack_require__(3907);
// EXTERNAL MODULE: ./src/ssm/targets.ts
var targets = __webpack_require__(5055);
;// CONCATENATED MODULE: ./src/ssm/lb/target-groups.ts
/**
 * What a load-balancer-aware rollout needs from ELBv2: each target group's shape and timings, where
 * each instance is registered, and the three moves of a batch (deregister, register, read health).
 * Only DescribeTargetGroups, DescribeTargetGroupAttributes, DescribeTargetHealth, RegisterTargets
 * and DeregisterTargets are called: the IAM policy in the action README lists exactly these.
 */

/** AWS's own default deregistration delay, when the attribute is missing. */
const AWS_DEFAULT_DEREGISTRATION_DELAY_MS = 300_000;
/** DescribeTargetGroups accepts at most 20 ARNs per call. */
const ARNS_PER_CALL = 20;
/** Read each group: shape, timings and targets. Throws the SDK error (TargetGroupNotFound...). */
async function readTargetGroups(elb, arns) {
    const groups = [];
    for (let i = 0; i < arns.length; i += ARNS_PER_CALL) {
        const page = await elb.send(new dist_cjs/* DescribeTargetGroupsCommand */.sC7({ TargetGroupArns: arns.slice(i, i + ARNS_PER_CALL) }));
        for (const g of page.TargetGroups ?? []) {
            const arn = g.TargetGroupArn ?? '';
            groups.push({
                arn,
                name: g.TargetGroupName ?? arn,
                targetType: g.TargetType ?? 'instance',
                loadBalancerArns: g.LoadBalancerArns ?? [],
                ...(g.Port !== undefined ? { port: g.Port } : {}),
                healthCheckMs: (g.HealthCheckIntervalSeconds ?? 30) * 1000 * (g.HealthyThresholdCount ?? 5),
                deregistrationDelayMs: await deregistrationDelayMs(elb, arn),
                targets: await describeTargetHealth(elb, arn),
            });
        }
    }
    // In the order the user gave them.
    return arns.map((arn) => groups.find((g) => g.arn === arn)).filter((g) => g !== undefined);
}
async function deregistrationDelayMs(elb, arn) {
    const out = await elb.send(new dist_cjs/* DescribeTargetGroupAttributesCommand */.cKh({ TargetGroupArn: arn }));
    const value = out.Attributes?.find((a) => a.Key === 'deregistration_delay.timeout_seconds')?.Value;
    const seconds = Number(value);
    return value !== undefined && Number.isFinite(seconds)
        ? seconds * 1000
        : AWS_DEFAULT_DEREGISTRATION_DELAY_MS;
}
/** Health of every registered target, or of the given ones (then unregistered ones read `unused`). */
async function describeTargetHealth(elb, arn, only) {
    const out = await elb.send(new dist_cjs/* DescribeTargetHealthCommand */.qyg({
        TargetGroupArn: arn,
        ...(only ? { Targets: only.map(targetOf) } : {}),
    }));
    return (out.TargetHealthDescriptions ?? []).map((d) => ({
        instanceId: d.Target?.Id ?? '',
        port: d.Target?.Port ?? 0,
        state: d.TargetHealth?.State ?? 'unavailable',
        ...(d.TargetHealth?.Reason ? { reason: d.TargetHealth.Reason } : {}),
        ...(d.TargetHealth?.Description ? { description: d.TargetHealth.Description } : {}),
    }));
}
/** Take targets out of a group (they drain) or put them back (they are health-checked again). */
async function moveTargets(elb, move, arn, targets) {
    if (targets.length === 0)
        return;
    const input = { TargetGroupArn: arn, Targets: targets.map(targetOf) };
    await elb.send(move === 'register' ? new dist_cjs/* RegisterTargetsCommand */.PE6(input) : new dist_cjs/* DeregisterTargetsCommand */.Atx(input));
}
function targetOf(r) {
    return { Id: r.instanceId, Port: r.port };
}
/**
 * Groups a rolling deploy cannot use: other target types (the deploy moves instances), and groups
 * attached to no load balancer, where every target reads `unused` so no health could be checked.
 */
function targetGroupProblems(groups, asked) {
    const problems = [];
    for (const arn of asked)
        if (!groups.some((g) => g.arn === arn))
            problems.push(`${arn} was not found`);
    for (const g of groups) {
        if (g.targetType !== 'instance')
            problems.push(`${g.name} has target type ${g.targetType}; only groups of instance targets can be deployed batch by batch`);
        else if (g.loadBalancerArns.length === 0)
            problems.push(`${g.name} is attached to no load balancer: its targets are never health-checked, so a batch could not be seen turning healthy`);
    }
    return problems;
}
/** A target that counts as serving for the group: healthy, or `unused` because its AZ is not served. */
function isSettledHealthy(t) {
    return t.state === 'healthy' || (t.state === 'unused' && t.reason === 'Target.NotInUse');
}
/** Gone from the group: what a drained target reads when asked for explicitly. */
function isDrained(t) {
    return t === undefined || t.state === 'unused';
}
/** `healthy`, or `unhealthy (Target.ResponseCodeMismatch: Health checks failed with these codes: [502])`. */
function describeHealth(t) {
    if (!t.reason)
        return t.state;
    return `${t.state} (${t.reason}${t.description ? `: ${t.description}` : ''})`;
}

;// CONCATENATED MODULE: ./src/ssm/lb/plan.ts
/**
 * The batch plan of a load-balancer-aware rollout, decided before anything changes: which
 * instances go together, where each is registered, and which batches would leave a group with no
 * healthy target (downtime, warned about but allowed: with one instance there is no other way).
 */


/** max-concurrency as a batch size: a number, or a percentage of the instances rounded down, at least 1. */
function batchSizeOf(maxConcurrency, instanceCount) {
    const size = (0,targets/* instancesOf */.sG)(maxConcurrency, instanceCount);
    return Math.max(1, Math.min(Number.isFinite(size) ? size : 1, Math.max(1, instanceCount)));
}
function planBatches(instanceIds, maxConcurrency, groups) {
    const sorted = [...new Set(instanceIds)].sort();
    const batchSize = batchSizeOf(maxConcurrency, sorted.length);
    const batches = [];
    for (let i = 0; i < sorted.length; i += batchSize)
        batches.push(sorted.slice(i, i + batchSize));
    const registrations = new Map();
    for (const id of sorted) {
        const regs = groups.flatMap((g) => g.targets
            .filter((t) => t.instanceId === id)
            .map((t) => ({ groupArn: g.arn, groupName: g.name, port: t.port })));
        registrations.set(id, regs);
    }
    const notInAnyGroup = sorted.filter((id) => (registrations.get(id) ?? []).length === 0);
    const downtime = [];
    batches.forEach((batch, index) => {
        const leaving = new Set(batch);
        for (const g of groups) {
            if (!g.targets.some((t) => leaving.has(t.instanceId)))
                continue;
            const healthy = g.targets.filter(isSettledHealthy);
            const left = healthy.filter((t) => !leaving.has(t.instanceId));
            if (left.length === 0)
                downtime.push({ batch: index + 1, group: g.name, healthyNow: healthy.length });
        }
    });
    return { batchSize, batches, registrations, notInAnyGroup, downtime };
}
/** The warning for the log and the summary. */
function describeDowntime(w, batchCount) {
    return (`target group ${w.group} will have no healthy target during batch ${w.batch}/${batchCount} ` +
        `(${w.healthyNow} healthy now, all in that batch): expect downtime while it deploys`);
}

;// CONCATENATED MODULE: ./src/ssm/lb/rolling.ts









/**
 * Load balancers keep routing to a deregistered target for a few seconds after DeregisterTargets
 * returns, whatever the deregistration delay: no drain wait is shorter than this.
 */
const MIN_DRAIN_MS = 5_000;
/** Default cadence of the drain and health reads: target health moves every few seconds. */
const LB_INTERVAL_MS = 3000;
async function deployBehindTargetGroups(opts) {
    const clock = opts.clock ?? poll/* systemClock */.m;
    // Warnings (downtime, timeout coverage, a drain cut short) go to the log and the summary.
    const warnings = [];
    const given = opts.logger ?? src_logger/* silentLogger */.qq;
    const logger = {
        ...given,
        warning: (line) => {
            warnings.push(line);
            given.warning(line);
        },
    };
    const started = clock.now();
    // The one-off runs before any host leaves its groups: if it fails, nothing was touched.
    const pre = await (0,deploy/* preDeployFirst */.jN)(opts);
    if ('stopped' in pre)
        return { ...pre.stopped, batches: [], warnings, outOfService: [] };
    const reach = await (0,deploy/* reachInstances */.G)(opts, true);
    if (!reach.ready)
        return { ...(0,deploy/* withPreDeploy */.Dn)(reach.rollout, pre.report), batches: [], warnings, outOfService: [] };
    const instanceIds = reach.instanceIds ?? [];
    if (opts.targets.kind === 'tags')
        logger.info(`resolved the tag targets to ${instanceIds.length} instance(s) with an online SSM agent`);
    // Refused before anything changes: nothing is deregistered from a group this cannot follow.
    const groups = await readTargetGroups(opts.elb, opts.targetGroupArns);
    const problems = targetGroupProblems(groups, opts.targetGroupArns);
    if (problems.length > 0)
        throw new Error(`input 'target-groups': ${problems.join('; ')}`);
    const plan = planBatches(instanceIds, opts.maxConcurrency, groups);
    describePlan(plan, groups, logger);
    for (const w of plan.downtime)
        logger.warning(describeDowntime(w, plan.batches.length));
    const timeoutMs = planTimeout(opts, plan, groups, logger);
    const deadline = started + timeoutMs;
    const allowedErrors = (0,targets/* instancesOf */.sG)(opts.maxErrors, instanceIds.length);
    const out = new OutOfServiceBook(opts.onOutOfService);
    const outcomes = [];
    const batches = [];
    const commandIds = [];
    const batchRollouts = [];
    let failed = 0;
    let stop;
    for (const [i, batch] of plan.batches.entries()) {
        const label = `batch ${i + 1}/${plan.batches.length}`;
        if (stop === undefined && opts.signal?.aborted)
            stop = { status: 'cancelled', reason: 'the workflow was cancelled' };
        if (stop === undefined && clock.now() >= deadline)
            stop = { status: 'timed-out', reason: `timeout (${(0,duration/* formatDuration */.a)(timeoutMs)}) passed` };
        if (stop !== undefined) {
            batches.push({ index: i + 1, instanceIds: batch, outcome: 'not-started', lbCalls: 0 });
            continue;
        }
        const report = await runBatch({
            opts,
            label,
            index: i + 1,
            batch,
            plan,
            groups,
            out,
            deadline,
            allowedErrors: allowedErrors - failed,
            clock,
            logger,
            onSent: (id) => commandIds.push(id),
            onRollout: (r) => batchRollouts.push(r),
        });
        batches.push(report.batch);
        outcomes.push(...report.outcomes);
        failed += report.failedHosts;
        if (report.batch.outcome === 'interrupted')
            stop = {
                status: opts.signal?.aborted ? 'cancelled' : 'timed-out',
                reason: report.batch.reason ?? 'interrupted',
            };
        else if (failed > allowedErrors)
            stop = {
                status: 'failed',
                reason: `${failed} host(s) failed, more than max-errors (${opts.maxErrors}) allows: no further batch started; the instances not yet reached stay registered and untouched`,
            };
    }
    const succeeded = outcomes.filter((o) => o.succeeded && o.result !== 'outdated').length;
    const outdated = outcomes.filter((o) => o.succeeded && o.result === 'outdated').length;
    let status = stop?.status ?? (failed > 0 ? 'failed' : 'succeeded');
    if (stop === undefined && batches.some((b) => b.outcome === 'failed'))
        status = 'failed';
    const reason = stop?.reason ??
        (status === 'failed'
            ? batches
                .filter((b) => b.outcome === 'failed')
                .map((b) => `batch ${b.index}: ${b.reason ?? 'failed'}`)
                .join('; ')
            : undefined);
    const consoleUrl = batchRollouts.find((r) => r.consoleUrl)?.consoleUrl;
    const cancelErrors = batchRollouts.flatMap((r) => (r.cancelError ? [r.cancelError] : []));
    const rollout = {
        ...(0,deploy/* baseOf */.bx)(opts),
        status,
        ...(consoleUrl ? { consoleUrl } : {}),
        ...(commandIds[0] ? { commandId: commandIds[0] } : {}),
        ...(commandIds.length > 1 ? { commandIds } : {}),
        instances: outcomes.sort((a, b) => a.instanceId.localeCompare(b.instanceId)),
        succeeded,
        outdated,
        failed: outcomes.length - succeeded - outdated,
        ...(reason ? { reason } : {}),
        elapsedMs: clock.now() - started,
        ...(cancelErrors.length > 0 ? { cancelError: cancelErrors.join('; ') } : {}),
    };
    return {
        ...(0,deploy/* withPreDeploy */.Dn)((0,deploy/* withSkipped */.DY)(rollout, reach.offline, opts.spec.image, opts.skipOffline === true), pre.report),
        batches,
        warnings,
        outOfService: out.hosts,
    };
}
/**
 * The hosts this run holds out of service, kept in step with the caller's state: each is added
 * before its deregistration and removed once it is registered again.
 */
class OutOfServiceBook {
    save;
    hosts = [];
    constructor(save) {
        this.save = save;
    }
    add(hosts) {
        this.hosts.push(...hosts);
        this.save?.([...this.hosts]);
    }
    sentTo(instanceIds, commandId) {
        for (const h of this.hosts)
            if (instanceIds.includes(h.instanceId))
                h.commandId ??= commandId;
        this.save?.([...this.hosts]);
    }
    putBack(instanceIds) {
        this.hosts = this.hosts.filter((h) => !instanceIds.includes(h.instanceId));
        this.save?.([...this.hosts]);
    }
}
async function runBatch(ctx) {
    const { opts, label, batch, clock, logger } = ctx;
    const report = {
        index: ctx.index,
        instanceIds: batch,
        outcome: 'healthy',
        lbCalls: 0,
    };
    const registered = batch.flatMap((id) => (ctx.plan.registrations.get(id) ?? []).map((r) => ({ ...r, instanceId: id })));
    const groupNames = [...new Set(registered.map((r) => r.groupName))];
    // 1. Out of every group, recorded first.
    if (registered.length > 0) {
        logger.info(`${label}: draining ${batch.length} host(s) from ${groupNames.join(', ')}`);
        ctx.out.add(registered);
        const drainStart = clock.now();
        for (const [arn, regs] of byGroup(registered)) {
            await moveTargets(opts.elb, 'deregister', arn, regs);
            report.lbCalls++;
        }
        const drain = await waitForDrain(ctx, registered, report);
        report.drainMs = clock.now() - drainStart;
        if (drain === 'interrupted') {
            // Nothing was sent: every host serves its old version and goes back at once.
            await putBack(ctx, registered, report);
            return {
                batch: { ...report, outcome: 'interrupted', reason: 'cancelled while draining' },
                outcomes: [],
                failedHosts: 0,
            };
        }
        logger.info(`${label}: drained in ${(0,duration/* formatDuration */.a)(report.drainMs)}${report.drainCut ? ' (cut short by drain-timeout)' : ''}; deploying`);
    }
    else
        logger.info(`${label}: ${batch.length} host(s) in no target group; deploying`);
    // 2. The deploy, to this batch only.
    const deployStart = clock.now();
    const rollout = await (0,deploy/* sendAndFollow */.J6)({
        ...opts,
        // A batch of more than 50 goes out as one command per 50: each host gets its own.
        onSent: (commandId, instanceIds) => {
            ctx.onSent(commandId);
            ctx.out.sentTo(instanceIds ?? batch, commandId);
            opts.onSent?.(commandId, instanceIds);
        },
    }, { kind: 'instances', instanceIds: batch }, {
        maxConcurrency: String(batch.length),
        maxErrors: String(Math.max(0, ctx.allowedErrors)),
        timeoutMs: Math.max(1, ctx.deadline - clock.now()),
    });
    report.deployMs = clock.now() - deployStart;
    ctx.onRollout(rollout);
    const failedHosts = rollout.instances.filter((o) => !o.succeeded).length;
    // 3. Back in every group: the hosts that serve (new or previous version).
    const serving = new Set(rollout.instances.filter(servesAfter).map((o) => o.instanceId));
    const back = registered.filter((r) => serving.has(r.instanceId));
    const stayOut = [
        ...new Set(registered.filter((r) => !serving.has(r.instanceId)).map((r) => r.instanceId)),
    ];
    if (back.length > 0)
        await putBack(ctx, back, report);
    if (stayOut.length > 0)
        logger.info(`${label}: ${stayOut.join(', ')} serve(s) nothing known to be healthy and stay out of their groups`);
    if (rollout.status === 'cancelled' || rollout.status === 'timed-out')
        return {
            batch: { ...report, outcome: 'interrupted', reason: rollout.reason ?? rollout.status },
            outcomes: rollout.instances,
            failedHosts,
        };
    // 4. Healthy in every group before the next batch leaves.
    if (back.length > 0) {
        const healthStart = clock.now();
        const unhealthy = await waitForHealthy(ctx, back, report);
        report.healthyMs = clock.now() - healthStart;
        if (unhealthy !== undefined) {
            report.outcome = 'failed';
            report.reason = unhealthy.reason;
            logger.info(`${label}: ${unhealthy.reason}`);
            // A host that deployed but does not turn healthy in the group failed all the same.
            const outcomes = rollout.instances.map((o) => unhealthy.hosts.has(o.instanceId) && o.succeeded
                ? {
                    ...o,
                    succeeded: false,
                    reason: `not healthy in its target group: ${unhealthy.reason}`,
                }
                : o);
            return {
                batch: report,
                outcomes,
                failedHosts: outcomes.filter((o) => !o.succeeded).length,
            };
        }
        logger.info(`${label}: registered, ${new Set(back.map((r) => r.instanceId)).size}/${batch.length} healthy in ${groupNames.join(', ')} after ${(0,duration/* formatDuration */.a)(report.healthyMs)}`);
    }
    if (failedHosts > 0 || stayOut.length > 0) {
        report.outcome = 'failed';
        report.reason = `${failedHosts} host(s) failed to deploy${stayOut.length ? `; ${stayOut.length} left out of their groups` : ''}`;
    }
    return { batch: report, outcomes: rollout.instances, failedHosts };
}
/** Serves after its deploy: the new version, the previous one, or untouched. */
function servesAfter(o) {
    switch (o.result) {
        case 'deployed':
        case 'outdated':
        case 'rejected':
        case 'rolled-back':
            return true;
        case 'failed':
            // Stopped before it changed anything, so the container it had still serves; unless it had
            // none, or the rollback itself failed.
            return o.previousImage !== undefined && o.failedStep !== 'rollback';
        case 'failed-no-previous':
        case 'skipped':
            return false;
        case undefined:
            // Never started there: untouched. Started without a result: unknown, so it stays out.
            return !(0,statuses/* invocationState */.Ke)(o.status).ran;
    }
}
async function putBack(ctx, regs, report) {
    for (const [arn, group] of byGroup(regs)) {
        await moveTargets(ctx.opts.elb, 'register', arn, group);
        report.lbCalls++;
    }
    ctx.out.putBack([...new Set(regs.map((r) => r.instanceId))]);
}
function byGroup(regs) {
    const map = new Map();
    for (const r of regs)
        map.set(r.groupArn, [...(map.get(r.groupArn) ?? []), r]);
    return map;
}
/** Until every target of the batch is gone from its group: at least MIN_DRAIN_MS, at most drain-timeout. */
async function waitForDrain(ctx, regs, report) {
    const { opts, clock } = ctx;
    const start = clock.now();
    const minMs = opts.minDrainMs ?? MIN_DRAIN_MS;
    const delayMs = Math.max(...ctx.groups
        .filter((g) => regs.some((r) => r.groupArn === g.arn))
        .map((g) => g.deregistrationDelayMs));
    const capMs = Math.min(opts.drainTimeoutMs, Math.max(0, ctx.deadline - clock.now()));
    const result = await (0,poll/* poll */.w)({
        timeoutMs: Math.max(minMs, capMs),
        ...lbCadence(ctx, 3),
        attempt: async () => {
            const left = await readNotYet(ctx, regs, report, (t) => !isDrained(t));
            if (left instanceof Error)
                return throttledOrFail(left, 'reading the drain');
            if (left.length === 0 && clock.now() - start >= minMs)
                return { kind: 'done', value: undefined };
            const draining = left.length
                ? `${left.length} target(s) still draining`
                : 'drained; waiting out the minimum drain';
            return {
                kind: 'wait',
                reason: `${draining} (deregistration delay ${(0,duration/* formatDuration */.a)(delayMs)})`,
                minDelayMs: left.length === 0 ? minMs - (clock.now() - start) : 0,
            };
        },
    });
    if (result.outcome === 'done')
        return 'drained';
    if (result.outcome === 'aborted')
        return 'interrupted';
    if (result.outcome === 'failed')
        throw new Error(result.reason);
    report.drainCut = true;
    ctx.logger.warning(`${ctx.label}: drain-timeout (${(0,duration/* formatDuration */.a)(opts.drainTimeoutMs)}) cut the drain short: ${result.reason}; requests still in flight to these hosts may fail`);
    return 'cut';
}
/** How the drain and health reads poll ELBv2: every lbIntervalMs, backing off to `slowest` times it. */
function lbCadence(ctx, slowest) {
    const intervalMs = ctx.opts.lbIntervalMs ?? LB_INTERVAL_MS;
    const { random, signal } = ctx.opts;
    return { intervalMs, maxIntervalMs: intervalMs * slowest, clock: ctx.clock, random, signal };
}
/** undefined when every re-registered target is healthy in each group in time, else why not. */
async function waitForHealthy(ctx, regs, report) {
    const { opts, clock } = ctx;
    const checkMs = Math.max(...ctx.groups.filter((g) => regs.some((r) => r.groupArn === g.arn)).map((g) => g.healthCheckMs));
    const budget = opts.healthTimeoutMs + checkMs;
    let last = [];
    const result = await (0,poll/* poll */.w)({
        timeoutMs: Math.min(budget, Math.max(0, ctx.deadline - clock.now())),
        ...lbCadence(ctx, 2),
        attempt: async () => {
            const notYet = await readNotYet(ctx, regs, report, (t) => t === undefined || !isSettledHealthy(t));
            if (notYet instanceof Error)
                return throttledOrFail(notYet, 'reading target health');
            last = notYet;
            if (notYet.length === 0)
                return { kind: 'done', value: undefined };
            return {
                kind: 'wait',
                reason: `${notYet.length} target(s) not healthy yet: ${notYet
                    .slice(0, 5)
                    .map((t) => `${t.instanceId} in ${t.groupName}: ${describeHealth(t.health)}`)
                    .join('; ')}`,
            };
        },
    });
    if (result.outcome === 'done')
        return undefined;
    const hosts = new Set(last.map((t) => t.instanceId));
    const who = last
        .map((t) => `${t.instanceId} in ${t.groupName}: ${describeHealth(t.health)}`)
        .join('; ');
    if (result.outcome === 'deadline')
        return {
            reason: `not healthy within health-timeout + the group's health checks (${(0,duration/* formatDuration */.a)(budget)}): ${who}`,
            hosts,
        };
    return { reason: result.reason, hosts };
}
/** The targets of `regs` whose health matches `notYet`, reading each group once; an Error on failure. */
async function readNotYet(ctx, regs, report, notYet) {
    const found = [];
    try {
        for (const [arn, group] of byGroup(regs)) {
            const health = await describeTargetHealth(ctx.opts.elb, arn, group);
            report.lbCalls++;
            for (const r of group) {
                const h = health.find((t) => t.instanceId === r.instanceId && t.port === r.port);
                if (notYet(h))
                    found.push({ ...r, health: h ?? { ...r, state: 'unused' } });
            }
        }
    }
    catch (error) {
        return error instanceof Error ? error : new Error(String(error));
    }
    return found;
}
function throttledOrFail(error, doing) {
    if ((0,aws/* isThrottling */.E2)(error))
        return { kind: 'wait', reason: 'ELBv2 is throttling; backing off', backoff: true };
    return {
        kind: 'fail',
        reason: `${doing} failed (elasticloadbalancing:DescribeTargetHealth): ${(0,aws/* awsErrorText */.xL)(error)}`,
    };
}
function describePlan(plan, groups, logger) {
    const count = plan.batches.flat().length;
    logger.info(`${count} instance(s) in ${plan.batches.length} batch(es) of at most ${plan.batchSize}, behind ` +
        groups
            .map((g) => `${g.name} (${g.targets.filter(isSettledHealthy).length}/${g.targets.length} healthy, ` +
            `deregistration delay ${(0,duration/* formatDuration */.a)(g.deregistrationDelayMs)}, health checks ${(0,duration/* formatDuration */.a)(g.healthCheckMs)})`)
            .join(', '));
    if (plan.notInAnyGroup.length > 0)
        logger.info(`in no target group, deployed without draining: ${plan.notInAnyGroup.join(', ')}`);
}
/** The worst case of one batch: drain, the host's whole deploy, then the group's health checks. */
function worstBatchMs(opts, groups) {
    const delay = Math.max(0, ...groups.map((g) => g.deregistrationDelayMs));
    const drainMs = Math.max(opts.minDrainMs ?? MIN_DRAIN_MS, Math.min(delay, opts.drainTimeoutMs));
    const healthMs = opts.healthTimeoutMs + Math.max(0, ...groups.map((g) => g.healthCheckMs));
    return { drainMs, healthMs, totalMs: drainMs + opts.executionTimeoutMs + healthMs };
}
function planTimeout(opts, plan, groups, logger) {
    const worst = worstBatchMs(opts, groups);
    const needed = plan.batches.length * worst.totalMs;
    const arithmetic = `${plan.batches.length} batch(es) × (drain ${(0,duration/* formatDuration */.a)(worst.drainMs)} + execution-timeout ${(0,duration/* formatDuration */.a)(opts.executionTimeoutMs)} ` +
        `+ health ${(0,duration/* formatDuration */.a)(worst.healthMs)}) = ${(0,duration/* formatDuration */.a)(needed)}`;
    if (needed <= opts.timeoutMs)
        return opts.timeoutMs;
    if (!opts.timeoutExplicit) {
        logger.info(`timeout grows to ${(0,duration/* formatDuration */.a)(needed)} to cover the plan: ${arithmetic}`);
        return needed;
    }
    logger.warning(`timeout (${(0,duration/* formatDuration */.a)(opts.timeoutMs)}) may not cover the plan at worst: ${arithmetic}. ` +
        'Batches not started by then are left registered and untouched.');
    return opts.timeoutMs;
}

// EXTERNAL MODULE: ./src/ssm/quote.ts
var quote = __webpack_require__(8061);
// EXTERNAL MODULE: ./src/ssm/result.ts
var result = __webpack_require__(3256);
// EXTERNAL MODULE: ./src/ssm/run-command.ts
var run_command = __webpack_require__(4064);
;// CONCATENATED MODULE: ./src/ssm/lb/settle.ts










async function settleOutOfService(opts) {
    const logger = opts.logger ?? src_logger/* silentLogger */.qq;
    const ids = [...new Set(opts.hosts.map((h) => h.instanceId))].sort();
    const verdicts = new Map();
    const ask = [];
    // What each host's own deploy command says.
    const commandIds = new Set(opts.hosts.flatMap((h) => (h.commandId ? [h.commandId] : [])));
    const seen = new Map();
    for (const commandId of commandIds) {
        try {
            for (const o of await (0,deploy/* readCancelledHosts */.Fb)(opts.ssm, commandId, opts.image))
                seen.set(o.instanceId, o);
        }
        catch (error) {
            logger.info(`could not read command ${commandId}: ${(0,aws/* awsErrorText */.xL)(error)}`);
        }
    }
    for (const id of ids) {
        const host = opts.hosts.find((h) => h.instanceId === id);
        const o = seen.get(id);
        if (!host?.commandId)
            verdicts.set(id, { serves: true, why: 'no deploy was sent to it' });
        else if (o === undefined)
            ask.push(id);
        else if (o.result !== undefined)
            verdicts.set(id, { serves: servesAfter(o), why: o.result });
        else if (servesAfter(o))
            verdicts.set(id, { serves: true, why: `its deploy never started (${o.statusWords})` });
        else
            ask.push(id);
    }
    if (ask.length > 0) {
        logger.info(`${ask.length} host(s) were mid-deploy: asking them for their result, for up to ${(0,duration/* formatDuration */.a)(opts.budgetMs)}: ${ask.join(', ')}`);
        for (const [id, verdict] of await askHosts(opts, ask))
            verdicts.set(id, verdict);
    }
    const putBack = ids.filter((id) => verdicts.get(id)?.serves === true);
    const groups = new Map();
    for (const h of opts.hosts)
        if (putBack.includes(h.instanceId))
            groups.set(h.groupArn, [...(groups.get(h.groupArn) ?? []), h]);
    const failedGroups = new Set();
    for (const [arn, regs] of groups) {
        try {
            await moveTargets(opts.elb, 'register', arn, regs);
            logger.info(`registered ${regs.map((r) => r.instanceId).join(', ')} in ${regs[0]?.groupName ?? arn} again`);
        }
        catch (error) {
            for (const r of regs)
                failedGroups.add(r.instanceId);
            logger.info(`could not register hosts in ${regs[0]?.groupName ?? arn} again: ${(0,aws/* awsErrorText */.xL)(error)}`);
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
function readResultScript(stateDir, containerName, waitSeconds) {
    return [
        `state_dir=${(0,quote/* quote */.hD)(stateDir)}`,
        `result_file="$state_dir/last-result."${(0,quote/* quote */.hD)(containerName)}`,
        `if ! flock -w ${Math.max(1, Math.floor(waitSeconds))} "$state_dir/lock" true; then echo 'the deploy still holds the lock'; exit 3; fi`,
        `if [ ! -s "$result_file" ]; then echo 'no result recorded'; exit 4; fi`,
        // Stored as `<epoch> <json>`; printed as the result line the deploy prints.
        `sed -n 's/^[0-9]* /${result/* RESULT_MARKER */.x}/p' "$result_file" | tail -n 1`,
    ].join('\n');
}
async function askHosts(opts, ids) {
    const verdicts = new Map();
    const waitSeconds = Math.max(1, Math.floor(opts.budgetMs / 1000) - 10);
    // SendCommand takes 50 instance IDs: one command per 50, all waiting within the same budget.
    const chunks = [];
    for (let i = 0; i < ids.length; i += targets/* MAX_INSTANCE_IDS */.sb)
        chunks.push(ids.slice(i, i + targets/* MAX_INSTANCE_IDS */.sb));
    await Promise.all(chunks.map(async (chunk) => {
        try {
            const run = await (0,run_command/* runCommand */.d1)({
                ...(0,run_command/* sendSettingsOf */.Xu)(opts),
                targets: { kind: 'instances', instanceIds: chunk },
                commands: readResultScript(opts.stateDir, opts.containerName, waitSeconds),
                executionTimeoutSeconds: waitSeconds + 10,
                maxConcurrency: '100%',
                maxErrors: '100%',
                comment: 'shipyard: read the result of an interrupted deploy',
                timeoutMs: opts.budgetMs,
            });
            // The answer is the result line the deploy printed: read it as a deploy's output.
            for (const o of run.invocations.map((inv) => (0,deploy/* instanceOutcome */.sy)(inv, opts.image)))
                verdicts.set(o.instanceId, o.result !== undefined
                    ? { serves: servesAfter(o), why: `${o.result} (${o.newImage ?? opts.image})` }
                    : { serves: false, why: `no result: ${o.outputTail?.trim() || o.statusWords}` });
        }
        catch (error) {
            (opts.logger ?? src_logger/* silentLogger */.qq).info(`could not ask ${chunk.join(', ')} for their result: ${(0,aws/* awsErrorText */.xL)(error)}`);
        }
    }));
    for (const id of ids)
        if (!verdicts.has(id))
            verdicts.set(id, { serves: false, why: 'its result could not be read in time' });
    return verdicts;
}

;// CONCATENATED MODULE: ./actions/deploy-ec2-ssm/load-balanced.ts
/**
 * The load-balanced path, loaded only when `target-groups` is set: the ELBv2 client is the
 * largest part of it, and the plain path keeps its start-up time without it.
 */




function elbClient(region) {
    return new dist_cjs/* ElasticLoadBalancingV2Client */.MlD((0,aws/* awsClientConfig */.rw)({ region }));
}
function deployLoadBalanced(opts) {
    return deployBehindTargetGroups({ ...opts, elb: elbClient(opts.region) });
}
function putBackServingHosts(opts) {
    return settleOutOfService({ ...opts, elb: elbClient(opts.region) });
}


/***/ })

};
