/**
 * What deploy-ec2-ssm does on each host, as a typed value: the input parser builds a DeploySpec,
 * `renderDeployScript` turns it into the host script. The grammars, defaults and the one rule
 * table (`specProblems`: each field, the input it is read from, what it must be) live here, so the
 * input parser and the script generator check the same rules and every error names the input.
 */
import { isIPv6 } from 'node:net';
import { posix } from 'node:path';
import { ENGINES, type EngineName } from '../engines.js';
import { isImageReference, parseImageReference } from '../image/reference.js';
import { ENV_NAME, ENV_NAME_RULE, shown } from '../inputs/reader.js';

export interface PortMapping {
  /** IPv4 address, or IPv6 without brackets; absent: every address. */
  hostIp?: string;
  hostPort: number;
  containerPort: number;
  protocol: 'tcp' | 'udp';
}

/** How a host logs in to the registry: not to be confused with build-push's login credentials. */
export type RegistryLoginMode = 'ecr' | 'none';

export interface DeploySpec {
  /** Full reference, already validated (src/image/reference.ts). */
  image: string;
  /** CONTAINER_NAME grammar. */
  containerName: string;
  ports: PortMapping[];
  /** Not secret: passed as `-e NAME=value` (values may hold anything but NUL, newlines included). */
  env: Array<[name: string, value: string]>;
  /** Resolved on the host into a 0600 env-file; only the parameter names are in the script. */
  envFromSsm: Array<[name: string, parameter: string]>;
  /** RESTART_POLICY grammar. */
  restartPolicy: string;
  /** Extra engine argv tokens, already checked with parseRunOptions. */
  runOptions: string[];
  /**
   * Lets run-options bind host system paths or engine sockets and add capabilities ALL or
   * SYS_ADMIN (what would let the container take the host over). Off by default.
   */
  allowHostAccess?: boolean;
  engine: EngineName;
  /** ecr: `aws ecr get-login-password | <engine> login --password-stdin <registry>` on the host. */
  registryLogin: RegistryLoginMode;
  /** For the AWS CLI on the host; absent: taken from an ECR image host, else the CLI's own default. */
  region?: string;
  /** Run on the host with `sh -c`; healthy = exit 0. */
  healthCmd?: string;
  healthTimeoutSeconds: number;
  stopTimeoutSeconds: number;
  /** Images of the deployed repository kept on the host, newest first, the running one included. */
  keepImages: number;
  /**
   * Root-only directory on the host for the lock, the env-file while it exists, the script's copy
   * and the logs and results of the last deploys.
   */
  stateDir?: string;
  /** How long a deploy waits for another one on the same host before giving up. */
  lockTimeoutSeconds?: number;
  /** The deploy on each host ends, on the new version or the old one, within this many seconds. */
  executionTimeoutSeconds?: number;
  /**
   * The workflow run deploying (GITHUB_RUN_ID, digits). A host that a newer run has deployed to
   * reports `outdated` and applies nothing, unless `force`.
   */
  runId?: string;
  force?: boolean;
}

export const DEFAULT_ENGINE: EngineName = 'docker';
export const DEFAULT_REGISTRY_LOGIN: RegistryLoginMode = 'ecr';
export const REGISTRY_LOGIN_MODES: readonly RegistryLoginMode[] = ['ecr', 'none'];
export const DEFAULT_RESTART_POLICY = 'unless-stopped';
export const DEFAULT_HEALTH_TIMEOUT_SECONDS = 60;
export const DEFAULT_STOP_TIMEOUT_SECONDS = 10;
export const DEFAULT_KEEP_IMAGES = 3;
/**
 * Under /run: only root can create it there (unlike world-writable /var/lock or /tmp), and it is a
 * tmpfs, so an env-file that a power cut left behind does not survive the reboot.
 */
export const DEFAULT_STATE_DIR = '/run/shipyard';
export const DEFAULT_EXECUTION_TIMEOUT_SECONDS = 300;
export const DEFAULT_LOCK_TIMEOUT_SECONDS = 300;

