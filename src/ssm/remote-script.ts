/**
 * The host side of deploy-ec2-ssm. The script itself is a real shell file, src/ssm/host/deploy.sh
 * (shellchecked, bundled beside each action's dist/index.js by ncc); this module only renders
 * its settings block from a DeploySpec, each value through `quote`, and puts it in place of the
 * example block the file carries. What the script does on each host is described at its top.
 */
import { readFileSync } from 'node:fs';
import {
  formatImageReference,
  imageName,
  parseEcrHost,
  parseImageReference,
  type ImageReference,
} from '../image/reference.js';
import { quote, quoteArray } from './quote.js';
import { RESULT_MARKER } from './result.js';
import {
  DEFAULT_EXECUTION_TIMEOUT_SECONDS,
  DEFAULT_LOCK_TIMEOUT_SECONDS,
  DEFAULT_STATE_DIR,
  deploySpecProblems,
  formatPortMapping,
  type DeploySpec,
} from './spec.js';

/** Suffix of the name the previous container carries while the new one proves itself. */
export const SET_ASIDE_SUFFIX = '-shipyard-previous';
/** Suffix of the candidate, the new version started beside the old one on loopback ports. */
export const CANDIDATE_SUFFIX = '-shipyard-candidate';

const SETTINGS_START = '# --- settings ---\n';
const SETTINGS_END = '# --- end of settings ---\n';

let hostScript: string | undefined;
/** The file's text, read once (ncc relocates the file next to the bundle and rewrites this URL). */
function hostScriptText(): string {
  hostScript ??= readFileSync(new URL('./host/deploy.sh', import.meta.url), 'utf8');
  return hostScript;
}

/** The repository names an engine may list the image under (Docker Hub names have two forms). */
function repositoryNames(ref: ImageReference): string[] {
  const name = imageName(ref);
  if (ref.registry !== '') return [name];
  const hub = ref.repository.includes('/') ? `docker.io/${name}` : `docker.io/library/${name}`;
  return [name, hub];
}

/** Multi-line bash array assignment, one quoted element per line. */
function arrayLines(name: string, values: readonly string[]): string {
  if (values.length === 0) return `${name}=()`;
  return `${name}=(\n${values.map((v) => `  ${quote(v)}`).join('\n')}\n)`;
}

/**
 * Why the new version cannot first run beside the old one, or undefined when it can (as far as
 * the settings tell; the health check is decided on the host, where the image is known).
 */
export function candidateObstacle(spec: DeploySpec): string | undefined {
  if (spec.ports.length === 0)
    return 'the container publishes no ports, so its health cannot be checked beside the running one';
  const opts = spec.runOptions;
  for (let i = 0; i < opts.length; i++) {
    const token = opts[i] as string;
    const network = token.startsWith('--network=')
      ? token.slice('--network='.length)
      : token === '--network'
        ? (opts[i + 1] ?? '')
        : undefined;
    if (network === 'host' || network?.startsWith('container:'))
      return `--network ${network} shares the ports of the running container, so two copies cannot run at once`;
    if (token === '--network-alias' || token.startsWith('--network-alias='))
      return '--network-alias would send traffic for the alias to the candidate too';
  }
  return undefined;
}

/** `8000/tcp` for each container port, once. */
function containerPorts(spec: DeploySpec): string[] {
  return [...new Set(spec.ports.map((p) => `${p.containerPort}/${p.protocol}`))];
}

/** mode=one-off: run the new image once with `command` after it (src/ssm/pre-deploy.ts). */
export interface OneOffSettings {
  /** The arguments after the image, as `docker run IMAGE ARGS…` takes them. */
  command: readonly string[];
  /** The one-off on the host (lock, pull and run) ends within this many seconds. */
  timeoutSeconds: number;
}

/**
 * The host script for `spec`: bash, `set -euo pipefail`, passes shellcheck. Throws when the spec
 * is invalid (the input parser is expected to have reported that already, naming the input).
 * With `oneOff`, the script runs the new image once instead of deploying it.
 */
