/** The deploy-ec2-ssm adapter: read inputs, deploy, write outputs and the job summary. */
import * as core from '@actions/core';
import { SSMClient } from '@aws-sdk/client-ssm';
import {
  readInputs,
  type DeployEc2SsmInputs,
  type RolloutInputs,
} from '../../src/inputs/deploy-ec2-ssm.js';
import { batchesJson, batchesSummary } from '../../src/ssm/lb/summary.js';
import {
  deployEc2Ssm,
  type DeployEc2SsmOptions,
  hostSpec,
  prepareDeployCommand,
  timeoutCoverageWarning,
  type DeployRollout,
} from '../../src/ssm/deploy.js';
import {
  describeRolloutFailure,
  instancesJson,
  outdatedWarning,
  printedScriptSummary,
  rolloutSummary,
} from '../../src/ssm/report.js';
import { prepareOneOffCommand, preDeploySummary } from '../../src/ssm/pre-deploy.js';
import { awsClientConfig } from '../../src/aws.js';
import { DEFAULT_STATE_DIR, hostAccessOptions, type DeploySpec } from '../../src/ssm/spec.js';
import { cancelOnSignals } from '../../src/signals.js';
import { failWith, untrustedLogger, writeSummary } from '../shared/io.js';
import { STATE } from './state.js';

export async function run(): Promise<void> {
  try {
    const inputs = readInputs((name) => core.getInput(name));
    const region = await resolveRegion(inputs);
    if (inputs.mode === 'print-script') {
      const { script } = prepareDeployCommand(hostSpec(inputs.spec, region));
      core.info(script);
      core.setOutput('status', 'printed');
      await writeSummary(printedScriptSummary(script));
      return;
    }
    // resolveRegion finds one or throws, unless the inputs are print-script's.
    if (region === undefined) throw new Error('no region');
    // Rendered once, before any AWS call: a script SSM would refuse fails here.
    const spec = withRunId(inputs.spec);
    const command = prepareDeployCommand(hostSpec(spec, region));
    const preDeploy = inputs.preDeploy && {
      ...inputs.preDeploy,
      commands: prepareOneOffCommand(hostSpec(spec, region), inputs.preDeploy).commands,
    };

    const coverage = timeoutCoverageWarning({
      timeoutMs: inputs.timeoutMs,
      executionTimeoutMs: inputs.executionTimeoutMs,
      maxConcurrency: inputs.maxConcurrency,
      ...(inputs.targets.kind === 'instances'
        ? { instanceCount: inputs.targets.instanceIds.length }
        : {}),
    });
    if (coverage && inputs.targetGroupArns.length === 0) core.warning(coverage);
    const hostAccess = hostAccessOptions(inputs.spec.runOptions);
    if (hostAccess.length > 0)
      core.warning(
        `allow-host-access: true lets these run-options give the container its host: ${hostAccess.join(', ')}`,
      );

    const ssm = new SSMClient(awsClientConfig({ region }));
    const stopOnSignal = cancelOnSignals();
    const sent: string[] = [];
    const common = {
      ssm,
      region,
      spec,
      command,
      targets: inputs.targets,
      documentName: inputs.documentName,
      maxConcurrency: inputs.maxConcurrency,
      maxErrors: inputs.maxErrors,
      comment: inputs.comment ?? defaultComment(),
      timeoutMs: inputs.timeoutMs,
      executionTimeoutMs: inputs.executionTimeoutMs,
      waitForAgentMs: inputs.waitForAgentMs,
      skipOffline: inputs.skipOffline,
      output: inputs.output,
      onSent: (commandId: string) => {
        // Saved at once: if this step is killed while waiting, the post step cancels them all.
        sent.push(commandId);
        core.saveState(STATE.commandId, sent[0]);
        core.saveState(STATE.commandIds, JSON.stringify(sent));
        core.saveState(STATE.region, region);
        core.saveState(STATE.image, inputs.spec.image);
        core.setOutput('command-id', sent[0]);
      },
      // Lines may quote hosts (their output, a health command's answer): no workflow command in
      // them may run.
      logger: untrustedLogger,
      signal: stopOnSignal.signal,
      ...(preDeploy ? { preDeploy } : {}),
    };
    let rollout: DeployRollout;
    let batches: string | undefined;
    try {
      if (inputs.targetGroupArns.length > 0) {
        const lb = await runLoadBalanced(inputs, common);
        rollout = lb.rollout;
        batches = lb.summary;
        core.setOutput('batches', lb.batchesJson);
      } else rollout = await deployEc2Ssm(common);
    } finally {
      stopOnSignal.dispose();
    }
    core.saveState(STATE.finished, 'true');

    core.setOutput('command-id', rollout.commandId ?? '');
    core.setOutput('command-ids', JSON.stringify(sent));
    core.setOutput('status', rollout.status);
    core.setOutput('skipped', String(rollout.skipped ?? 0));
    core.setOutput('instances', instancesJson(rollout));
    core.setOutput('succeeded', String(rollout.succeeded));
    core.setOutput('failed', String(rollout.failed));
    core.setOutput('pre-deploy-exit-code', String(rollout.preDeploy?.exitCode ?? ''));
    await writeSummary(
      (rollout.preDeploy ? preDeploySummary(rollout.preDeploy) : '') +
        rolloutSummary(rollout) +
        (batches ?? ''),
    );
    const outdated = outdatedWarning(rollout);
    if (outdated) core.warning(outdated);
    if (rollout.status === 'succeeded')
      core.info(`deployed ${inputs.spec.image} to ${rollout.succeeded} instances`);
    else core.setFailed(describeRolloutFailure(rollout));
  } catch (error) {
    failWith(error);
  }
}

