/**
 * The build command of each engine, and running it with a readable failure.
 *
 *   podman         `podman build --layers ... -t <each tag>`, then `podman push` per tag (push.ts).
 *                  Registry cache: `--cache-from/--cache-to <repository>-buildcache`, a separate
 *                  repository because buildah pushes one tag per cached step.
 *   docker buildx  `docker buildx build --push`: builds and pushes every tag in one go. Registry cache
 *                  in the `buildcache` tag of the image's own repository, image-manifest mode with
 *                  OCI media types (the form ECR accepts). Attestations off unless asked for.
 *   docker         (no buildx) `docker build`, then `docker push` per tag; no registry cache.
 *
 * Build-arg values listed as secret are never on the command line: the engine gets
 * `--build-arg NAME` and reads the value from its environment. Build secrets go as
 * `--secret id=ID,src=FILE` (a file build-push writes and removes) and `--ssh default|id=path`;
 * the classic docker builder has neither flag, so build-push refuses them without buildx.
 */
import type { CommandRunner, RunResult } from './engine.js';
import { BuildLog, type BuildSteps } from './progress.js';
import { formatDuration } from '../duration.js';
import { redact } from '../redact.js';
import type { Logger } from '../logger.js';

export type BuildFlavour = 'podman' | 'buildx' | 'docker';

export interface BuildPlan {
  context: string;
  /** Dockerfile path; undefined: the engine's default in the context. */
  file?: string;
  target?: string;
  platforms: readonly string[];
  buildArgs: ReadonlyArray<readonly [string, string]>;
  /** Names in buildArgs whose values go through the environment. */
  secretBuildArgs: readonly string[];
  labels: ReadonlyArray<readonly [string, string]>;
  pull: boolean;
  noCache: boolean;
  /** Full references to tag (and, with buildx, push): `registry/repository:tag`. */
  references: readonly string[];
  /** Where the layer cache is read and written; undefined: no registry cache. */
  cacheRef?: string;
  provenance: boolean;
  sbom: boolean;
  /** `--secret id=ID,src=FILE`: the id a `RUN --mount=type=secret,id=ID` asks for, and the file. */
  secretMounts?: ReadonlyArray<readonly [id: string, file: string]>;
  /** `--ssh` values: `default` or `id=path`. */
  ssh?: readonly string[];
}

/** The tag buildx keeps its registry cache in. */
export const BUILDX_CACHE_TAG = 'buildcache';
/** Appended to the repository name for podman's cache repository. */
export const PODMAN_CACHE_SUFFIX = '-buildcache';

/** `--build-arg` flags: NAME=value for plain ones, NAME alone for secret ones. */
function buildArgFlags(plan: BuildPlan): string[] {
  return plan.buildArgs.flatMap(([name, value]) => [
    '--build-arg',
    plan.secretBuildArgs.includes(name) ? name : `${name}=${value}`,
  ]);
}

/** The environment a build needs: the secret build-arg values, by name. */
export function buildEnv(plan: BuildPlan): Record<string, string> {
  return Object.fromEntries(plan.buildArgs.filter(([name]) => plan.secretBuildArgs.includes(name)));
}

function commonFlags(plan: BuildPlan): string[] {
  return [
    ...(plan.file ? ['--file', plan.file] : []),
    ...(plan.target ? ['--target', plan.target] : []),
    ...buildArgFlags(plan),
    ...plan.labels.flatMap(([k, v]) => ['--label', `${k}=${v}`]),
    ...(plan.noCache ? ['--no-cache'] : []),
    ...(plan.secretMounts ?? []).flatMap(([id, file]) => ['--secret', `id=${id},src=${file}`]),
    ...(plan.ssh ?? []).flatMap((spec) => ['--ssh', spec]),
  ];
}

export function podmanBuildArgs(plan: BuildPlan, opts: { authFile?: string }): string[] {
  return [
    'build',
    ...(opts.authFile ? ['--authfile', opts.authFile] : []),
    '--layers',
    ...(plan.pull ? ['--pull=always'] : []),
    ...(plan.platforms.length > 0 ? ['--platform', plan.platforms.join(',')] : []),
    ...commonFlags(plan),
    ...(plan.cacheRef ? ['--cache-from', plan.cacheRef, '--cache-to', plan.cacheRef] : []),
    ...plan.references.flatMap((ref) => ['--tag', ref]),
    plan.context,
  ];
}

