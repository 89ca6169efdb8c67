// bench/lb-rolling: deploy-ec2-ssm behind load balancers. A fleet of 50 simulated hosts in two
// target groups behind the loopback ELBv2 stand-in (Query protocol, so the SDK's real parser runs)
// and the loopback SSM fleet, sharing one host model: a host serves nothing while it deploys.
// Traffic is routed every 5 ms the way a load balancer does (healthy targets, a lag after
// deregistration, fail-open when none is healthy). One API second lasts 100 ms: the groups' 60 s
// deregistration delay drains in 6 s, a warm-up of 3 health checks 10 s apart takes 3 s, and each
// host deploys in 4 s. The rollout runs with the action's own cadence (polls every 3 s).
// Prints, with target-groups and, as the yardstick, the same fleet through SSM's max-concurrency:
//   requests routed to a host while it deployed (target 0), the lowest healthy count per group
//   (target N − batch), total time against sum(drain + deploy + warm-up) per batch, API calls.
// Usage: npx tsx bench/lb-rolling.ts
import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { SSMClient } from '@aws-sdk/client-ssm';
import { awsClientConfig } from '../src/aws.js';
import { deployEc2Ssm, type DeployEc2SsmOptions } from '../src/ssm/deploy.js';
import {
  deployBehindTargetGroups,
  MIN_DRAIN_MS,
  type RollingRollout,
} from '../src/ssm/lb/rolling.js';
import type { DeploySpec } from '../src/ssm/spec.js';
import { startElbv2StandIn } from '../stand-ins/elbv2.js';
import { SimulatedHosts } from '../stand-ins/hosts.js';
import { startLoopbackSsmFleet } from '../stand-ins/ssm-loopback-fleet.js';
import { printTable } from './lib.mjs';

const HOSTS = 50;
const BATCH = 10; // max-concurrency 20%
const MS_PER_SECOND = 100;
const DELAY_S = 60;
const INTERVAL_S = 10;
const HEALTHY_THRESHOLD = 3;
const DEPLOY_MS = 4_000;

const spec: DeploySpec = {
  image: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/api:1.5.0',
  containerName: 'api',
  ports: [{ hostPort: 80, containerPort: 8000, protocol: 'tcp' }],
  env: [],
  envFromSsm: [],
  restartPolicy: 'unless-stopped',
  runOptions: [],
  engine: 'docker',
  registryLogin: 'ecr',
  healthTimeoutSeconds: 10,
  stopTimeoutSeconds: 2,
  keepImages: 3,
};

async function rollout(withTargetGroups: boolean) {
  const hosts = SimulatedHosts.numbered(HOSTS);
  const ids = hosts.ids();
  const fleet = await startLoopbackSsmFleet({ hosts, deployMs: DEPLOY_MS });
  const elb = await startElbv2StandIn({
    hosts,
    msPerSecond: MS_PER_SECOND,
    routingLagSeconds: 20, // 2 s of routing to a deregistered target
    targetGroups: ['web', 'api'].map((name) => ({
      name,
      port: name === 'web' ? 80 : 8080,
      healthCheckIntervalSeconds: INTERVAL_S,
      healthyThresholdCount: HEALTHY_THRESHOLD,
      deregistrationDelaySeconds: DELAY_S,
      targets: ids,
    })),
  });
  const ssm = new SSMClient({ ...awsClientConfig(), ...fleet.clientConfig() });
  const lb = new ElasticLoadBalancingV2Client({ ...awsClientConfig(), ...elb.clientConfig() });
  const options: DeployEc2SsmOptions = {
    ssm,
    region: 'eu-west-1',
    spec,
    targets: { kind: 'instances', instanceIds: ids.slice(0, 50) },
    documentName: 'AWS-RunShellScript',
    maxConcurrency: `${(BATCH / HOSTS) * 100}%`,
    maxErrors: '0',
    comment: 'bench',
    timeoutMs: 1_800_000,
    executionTimeoutMs: 300_000,
    waitForAgentMs: 60_000,
  };
  const traffic = elb.startTraffic({ everyMs: 5 });
  const started = Date.now();
  const result = withTargetGroups
    ? await deployBehindTargetGroups({
        ...options,
        elb: lb,
        targetGroupArns: [elb.arnOf('web'), elb.arnOf('api')],
        drainTimeoutMs: 300_000,
        healthTimeoutMs: 10_000,
        timeoutExplicit: true,
      })
    : await deployEc2Ssm(options);
  const seconds = (Date.now() - started) / 1000;
  traffic.stop();
  const figures = {
    status: result.status,
    seconds,
    requests: elb.routedRequests.length,
    midDeploy: elb.requestsToHostsNotServing(),
    lowest: { web: elb.lowestHealthyCount('web'), api: elb.lowestHealthyCount('api') },
    batches: (result as Partial<RollingRollout>).batches ?? [],
    elbCalls: elb.calls.length,
    ssmCalls: fleet.calls.length,
  };
  await fleet.close();
  await elb.close();
  return figures;
}