/** Docker's container name grammar (podman accepts the same). */
export const CONTAINER_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
export const CONTAINER_NAME_RULE = 'letters, digits, _ . and -, starting with a letter or digit';
/** Environment variable names every shell and engine accepts. */
export const RESTART_POLICY = /^(?:no|always|unless-stopped|on-failure(?::[1-9][0-9]{0,3})?)$/;
const RESTART_POLICY_RULE = 'no, always, unless-stopped, on-failure or on-failure:N';
/**
 * An SSM parameter name (`/team/db/password`, `api-key`) or ARN, optionally with a `:version` or
 * `:label` selector, as `ssm get-parameter --name` accepts it.
 */
export const SSM_PARAMETER_NAME =
  /^(?:arn:aws[a-z-]*:ssm:[a-z0-9-]+:\d{12}:parameter)?\/?[a-zA-Z0-9_.-]+(?:\/[a-zA-Z0-9_.-]+)*(?::[a-zA-Z0-9_.-]{1,100})?$/;
const SSM_PARAMETER_NAME_RULE =
  'a parameter name like /team/db/password (letters, digits, _ . - and /), an ARN, optionally with :version or :label';
/** An AWS region name (us-east-1, eu-central-2, us-gov-west-1). */
export const REGION = /^[a-z]{2}(?:-[a-z]+)+-\d+$/;
/** SSM's limit on a parameter name, ARN included. */
const MAX_SSM_PARAMETER_NAME = 2048;

// ---------------------------------------------------------------------------------------------
// Port mappings

const PORT_FORMS = 'forms: 80:8000, 127.0.0.1:80:8000, 53:53/udp';
const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

function portNumber(text: string): number | undefined {
  if (!/^\d{1,5}$/.test(text)) return undefined;
  const n = Number(text);
  return n >= 1 && n <= 65535 ? n : undefined;
}

/**
 * `80:8000`, `127.0.0.1:80:8000`, `[::1]:80:8000`, `53:53/udp`. The error reads after
 * "input 'ports' ", e.g. "has an invalid mapping '80:x': ...".
 */
export function parsePortMapping(text: string): PortMapping | { error: string } {
  const mapping = text.trim();
  const bad = (why: string) => ({
    error: `has an invalid mapping '${mapping}': ${why} (${PORT_FORMS})`,
  });
  let rest = mapping;
  let protocol: 'tcp' | 'udp' = 'tcp';
  const slash = rest.lastIndexOf('/');
  if (slash >= 0) {
    const proto = rest.slice(slash + 1).toLowerCase();
    if (proto !== 'tcp' && proto !== 'udp') return bad(`protocol '${proto}' is not tcp or udp`);
    protocol = proto;
    rest = rest.slice(0, slash);
  }
  let hostIp: string | undefined;
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']:');
    if (close < 0) return bad('an IPv6 host address must be written [address]:port:port');
    hostIp = rest.slice(1, close);
    if (!isIPv6(hostIp)) return bad(`'${hostIp}' is not an IPv6 address`);
    rest = rest.slice(close + 2);
  }
  const parts = rest.split(':');
  if (hostIp === undefined && parts.length === 3) {
    hostIp = parts.shift() as string;
    if (!IPV4.test(hostIp)) return bad(`'${hostIp}' is not an IPv4 address`);
  }
  if (parts.length !== 2) return bad('expected HOST_PORT:CONTAINER_PORT');
  const [hostText, containerText] = parts as [string, string];
  const hostPort = portNumber(hostText);
  if (hostPort === undefined) return bad(`host port '${hostText}' is not a number from 1 to 65535`);
  const containerPort = portNumber(containerText);
  if (containerPort === undefined)
    return bad(`container port '${containerText}' is not a number from 1 to 65535`);
  return { ...(hostIp !== undefined ? { hostIp } : {}), hostPort, containerPort, protocol };
}