/**
 * Batch by batch behind the target groups. The hosts out of their groups are saved before each
 * deregistration; on the deadline, the ones that serve are put back here, and on a cancel, by the
 * post step (the runner gives this step only seconds after a cancel).
 */
async function runLoadBalanced(
  inputs: RolloutInputs,
  common: DeployEc2SsmOptions,
): Promise<{ rollout: DeployRollout; summary: string; batchesJson: string }> {
  const { deployLoadBalanced, putBackServingHosts } = await import('./load-balanced.js');
  const stateDir = inputs.spec.stateDir ?? DEFAULT_STATE_DIR;
  // What the post step needs to put hosts back, saved once before any host leaves a group.
  core.saveState(STATE.region, common.region);
  core.saveState(STATE.image, inputs.spec.image);
  core.saveState(
    STATE.hostSettings,
    JSON.stringify({
      containerName: inputs.spec.containerName,
      stateDir,
      documentName: inputs.documentName,
      executionTimeoutMs: inputs.executionTimeoutMs,
    }),
  );
  const rollout = await deployLoadBalanced({
    ...common,
    targetGroupArns: inputs.targetGroupArns,
    drainTimeoutMs: inputs.drainTimeoutMs,
    healthTimeoutMs: inputs.healthTimeoutMs,
    timeoutExplicit: inputs.timeoutExplicit,
    onOutOfService: (hosts) => core.saveState(STATE.outOfService, JSON.stringify(hosts)),
  });
  let leftOut = [...new Set(rollout.outOfService.map((h) => h.instanceId))];
  if (rollout.status === 'timed-out' && leftOut.length > 0) {
    // Hosts stopped mid-deploy end within execution-timeout: wait for them, then put back those
    // that serve.
    const settled = await putBackServingHosts({
      ssm: common.ssm,
      region: common.region,
      hosts: rollout.outOfService,
      image: inputs.spec.image,
      containerName: inputs.spec.containerName,
      stateDir,
      documentName: inputs.documentName,
      budgetMs: inputs.executionTimeoutMs,
      logger: untrustedLogger,
    });
    leftOut = settled.leftOut.map((h) => h.instanceId);
  }
  if (rollout.status !== 'cancelled') core.saveState(STATE.outOfService, '[]');
  return {
    rollout,
    summary: batchesSummary(rollout, leftOut),
    batchesJson: batchesJson(rollout),
  };
}

/**
 * The input, else the SDK's chain (AWS_REGION, profile; no network call), else the region of an
 * ECR image host. Only print-script can do without one.
 */
async function resolveRegion(inputs: DeployEc2SsmInputs): Promise<string | undefined> {
  if (inputs.region) return inputs.region;
  try {
    const fromChain = await new SSMClient(awsClientConfig()).config.region();
    if (fromChain) return fromChain;
  } catch {
    /* no region configured in the job */
  }
  if (inputs.ecrRegion || inputs.mode === 'print-script') return inputs.ecrRegion;
  throw new Error(
    "input 'region' is required: the job has no AWS region (AWS_REGION) and the image is not in ECR",
  );
}

/**
 * The run's id goes to the hosts with the deploy: GITHUB_RUN_ID only grows, so a host can refuse a
 * queued older run that would deploy over a newer one.
 */
function withRunId(spec: DeploySpec): DeploySpec {
  const runId = process.env.GITHUB_RUN_ID ?? '';
  return /^\d{1,18}$/.test(runId) ? { ...spec, runId } : spec;
}

/** `<owner/repo>@<sha7> via shipyard`, from the runner's GITHUB_REPOSITORY and GITHUB_SHA. */
function defaultComment(): string {
  const repo = process.env.GITHUB_REPOSITORY ?? '';
  const sha = (process.env.GITHUB_SHA ?? '').slice(0, 7);
  const where = repo && sha ? `${repo}@${sha}` : repo || sha;
  return `${where ? `${where} ` : ''}via shipyard`.slice(0, 100);
}