const lbRun = await rollout(true);
const plain = await rollout(false);

const batches = lbRun.batches.length;
// The yardstick: each batch waits out its drain, deploys, then warms up, with no overhead.
const drainS = Math.max(MIN_DRAIN_MS / 1000, (DELAY_S * MS_PER_SECOND) / 1000);
const warmS = (INTERVAL_S * HEALTHY_THRESHOLD * MS_PER_SECOND) / 1000;
const yardstick = batches * (drainS + DEPLOY_MS / 1000 + warmS);

console.log(
  `${HOSTS} hosts in 2 target groups, batches of ${BATCH}; drain ${drainS} s, deploy ${DEPLOY_MS / 1000} s, warm-up ${warmS} s; traffic every 5 ms\n`,
);
printTable(
  ['', 'with target-groups', 'SSM max-concurrency 20% (yardstick)', 'target'],
  [
    ['status', lbRun.status, plain.status, 'succeeded'],
    ['requests routed', lbRun.requests, plain.requests, ''],
    ['requests to a host mid-deploy', lbRun.midDeploy, plain.midDeploy, '0'],
    ['lowest healthy in web', lbRun.lowest.web, plain.lowest.web, `>= ${HOSTS - BATCH}`],
    ['lowest healthy in api', lbRun.lowest.api, plain.lowest.api, `>= ${HOSTS - BATCH}`],
    [
      'total time',
      `${lbRun.seconds.toFixed(1)} s`,
      `${plain.seconds.toFixed(1)} s`,
      `sum(drain + deploy + warm-up) = ${yardstick.toFixed(1)} s`,
    ],
    [
      'ELBv2 calls per batch',
      (lbRun.elbCalls / batches).toFixed(1),
      (plain.elbCalls / batches).toFixed(1),
      '',
    ],
    [
      'SSM calls per batch',
      (lbRun.ssmCalls / batches).toFixed(1),
      (plain.ssmCalls / batches).toFixed(1),
      '',
    ],
  ],
);
console.log('');
printTable(
  ['batch', 'drain', 'deploy', 'healthy after', 'ELBv2 calls'],
  lbRun.batches.map((b) => [
    b.index,
    `${((b.drainMs ?? 0) / 1000).toFixed(1)} s`,
    `${((b.deployMs ?? 0) / 1000).toFixed(1)} s`,
    `${((b.healthyMs ?? 0) / 1000).toFixed(1)} s`,
    b.lbCalls,
  ]),
);
const met =
  lbRun.status === 'succeeded' &&
  lbRun.midDeploy === 0 &&
  lbRun.lowest.web >= HOSTS - BATCH &&
  lbRun.lowest.api >= HOSTS - BATCH;
console.log(`\ntargets ${met ? 'met' : 'NOT met'}`);
