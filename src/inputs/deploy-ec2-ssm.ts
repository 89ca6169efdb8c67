/** The inputs of actions/deploy-ec2-ssm, parsed and checked before any AWS call. */
import { ENGINES } from '../engines.js';
import { ENV_NAME, InputReader, shown, type InputGetter } from './reader.js';
import { formatDuration } from '../duration.js';
import { isImageReference, parseEcrHost, parseImageReference } from '../image/reference.js';
import {
  CONTAINER_NAME_RULE,
  DEFAULT_ENGINE,
  DEFAULT_EXECUTION_TIMEOUT_SECONDS,
  DEFAULT_HEALTH_TIMEOUT_SECONDS,
  DEFAULT_KEEP_IMAGES,
  DEFAULT_REGISTRY_LOGIN,
  DEFAULT_RESTART_POLICY,
  DEFAULT_STOP_TIMEOUT_SECONDS,
  EXECUTION_TIMEOUT_SECONDS,
  KEEP_IMAGES,
  REGISTRY_LOGIN_MODES,
  parsePortMapping,
  specProblems,
  splitShellWords,
  type DeploySpec,
  type PortMapping,
} from '../ssm/spec.js';
import { checkInstanceIds, parseTagTargets, type RolloutTargets } from '../ssm/targets.js';
import type { CommandOutputOptions } from '../ssm/run-command.js';
import { readPreDeployInputs, type PreDeployInputs } from './pre-deploy-ec2-ssm.js';

/** What the action does: print the host script and stop, or roll it out. */
export type DeployEc2SsmInputs = PrintScriptInputs | RolloutInputs;

interface ImageAndRegion {
  spec: DeploySpec;
  /** The `region` input; empty: the job's AWS region, else the region of an ECR image host. */
  region?: string;
  /** The region of the image's ECR host, when it is one. */
  ecrRegion?: string;
}

/** print-script: render the host script, send nothing. */
export interface PrintScriptInputs extends ImageAndRegion {
  mode: 'print-script';
}

export interface RolloutInputs extends ImageAndRegion {
  mode: 'rollout';
  targets: RolloutTargets;
  maxConcurrency: string;
  maxErrors: string;
  /** The `comment` input; empty: the adapter writes `<owner/repo>@<sha7> via shipyard`. */
  comment?: string;
  timeoutMs: number;
  executionTimeoutMs: number;
  documentName: string;
  waitForAgentMs: number;
  /** Instances whose SSM agent is offline are skipped either way; true makes that a success. */
  skipOffline: boolean;
  output: CommandOutputOptions;
  /** false when `timeout` was left to its default (a load-balanced rollout may then grow it). */
  timeoutExplicit: boolean;
  /** ELBv2 target group ARNs: deploy batch by batch, out of the groups while deploying. */
  targetGroupArns: string[];
  /** Cap on each batch's drain wait. */
  drainTimeoutMs: number;
  healthTimeoutMs: number;
  /** pre-deploy-command: run once on one host before the rollout. */
  preDeploy?: PreDeployInputs;
}

/** An ELBv2 target group ARN. */
const TARGET_GROUP_ARN =
  /^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:\d{12}:targetgroup\/[A-Za-z0-9-]{1,32}\/[0-9a-f]{16}$/;

/** Room in execution-timeout for lock, login, pull and run, besides the waits the script makes. */
const SCRIPT_MARGIN_MS = 30_000;