/** The `--publish` value: `[ip:]host:container/proto`, IPv6 addresses in brackets. */
export function formatPortMapping(p: PortMapping): string {
  const ip =
    p.hostIp === undefined ? '' : p.hostIp.includes(':') ? `[${p.hostIp}]:` : `${p.hostIp}:`;
  return `${ip}${p.hostPort}:${p.containerPort}/${p.protocol}`;
}

// ---------------------------------------------------------------------------------------------
// run-options

interface FlagRule {
  long: string;
  short?: string;
  /** Consumes a value (`--memory 512m`, `--memory=512m`, `-m512m`); else a switch (`--init`). */
  value: boolean;
}

/**
 * Extra `run` flags a deploy may pass: resources, storage, networking, logging, identity,
 * hardening and the container's own health check. Everything else is refused, so an input
 * cannot quietly weaken the host or fight the script over what it manages.
 */
const ALLOWED_VALUE_FLAGS = [
  '--add-host',
  '--cap-add',
  '--cap-drop',
  '--cpu-shares',
  '--cpus',
  '--cpuset-cpus',
  '--dns',
  '--dns-option',
  '--dns-search',
  '--entrypoint',
  '--expose',
  '--group-add',
  '--health-cmd',
  '--health-interval',
  '--health-retries',
  '--health-start-period',
  '--health-timeout',
  '--hostname',
  '--label',
  '--log-driver',
  '--log-opt',
  '--memory',
  '--memory-reservation',
  '--memory-swap',
  '--mount',
  '--network',
  '--network-alias',
  '--oom-score-adj',
  '--pids-limit',
  '--shm-size',
  '--stop-signal',
  '--sysctl',
  '--tmpfs',
  '--ulimit',
  '--user',
  '--volume',
  '--workdir',
];
const ALLOWED_SWITCHES = ['--init', '--no-healthcheck', '--read-only'];
/** The one-letter forms of allowed flags. */
const SHORT_FORMS: Readonly<Record<string, string>> = {
  '--cpu-shares': '-c',
  '--hostname': '-h',
  '--label': '-l',
  '--memory': '-m',
  '--user': '-u',
  '--volume': '-v',
  '--workdir': '-w',
};
const ALLOWED_RUN_FLAGS: readonly FlagRule[] = [
  ...ALLOWED_VALUE_FLAGS.map((long) => ({ long, value: true })),
  ...ALLOWED_SWITCHES.map((long) => ({ long, value: false })),
]
  .map((f) => ({ ...f, ...(SHORT_FORMS[f.long] ? { short: SHORT_FORMS[f.long] } : {}) }))
  .sort((a, b) => (a.long < b.long ? -1 : 1));

const HOST_ISOLATION = 'it weakens the isolation between the container and the host';
/** Flags refused with the reason, so the message can point at the right input. */
const REFUSED_RUN_FLAGS: ReadonlyArray<{ names: string[]; why: string }> = [
  { names: ['--detach', '-d'], why: 'the script always starts the container detached' },
  {
    names: ['--rm'],
    why: 'the script removes containers itself, and a crashed container must stay for its logs',
  },
  { names: ['--name'], why: "the name is the 'container-name' input" },
  { names: ['--publish', '-p', '--publish-all', '-P'], why: "use the 'ports' input" },
  { names: ['--env', '-e', '--env-file'], why: "use the 'env' and 'env-from-ssm' inputs" },
  { names: ['--restart'], why: "use the 'restart-policy' input" },
  { names: ['--stop-timeout'], why: "use the 'stop-timeout' input" },
  { names: ['--pull'], why: 'the script pulls the image before stopping the old container' },
  {
    names: ['--interactive', '-i', '--tty', '-t', '--attach', '-a'],
    why: 'nothing reads a terminal under SSM',
  },
  {
    names: [
      '--privileged',
      '--pid',
      '--ipc',
      '--uts',
      '--userns',
      '--cgroupns',
      '--cgroup-parent',
      '--device',
      '--security-opt',
    ],
    why: HOST_ISOLATION,
  },
];

