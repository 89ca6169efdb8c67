/**
 * Pushing one tag with podman or docker, and turning a refusal into the registry's reason.
 * (docker buildx pushes during the build; see build.ts.)
 */
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import type { CommandRunner, EngineName } from './engine.js';
import { lastMeaningfulLine } from './engine.js';
import { formatDuration } from '../duration.js';
import type { Logger } from '../logger.js';

const DIGEST = /sha256:[0-9a-f]{64}/;
const PUSH_TIMEOUT_MS = 30 * 60_000;
/** A big layer can upload for minutes without a line of output. */
const PUSH_HEARTBEAT_MS = 30_000;

export class PushError extends Error {
  constructor(
    readonly reference: string,
    readonly reason: string,
    readonly detail: string,
  ) {
    super(`push of ${reference} failed: ${reason}${detail ? ` (${detail})` : ''}`);
    this.name = 'PushError';
  }
}

/**
 * What a registry's refusal means, from the error text of podman, docker or buildx.
 * ECR words them `denied: User ... is not authorized`, `name unknown: The repository with name
 * 'x' does not exist`, `tag invalid: The image tag 'latest' already exists ... immutable`.
 */
export function pushFailureReason(output: string): string {
  const text = output.toLowerCase();
  if (/tag invalid|already exists.*(immutable|cannot be overwritten)|immutable/.test(text))
    return 'the tag already exists and the repository has immutable tags';
  if (/name unknown|repository .*does not exist|name_unknown|repository not found/.test(text))
    return 'the repository does not exist in the registry';
  if (/denied|unauthorized|authentication required|forbidden|not authorized|403/.test(text))
    return 'access denied: the credentials may not push to this repository';
  if (/no such host|connection refused|i\/o timeout|tls|x509|network is unreachable/.test(text))
    return 'the registry could not be reached';
  return 'the registry refused it';
}

export interface PushOptions {
  run: CommandRunner;
  engine: EngineName;
  reference: string;
  /** podman: the auth file of the login. */
  authFile?: string;
  /** A private dir for podman's --digestfile. */
  workDir: string;
  logger: Logger;
  signal?: AbortSignal;
}

/** Push one reference; returns the digest of the manifest the registry stored. */
export async function pushReference(opts: PushOptions): Promise<string | undefined> {
  const digestFile = join(opts.workDir, `digest-${Math.random().toString(36).slice(2)}`);
  const args =
    opts.engine === 'podman'
      ? [
          'push',
          ...(opts.authFile ? ['--authfile', opts.authFile] : []),
          '--digestfile',
          digestFile,
          opts.reference,
        ]
      : ['push', opts.reference];
  const result = await opts.run(opts.engine, args, {
    timeoutMs: PUSH_TIMEOUT_MS,
    onLine: (line) => opts.logger.info(line),
    heartbeat: {
      everyMs: PUSH_HEARTBEAT_MS,
      onSilence: (ms) =>
        opts.logger.info(`still pushing ${opts.reference} (${formatDuration(ms)} without output)`),
    },
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  if (result.code !== 0) {
    const output = `${result.stderr}\n${result.stdout}`;
    if (result.timedOut)
      throw new PushError(
        opts.reference,
        `no answer within ${formatDuration(PUSH_TIMEOUT_MS)}`,
        '',
      );
    const detail = lastMeaningfulLine(result.stderr) || lastMeaningfulLine(result.stdout);
    throw new PushError(opts.reference, pushFailureReason(output), detail);
  }
  if (opts.engine === 'podman') {
    try {
      return DIGEST.exec(readFileSync(digestFile, 'utf8'))?.[0];
    } catch {
      return undefined;
    }
  }
  // docker push ends with `<tag>: digest: sha256:... size: 1234`.
  return /digest: (sha256:[0-9a-f]{64})/.exec(result.stdout)?.[1];
}

/** The digest buildx wrote to its --metadata-file (`containerimage.digest`). */
export function digestFromMetadata(metadataFile: string): string | undefined {
  try {
    const meta = JSON.parse(readFileSync(metadataFile, 'utf8')) as Record<string, unknown>;
    const digest = meta['containerimage.digest'];
    return typeof digest === 'string' && DIGEST.test(digest) ? digest : undefined;
  } catch {
    return undefined;
  }
}
