/**
 * build-push, start to end: check what can be checked locally, log in (ECR token or given
 * credentials), make sure the ECR repository can take the tags, build with the registry layer
 * cache, push every tag, and read the digest back from the registry.
 *
 * Order matters: everything that can fail without side effects (context, engine, tags against an
 * immutable repository) fails before the build, and every credential or builder this creates is
 * reported through `onLeftovers` before it exists, so the post step can remove it even if this
 * process is killed. On the way out (success or not) it logs out and removes what it created.
 */
import { existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { systemClock, type Clock } from '../poll.js';
import { formatDuration } from '../duration.js';
import { redact } from '../redact.js';
import { editedLogger, type Logger } from '../logger.js';
import {
  engineLogin,
  lastMeaningfulLine,
  type CommandRunner,
  type EngineName,
  type RegistryLogin,
} from './engine.js';
import {
  BUILDX_CACHE_TAG,
  FLAVOUR_NAMES,
  PODMAN_CACHE_SUFFIX,
  buildCommand,
  buildEnv,
  runBuild,
  type BuildFlavour,
  type BuildPlan,
} from './build.js';
import type { BuildSteps } from './progress.js';
import { digestFromMetadata, pushReference } from './push.js';
import { LeftoverList, type Leftover } from './leftovers.js';
import { readManifest, type RegistryCredentials } from './registry-api.js';
import { LATEST_TAG, imageLabels } from './tags.js';
import { getEcrLogin, type EcrApi } from '../ecr/auth.js';
import {
  cacheLifecyclePolicy,
  checkTagsWritable,
  createRepository,
  describePushedImage,
  findRepository,
  imageLifecyclePolicy,
  type RepositoryInfo,
  type TagMutability,
} from '../ecr/repository.js';
import { errorMessage } from '../errors.js';

export type RegistryTarget =
  /** ECR; `host` when given as an input (another account or region), else from the token. */
  | { kind: 'ecr'; host?: string; registryId?: string }
  | { kind: 'other'; host: string; credentials?: RegistryCredentials };

export interface BuildInputs {
  context: string;
  file?: string;
  target?: string;
  platforms: string[];
  buildArgs: Array<[string, string]>;
  secretBuildArgs: string[];
  labels: Array<[string, string]>;
  pull: boolean;
  noCache: boolean;
  provenance: boolean;
  sbom: boolean;
  /** Build secrets `[id, value]`: the values are written to 0600 files for the build only. */
  secrets?: Array<[string, string]>;
  /** Build secrets `[id, path]` read from files the runner has. */
  secretFiles?: Array<[string, string]>;
  /** `--ssh` values: `default` (the agent of SSH_AUTH_SOCK) or `id=path`. */
  ssh?: string[];
}

export interface BuildPushOptions {
  engine: EngineName;
  registry: RegistryTarget;
  repository: string;
  /** Checked tags, the SHA tag first. */
  tags: string[];
  /** For the OCI labels. */
  source: { sourceUrl?: string; revision: string };
  build: BuildInputs;
  cache: 'registry' | 'none';
  createRepository: boolean;
  tagMutability: TagMutability;
  keepImages: number;
  /** A private temp dir for this run (podman's auth file, digest files); the caller removes it. */
  workDir: string;
  buildTimeoutMs?: number;
}

export interface BuildPushDeps {
  run: CommandRunner;
  /** Required for an ECR registry. */
  ecr?: EcrApi;
  fetch?: typeof fetch;
  clock?: Clock;
  /** Its `mask` receives each secret the moment it is known, before anything could print it; each
   * engine step's output is folded in a `group`. */
  logger: Logger;
  /** The current list of leftovers, each time it changes (before a login, after a logout). */
  onLeftovers?: (leftovers: Leftover[]) => void;
  signal?: AbortSignal;
  /** The environment the engine runs in (SSH_AUTH_SOCK for ssh: default); default process.env. */
  env?: Record<string, string | undefined>;
}

export interface CacheReport {
  mode: 'registry' | 'none';
  /** Where the cache lives. */
  ref?: string;
  /** Build steps (FROM excluded) and how many of them came from a cache. */
  steps: number;
  cachedSteps: number;
  /** Why the registry cache was not used although asked for. */
  note?: string;
}

export interface BuildPushResult {
  registry: string;
  repository: string;
  /** `registry/repository:<sha tag>`. */
  image: string;
  /** `registry/repository:latest`, when latest was pushed. */
  imageLatest?: string;
  tags: string[];
  digest: string;
  /** 'registry' when read back from it; 'engine' when only the engine reported it. */
  digestSource: 'registry' | 'engine';
  sizeBytes?: number;
  /** For buildx, build and push together. */
  buildMs: number;
  pushMs: number;
  cache: CacheReport;
  flavour: BuildFlavour;
  repositoryCreated: boolean;
}

const DEFAULT_BUILD_TIMEOUT_MS = 60 * 60_000;
const PROBE_TIMEOUT_MS = 30_000;

/** A remote build context (git or https URL) is the engine's business; a local one must exist. */
function isRemoteContext(context: string): boolean {
  return /^(https?|git|ssh):\/\//.test(context) || context.startsWith('git@');
}

/** Fail before anything else when the context or Dockerfile is missing. */
function checkBuildContext(build: BuildInputs): void {
  if (isRemoteContext(build.context)) return;
  if (!existsSync(build.context) || !statSync(build.context).isDirectory()) {
    throw new Error(`input 'context' names '${build.context}', which is not a directory`);
  }
  if (build.file) {
    if (!existsSync(build.file))
      throw new Error(`input 'file' names '${build.file}', which does not exist`);
  } else if (!['Dockerfile', 'Containerfile'].some((f) => existsSync(join(build.context, f)))) {
    throw new Error(
      `there is no Dockerfile in '${build.context}'; set 'file' to the Dockerfile's path`,
    );
  }
}

/** Fail before anything else when a secret file or an ssh key or agent is missing. */
function checkBuildSecrets(
  build: BuildInputs,
  env: Record<string, string | undefined> = process.env,
): void {
  for (const [id, path] of build.secretFiles ?? []) {
    if (!existsSync(path) || !statSync(path).isFile())
      throw new Error(`input 'secret-files' names '${path}' for '${id}', which is not a file`);
  }
  for (const spec of build.ssh ?? []) {
    if (spec === 'default') {
      if (!env.SSH_AUTH_SOCK)
        throw new Error(
          "input 'ssh' asks for the default agent, but SSH_AUTH_SOCK is not set (start an ssh-agent first, e.g. webfactory/ssh-agent)",
        );
    } else {
      const [id, path] = [spec.slice(0, spec.indexOf('=')), spec.slice(spec.indexOf('=') + 1)];
      if (!existsSync(path))
        throw new Error(`input 'ssh' names '${path}' for '${id}', which does not exist`);
    }
  }
}

/** The build-secret inputs a build uses, as they are named in messages. */
function secretInputsUsed(build: BuildInputs): string[] {
  return [
    build.secrets?.length ? "'secrets'" : '',
    build.secretFiles?.length ? "'secret-files'" : '',
    build.ssh?.length ? "'ssh'" : '',
  ].filter(Boolean);
}

function listed(items: string[]): string {
  return items.length <= 1
    ? (items[0] ?? '')
    : `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}

/** Which build command to use, checked before anything touches a registry. */
async function detectFlavour(
  run: CommandRunner,
  engine: EngineName,
  build: BuildInputs,
): Promise<BuildFlavour> {
  if (engine === 'podman') {
    const r = await run('podman', ['--version'], { timeoutMs: PROBE_TIMEOUT_MS });
    if (r.notFound)
      throw new Error(
        'podman is not installed on this runner (engine: podman); install it or use engine: docker',
      );
    if (r.code !== 0) throw new Error(`podman does not work here: ${lastMeaningfulLine(r.stderr)}`);
    return 'podman';
  }
  const server = await run('docker', ['version', '--format', '{{.Server.Version}}'], {
    timeoutMs: PROBE_TIMEOUT_MS,
  });
  if (server.notFound)
    throw new Error('docker is not installed on this runner; install it or set engine: podman');
  if (server.code !== 0) {
    throw new Error(
      `docker cannot reach its daemon (${lastMeaningfulLine(server.stderr)}); on a host without Docker set engine: podman`,
    );
  }
  const buildx = await run('docker', ['buildx', 'version'], { timeoutMs: PROBE_TIMEOUT_MS });
  if (buildx.code === 0) return 'buildx';
  const secretInputs = secretInputsUsed(build);
  if (secretInputs.length > 0) {
    throw new Error(
      `${listed(secretInputs)} need docker buildx: Docker's classic builder has neither --secret nor --ssh (docker/setup-buildx-action installs buildx; or set engine: podman)`,
    );
  }
  const needs = [
    build.platforms.length > 1 ? "several 'platforms'" : '',
    build.provenance ? "'provenance'" : '',
    build.sbom ? "'sbom'" : '',
  ].filter(Boolean);
  if (needs.length > 0) {
    throw new Error(
      `${needs.join(' and ')} need docker buildx, which is not installed (docker/setup-buildx-action installs it)`,
    );
  }
  return 'docker';
}

