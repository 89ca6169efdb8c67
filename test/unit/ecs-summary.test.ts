import type { DeployEcsResult, ServiceReport } from '../../src/ecs/rollout.js';
import { deployOutputs, deploySummary } from '../../src/ecs/summary.js';

const TD = 'arn:aws:ecs:us-east-1:123456789012:task-definition';

function report(extra: Partial<ServiceReport>): ServiceReport {
  return {
    service: 'api',
    status: 'completed',
    headline: 'rolled out in 32s',
    previousTaskDefinition: `${TD}/api:12`,
    taskDefinition: `${TD}/api:13`,
    images: [['api', 'api:v2']],
    deploymentId: 'ecs-svc/1',
    elapsedMs: 32_000,
    events: [],
    stoppedTasks: [],
    progress: '2/2 new tasks running, rollout COMPLETED',
    ...extra,
  };
}

const result = (services: ServiceReport[]): DeployEcsResult => ({
  ok: services.every((s) => s.status === 'completed'),
  services,
  registered: [],
});

describe('outputs', () => {
  it('gives one task definition ARN when every service runs the same', () => {
    const out = deployOutputs(
      result([report({}), report({ service: 'api-canary', deploymentId: 'ecs-svc/2' })]),
    );
    expect(out).toEqual({
      'task-definition-arn': `${TD}/api:13`,
      'deployment-id': '{"api":"ecs-svc/1","api-canary":"ecs-svc/2"}',
      status: '{"api":"completed","api-canary":"completed"}',
      'rolled-back': 'false',
    });
  });

  it('maps services to ARNs when they differ, and says when something was rolled back', () => {
    const out = deployOutputs(
      result([
        report({}),
        report({ service: 'worker', taskDefinition: `${TD}/worker:8`, status: 'rolled-back' }),
        report({ service: 'cron', status: 'error', deploymentId: undefined }),
      ]),
    );
    expect(JSON.parse(out['task-definition-arn']!)).toEqual({
      api: `${TD}/api:13`,
      worker: `${TD}/worker:8`,
      cron: `${TD}/api:13`,
    });
    expect(JSON.parse(out['deployment-id']!)).toEqual({
      api: 'ecs-svc/1',
      worker: 'ecs-svc/1',
      cron: null,
    });
    expect(out['rolled-back']).toBe('true');
  });
});

describe('summary', () => {
  it('has a row per service with old and new task definition, image, time and deployment', () => {
    const md = deploySummary(
      result([
        report({}),
        report({
          service: 'worker',
          status: 'failed',
          headline: '3 tasks of the new deployment stopped (max-task-failures: 3)',
          previousTaskDefinition: `${TD}/worker:7`,
          taskDefinition: `${TD}/worker:7`,
          images: [],
          elapsedMs: 14_000,
          stoppedTasks: [1, 2].map((n) => ({
            taskId: `t${n}`,
            stoppedReason: 'Essential container in task exited',
            containers: [{ name: 'worker', exitCode: 1 }],
          })),
          events: [
            {
              at: new Date('2024-05-01T10:00:04Z'),
              message: '(service worker) has started 1 tasks: (task t1).',
            },
            { message: 'an event with ``` in it' },
          ],
        }),
      ]),
    );
    expect(md.startsWith('### deploy-ecs: 1 of 2 services did not roll out\n')).toBe(true);
    expect(md).toContain('| api | completed | api:12 → api:13 | api=api:v2 | 32s | ecs-svc/1 |');
    expect(md).toContain(
      '| worker | failed | worker:7 (forced new deployment) | unchanged | 14s | ecs-svc/1 |',
    );
    expect(md).toContain('- `2× Essential container in task exited (worker: exit code 1)`');
    expect(md).toContain('10:00:04Z (service worker) has started 1 tasks: (task t1).');
    // An event cannot close the code block early.
    expect(md).toContain("an event with ''' in it");
    expect(md).toContain('#### api: completed\n\nrolled out in 32s');
  });
});