export function renderDeployScript(spec: DeploySpec, oneOff?: OneOffSettings): string {
  const problems = deploySpecProblems(spec);
  if (problems.length > 0) {
    throw new Error(`cannot generate the deploy script: ${problems.join('; ')}`);
  }
  const ref = parseImageReference(spec.image) as ImageReference; // checked just above
  const registry = spec.registryLogin === 'ecr' ? ref.registry : '';
  // Parameters are read in the instances' region; ECR is logged in to in the registry's own
  // region (its host name says which), so a cross-region registry works.
  const region = spec.region ?? '';
  const ecrRegion = (registry ? parseEcrHost(registry)?.region : undefined) ?? region;
  const image = formatImageReference(ref);

  const envArgs = spec.env.map(([name, value]) => `--env=${name}=${value}`);
  const finalArgs = [
    `--restart=${spec.restartPolicy}`,
    ...spec.ports.map((p) => `--publish=${formatPortMapping(p)}`),
    ...envArgs,
    ...spec.runOptions,
  ];
  const obstacle = candidateObstacle(spec);
  const candidateArgs = obstacle
    ? []
    : [
        '--restart=no',
        ...containerPorts(spec).map((p) => `--publish=127.0.0.1::${p}`),
        ...envArgs,
        ...spec.runOptions,
      ];
  const settings = [
    SETTINGS_START.trimEnd(),
    `engine=${quote(spec.engine)}`,
    `container=${quote(spec.containerName)}`,
    `image=${quote(image)}`,
    `# ECR registry to log in to ('' = no login) and its region; the region for SSM parameters`,
    `registry=${quote(registry)}`,
    `ecr_region=${quote(ecrRegion)}`,
    `region=${quote(region)}`,
    `restart_policy=${quote(spec.restartPolicy)}`,
    `stop_timeout=${quote(String(spec.stopTimeoutSeconds))}`,
    `# Run on the host with sh -c; '' = the image's HEALTHCHECK, or "still running" at the end`,
    `health_cmd=${quote(spec.healthCmd ?? '')}`,
    `health_timeout=${quote(String(spec.healthTimeoutSeconds))}`,
    `keep_images=${quote(String(spec.keepImages))}`,
    `prune_repos=${quoteArray(repositoryNames(ref))}`,
    `# Root-only directory for the lock, the env-file, the logs and the results of deploys`,
    `state_dir=${quote(spec.stateDir ?? DEFAULT_STATE_DIR)}`,
    `lock_timeout=${quote(String(spec.lockTimeoutSeconds ?? DEFAULT_LOCK_TIMEOUT_SECONDS))}`,
    `# Seconds from the launch until the deploy must have ended (the SSM execution timeout)`,
    `execution_timeout=${quote(String(oneOff?.timeoutSeconds ?? spec.executionTimeoutSeconds ?? DEFAULT_EXECUTION_TIMEOUT_SECONDS))}`,
    `result_marker=${quote(RESULT_MARKER)}`,
    `# Engine flags of the final container (besides --name, --detach, the env-file and the image)`,
    arrayLines('final_args', finalArgs),
    `# Engine flags of the candidate; empty when candidate-first cannot apply, and candidate_off says why`,
    arrayLines('candidate_args', candidateArgs),
    `candidate_off=${quote(obstacle ?? '')}`,
    `# Container ports the health command can find as $SHIPYARD_PORT_<port>`,
    arrayLines('container_ports', containerPorts(spec)),
    `# The workflow run deploying ('' outside Actions); a run older than the last one deployed here`,
    `# is not applied unless force=true`,
    `run_id=${quote(spec.runId ?? '')}`,
    `force=${spec.force ? 'true' : 'false'}`,
    `# Pairs: variable name, SSM parameter name (values are read on the host, never written here)`,
    arrayLines('ssm_env', spec.envFromSsm.flat()),
    ...oneOffLines(spec, envArgs, oneOff),
    SETTINGS_END.trimEnd(),
  ].join('\n');

  const text = hostScriptText();
  const start = text.indexOf(SETTINGS_START);
  const end = text.indexOf(SETTINGS_END);
  if (start < 0 || end < start) throw new Error('src/ssm/host/deploy.sh has no settings block');
  const header = oneOff
    ? `#!/usr/bin/env bash\n# shipyard deploy-ec2-ssm: run the pre-deploy-command once beside container ${spec.containerName}.\n`
    : `#!/usr/bin/env bash\n# shipyard deploy-ec2-ssm: replace container ${spec.containerName} on this host.\n`;
  // The file's own header comment stays out: SSM's 64 KB limit counts every byte sent.
  const body = text.slice(end + SETTINGS_END.length);
  const prologue = text.slice(text.indexOf('# shellcheck disable=SC2016'), start);
  return `${header}${prologue}${settings}\n${body}`;
}

/** The mode settings: deploy, or one-off with the flags (no ports, no restart policy) and argv. */
function oneOffLines(
  spec: DeploySpec,
  envArgs: readonly string[],
  oneOff: OneOffSettings | undefined,
): string[] {
  return [
    '# deploy, or one-off: run the new image once with oneoff_command as its arguments (after the image,',
    '# the ENTRYPOINT kept), with the flags in oneoff_args, and report its exit code',
    `mode=${oneOff ? 'one-off' : 'deploy'}`,
    arrayLines('oneoff_args', oneOff ? [...envArgs, ...spec.runOptions] : []),
    arrayLines('oneoff_command', oneOff ? oneOff.command : []),
  ];
}