function allowedFlagList(): string {
  return ALLOWED_RUN_FLAGS.map((f) => (f.short ? `${f.long} (${f.short})` : f.long)).join(', ');
}

/**
 * Split `text` into words the way a shell would, but without evaluating anything: quotes and
 * backslashes are honoured, while `$`, backticks, operators and comments are refused, since a
 * user writing them expects a shell to act on them and none will.
 */
export function splitShellWords(text: string): string[] | { error: string } {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) return { error: 'has an unterminated single quote' };
      word += text.slice(i + 1, end);
      inWord = true;
      i = end;
    } else if (c === '"') {
      inWord = true;
      for (i++; ; i++) {
        if (i >= text.length) return { error: 'has an unterminated double quote' };
        const d = text[i] as string;
        if (d === '"') break;
        if (d === '$' || d === '`')
          return {
            error: `has '${d}' inside double quotes, which nothing expands here; use single quotes for a literal value`,
          };
        if (d === '\\' && i + 1 < text.length && '"\\$`\n'.includes(text[i + 1] as string)) {
          i++;
          if (text[i] !== '\n') word += text[i];
        } else word += d;
      }
    } else if (c === '\\') {
      if (i + 1 >= text.length) return { error: 'ends with a lone backslash' };
      i++;
      if (text[i] !== '\n') {
        word += text[i];
        inWord = true;
      }
    } else if (c === '$' || c === '`') {
      return {
        error: `has '${c}', which nothing expands here; use single quotes for a literal value`,
      };
    } else if (';&|<>()'.includes(c)) {
      return { error: `has the shell operator '${c}'; quote it if it belongs to a value` };
    } else if (c === '#' && !inWord) {
      return { error: "has '#', which would start a comment in a shell; quote it" };
    } else {
      word += c;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  return words;
}

// ---------------------------------------------------------------------------------------------
// run-options values