export async function buildPush(
  opts: BuildPushOptions,
  deps: BuildPushDeps,
): Promise<BuildPushResult> {
  const clock = deps.clock ?? systemClock;
  // Values masked in every line this logs or throws; the login password joins them below.
  const secrets = secretValues(opts.build);
  const logger = editedLogger(deps.logger, (line) => redact(line, secrets));

  // 1. Everything that can fail without side effects: context, secrets, engine, credentials.
  checkBuildContext(opts.build);
  checkBuildSecrets(opts.build, deps.env);
  const { flavour, login, host } = await probeAndLogin(opts, deps);
  if (login) secrets.push(login.password);
  const name = `${host}/${opts.repository}`;
  const references = opts.tags.map((tag) => `${name}:${tag}`);

  // 2. The repository can take the tags; where the layer cache goes.
  const { cache, repositoryCreated } = await prepareRepository(opts, deps, {
    host,
    flavour,
    name,
    logger,
  });

  // 3. Log in, build, push and read the digest back; on the way out, remove what this created.
  const leftovers = new LeftoverList(deps.onLeftovers);
  // podman keeps this step's login in a private file (never the user's own auth file); without
  // a login it uses whatever login the runner already has.
  const authFile = flavour === 'podman' && login ? join(opts.workDir, 'auth.json') : undefined;
  try {
    if (login) {
      const place = { engine: opts.engine, authFile };
      leftovers.add({ kind: 'login', ...place, host });
      await engineLogin(deps.run, place, login, deps.signal);
      logger.info(`logged in to ${host} as ${login.username}`);
    }
    const builder =
      flavour === 'buildx' && needsContainerBuilder(cache.ref, opts.build.platforms)
        ? await containerBuilder(deps.run, leftovers, logger)
        : undefined;

    const secretDir = join(opts.workDir, 'build-secrets');
    const metadataFile = join(opts.workDir, 'buildx-metadata.json');
    const plan = buildPlan(opts.build, {
      references,
      labels: imageLabels({ ...opts.source, created: new Date(clock.now()) }, opts.build.labels),
      cacheRef: cache.ref,
      secretDir,
    });
    const command = buildCommand(flavour, plan, { authFile, builder, metadataFile });
    const built = await logger.group(
      `building ${references.join(', ')} with ${FLAVOUR_NAMES[flavour]}`,
      () =>
        withSecretFiles(secretDir, opts.build.secrets ?? [], () =>
          runBuild({
            run: deps.run,
            ...command,
            env: buildEnv(plan),
            timeoutMs: opts.buildTimeoutMs ?? DEFAULT_BUILD_TIMEOUT_MS,
            logger,
            secrets,
            now: () => clock.now(),
            signal: deps.signal,
          }),
        ),
    );
    logger.info(`built in ${formatDuration(built.durationMs)}`);

    // buildx pushed during the build; podman and plain docker push each tag now.
    const pushStarted = clock.now();
    let engineDigest: string | undefined;
    if (flavour === 'buildx') engineDigest = digestFromMetadata(metadataFile);
    else
      for (const reference of references) {
        const digest = await logger.group(`pushing ${reference}`, () =>
          pushReference({
            run: deps.run,
            engine: opts.engine,
            reference,
            authFile,
            workDir: opts.workDir,
            logger,
            signal: deps.signal,
          }),
        );
        engineDigest ??= digest;
      }
    const pushMs = clock.now() - pushStarted;

    const shaTag = opts.tags[0] as string;
    const pushed = await readBack(opts, deps, { host, shaTag, engineDigest, clock });
    return {
      registry: host,
      repository: opts.repository,
      image: references[0] as string,
      ...(opts.tags.includes(LATEST_TAG) ? { imageLatest: `${name}:${LATEST_TAG}` } : {}),
      tags: [...opts.tags],
      ...pushed,
      buildMs: built.durationMs,
      pushMs,
      cache: cacheReport(cache, built.steps),
      flavour,
      repositoryCreated,
    };
  } finally {
    await leftovers.removeAll(deps.run, logger);
  }
}

