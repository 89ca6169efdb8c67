/** The inputs of actions/deploy-ecs, parsed and checked before any AWS client exists. */
import { readFileSync } from 'node:fs';
import { InputReader, shown, type InputGetter } from './reader.js';
import { isImageReference, parseImageReference } from '../image/reference.js';
import { parseTaskDefinitionFile } from '../ecs/task-definition.js';
import type { DeployEcsOptions } from '../ecs/rollout.js';
import type { CodeDeployOptions } from '../ecs/codedeploy/options.js';
import { checkHooks } from '../ecs/codedeploy/appspec.js';
import { readPreDeploy } from './pre-deploy-ecs.js';

export type DeployEcsInputs = Omit<
  DeployEcsOptions,
  'ecs' | 'log' | 'clock' | 'random' | 'signal'
> & {
  /** '' lets the SDK find the region (AWS_REGION, profile). */
  region: string;
};

/** Cluster and service names (up to 255 letters, digits, - and _), or their ARNs. */
const ECS_NAME =
  /^(?:[A-Za-z0-9_-]{1,255}|arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:[a-z-]+\/[A-Za-z0-9_/-]+)$/;
const CONTAINER_NAME = /^[A-Za-z0-9_-]{1,255}$/;
const REGION = /^[a-z]{2}(?:-[a-z]+)+-\d+$/;
/** ECS refuses more than this many tasks per service. */
const MAX_DESIRED_COUNT = 5000;

export function readInputs(get: InputGetter): DeployEcsInputs {
  const r = new InputReader(get);

  const cluster = r.required('cluster', 'the name or ARN of the ECS cluster');
  if (cluster !== '' && !ECS_NAME.test(cluster)) {
    r.problem('cluster', `must be a cluster name or ARN; got ${shown(cluster)}`);
  }

  const services = r.lines('services');
  if (services.length === 0) {
    r.problem('services', 'is required: one or more service names or ARNs, one per line');
  }
  const seen = new Set<string>();
  for (const s of services) {
    if (!ECS_NAME.test(s)) r.problem('services', `must be service names or ARNs; got ${shown(s)}`);
    if (seen.has(s)) r.problem('services', `names ${shown(s)} twice`);
    seen.add(s);
  }

  const checkImage = (input: string, text: string) => {
    const ref = parseImageReference(text);
    if (!isImageReference(ref)) r.problem(input, `${ref.error}; got ${shown(text)}`);
  };
  const image = r.string('image');
  if (image !== '') checkImage('image', image);
  const containerName = r.string('container-name');
  if (containerName !== '' && !CONTAINER_NAME.test(containerName)) {
    r.problem('container-name', `must be a container name; got ${shown(containerName)}`);
  }
  if (containerName !== '' && image === '') {
    r.problem('container-name', "is only used with 'image': set 'image' too, or remove it");
  }
  const images = r.pairs('images', '=', CONTAINER_NAME, 'container=image');
  for (const [, ref] of images) checkImage('images', ref);
  if (image !== '' && images.length > 0) {
    r.problem(
      'images',
      `cannot be combined with 'image': set one image with 'image' (and 'container-name'), or all of them in 'images'`,
    );
  }
  if (containerName !== '' && images.some(([c]) => c === containerName)) {
    r.problem('images', `names container ${shown(containerName)} that 'container-name' names too`);
  }

  const taskDefinitionPath = r.string('task-definition');
  let taskDefinition: DeployEcsInputs['taskDefinition'];
  if (taskDefinitionPath !== '') {
    let text: string | undefined;
    try {
      text = readFileSync(taskDefinitionPath, 'utf8');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      r.problem(
        'task-definition',
        `names file ${shown(taskDefinitionPath)}, which cannot be read (${code === 'ENOENT' ? 'no such file' : (code ?? String(error))})`,
      );
    }
    if (text !== undefined) {
      const parsed = parseTaskDefinitionFile(text, taskDefinitionPath);
      if ('problem' in parsed) r.problem('task-definition', parsed.problem);
      else taskDefinition = { path: taskDefinitionPath, request: parsed.request };
    }
  }

  const desiredCountText = r.string('desired-count');
  const desiredCount =
    desiredCountText === ''
      ? undefined
      : r.integer('desired-count', 0, { min: 0, max: MAX_DESIRED_COUNT });
  const forceNewDeployment = r.boolean('force-new-deployment', true);
  const wait = r.boolean('wait', true);
  const timeoutMs = r.duration('timeout', '15m');
  const maxTaskFailures = r.integer('max-task-failures', 3, { min: 1, max: 100 });
  const rollbackOnFailure = r.boolean('rollback-on-failure', false);
  const waitForRollback = r.boolean('wait-for-rollback', false);
  if (rollbackOnFailure && !wait) {
    r.problem('rollback-on-failure', "needs 'wait: true': a failure is only known by waiting");
  }
  const codeDeploy = readCodeDeployInputs(r);
  const preDeploy = readPreDeploy(r);
  const region = r.string('region');
  if (region !== '' && !REGION.test(region)) {
    r.problem('region', `must be an AWS region like eu-west-1; got ${shown(region)}`);
  }

  const changesSomething =
    forceNewDeployment ||
    image !== '' ||
    images.length > 0 ||
    taskDefinitionPath !== '' ||
    desiredCount !== undefined;
  if (!changesSomething) {
    r.problem(
      'force-new-deployment',
      "is false and nothing else would change: set 'image', 'images', 'task-definition' or 'desired-count', or leave it true",
    );
  }

  r.finish();
  return {
    cluster,
    services,
    ...(image !== '' ? { image } : {}),
    ...(containerName !== '' ? { containerName } : {}),
    ...(images.length > 0 ? { images } : {}),
    ...(taskDefinition ? { taskDefinition } : {}),
    ...(desiredCount !== undefined ? { desiredCount } : {}),
    forceNewDeployment,
    wait,
    timeoutMs,
    maxTaskFailures,
    rollbackOnFailure,
    waitForRollback,
    ...(codeDeploy ? { codeDeploy } : {}),
    ...(preDeploy ? { preDeploy } : {}),
    region,
  };
}

