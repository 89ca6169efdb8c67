/**
 * What a load-balancer-aware rollout needs from ELBv2: each target group's shape and timings, where
 * each instance is registered, and the three moves of a batch (deregister, register, read health).
 * Only DescribeTargetGroups, DescribeTargetGroupAttributes, DescribeTargetHealth, RegisterTargets
 * and DeregisterTargets are called: the IAM policy in the action README lists exactly these.
 */
import {
  DeregisterTargetsCommand,
  DescribeTargetGroupAttributesCommand,
  DescribeTargetGroupsCommand,
  DescribeTargetHealthCommand,
  RegisterTargetsCommand,
  type ElasticLoadBalancingV2Client,
  type TargetDescription,
} from '@aws-sdk/client-elastic-load-balancing-v2';

/** AWS's own default deregistration delay, when the attribute is missing. */
const AWS_DEFAULT_DEREGISTRATION_DELAY_MS = 300_000;

/** One registration of an instance in a group: an instance may be registered at several ports. */
export interface Registration {
  instanceId: string;
  port: number;
}

export interface TargetHealth extends Registration {
  /** initial, healthy, unhealthy, unused, draining, unavailable, unhealthy.draining. */
  state: string;
  /** `Target.ResponseCodeMismatch`, `Target.NotInUse`, ... */
  reason?: string;
  description?: string;
}

export interface TargetGroup {
  arn: string;
  /** The name, for messages. */
  name: string;
  targetType: string;
  loadBalancerArns: string[];
  /** The group's own port: what RegisterTargets uses when no port is given. */
  port?: number;
  /** Health-check interval × healthy threshold: the least time a target takes to turn healthy. */
  healthCheckMs: number;
  deregistrationDelayMs: number;
  /** Every target registered now, with its health. */
  targets: TargetHealth[];
}

/** DescribeTargetGroups accepts at most 20 ARNs per call. */
const ARNS_PER_CALL = 20;

/** Read each group: shape, timings and targets. Throws the SDK error (TargetGroupNotFound...). */
export async function readTargetGroups(
  elb: ElasticLoadBalancingV2Client,
  arns: readonly string[],
): Promise<TargetGroup[]> {
  const groups: TargetGroup[] = [];
  for (let i = 0; i < arns.length; i += ARNS_PER_CALL) {
    const page = await elb.send(
      new DescribeTargetGroupsCommand({ TargetGroupArns: arns.slice(i, i + ARNS_PER_CALL) }),
    );
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

async function deregistrationDelayMs(
  elb: ElasticLoadBalancingV2Client,
  arn: string,
): Promise<number> {
  const out = await elb.send(new DescribeTargetGroupAttributesCommand({ TargetGroupArn: arn }));
  const value = out.Attributes?.find(
    (a) => a.Key === 'deregistration_delay.timeout_seconds',
  )?.Value;
  const seconds = Number(value);
  return value !== undefined && Number.isFinite(seconds)
    ? seconds * 1000
    : AWS_DEFAULT_DEREGISTRATION_DELAY_MS;
}

/** Health of every registered target, or of the given ones (then unregistered ones read `unused`). */
export async function describeTargetHealth(
  elb: ElasticLoadBalancingV2Client,
  arn: string,
  only?: readonly Registration[],
): Promise<TargetHealth[]> {
  const out = await elb.send(
    new DescribeTargetHealthCommand({
      TargetGroupArn: arn,
      ...(only ? { Targets: only.map(targetOf) } : {}),
    }),
  );
  return (out.TargetHealthDescriptions ?? []).map((d) => ({
    instanceId: d.Target?.Id ?? '',
    port: d.Target?.Port ?? 0,
    state: d.TargetHealth?.State ?? 'unavailable',
    ...(d.TargetHealth?.Reason ? { reason: d.TargetHealth.Reason } : {}),
    ...(d.TargetHealth?.Description ? { description: d.TargetHealth.Description } : {}),
  }));
}

/** Take targets out of a group (they drain) or put them back (they are health-checked again). */
export async function moveTargets(
  elb: ElasticLoadBalancingV2Client,
  move: 'register' | 'deregister',
  arn: string,
  targets: readonly Registration[],
): Promise<void> {
  if (targets.length === 0) return;
  const input = { TargetGroupArn: arn, Targets: targets.map(targetOf) };
  await elb.send(
    move === 'register' ? new RegisterTargetsCommand(input) : new DeregisterTargetsCommand(input),
  );
}

function targetOf(r: Registration): TargetDescription {
  return { Id: r.instanceId, Port: r.port };
}

/**
 * Groups a rolling deploy cannot use: other target types (the deploy moves instances), and groups
 * attached to no load balancer, where every target reads `unused` so no health could be checked.
 */
export function targetGroupProblems(
  groups: readonly TargetGroup[],
  asked: readonly string[],
): string[] {
  const problems: string[] = [];
  for (const arn of asked)
    if (!groups.some((g) => g.arn === arn)) problems.push(`${arn} was not found`);
  for (const g of groups) {
    if (g.targetType !== 'instance')
      problems.push(
        `${g.name} has target type ${g.targetType}; only groups of instance targets can be deployed batch by batch`,
      );
    else if (g.loadBalancerArns.length === 0)
      problems.push(
        `${g.name} is attached to no load balancer: its targets are never health-checked, so a batch could not be seen turning healthy`,
      );
  }
  return problems;
}

/** A target that counts as serving for the group: healthy, or `unused` because its AZ is not served. */
export function isSettledHealthy(t: TargetHealth): boolean {
  return t.state === 'healthy' || (t.state === 'unused' && t.reason === 'Target.NotInUse');
}

/** Gone from the group: what a drained target reads when asked for explicitly. */
export function isDrained(t: TargetHealth | undefined): boolean {
  return t === undefined || t.state === 'unused';
}

/** `healthy`, or `unhealthy (Target.ResponseCodeMismatch: Health checks failed with these codes: [502])`. */
export function describeHealth(t: TargetHealth): string {
  if (!t.reason) return t.state;
  return `${t.state} (${t.reason}${t.description ? `: ${t.description}` : ''})`;
}
