/** The batch plan of a load-balanced rollout: sizes, registrations, and the downtime warning. */
import { batchSizeOf, describeDowntime, planBatches } from '../../src/ssm/lb/plan.js';
import type { TargetGroup, TargetHealth } from '../../src/ssm/lb/target-groups.js';

const id = (n: number) => `i-${n.toString(16).padStart(17, '0')}`;
const healthy = (n: number, port = 80): TargetHealth => ({
  instanceId: id(n),
  port,
  state: 'healthy',
});

function group(name: string, targets: TargetHealth[]): TargetGroup {
  return {
    arn: `arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/${name}/0123456789abcdef`,
    name,
    targetType: 'instance',
    loadBalancerArns: ['arn:lb'],
    healthCheckMs: 30_000,
    deregistrationDelayMs: 300_000,
    targets,
  };
}

describe('batchSizeOf', () => {
  it.each([
    ['2', 10, 2],
    ['25%', 10, 2], // 2.5 rounds down
    ['50%', 3, 1],
    ['10%', 5, 1], // rounds to 0: at least one
    ['100%', 7, 7],
    ['20', 4, 4], // never more than the fleet
  ])('max-concurrency %s of %i instances is batches of %i', (mc, n, size) => {
    expect(batchSizeOf(mc, n)).toBe(size);
  });
});

it('splits sorted instances into batches, the last one partial', () => {
  const ids = [id(5), id(1), id(3), id(2), id(4)];
  const plan = planBatches(ids, '2', [
    group(
      'web',
      [1, 2, 3, 4, 5].map((n) => healthy(n)),
    ),
  ]);
  expect(plan.batches).toEqual([[id(1), id(2)], [id(3), id(4)], [id(5)]]);
  expect(plan.downtime).toEqual([]);
});

it('knows where each instance is registered, at which port, and which are in no group', () => {
  const web = group('web', [healthy(1, 8080), healthy(2, 8080), healthy(2, 8081)]);
  const admin = group('admin', [healthy(2, 9000), healthy(9, 9000)]);
  const plan = planBatches([id(1), id(2), id(3)], '1', [web, admin]);
  expect(plan.registrations.get(id(2))).toEqual([
    { groupArn: web.arn, groupName: 'web', port: 8080 },
    { groupArn: web.arn, groupName: 'web', port: 8081 },
    { groupArn: admin.arn, groupName: 'admin', port: 9000 },
  ]);
  expect(plan.registrations.get(id(1))).toEqual([
    { groupArn: web.arn, groupName: 'web', port: 8080 },
  ]);
  expect(plan.notInAnyGroup).toEqual([id(3)]);
});

it('warns when a batch would leave a group without a healthy target, not otherwise', () => {
  // admin has only instance 2 healthy; web keeps others while 2 deploys.
  const web = group(
    'web',
    [1, 2, 3, 4].map((n) => healthy(n)),
  );
  const admin = group('admin', [healthy(2), { ...healthy(3), state: 'unhealthy' }]);
  const plan = planBatches([id(1), id(2), id(3), id(4)], '1', [web, admin]);
  expect(plan.downtime).toEqual([{ batch: 2, group: 'admin', healthyNow: 1 }]);
  expect(describeDowntime(plan.downtime[0]!, plan.batches.length)).toMatch(
    /admin will have no healthy target during batch 2\/4/,
  );
});

it('warns for a one-instance fleet and for a batch as large as the group', () => {
  expect(planBatches([id(1)], '50%', [group('web', [healthy(1)])]).downtime).toHaveLength(1);
  const two = planBatches([id(1), id(2)], '100%', [group('web', [healthy(1), healthy(2)])]);
  expect(two.downtime).toEqual([{ batch: 1, group: 'web', healthyNow: 2 }]);
});

it('counts targets outside the rollout, and unused targets in an AZ the group does not serve, as serving', () => {
  const web = group('web', [
    healthy(1),
    { instanceId: id(8), port: 80, state: 'unused', reason: 'Target.NotInUse' },
  ]);
  expect(planBatches([id(1)], '1', [web]).downtime).toEqual([]);
});