// SSM's own patterns for SendCommand, so a typo fails here rather than as an API error.
const MAX_CONCURRENCY = /^(?:[1-9][0-9]*|[1-9][0-9]?%|100%)$/;
const MAX_ERRORS = /^(?:0|[1-9][0-9]*|[0-9]%|[1-9][0-9]%|100%)$/;
const DOCUMENT_NAME = /^(?:arn:aws[a-z-]*:ssm:[a-z0-9-]+:\d{12}:document\/)?[a-zA-Z0-9_.-]{3,128}$/;
const S3_BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const LOG_GROUP = /^[.\-_/#A-Za-z0-9]{1,512}$/;

/**
 * Read every input. What the host spec must be is checked once, by the spec's rule table
 * (src/ssm/spec.ts `specProblems`), which names the input of each field; this parser reads the
 * text into typed values and checks what only the rollout needs.
 */
export function readInputs(get: InputGetter): DeployEc2SsmInputs {
  const r = new InputReader(get);

  // The image and the container.
  const imageText = r.required(
    'image',
    'the full image reference, e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com/api:1.4.2',
  );
  const imageRef = parseImageReference(imageText);
  const imageParsed =
    isImageReference(imageRef) && (imageRef.tag !== undefined || imageRef.digest !== undefined);
  const ecrRegion = isImageReference(imageRef)
    ? parseEcrHost(imageRef.registry)?.region
    : undefined;
  const containerName = r.required('container-name', `a container name: ${CONTAINER_NAME_RULE}`);

  // Where it goes.
  const instanceIds = r.lines('instance-ids');
  const targetLines = r.lines('targets');
  const printScript = r.boolean('print-script', false);
  const skipOffline = r.boolean('skip-offline', false);
  let targets: RolloutTargets | undefined;
  if (instanceIds.length > 0 && targetLines.length > 0) {
    r.problem('instance-ids', "and 'targets' are both set: use one of them");
  } else if (instanceIds.length > 0) {
    for (const p of checkInstanceIds(instanceIds)) r.problem('instance-ids', p);
    targets = { kind: 'instances', instanceIds };
  } else if (targetLines.length > 0) {
    const parsed = parseTagTargets(targetLines);
    for (const p of parsed.problems) r.problem('targets', p);
    targets = { kind: 'tags', tags: parsed.tags };
  } else if (!printScript) {
    r.problem(
      'instance-ids',
      "or 'targets' is required: instance IDs one per line, or tag:Key=Value lines",
    );
  }
  const maxConcurrency = r.string('max-concurrency', '50%');
  if (!MAX_CONCURRENCY.test(maxConcurrency))
    r.problem(
      'max-concurrency',
      `must be a number of instances (1 or more) or a percentage like 50%; got ${shown(maxConcurrency)}`,
    );
  const maxErrors = r.string('max-errors', '0');
  if (!MAX_ERRORS.test(maxErrors))
    r.problem(
      'max-errors',
      `must be a number of instances (0 or more) or a percentage like 10%; got ${shown(maxErrors)}`,
    );
  const region = r.string('region');
  const comment = r.string('comment');
  if (comment.length > 100)
    r.problem('comment', `must be at most 100 characters (SSM's limit); got ${comment.length}`);
  const documentName = r.string('document', 'AWS-RunShellScript');
  if (!DOCUMENT_NAME.test(documentName))
    r.problem(
      'document',
      `must be an SSM document name or ARN like AWS-RunShellScript; got ${shown(documentName)}`,
    );

  // Deadlines. execution-timeout must leave the script time to check health and roll back, and
  // must end before the rollout's deadline, which would otherwise cancel a host mid-deploy.
  const timeoutMs = r.duration('timeout', '10m');
  const timeoutExplicit = r.string('timeout') !== '';
  const targetGroupArns = r.lines('target-groups');
  for (const arn of targetGroupArns)
    if (!TARGET_GROUP_ARN.test(arn))
      r.problem(
        'target-groups',
        `must hold target group ARNs like arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web/0123456789abcdef, one per line; got ${shown(arn)}`,
      );
  if (new Set(targetGroupArns).size !== targetGroupArns.length)
    r.problem('target-groups', 'names a target group twice');
  const drainTimeoutMs = r.duration('drain-timeout', '5m', { allowZero: true });
  const waitForAgentMs = r.duration('wait-for-agent', '2m', { allowZero: true });
  const healthTimeoutMs = r.duration('health-timeout', `${DEFAULT_HEALTH_TIMEOUT_SECONDS}s`);
  const stopTimeoutMs = r.duration('stop-timeout', `${DEFAULT_STOP_TIMEOUT_SECONDS}s`, {
    allowZero: true,
  });
  const executionTimeoutText = r.string('execution-timeout');
  const executionTimeoutMs =
    executionTimeoutText === ''
      ? Math.min(DEFAULT_EXECUTION_TIMEOUT_SECONDS * 1000, timeoutMs)
      : r.duration('execution-timeout', `${DEFAULT_EXECUTION_TIMEOUT_SECONDS}s`);
  const scriptNeedsMs = healthTimeoutMs + 2 * stopTimeoutMs + SCRIPT_MARGIN_MS;
  if (executionTimeoutMs > EXECUTION_TIMEOUT_SECONDS.max * 1000)
    r.problem(
      'execution-timeout',
      `must be at most 48h (SSM's limit); got ${executionTimeoutText}`,
    );
  else if (executionTimeoutMs > timeoutMs)
    r.problem(
      'execution-timeout',
      `(${formatDuration(executionTimeoutMs)}) must not be longer than 'timeout' (${formatDuration(timeoutMs)}): the deadline would cancel instances in the middle of a deploy`,
    );
  else if (executionTimeoutMs < scriptNeedsMs)
    r.problem(
      'execution-timeout',
      `(${formatDuration(executionTimeoutMs)}) must be at least ${formatDuration(scriptNeedsMs)}: health-timeout, twice stop-timeout (old and new container) and 30s to pull and start, or SSM kills the script before it can roll back`,
    );

  // The container's settings.
  const ports: PortMapping[] = [];
  for (const line of r.lines('ports')) {
    const p = parsePortMapping(line);
    if ('error' in p) r.problem('ports', p.error);
    else ports.push(p);
  }
  const env = r.pairs('env', '=', ENV_NAME, 'KEY=value (letters, digits and _)');
  const envFromSsm = r.pairs(
    'env-from-ssm',
    '=',
    ENV_NAME,
    'KEY=/parameter/name (letters, digits and _ before =)',
  );
  const restartPolicy = r.string('restart-policy', DEFAULT_RESTART_POLICY);
  const runOptionsText = r.string('run-options');
  const allowHostAccess = r.boolean('allow-host-access', false);
  const force = r.boolean('force', false);
  const runOptions = splitShellWords(runOptionsText);
  if (!Array.isArray(runOptions)) r.problem('run-options', runOptions.error);
  const engine = r.choice('engine', ENGINES, DEFAULT_ENGINE);
  const registryLogin = r.choice('registry-login', REGISTRY_LOGIN_MODES, DEFAULT_REGISTRY_LOGIN);
  // The spec only needs a registry; the action also takes the login's region from an ECR host.
  if (registryLogin === 'ecr' && imageParsed && ecrRegion === undefined)
    r.problem(
      'registry-login',
      `is ecr, but the image's registry ${imageRef.registry ? shown(imageRef.registry) : '(Docker Hub)'} is not ECR (<account>.dkr.ecr.<region>.amazonaws.com): set registry-login: none for images the instances pull without logging in`,
    );
  const healthCmd = r.string('health-cmd');
  const keepImages = r.integer('keep-images', DEFAULT_KEEP_IMAGES, KEEP_IMAGES);

  // Where the complete output goes (SSM itself keeps 24,000 characters of it).
  const s3Bucket = r.string('output-s3-bucket');
  if (s3Bucket !== '' && !S3_BUCKET.test(s3Bucket))
    r.problem('output-s3-bucket', `must be an S3 bucket name; got ${shown(s3Bucket)}`);
  const s3KeyPrefix = r.string('output-s3-key-prefix');
  if (s3KeyPrefix !== '' && s3Bucket === '')
    r.problem('output-s3-key-prefix', "needs 'output-s3-bucket'");
  if (s3KeyPrefix.length > 500)
    r.problem('output-s3-key-prefix', `must be at most 500 characters; got ${s3KeyPrefix.length}`);
  const logGroup = r.string('cloudwatch-log-group');
  if (logGroup !== '' && !LOG_GROUP.test(logGroup))
    r.problem(
      'cloudwatch-log-group',
      `must be a CloudWatch Logs group name (letters, digits, . _ - / #); got ${shown(logGroup)}`,
    );

  const preDeploy = readPreDeployInputs(r);

  const spec: DeploySpec = {
    image: imageText,
    containerName,
    ports,
    env,
    envFromSsm,
    restartPolicy,
    runOptions: Array.isArray(runOptions) ? runOptions : [],
    ...(allowHostAccess ? { allowHostAccess } : {}),
    ...(force ? { force } : {}),
    engine,
    registryLogin,
    ...(region !== '' ? { region } : {}),
    ...(healthCmd !== '' ? { healthCmd } : {}),
    healthTimeoutSeconds: Math.ceil(healthTimeoutMs / 1000),
    stopTimeoutSeconds: Math.ceil(stopTimeoutMs / 1000),
    keepImages,
    // Give up waiting for another deploy's lock while there is still time to say so.
    lockTimeoutSeconds: Math.max(0, Math.floor((executionTimeoutMs - scriptNeedsMs) / 1000)),
    executionTimeoutSeconds: Math.ceil(executionTimeoutMs / 1000),
  };
  // The spec's rules, for the inputs that were read without a problem (each is reported once).
  const fresh = specProblems(spec).filter((p) => p.input !== undefined && !r.hasProblem(p.input));
  for (const { input, message } of fresh) r.problem(input as string, message);
  r.finish();

  const where = {
    spec,
    ...(region !== '' ? { region } : {}),
    ...(ecrRegion ? { ecrRegion } : {}),
  };
  // Without print-script, missing targets were reported above: finish() threw.
  if (printScript || !targets) return { mode: 'print-script', ...where };
  return {
    mode: 'rollout',
    ...where,
    targets,
    maxConcurrency,
    maxErrors,
    ...(comment !== '' ? { comment } : {}),
    timeoutMs,
    executionTimeoutMs,
    documentName,
    waitForAgentMs,
    skipOffline,
    timeoutExplicit,
    targetGroupArns,
    drainTimeoutMs,
    healthTimeoutMs,
    output: {
      ...(s3Bucket ? { s3BucketName: s3Bucket } : {}),
      ...(s3KeyPrefix ? { s3KeyPrefix } : {}),
      ...(logGroup ? { cloudWatchLogGroup: logGroup } : {}),
    },
    ...(preDeploy ? { preDeploy } : {}),
  };
}

/** The smallest set of inputs this action accepts (used by the metadata tests). */
export const MINIMAL_INPUTS = {
  image: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/api:1.4.2',
  'container-name': 'api',
  'instance-ids': 'i-0123456789abcdef0',
};