/** Every engine refuses a memory limit below this (docker and podman: 6 MiB). */
const MIN_MEMORY_BYTES = 6 * 1024 * 1024;
const SIZE = /^(\d+(?:\.\d+)?)([bkmg]?)(?:i?b)?$/i;
const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };
/** A Go duration with its unit, as engines parse --health-* values (`5` alone is refused). */
const GO_DURATION = /^(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+$/;

function sizeBytes(text: string): number | undefined {
  const m = SIZE.exec(text);
  if (!m) return undefined;
  return Number(m[1]) * (SIZE_UNITS[(m[2] ?? '').toLowerCase()] as number);
}

/**
 * Host paths a container must not bind without `allow-host-access`: the host's system trees,
 * the engines' sockets and state. A path is refused when it is one of them, lies below one, or
 * holds one (`/`, `/run`, `/var/lib`).
 */
const HOST_TREES = [
  '/proc',
  '/sys',
  '/dev',
  '/boot',
  '/etc',
  '/var/lib/docker',
  '/var/lib/containers',
  '/run/docker.sock',
  '/var/run/docker.sock',
  '/run/podman/podman.sock',
  '/var/run/podman/podman.sock',
  '/run/containerd/containerd.sock',
  '/var/run/containerd/containerd.sock',
];
const HOST_ACCESS = 'it gives the container the host; set allow-host-access: true if that is meant';

/** The host path as the engine resolves it: `..` folded, no trailing `/`. */
export function normalizeHostPath(path: string): string {
  const normal = posix.normalize(path);
  return normal.length > 1 ? normal.replace(/\/+$/, '') : normal;
}

function hostPathProblem(source: string): string | undefined {
  if (!source.startsWith('/')) return undefined; // a named volume
  const path = normalizeHostPath(source);
  const within = (a: string, b: string) => a === b || a.startsWith(`${b}/`) || b === '/';
  const hit = HOST_TREES.find((tree) => within(path, tree) || within(tree, path));
  return hit
    ? `binds the host path '${path}' (${hit === path ? hit : `it touches ${hit}`})`
    : undefined;
}

/** The bind source of a --volume or --mount value, if it has one. */
function bindSources(flag: string, value: string): string[] {
  if (flag === '--volume' || flag === '-v') {
    // SRC:DST[:OPTS]; a lone DST is an anonymous volume.
    const parts = value.split(':');
    return parts.length >= 2 ? [parts[0] as string] : [];
  }
  if (flag === '--mount') {
    const fields = new Map<string, string[]>();
    for (const field of value.split(',')) {
      const eq = field.indexOf('=');
      const key = (eq < 0 ? field : field.slice(0, eq)).trim().toLowerCase();
      fields.set(key, [...(fields.get(key) ?? []), eq < 0 ? '' : field.slice(eq + 1)]);
    }
    const type = (fields.get('type')?.[0] ?? 'volume').toLowerCase();
    const sources = [...(fields.get('source') ?? []), ...(fields.get('src') ?? [])];
    if (type === 'bind') return sources;
    // A volume backed by a host directory: volume-opt=device=/path (with o=bind).
    return (fields.get('volume-opt') ?? [])
      .filter((o) => o.startsWith('device='))
      .map((o) => o.slice('device='.length));
  }
  return [];
}

/** A value the engines would refuse; the error follows the flag. */
function flagValueProblem(flag: string, value: string): string | undefined {
  switch (flag) {
    case '--memory':
    case '-m':
    case '--memory-reservation': {
      const bytes = sizeBytes(value);
      if (bytes === undefined)
        return `has '${flag} ${value}': not a size like 512m or 1g (a bare number is bytes)`;
      if (bytes < MIN_MEMORY_BYTES)
        return `has '${flag} ${value}': ${bytes} bytes is below the engines' minimum of 6 MB${/^\d+$/.test(value) ? ` (a bare number is bytes: did you mean ${value}m?)` : ''}`;
      return undefined;
    }
    case '--memory-swap':
      if (value === '-1') return undefined;
      return sizeBytes(value) === undefined
        ? `has '${flag} ${value}': not a size like 1g, or -1 for unlimited`
        : undefined;
    case '--shm-size':
      return sizeBytes(value) === undefined
        ? `has '${flag} ${value}': not a size like 64m`
        : undefined;
    case '--cpus':
      return /^\d+(?:\.\d+)?$/.test(value) && Number(value) > 0
        ? undefined
        : `has '${flag} ${value}': not a positive number of CPUs like 0.5 or 2`;
    case '--health-interval':
    case '--health-timeout':
    case '--health-start-period':
      return GO_DURATION.test(value)
        ? undefined
        : `has '${flag} ${value}': a duration needs its unit, like 5s or 1m30s`;
    case '--health-retries':
    case '--pids-limit':
    case '--cpu-shares':
    case '-c':
      return /^-?\d+$/.test(value) ? undefined : `has '${flag} ${value}': not a whole number`;
    case '--ulimit':
      return /^[a-z]+=-?\d+(?::-?\d+)?$/.test(value)
        ? undefined
        : `has '${flag} ${value}': expected name=soft[:hard], like nofile=1024:4096`;
    default:
      return undefined;
  }
}

/** A value that hands the container its host (only `allow-host-access` lets it through). */
function hostAccessProblem(flag: string, value: string): string | undefined {
  if (flag === '--cap-add') {
    const caps = value.split(',').map((c) => c.trim().toUpperCase().replace(/^CAP_/, ''));
    const bad = caps.find((c) => c === 'ALL' || c === 'SYS_ADMIN');
    return bad ? `has '${flag} ${value}': capability ${bad} is refused: ${HOST_ACCESS}` : undefined;
  }
  for (const source of bindSources(flag, value)) {
    const problem = hostPathProblem(source);
    if (problem) return `has '${flag} ${value}', which ${problem}: ${HOST_ACCESS}`;
  }
  return undefined;
}

/** Check engine argv tokens against the allow-list; the error reads after "input 'run-options' ". */
function checkRunOptionTokens(
  tokens: readonly string[],
  opts: { allowHostAccess?: boolean } = {},
): { error: string } | undefined {
  return walkRunOptions(tokens, opts, () => {});
}

/**
 * The run-options that only `allow-host-access` lets through, for the warning that names them
 * (tokens already checked).
 */
export function hostAccessOptions(tokens: readonly string[]): string[] {
  const found: string[] = [];
  walkRunOptions(tokens, { allowHostAccess: true }, (option) => found.push(option));
  return found;
}

/** The one walk over run-options tokens: flags, their values, and what hands over the host. */
function walkRunOptions(
  tokens: readonly string[],
  opts: { allowHostAccess?: boolean },
  onHostAccess: (option: string) => void,
): { error: string } | undefined {
  const refusedBecause = (flag: string) =>
    REFUSED_RUN_FLAGS.find((r) => r.names.includes(flag))?.why;
  const refuse = (flag: string, why: string) => ({
    error: `has flag '${flag}', which is refused: ${why}. Allowed flags: ${allowedFlagList()}`,
  });
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i] as string;
    if (token.includes('\0')) return { error: 'holds a NUL byte' };
    let name: string;
    let attached: string | undefined;
    if (token.startsWith('--')) {
      const eq = token.indexOf('=');
      name = eq < 0 ? token : token.slice(0, eq);
      attached = eq < 0 ? undefined : token.slice(eq + 1);
    } else if (/^-[A-Za-z]/.test(token)) {
      name = token.slice(0, 2);
      attached = token.length > 2 ? token.slice(2).replace(/^=/, '') : undefined;
    } else {
      return {
        error: `has '${token}' where a flag was expected: only flags (and their values) go here, the image and its command are set by the action`,
      };
    }
    const why = refusedBecause(name);
    if (why) return refuse(name, why);
    const rule = ALLOWED_RUN_FLAGS.find((f) => f.long === name || f.short === name);
    if (!rule) return refuse(name, 'it is not on the allow-list');
    if (rule.value) {
      let value = attached;
      if (value === undefined) {
        if (i + 1 >= tokens.length) return { error: `has flag '${name}' without its value` };
        i++;
        value = tokens[i] as string;
      }
      const problem = flagValueProblem(name, value);
      if (problem) return { error: problem };
      const takeover = hostAccessProblem(name, value);
      if (takeover && !opts.allowHostAccess) return { error: takeover };
      if (takeover) onHostAccess(`${name} ${value}`);
    } else if (attached !== undefined && !/^(?:true|false)$/.test(attached)) {
      return {
        error: `has flag '${name}' with value '${attached}': it is a switch (true or false)`,
      };
    }
  }
  return undefined;
}

