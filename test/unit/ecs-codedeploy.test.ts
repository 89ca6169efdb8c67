/**
 * deploy-ecs on services of the CODE_DEPLOY controller, on the ECS and CodeDeploy stand-ins in
 * virtual time: the AppSpec generated from the service, success after the group's waits, a failing
 * hook rolled back by CodeDeploy, an alarm rollback, the stop on cancel, and the checks made
 * before any change.
 */
import { createHash } from 'node:crypto';
import type { UpdateServiceCommandInput } from '@aws-sdk/client-ecs';
import { parse } from 'yaml';
import { RolloutPlanError, type DeployEcsOptions } from '../../src/ecs/rollout.js';
import { deployOutputs, deploySummary } from '../../src/ecs/summary.js';
import { appSpecYaml, checkHooks } from '../../src/ecs/codedeploy/appspec.js';
import { codeDeployWaits } from '../../src/ecs/codedeploy/rollout.js';
import {
  cdAlarmFires,
  cdAt,
  cdHookFails,
  cdRollbackEnds,
  cdSucceeds,
  reaches,
  ready,
  shifts,
  SimulatedCodeDeploy,
  type CdStep,
  type SimGroupSpec,
} from '../../stand-ins/codedeploy.js';
import type { SimServiceSpec } from '../../stand-ins/ecs.js';
import { MINUTE, setupRollout } from './ecs-setup.js';

const TD = 'arn:aws:ecs:us-east-1:123456789012:task-definition';
const HOOK = 'arn:aws:lambda:us-east-1:123456789012:function:smoke-test';

const service = (extra: Partial<SimServiceSpec> = {}): SimServiceSpec => ({
  name: 'api',
  taskDefinition: 'api:7',
  desiredCount: 2,
  deploymentController: 'CODE_DEPLOY',
  loadBalancers: [
    {
      targetGroupArn:
        'arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/api-blue/0123456789abcdef',
      containerName: 'web',
      containerPort: 8080,
    },
  ],
  ...extra,
});

/** A CodeDeploy service: the ECS stand-in, the CodeDeploy stand-in on the same clock, and deploy. */
function setup(
  group: Partial<SimGroupSpec> & { timelines?: CdStep[][] },
  opts: { ecs?: Partial<SimServiceSpec>; taskDefinitions?: boolean } = {},
) {
  const base = setupRollout(
    [service(opts.ecs)],
    opts.taskDefinitions
      ? {
          taskDefinitions: {
            [`${TD}/api:7`]: {
              taskDefinition: {
                taskDefinitionArn: `${TD}/api:7`,
                family: 'api',
                revision: 7,
                containerDefinitions: [{ name: 'web', image: 'registry.example/api:v1' }],
              },
            },
          },
        }
      : {},
    { rollbackOnFailure: true },
  );
  const cd = new SimulatedCodeDeploy({
    clock: base.clock,
    ecs: base.sim,
    groups: [
      {
        application: 'AppECS-prod-api',
        deploymentGroup: 'DgpECS-prod-api',
        cluster: 'prod',
        service: 'api',
        ...group,
      },
    ],
  });
  let clientsMade = 0;
  const deploy = (o: Partial<DeployEcsOptions> = {}) =>
    base.deploy({
      ...o,
      codeDeploy: {
        client: async () => {
          clientsMade++;
          return cd.client;
        },
        ...o.codeDeploy,
      },
    });
  return { ...base, cd, deploy, clientsMade: () => clientsMade };
}

/** The walk of an ECS target up to production traffic, then `end`. */
const walk = (...end: CdStep[]): CdStep[] => [
  cdAt(1000, reaches('BeforeInstall')),
  cdAt(3000, reaches('Install')),
  cdAt(7000, reaches('AfterInstall')),
  cdAt(10_000, reaches('AllowTestTraffic')),
  cdAt(11_000, reaches('AfterAllowTestTraffic')),
  ...end,
];

const appSpecOf = (cd: SimulatedCodeDeploy, n = 0) => {
  const revision = cd.callsOf('CreateDeployment')[n]?.revision as {
    appSpecContent: { content: string; sha256: string };
  };
  return { ...revision.appSpecContent, parsed: parse(revision.appSpecContent.content) };
};