/** The values no log line or error may show: secret build-arg values and build secrets. */
function secretValues(build: BuildInputs): string[] {
  return [
    ...build.buildArgs
      .filter(([name]) => build.secretBuildArgs.includes(name))
      .map(([, value]) => value),
    ...(build.secrets ?? []).map(([, value]) => value),
  ];
}

/**
 * What the engine builds: the build inputs with the labels, the references, the cache and the
 * build secrets as files by id (`<secretDir>/<n>`); the secret values stay out of the plan.
 */
export function buildPlan(
  build: BuildInputs,
  parts: {
    references: string[];
    labels: Array<[string, string]>;
    cacheRef?: string;
    secretDir: string;
  },
): BuildPlan {
  const { secrets = [], secretFiles = [], ssh = [], ...inputs } = build;
  return {
    ...inputs,
    labels: parts.labels,
    references: parts.references,
    cacheRef: parts.cacheRef,
    secretMounts: [
      ...secrets.map(([id], i) => [id, join(parts.secretDir, String(i))] as const),
      ...secretFiles,
    ],
    ssh,
  };
}

/**
 * Write the build secrets to 0600 files (`<dir>/<n>`, as `buildPlan` names them) for the time
 * `work` runs. workDir is private (0700), and the post step removes it too if this process is
 * killed.
 */
