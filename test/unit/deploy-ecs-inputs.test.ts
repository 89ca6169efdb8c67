import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readInputs } from '../../src/inputs/deploy-ecs.js';
import { inputProblems } from './input-problems.js';

const read = (values: Record<string, string>) => readInputs((name) => values[name] ?? '');
const base = { cluster: 'prod', services: 'api' };

const problemsOf = (values: Record<string, string>) => inputProblems(() => read(values));

it('defaults to a forced new deployment, waited for up to 15 minutes', () => {
  expect(read(base)).toEqual({
    cluster: 'prod',
    services: ['api'],
    forceNewDeployment: true,
    wait: true,
    timeoutMs: 15 * 60_000,
    maxTaskFailures: 3,
    rollbackOnFailure: false,
    waitForRollback: false,
    region: '',
  });
});

it('reads wait-for-rollback', () => {
  expect(read({ ...base, 'wait-for-rollback': 'true' }).waitForRollback).toBe(true);
  expect(problemsOf({ ...base, 'wait-for-rollback': 'maybe' })).toEqual([
    expect.stringMatching(/^input 'wait-for-rollback' /),
  ]);
});

it('reads several services, images per container and a desired count', () => {
  const inputs = read({
    ...base,
    services: 'api\n\n  worker  \narn:aws:ecs:eu-west-1:123456789012:service/prod/web',
    images: 'app = 123456789012.dkr.ecr.eu-west-1.amazonaws.com/web:v2\nenvoy=envoy:v1.30',
    'desired-count': '0',
    region: 'eu-west-1',
  });
  expect(inputs).toMatchObject({
    services: ['api', 'worker', 'arn:aws:ecs:eu-west-1:123456789012:service/prod/web'],
    images: [
      ['app', '123456789012.dkr.ecr.eu-west-1.amazonaws.com/web:v2'],
      ['envoy', 'envoy:v1.30'],
    ],
    desiredCount: 0,
    region: 'eu-west-1',
  });
});

it('requires the cluster and the services', () => {
  expect(problemsOf({})).toEqual([
    "input 'cluster' is required: the name or ARN of the ECS cluster",
    "input 'services' is required: one or more service names or ARNs, one per line",
  ]);
});

it('names each bad input and what it got, all at once', () => {
  const problems = problemsOf({
    cluster: 'prod cluster',
    services: 'api\napi\nweb;rm -rf /',
    image: 'Web:v2',
    'container-name': 'app',
    images: 'sidecar=envoy:v1\nnot a pair',
    'desired-count': '-1',
    timeout: 'soon',
    'max-task-failures': '0',
    region: 'Europe',
  });
  expect(problems).toEqual([
    "input 'cluster' must be a cluster name or ARN; got 'prod cluster'",
    "input 'services' names 'api' twice",
    "input 'services' must be service names or ARNs; got 'web;rm -rf /'",
    "input 'image' has an invalid repository name 'Web' (lowercase letters, digits and . _ - separators, / between parts); got 'Web:v2'",
    "input 'images' must have one container=image per line; got 'not a pair'",
    "input 'images' cannot be combined with 'image': set one image with 'image' (and 'container-name'), or all of them in 'images'",
    "input 'desired-count' must be a whole number between 0 and 5000; got '-1'",
    "input 'timeout' must be a duration like 90, 90s, 5m or 1h; got 'soon'",
    "input 'max-task-failures' must be a whole number between 1 and 100; got '0'",
    "input 'region' must be an AWS region like eu-west-1; got 'Europe'",
  ]);
});

it('refuses container-name without image, and rollback without waiting', () => {
  expect(
    problemsOf({ ...base, 'container-name': 'app', wait: 'false', 'rollback-on-failure': 'true' }),
  ).toEqual([
    "input 'container-name' is only used with 'image': set 'image' too, or remove it",
    "input 'rollback-on-failure' needs 'wait: true': a failure is only known by waiting",
  ]);
});

it('refuses a run that would change nothing', () => {
  expect(problemsOf({ ...base, 'force-new-deployment': 'false' })).toEqual([
    "input 'force-new-deployment' is false and nothing else would change: set 'image', 'images', 'task-definition' or 'desired-count', or leave it true",
  ]);
  expect(read({ ...base, 'force-new-deployment': 'false', 'desired-count': '3' })).toMatchObject({
    forceNewDeployment: false,
    desiredCount: 3,
  });
});