describe('the AppSpec', () => {
  it('is generated from the new revision and the load balancer of the service, with the hooks in CodeDeploy order', async () => {
    const { cd, deploy } = setup(
      { timelines: [walk(cdAt(20_000, cdSucceeds))] },
      { taskDefinitions: true },
    );
    const result = await deploy({
      image: 'registry.example/api:v2',
      codeDeploy: {
        hooks: [
          ['AfterAllowTestTraffic', HOOK],
          ['BeforeInstall', `${HOOK}-before`],
        ],
        description: 'release v2',
      },
    });
    expect(result.services[0]?.status).toBe('completed');
    const [created] = cd.callsOf('CreateDeployment');
    expect(created).toMatchObject({
      applicationName: 'AppECS-prod-api',
      deploymentGroupName: 'DgpECS-prod-api',
      description: 'release v2',
    });
    expect(created).not.toHaveProperty('deploymentConfigName');
    const spec = appSpecOf(cd);
    expect(spec.parsed).toEqual({
      version: 0,
      Resources: [
        {
          TargetService: {
            Type: 'AWS::ECS::Service',
            Properties: {
              TaskDefinition: `${TD}/api:8`,
              LoadBalancerInfo: { ContainerName: 'web', ContainerPort: 8080 },
            },
          },
        },
      ],
      Hooks: [{ BeforeInstall: `${HOOK}-before` }, { AfterAllowTestTraffic: HOOK }],
    });
    expect(spec.content.startsWith('version: 0.0\n')).toBe(true);
    expect(spec.sha256).toBe(createHash('sha256').update(spec.content).digest('hex'));
    // The service runs what CodeDeploy deployed.
    expect(result.services[0]?.taskDefinition).toBe(`${TD}/api:8`);
  });

  it('quotes every value, so no value can change its structure', () => {
    const text = appSpecYaml({
      taskDefinitionArn: 'x"\nHooks: []',
      containerName: 'a: b',
      containerPort: 80,
      hooks: [],
    });
    expect(parse(text).Resources[0].TargetService.Properties).toEqual({
      TaskDefinition: 'x"\nHooks: []',
      LoadBalancerInfo: { ContainerName: 'a: b', ContainerPort: 80 },
    });
    expect(parse(text)).not.toHaveProperty('Hooks');
  });

  it('takes only ECS hook stages and Lambda function ARNs', () => {
    expect(checkHooks([['AfterAllowTraffic', `${HOOK}:live`]])).toEqual({
      hooks: [['AfterAllowTraffic', `${HOOK}:live`]],
    });
    const checked = checkHooks([
      ['AllowTraffic', HOOK],
      ['AfterInstall', 'arn:aws:sns:us-east-1:123456789012:topic'],
    ]);
    expect(checked).toEqual({
      problems: [
        "names stage 'AllowTraffic', which is not an ECS lifecycle hook: use one of BeforeInstall, AfterInstall, AfterAllowTestTraffic, BeforeAllowTraffic, AfterAllowTraffic",
        "must give a Lambda function ARN for AfterInstall (arn:aws:lambda:<region>:<account>:function:<name>); got 'arn:aws:sns:us-east-1:123456789012:topic'",
      ],
    });
  });
});