/**
 * Parse the `run-options` input: shell-like words, nothing evaluated, every flag on the
 * allow-list. The error reads after "input 'run-options' ".
 */
export function parseRunOptions(
  text: string,
  opts: { allowHostAccess?: boolean } = {},
): string[] | { error: string } {
  const words = splitShellWords(text);
  if (!Array.isArray(words)) return words;
  return checkRunOptionTokens(words, opts) ?? words;
}

// ---------------------------------------------------------------------------------------------
// The whole spec: one rule table, each field with the input it comes from

/** A problem with one field of a spec; `message` reads after "input '<input>' ". */
export interface SpecProblem {
  field: keyof DeploySpec;
  /** The action input the field is read from; undefined for fields the adapter sets itself. */
  input: string | undefined;
  /** "input 'container-name'", or what an adapter-set field is. */
  subject: string;
  message: string;
}

interface FieldRule<K extends keyof DeploySpec> {
  /** The action input the field is read from, or what sets it when no input does. */
  input: string | { setBy: string };
  /** What is wrong with the field's value, each reading after "input '<input>' ". */
  problems(value: Exclude<DeploySpec[K], undefined>, spec: DeploySpec): string[];
}

const none: string[] = [];
const noNul = (value: string, where = ''): string[] =>
  value.includes('\0') ? [`holds a NUL byte${where}`] : none;