describe('task-definition', () => {
  const dir = mkdtempSync(join(tmpdir(), 'deploy-ecs-inputs-'));

  it('reads and checks the file before anything else happens', () => {
    const inputs = read({
      ...base,
      'task-definition': 'test/fixtures/ecs/api.task-definition.json',
    });
    expect(inputs.taskDefinition?.path).toBe('test/fixtures/ecs/api.task-definition.json');
    expect(inputs.taskDefinition?.request.family).toBe('api');
  });

  it('names the input, the file and where it stops being JSON', () => {
    expect(
      problemsOf({ ...base, 'task-definition': 'test/fixtures/ecs/broken.task-definition.json' }),
    ).toEqual([
      `input 'task-definition' file 'test/fixtures/ecs/broken.task-definition.json' is not valid JSON: unexpected '"' at line 6 column 3`,
    ]);
  });

  it('names a file that does not exist', () => {
    const path = join(dir, 'missing.json');
    expect(problemsOf({ ...base, 'task-definition': path })).toEqual([
      `input 'task-definition' names file '${path}', which cannot be read (no such file)`,
    ]);
  });

  it('names the input and the JSON path of a misspelt container field', () => {
    const path = join(dir, 'misspelt.json');
    writeFileSync(
      path,
      JSON.stringify({ family: 'api', containerDefinitions: [{ name: 'api', portMapping: [] }] }),
    );
    expect(problemsOf({ ...base, 'task-definition': path })).toEqual([
      `input 'task-definition' file '${path}' does not match RegisterTaskDefinition: containerDefinitions[0].portMapping is not a field of ContainerDefinition (did you mean portMappings?)`,
    ]);
  });

  it('names the input for deeply nested malformed JSON', () => {
    const path = join(dir, 'deep.json');
    writeFileSync(path, '{"family": ' + '['.repeat(100_000));
    expect(problemsOf({ ...base, 'task-definition': path })).toEqual([
      `input 'task-definition' file '${path}' is not valid JSON: the file ends before the JSON does`,
    ]);
  });

  it('reports a file without containers', () => {
    const path = join(dir, 'empty.json');
    writeFileSync(path, '{"family": "api", "containerDefinitions": []}');
    expect(problemsOf({ ...base, 'task-definition': path })).toEqual([
      `input 'task-definition' file '${path}' needs 'containerDefinitions': a list of containers, each with a 'name'`,
    ]);
  });
});

describe('CODE_DEPLOY inputs', () => {
  const HOOK = 'arn:aws:lambda:eu-west-1:123456789012:function:smoke';

  it('reads the application, group, config, description and hooks', () => {
    expect(
      read({
        ...base,
        'codedeploy-application': 'AppECS-prod-api',
        'codedeploy-deployment-group': 'DgpECS-prod-api',
        'codedeploy-deployment-config': 'CodeDeployDefault.ECSCanary10Percent5Minutes',
        'codedeploy-description': 'release v2',
        'appspec-hooks': `AfterAllowTestTraffic=${HOOK}\n  BeforeInstall = ${HOOK}:live`,
      }).codeDeploy,
    ).toEqual({
      application: 'AppECS-prod-api',
      deploymentGroup: 'DgpECS-prod-api',
      deploymentConfig: 'CodeDeployDefault.ECSCanary10Percent5Minutes',
      description: 'release v2',
      hooks: [
        ['AfterAllowTestTraffic', HOOK],
        ['BeforeInstall', `${HOOK}:live`],
      ],
    });
  });

  it('names the input, the stage and the ARN that are wrong', () => {
    expect(
      problemsOf({
        ...base,
        'codedeploy-application': 'x'.repeat(101),
        'appspec-hooks': `AfterAllowTestTraffic=${HOOK}\nAfterAllowTestTraffic=${HOOK}\nInstall=${HOOK}\nAfterInstall=not-an-arn\njust-text`,
      }),
    ).toEqual([
      expect.stringMatching(
        /^input 'codedeploy-application' must be a CodeDeploy name of 1 to 100/,
      ),
      "input 'appspec-hooks' names 'AfterAllowTestTraffic' twice",
      "input 'appspec-hooks' must have one Stage=function-arn per line; got 'just-text'",
      "input 'appspec-hooks' names stage 'Install', which is not an ECS lifecycle hook: use one of BeforeInstall, AfterInstall, AfterAllowTestTraffic, BeforeAllowTraffic, AfterAllowTraffic",
      "input 'appspec-hooks' must give a Lambda function ARN for AfterInstall (arn:aws:lambda:<region>:<account>:function:<name>); got 'not-an-arn'",
    ]);
  });
});