/** CodeDeploy names: 1 to 100 characters (CodeDeploy's limit), on one line. */
const CODEDEPLOY_NAME = /^[^\s][^\r\n]{0,99}$/;

/** The inputs of the CODE_DEPLOY path; undefined when none is set (the defaults apply). */
function readCodeDeployInputs(r: InputReader): CodeDeployOptions | undefined {
  const out: CodeDeployOptions = {};
  const name = (input: string, key: 'application' | 'deploymentGroup' | 'deploymentConfig') => {
    const value = r.string(input);
    if (value === '') return;
    if (!CODEDEPLOY_NAME.test(value)) {
      r.problem(input, `must be a CodeDeploy name of 1 to 100 characters; got ${shown(value)}`);
    }
    out[key] = value;
  };
  name('codedeploy-application', 'application');
  name('codedeploy-deployment-group', 'deploymentGroup');
  name('codedeploy-deployment-config', 'deploymentConfig');
  const description = r.string('codedeploy-description');
  if (description !== '') out.description = description;
  const pairs = r.pairs('appspec-hooks', '=', /^[A-Za-z]+$/, 'Stage=function-arn');
  const checked = checkHooks(pairs);
  if ('problems' in checked) for (const p of checked.problems) r.problem('appspec-hooks', p);
  else if (checked.hooks.length > 0) out.hooks = checked.hooks;
  return Object.keys(out).length > 0 ? out : undefined;
}

/** The smallest set of inputs this action accepts (used by the metadata tests). */
export const MINIMAL_INPUTS = { cluster: 'production', services: 'api' };