const wholeNumber =
  (range: { min: number; max: number }, unit = '') =>
  (n: number): string[] =>
    Number.isInteger(n) && n >= range.min && n <= range.max
      ? none
      : [`must be a whole number${unit} between ${range.min} and ${range.max}; got ${n}`];

/** Seconds a host check may take, a container may take to stop, a deploy may wait for the lock. */
export const HEALTH_TIMEOUT_SECONDS = { min: 1, max: 86_400 };
const STOP_TIMEOUT_SECONDS = { min: 0, max: 3_600 };
const LOCK_TIMEOUT_SECONDS = { min: 0, max: 86_400 };
/** AWS-RunShellScript's executionTimeout: at most 48 hours. */
export const EXECUTION_TIMEOUT_SECONDS = { min: 1, max: 172_800 };
export const KEEP_IMAGES = { min: 1, max: 100 };

/** Environment variable names set more than once in `pairs`. */
function namedTwice(pairs: ReadonlyArray<[string, string]>): string[] {
  const seen = new Set<string>();
  const twice: string[] = [];
  for (const [name] of pairs) {
    if (seen.has(name)) twice.push(`sets ${name} twice`);
    seen.add(name);
  }
  return twice;
}

const envNameProblems = (pairs: ReadonlyArray<[string, string]>): string[] =>
  pairs
    .filter(([name]) => !ENV_NAME.test(name))
    .map(([name]) => `has the variable name ${shown(name)}: names are ${ENV_NAME_RULE}`);

/**
 * Every field of a DeploySpec, the input it is read from and the rules it must keep. The input
 * parser (src/inputs/deploy-ec2-ssm.ts) reports these problems per input; `deploySpecProblems`
 * is the script generator's own guard, so no caller can render an unsafe script.
 */
