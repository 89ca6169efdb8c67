/**
 * The load-balanced path, loaded only when `target-groups` is set: the ELBv2 client is the
 * largest part of it, and the plain path keeps its start-up time without it.
 */
import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { awsClientConfig } from '../../src/aws.js';
import { deployBehindTargetGroups, type RollingOptions } from '../../src/ssm/lb/rolling.js';
import { settleOutOfService, type SettleOptions } from '../../src/ssm/lb/settle.js';

function elbClient(region: string): ElasticLoadBalancingV2Client {
  return new ElasticLoadBalancingV2Client(awsClientConfig({ region }));
}

export function deployLoadBalanced(opts: Omit<RollingOptions, 'elb'>) {
  return deployBehindTargetGroups({ ...opts, elb: elbClient(opts.region) });
}

export function putBackServingHosts(opts: Omit<SettleOptions, 'elb'>) {
  return settleOutOfService({ ...opts, elb: elbClient(opts.region) });
}