describe('a CodeDeploy deployment', () => {
  it('walks its lifecycle events and traffic shifts, waits past the timeout for the group and config waits, and reports Succeeded within a poll', async () => {
    const decided = 14 * MINUTE;
    const { cd, sim, deploy, lines } = setup({
      deploymentConfigName: 'CodeDeployDefault.ECSCanary10Percent5Minutes',
      terminationWaitMinutes: 5,
      timelines: [
        walk(
          cdAt(20_000, reaches('BeforeAllowTraffic')),
          cdAt(22_000, reaches('AllowTraffic'), shifts(10)),
          cdAt(22_000 + 5 * MINUTE, shifts(100)),
          cdAt(24_000 + 5 * MINUTE, reaches('AfterAllowTraffic')),
          cdAt(decided, cdSucceeds),
        ),
      ],
    });
    const result = await deploy({ timeoutMs: 10 * MINUTE });
    const [report] = result.services;
    expect(report).toMatchObject({ status: 'completed', controller: 'CODE_DEPLOY' });
    expect(report!.deploymentId).toMatch(/^d-/);
    expect(report!.elapsedMs).toBeGreaterThanOrEqual(decided);
    expect(report!.elapsedMs).toBeLessThanOrEqual(decided + 2000);
    expect(lines).toContain(
      '0s api: waiting up to 20m00s: timeout 10m00s + 5 min wait before the original task set is terminated + 5 min canary interval (CodeDeploy CodeDeployDefault.ECSCanary10Percent5Minutes)',
    );
    expect(lines).toContain(
      '12s api: AllowTestTraffic → AfterAllowTestTraffic (CodeDeploy CodeDeployDefault.ECSCanary10Percent5Minutes)',
    );
    expect(lines).toContain(
      '22s api: BeforeAllowTraffic → AllowTraffic (CodeDeploy CodeDeployDefault.ECSCanary10Percent5Minutes, production traffic 10%)',
    );
    expect(lines).toContain('322s api: AllowTraffic: production traffic 100%');
    expect(report!.stages?.map((s) => s.stage)).toEqual([
      'Pending',
      'BeforeInstall',
      'Install',
      'AfterInstall',
      'AllowTestTraffic',
      'AfterAllowTestTraffic',
      'BeforeAllowTraffic',
      'AllowTraffic',
      'AllowTraffic',
      'AfterAllowTraffic',
    ]);
    expect(deploySummary(result)).toContain('Lifecycle stages of the CodeDeploy deployment');
    // No UpdateService: the task definition of a CODE_DEPLOY service changes through CodeDeploy.
    expect(sim.callsOf('UpdateService')).toHaveLength(0);
    expect(cd.callsOf('CreateDeployment')).toHaveLength(1);
  });

  it('says when it waits for ContinueDeployment', async () => {
    const { deploy, lines } = setup({
      readyWaitMinutes: 30,
      timelines: [walk(cdAt(12_000, ready), cdAt(2 * MINUTE, cdSucceeds))],
    });
    const result = await deploy({ timeoutMs: 5 * MINUTE });
    expect(result.services[0]?.status).toBe('completed');
    expect(lines).toContain(
      '0s api: waiting up to 35m00s: timeout 5m00s + 30 min deployment-ready wait (CodeDeploy CodeDeployDefault.ECSAllAtOnce)',
    );
    expect(
      lines.some(
        (l) => l.includes('still waiting') && l.includes('waiting for ContinueDeployment'),
      ),
    ).toBe(true);
  });

  it('fails when the AfterAllowTestTraffic hook fails, quoting CodeDeploy and the hook, and leaves the rollback to CodeDeploy', async () => {
    const { cd, sim, deploy } = setup({
      timelines: [walk(cdAt(15_000, cdHookFails('AfterAllowTestTraffic', HOOK)))],
    });
    const result = await deploy({ codeDeploy: { hooks: [['AfterAllowTestTraffic', HOOK]] } });
    const [report] = result.services;
    expect(report).toMatchObject({
      status: 'rolled-back',
      rollback: {
        by: 'codedeploy',
        outcome: 'in-progress',
        headline: 'CodeDeploy is rolling back to api:7',
      },
    });
    expect(report!.headline).toBe(
      `CodeDeploy is rolling back: HOOK_EXECUTION_FAILURE: An error occurred during the execution of the lifecycle hook for AfterAllowTestTraffic.; lifecycle event AfterAllowTestTraffic failed (ScriptFailed: The lifecycle hook ${HOOK} returned Failed.); Rollback in progress: deployment d-SIM000002 reroutes traffic to the original task set.`,
    );
    expect(report!.rollback?.deploymentId).toBe('d-SIM000002');
    expect(report!.elapsedMs).toBeLessThanOrEqual(15_000 + 2000);
    // rollback-on-failure is on, but CodeDeploy rolls back itself: nothing more is started.
    expect(cd.callsOf('CreateDeployment')).toHaveLength(1);
    expect(cd.callsOf('StopDeployment')).toHaveLength(0);
    expect(sim.callsOf('UpdateService')).toHaveLength(0);
    expect(deployOutputs(result)['rolled-back']).toBe('true');
  });

  it('with wait-for-rollback, waits for CodeDeploy to finish rolling back after an alarm', async () => {
    const { deploy, lines } = setup({
      timelines: [
        walk(cdAt(30_000, cdAlarmFires('api-5xx')), cdAt(70_000, cdRollbackEnds('Succeeded'))),
      ],
    });
    const result = await deploy({ waitForRollback: true });
    const [report] = result.services;
    expect(report).toMatchObject({
      status: 'rolled-back',
      rollback: {
        by: 'codedeploy',
        outcome: 'completed',
        headline: 'CodeDeploy rolled back to api:7',
      },
    });
    expect(report!.headline).toMatch(
      /^rolled back by CodeDeploy: ALARM_ACTIVE: .*Activated alarms: <api-5xx>/,
    );
    expect(report!.elapsedMs).toBeGreaterThanOrEqual(70_000);
    expect(report!.elapsedMs).toBeLessThanOrEqual(72_000);
    // The alarm stop is seen by the deployment read of every few polls, within the failure target.
    const announced = lines.find((l) => l.includes('waiting for the rollback'));
    expect(Number(announced?.split('s ')[0])).toBeLessThanOrEqual(30 + 15);
  });

  it("says plainly when CodeDeploy's rollback fails too", async () => {
    const { deploy } = setup({
      timelines: [
        walk(
          cdAt(15_000, cdHookFails('AfterAllowTestTraffic', HOOK)),
          cdAt(40_000, cdRollbackEnds('Failed')),
        ),
      ],
    });
    const result = await deploy({ waitForRollback: true });
    expect(result.services[0]).toMatchObject({
      status: 'rollback-failed',
      rollback: { by: 'codedeploy', outcome: 'failed' },
    });
    expect(result.services[0]?.headline).toMatch(/CodeDeploy's rollback d-SIM000002 FAILED too/);
  });

  it('a failure without automatic rollback is reported as failed', async () => {
    const { deploy } = setup({
      autoRollback: false,
      timelines: [walk(cdAt(15_000, cdHookFails('AfterAllowTestTraffic', HOOK)))],
    });
    const result = await deploy();
    expect(result.services[0]?.status).toBe('failed');
    expect(result.services[0]?.headline).toMatch(/^deployment FAILED: HOOK_EXECUTION_FAILURE/);
    expect(result.services[0]?.headline).toContain('automatic rollback');
  });

  it('is stopped with automatic rollback when the step is cancelled', async () => {
    const controller = new AbortController();
    const { cd, clock, deploy } = setup({ timelines: [walk(cdAt(10 * MINUTE, cdSucceeds))] });
    const result = await deploy({
      signal: controller.signal,
      codeDeploy: {
        onDeploymentCreated: () => void clock.sleep(20_000).then(() => controller.abort()),
      },
    });
    const [report] = result.services;
    expect(report?.status).toBe('cancelled');
    expect(report?.headline).toMatch(
      /stopped CodeDeploy deployment d-SIM000001 with automatic rollback$/,
    );
    expect(cd.callsOf('StopDeployment')).toEqual([
      { deploymentId: 'd-SIM000001', autoRollbackEnabled: true },
    ]);
    expect(cd.deployments.get('d-SIM000001')?.info.status).toBe('Stopped');
  });

  it('on its deadline with rollback-on-failure, stops the deployment so that CodeDeploy rolls back', async () => {
    const { cd, deploy } = setup({ timelines: [walk()] });
    const result = await deploy({ timeoutMs: 2 * MINUTE });
    expect(result.services[0]).toMatchObject({
      status: 'rolled-back',
      rollback: { by: 'rollback-on-failure', outcome: 'in-progress' },
    });
    expect(cd.callsOf('StopDeployment')).toEqual([
      { deploymentId: 'd-SIM000001', autoRollbackEnabled: true },
    ]);
  });

  it('sets desired-count through UpdateService, and deploys the current revision when forced', async () => {
    const { cd, sim, deploy } = setup({ timelines: [walk(cdAt(20_000, cdSucceeds))] });
    const result = await deploy({ desiredCount: 4 });
    expect(result.services[0]?.status).toBe('completed');
    expect(sim.callsOf('UpdateService') as UpdateServiceCommandInput[]).toEqual([
      { cluster: 'prod', service: 'api', desiredCount: 4 },
    ]);
    expect(appSpecOf(cd).parsed.Resources[0].TargetService.Properties.TaskDefinition).toBe(
      `${TD}/api:7`,
    );
  });

  it('with only desired-count and no forced deployment, creates no CodeDeploy deployment', async () => {
    const { cd, deploy } = setup({});
    const result = await deploy({ desiredCount: 3, forceNewDeployment: false });
    expect(result.services[0]?.status).toBe('completed');
    expect(cd.callsOf('CreateDeployment')).toHaveLength(0);
  });
});

describe('before any change', () => {
  it('names the input when the deployment group does not exist, and changes nothing', async () => {
    const { cd, sim, deploy } = setup({ deploymentGroup: 'other' });
    const error = await deploy().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RolloutPlanError);
    expect((error as Error).message).toBe(
      "input 'codedeploy-deployment-group': CodeDeploy deployment group 'DgpECS-prod-api' not found (service 'api' uses the CODE_DEPLOY controller; the default is the console's name DgpECS-prod-api)",
    );
    expect(cd.callsOf('CreateDeployment')).toHaveLength(0);
    expect(sim.callsOf('UpdateService')).toHaveLength(0);
  });

  it('refuses a group that deploys another service, and a config that does not exist', async () => {
    const { deploy } = setup({ application: 'shared', deploymentGroup: 'web', service: 'web' });
    const error = await deploy({
      codeDeploy: {
        application: 'shared',
        deploymentGroup: 'web',
        deploymentConfig: 'Custom.Nope',
      },
    }).catch((e: unknown) => e);
    expect((error as Error).message).toBe(
      [
        '2 problems found before changing anything:',
        "- input 'codedeploy-deployment-group': deployment group 'web' deploys prod/web, not service 'api' of cluster 'prod'",
        "- input 'codedeploy-deployment-config': CodeDeploy deployment config 'Custom.Nope' not found",
      ].join('\n'),
    );
  });

  it('needs a load balancer for the AppSpec', async () => {
    const { deploy } = setup({}, { ecs: { loadBalancers: [] } });
    const error = await deploy().catch((e: unknown) => e);
    expect((error as Error).message).toBe(
      "service 'api' uses the CODE_DEPLOY controller but has no load balancer with a container name and port, which the AppSpec needs",
    );
  });
});

it('the rolling path never makes a CodeDeploy client', async () => {
  let made = 0;
  const { deploy } = setupRollout([
    { name: 'api', taskDefinition: 'api:7', desiredCount: 1, timelines: [] },
  ]);
  await deploy({
    timeoutMs: 10_000,
    codeDeploy: {
      client: () => {
        made++;
        return Promise.reject(new Error('not needed'));
      },
    },
  });
  expect(made).toBe(0);
});

it('adds the canary interval or the linear steps to the deadline', () => {
  expect(
    codeDeployWaits(undefined, {
      type: 'TimeBasedLinear',
      timeBasedLinear: { linearPercentage: 10, linearInterval: 3 },
    }),
  ).toEqual({ ms: 30 * MINUTE, text: '10 linear steps × 3 min' });
  expect(
    codeDeployWaits(
      {
        blueGreenDeploymentConfiguration: {
          terminateBlueInstancesOnDeploymentSuccess: {
            action: 'KEEP_ALIVE',
            terminationWaitTimeInMinutes: 60,
          },
        },
      },
      { type: 'AllAtOnce' },
    ),
  ).toEqual({ ms: 0, text: '' });
});