const SPEC_RULES: { [K in keyof DeploySpec]-?: FieldRule<K> } = {
  image: {
    input: 'image',
    problems: (image) => {
      const ref = parseImageReference(image);
      if (!isImageReference(ref)) return [`${ref.error}; got ${shown(image)}`];
      if (ref.tag === undefined && ref.digest === undefined)
        return [
          `must name a tag or a digest (…:1.4.2 or …@sha256:…), so a rollback knows what it goes back from; got ${shown(image)}`,
        ];
      return none;
    },
  },
  containerName: {
    input: 'container-name',
    problems: (name) =>
      CONTAINER_NAME.test(name) ? none : [`must be ${CONTAINER_NAME_RULE}; got ${shown(name)}`],
  },
  ports: {
    input: 'ports',
    problems: (ports) => {
      const found: string[] = [];
      const published = new Set<string>();
      for (const p of ports) {
        const again = parsePortMapping(formatPortMapping(p));
        if ('error' in again) found.push(again.error);
        const key = `${p.hostIp ?? '*'}|${p.hostPort}|${p.protocol}`;
        if (published.has(key)) found.push(`maps host port ${p.hostPort}/${p.protocol} twice`);
        published.add(key);
      }
      return found;
    },
  },
  env: {
    input: 'env',
    problems: (env) => [
      ...envNameProblems(env),
      ...namedTwice(env),
      ...env.flatMap(([name, value]) => noNul(value, ` in the value of ${name}`)),
    ],
  },
  envFromSsm: {
    input: 'env-from-ssm',
    problems: (envFromSsm, spec) => [
      ...envNameProblems(envFromSsm),
      ...namedTwice(envFromSsm),
      ...envFromSsm.flatMap(([name, parameter]) => [
        ...(SSM_PARAMETER_NAME.test(parameter) && parameter.length <= MAX_SSM_PARAMETER_NAME
          ? none
          : [`must map ${name} to ${SSM_PARAMETER_NAME_RULE}; got ${shown(parameter)}`]),
        ...(spec.env.some(([n]) => n === name)
          ? [`sets ${name}, which 'env' sets too: keep one`]
          : none),
      ]),
    ],
  },
  restartPolicy: {
    input: 'restart-policy',
    problems: (policy) =>
      RESTART_POLICY.test(policy) ? none : [`must be ${RESTART_POLICY_RULE}; got ${shown(policy)}`],
  },
  runOptions: {
    input: 'run-options',
    problems: (tokens, spec) => {
      const refused = checkRunOptionTokens(tokens, { allowHostAccess: spec.allowHostAccess });
      return refused ? [refused.error] : none;
    },
  },
  allowHostAccess: { input: 'allow-host-access', problems: () => none },
  engine: {
    input: 'engine',
    problems: (engine) =>
      ENGINES.includes(engine)
        ? none
        : [`must be one of ${ENGINES.join(', ')}; got ${shown(engine)}`],
  },
  registryLogin: {
    input: 'registry-login',
    problems: (mode, spec) => {
      if (!REGISTRY_LOGIN_MODES.includes(mode))
        return [`must be one of ${REGISTRY_LOGIN_MODES.join(', ')}; got ${shown(mode)}`];
      const ref = parseImageReference(spec.image);
      if (mode === 'ecr' && isImageReference(ref) && ref.registry === '')
        return [
          `is ecr, which needs an image in a registry, like 123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:1; got ${shown(spec.image)}`,
        ];
      return none;
    },
  },
  region: {
    input: 'region',
    problems: (region) =>
      REGION.test(region) ? none : [`must be an AWS region like eu-west-1; got ${shown(region)}`],
  },
  healthCmd: {
    input: 'health-cmd',
    problems: (cmd) => [...(cmd.trim() === '' ? ['is empty'] : none), ...noNul(cmd)],
  },
  healthTimeoutSeconds: {
    input: 'health-timeout',
    problems: wholeNumber(HEALTH_TIMEOUT_SECONDS, ' of seconds'),
  },
  stopTimeoutSeconds: {
    input: 'stop-timeout',
    problems: wholeNumber(STOP_TIMEOUT_SECONDS, ' of seconds'),
  },
  keepImages: { input: 'keep-images', problems: wholeNumber(KEEP_IMAGES) },
  stateDir: {
    input: { setBy: 'the state directory' },
    problems: (dir) =>
      /^\/[^\0]*[^/]$/.test(dir) ? none : [`must be an absolute path, not /; got ${shown(dir)}`],
  },
  // Derived from execution-timeout: what is left of it after the script's own waits.
  lockTimeoutSeconds: {
    input: 'execution-timeout',
    problems: (n) =>
      wholeNumber(
        LOCK_TIMEOUT_SECONDS,
        ' of seconds',
      )(n).map((why) => `leaves a wait for the lock that ${why}`),
  },
  executionTimeoutSeconds: {
    input: 'execution-timeout',
    problems: wholeNumber(EXECUTION_TIMEOUT_SECONDS, ' of seconds'),
  },
  runId: {
    input: { setBy: 'the run id (GITHUB_RUN_ID)' },
    problems: (runId) =>
      /^\d{1,18}$/.test(runId) ? none : [`must be digits; got ${shown(runId)}`],
  },
  force: { input: 'force', problems: () => none },
};

/** Everything wrong with a spec, field by field, each naming the input it comes from. */
export function specProblems(spec: DeploySpec): SpecProblem[] {
  const found: SpecProblem[] = [];
  for (const field of Object.keys(SPEC_RULES) as Array<keyof DeploySpec>) {
    const value = spec[field];
    if (value === undefined) continue;
    const rule = SPEC_RULES[field] as FieldRule<typeof field>;
    const input = typeof rule.input === 'string' ? rule.input : undefined;
    const subject = typeof rule.input === 'string' ? `input '${rule.input}'` : rule.input.setBy;
    for (const message of rule.problems(value as never, spec))
      found.push({ field, input, subject, message });
  }
  return found;
}

/** Everything wrong with a spec, in words (empty when it is valid). */
export function deploySpecProblems(spec: DeploySpec): string[] {
  return specProblems(spec).map((p) => `${p.subject} ${p.message}`);
}