export function buildxBuildArgs(
  plan: BuildPlan,
  opts: { builder?: string; metadataFile: string },
): string[] {
  const cache = plan.cacheRef
    ? [
        '--cache-from',
        `type=registry,ref=${plan.cacheRef}`,
        '--cache-to',
        `type=registry,ref=${plan.cacheRef},mode=max,image-manifest=true,oci-mediatypes=true`,
      ]
    : [];
  return [
    'buildx',
    'build',
    ...(opts.builder ? ['--builder', opts.builder] : []),
    '--progress=plain',
    '--push',
    `--provenance=${plan.provenance}`,
    `--sbom=${plan.sbom}`,
    '--metadata-file',
    opts.metadataFile,
    ...(plan.pull ? ['--pull'] : []),
    ...(plan.platforms.length > 0 ? ['--platform', plan.platforms.join(',')] : []),
    ...commonFlags(plan),
    ...cache,
    ...plan.references.flatMap((ref) => ['--tag', ref]),
    plan.context,
  ];
}

export function dockerBuildArgs(plan: BuildPlan): string[] {
  return [
    'build',
    ...(plan.pull ? ['--pull'] : []),
    ...commonFlags(plan),
    ...plan.references.flatMap((ref) => ['--tag', ref]),
    plan.context,
  ];
}

/** The command line of one build: which program, with which arguments. */
export interface BuildCommand {
  cmd: 'podman' | 'docker';
  args: string[];
}

/** How a flavour is named in the log. */
export const FLAVOUR_NAMES: Record<BuildFlavour, string> = {
  podman: 'podman',
  buildx: 'docker buildx',
  docker: 'docker',
};

/**
 * The build command for `flavour`: podman's auth file, buildx's builder and metadata file are
 * used by the flavours that have them.
 */
export function buildCommand(
  flavour: BuildFlavour,
  plan: BuildPlan,
  opts: { authFile?: string; builder?: string; metadataFile: string },
): BuildCommand {
  switch (flavour) {
    case 'podman':
      return { cmd: 'podman', args: podmanBuildArgs(plan, opts) };
    case 'buildx':
      return { cmd: 'docker', args: buildxBuildArgs(plan, opts) };
    case 'docker':
      return { cmd: 'docker', args: dockerBuildArgs(plan) };
  }
}

/** A build that failed: the step it stopped at, the engine's reason and the last lines of output. */
export class BuildError extends Error {
  constructor(
    readonly step: string | undefined,
    readonly reason: string,
    readonly lastLines: string[],
  ) {
    super(`build failed${step ? ` at ${step}` : ''}: ${reason}`);
    this.name = 'BuildError';
  }
}

export interface BuildRun {
  steps: BuildSteps;
  durationMs: number;
  result: RunResult;
}

/** Never leave the log silent longer than this during a quiet step. */
const BUILD_HEARTBEAT_MS = 30_000;

export interface RunBuildOptions {
  run: CommandRunner;
  cmd: string;
  args: readonly string[];
  env: Record<string, string>;
  timeoutMs: number;
  logger: Logger;
  /** Values masked in what this logs or throws. */
  secrets: readonly string[];
  now: () => number;
  signal?: AbortSignal;
}

/** Run a build command, streaming its log; throws BuildError naming the failing step. */
export async function runBuild(opts: RunBuildOptions): Promise<BuildRun> {
  const buildLog = new BuildLog();
  const started = opts.now();
  const result = await opts.run(opts.cmd, opts.args, {
    env: opts.env,
    timeoutMs: opts.timeoutMs,
    ...(opts.signal ? { signal: opts.signal } : {}),
    onLine: (line) => {
      buildLog.feed(line);
      opts.logger.info(redact(line, opts.secrets));
    },
    heartbeat: {
      everyMs: BUILD_HEARTBEAT_MS,
      onSilence: () =>
        opts.logger.info(
          `still building after ${formatDuration(opts.now() - started)}` +
            (buildLog.currentStep ? `: ${redact(buildLog.currentStep, opts.secrets)}` : ''),
        ),
    },
  });
  const durationMs = opts.now() - started;
  if (result.code === 0) return { steps: buildLog.steps(), durationMs, result };

  const masked = (text: string) => redact(text, opts.secrets);
  let reason: string;
  if (result.notFound) reason = `${opts.cmd} is not installed or not on PATH`;
  else if (result.timedOut)
    reason = `did not finish within ${formatDuration(opts.timeoutMs)}; the build was stopped`;
  else if (opts.signal?.aborted) reason = 'cancelled';
  else reason = buildLog.failureReason() ?? `${opts.cmd} exited with code ${result.code}`;
  throw new BuildError(
    buildLog.failedStep() && masked(buildLog.failedStep() as string),
    masked(reason),
    buildLog.lastLines().map(masked),
  );
}