async function withSecretFiles<T>(
  dir: string,
  secrets: ReadonlyArray<[string, string]>,
  work: () => Promise<T>,
): Promise<T> {
  try {
    if (secrets.length > 0) {
      mkdirSync(dir, { mode: 0o700 });
      secrets.forEach(([, value], i) =>
        writeFileSync(join(dir, String(i)), value, { mode: 0o600, flag: 'wx' }),
      );
    }
    return await work();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function cacheReport(cache: CacheLocation, steps: BuildSteps): CacheReport {
  return {
    mode: cache.ref ? 'registry' : 'none',
    ref: cache.ref,
    steps: steps.steps,
    cachedSteps: steps.cached,
    note: cache.note,
  };
}

/**
 * The ECR repository (found or created, tags writable) and where the layer cache goes; a warning
 * when the build goes without the registry cache it was asked to use.
 */
async function prepareRepository(
  opts: BuildPushOptions,
  deps: BuildPushDeps,
  ctx: { host: string; flavour: BuildFlavour; name: string; logger: Logger },
): Promise<{ cache: CacheLocation; repositoryCreated: boolean }> {
  const cache = cacheLocation(opts, ctx.flavour, ctx.name);
  if (cache.note) ctx.logger.warning(`building without the registry cache: ${cache.note}`);
  if (opts.registry.kind !== 'ecr' || !deps.ecr) return { cache, repositoryCreated: false };
  const prepared = await prepareEcrRepository(deps.ecr, opts, { ...ctx, cache });
  if (prepared.cache.note && !cache.note)
    ctx.logger.warning(`building without the registry cache: ${prepared.cache.note}`);
  return { cache: prepared.cache, repositoryCreated: prepared.created };
}

/**
 * Which build command to use, and the registry credentials. The engine probe and the ECR token
 * request overlap (start-up time): the token request changes nothing in AWS, and when both fail
 * the engine's problem is the one reported.
 */
async function probeAndLogin(
  opts: BuildPushOptions,
  deps: BuildPushDeps,
): Promise<{ flavour: BuildFlavour; login?: RegistryLogin; host: string }> {
  const registry = opts.registry;
  if (registry.kind === 'ecr' && !deps.ecr) throw new Error('an ECR registry needs an ECR client');
  const [probed, token] = await Promise.allSettled([
    detectFlavour(deps.run, opts.engine, opts.build),
    registry.kind === 'ecr' && deps.ecr
      ? getEcrLogin(deps.ecr, { registryId: registry.registryId })
      : Promise.resolve(undefined),
  ]);
  if (probed.status === 'rejected') throw probed.reason;
  if (token.status === 'rejected') throw token.reason;
  const flavour = probed.value;
  if (registry.kind === 'ecr' && token.value) {
    deps.logger.mask(token.value.password);
    const host = registry.host ?? token.value.host;
    return {
      flavour,
      host,
      login: { host, username: token.value.username, password: token.value.password },
    };
  }
  if (registry.kind === 'other') {
    // An input: the adapter masked the password already.
    const login = registry.credentials
      ? { host: registry.host, ...registry.credentials }
      : undefined;
    return { flavour, host: registry.host, login };
  }
  throw new Error('ECR returned no login');
}

interface CacheLocation {
  /** Where the layer cache is read and written; undefined: no registry cache. */
  ref?: string;
  /** Why there is none although cache: registry was asked for. */
  note?: string;
}

function cacheLocation(opts: BuildPushOptions, flavour: BuildFlavour, name: string): CacheLocation {
  if (opts.cache === 'none') return {};
  if (flavour === 'podman') return { ref: `${name}${PODMAN_CACHE_SUFFIX}` };
  if (flavour === 'buildx') return { ref: `${name}:${BUILDX_CACHE_TAG}` };
  return { note: 'the registry cache needs docker buildx, which is not installed' };
}

/**
 * The ECR side before the build: the repository exists (or is created), the tags can be written,
 * and podman's cache repository exists (or the build goes without the cache).
 */
async function prepareEcrRepository(
  ecr: EcrApi,
  opts: BuildPushOptions,
  ctx: { host: string; flavour: BuildFlavour; cache: CacheLocation; logger: Logger },
): Promise<{ created: boolean; cache: CacheLocation }> {
  const registryId = opts.registry.kind === 'ecr' ? opts.registry.registryId : undefined;
  const repo = await ensureRepository(ecr, opts, ctx.host, registryId, ctx.logger);
  const movingTags = [
    ...opts.tags.filter((t) => t === LATEST_TAG),
    ...(ctx.cache.ref && ctx.flavour === 'buildx' ? [BUILDX_CACHE_TAG] : []),
  ];
  await checkTagsWritable(ecr, repo, { tags: opts.tags, movingTags, registry: ctx.host });
  if (!ctx.cache.ref || ctx.flavour !== 'podman')
    return { created: repo.created, cache: ctx.cache };

  const cacheName = `${opts.repository}${PODMAN_CACHE_SUFFIX}`;
  const ref = { name: cacheName, registryId };
  let cacheRepo = await findRepository(ecr, ref);
  if (!cacheRepo && opts.createRepository) {
    cacheRepo = await createRepository(ecr, {
      ...ref,
      tagMutability: 'MUTABLE',
      scanOnPush: false,
      lifecyclePolicy: cacheLifecyclePolicy(),
    });
    ctx.logger.info(`created the cache repository ${ctx.host}/${cacheName}`);
  }
  if (cacheRepo) return { created: repo.created, cache: ctx.cache };
  return {
    created: repo.created,
    cache: {
      note: `the cache repository '${cacheName}' does not exist (set create-repository: true or create it)`,
    },
  };
}

/**
 * The digest the registry holds under the SHA tag (ECR DescribeImages, else the /v2 API), checked
 * against what the engine pushed. When the registry cannot be asked, the engine's digest stands.
 */
async function readBack(
  opts: BuildPushOptions,
  deps: BuildPushDeps,
  ctx: { host: string; shaTag: string; engineDigest?: string; clock: Clock },
): Promise<{ digest: string; digestSource: 'registry' | 'engine'; sizeBytes?: number }> {
  const name = `${ctx.host}/${opts.repository}`;
  let view: { digest: string; sizeBytes?: number } | undefined;
  try {
    if (opts.registry.kind === 'ecr' && deps.ecr) {
      const registryId = opts.registry.registryId;
      view = await describePushedImage(
        deps.ecr,
        { name: opts.repository, registryId },
        ctx.shaTag,
        { clock: ctx.clock, signal: deps.signal },
      );
    } else {
      const creds = opts.registry.kind === 'other' ? opts.registry.credentials : undefined;
      view = await readManifest({
        host: ctx.host,
        repository: opts.repository,
        reference: ctx.shaTag,
        credentials: creds,
        fetch: deps.fetch,
      });
    }
  } catch (error) {
    deps.logger.warning(
      `could not read ${name}:${ctx.shaTag} back from the registry: ${errorMessage(error)}`,
    );
  }
  if (view && ctx.engineDigest && view.digest !== ctx.engineDigest) {
    deps.logger.warning(
      `the registry holds ${view.digest} under ${ctx.shaTag}, but ${opts.engine} pushed ${ctx.engineDigest}: another push of the same tag may have raced this one`,
    );
  }
  if (view) {
    return {
      digest: view.digest,
      digestSource: 'registry',
      ...(view.sizeBytes !== undefined ? { sizeBytes: view.sizeBytes } : {}),
    };
  }
  if (ctx.engineDigest) return { digest: ctx.engineDigest, digestSource: 'engine' };
  throw new Error(
    `pushed ${name}:${ctx.shaTag}, but neither the engine nor the registry reported its digest`,
  );
}

async function ensureRepository(
  ecr: EcrApi,
  opts: BuildPushOptions,
  host: string,
  registryId: string | undefined,
  logger: Logger,
): Promise<RepositoryInfo> {
  const ref = { name: opts.repository, registryId };
  const found = await findRepository(ecr, ref);
  if (found) return found;
  if (!opts.createRepository) {
    throw new Error(
      `repository '${opts.repository}' does not exist in ${host}; set create-repository: true or create it`,
    );
  }
  const created = await createRepository(ecr, {
    ...ref,
    tagMutability: opts.tagMutability,
    scanOnPush: true,
    // docker (buildx, now or on a later run) keeps the registry cache in a tag of this repository.
    lifecyclePolicy: imageLifecyclePolicy(
      opts.keepImages,
      opts.engine === 'docker' && opts.cache === 'registry' ? { cacheTag: BUILDX_CACHE_TAG } : {},
    ),
  });
  logger.info(
    `created repository ${host}/${opts.repository} (scan on push, ${opts.tagMutability.toLowerCase()} tags, keeps the newest ${opts.keepImages} images)`,
  );
  return created;
}

/** The default `docker` driver of buildx cannot export a registry cache or build several platforms. */
function needsContainerBuilder(
  cacheRef: string | undefined,
  platforms: readonly string[],
): boolean {
  return cacheRef !== undefined || platforms.length > 1;
}

/**
 * A throw-away docker-container builder, unless the current builder is one already (or another
 * driver that can export a cache); listed as a leftover before it is created.
 */
async function containerBuilder(
  run: CommandRunner,
  leftovers: LeftoverList,
  logger: Logger,
): Promise<string | undefined> {
  const inspect = await run('docker', ['buildx', 'inspect'], { timeoutMs: PROBE_TIMEOUT_MS });
  const driver = /^Driver:\s*(\S+)/m.exec(inspect.stdout)?.[1];
  if (inspect.code === 0 && driver !== 'docker') return undefined;
  const name = `shipyard-${Math.random().toString(36).slice(2, 10)}`;
  leftovers.add({ kind: 'builder', name });
  logger.info(
    `the current buildx builder uses the docker driver, which cannot export a registry cache: creating builder ${name} (docker-container driver)`,
  );
  const r = await run(
    'docker',
    ['buildx', 'create', '--name', name, '--driver', 'docker-container', '--bootstrap'],
    { timeoutMs: 5 * 60_000, onLine: (line) => logger.info(line) },
  );
  if (r.code !== 0)
    throw new Error(
      `could not create a buildx builder: ${lastMeaningfulLine(r.stderr || r.stdout)}`,
    );
  return name;
}
