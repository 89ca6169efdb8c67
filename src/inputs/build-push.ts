/** The inputs of actions/build-push, parsed and checked before any registry or AWS call. */
import { InputReader, shown, type InputGetter } from './reader.js';
import { ENGINES, type EngineName } from '../image/engine.js';
import {
  parseEcrHost,
  parseImageReference,
  isImageReference,
  TAG_PATTERN,
  TAG_RULE,
} from '../image/reference.js';
import { LATEST_TAG, SHA_PATTERN, imageTags, type ShaFormat } from '../image/tags.js';
import { BUILDX_CACHE_TAG } from '../image/build.js';
import type { BuildPushOptions } from '../image/build-push.js';
import type { TagMutability } from '../ecr/repository.js';

/** What the adapter knows from the workflow run (GITHUB_SHA, GITHUB_SERVER_URL, GITHUB_REPOSITORY). */
export interface GithubRun {
  sha?: string;
  serverUrl?: string;
  repository?: string;
}

export type BuildPushInputs = Omit<BuildPushOptions, 'workDir'> & {
  /** The region of an ECR host given in 'registry'; undefined: the SDK's chain. */
  region?: string;
  /** Values the adapter masks at once: the registry password, secret build-arg and build secret values. */
  secrets: string[];
};

const BUILD_ARG_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const LABEL_KEY = /^[A-Za-z0-9][A-Za-z0-9._/-]*$/;
const PLATFORM = /^[a-z0-9]+\/[a-z0-9_]+(\/[a-z0-9]+)?$/;
const STAGE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
/**
 * Secret build-arg values reach the engine as environment variables of the same name, so a name
 * the engine itself reads (PATH, DOCKER_CONFIG, ...) would change how the engine runs.
 */
const ENGINE_ENV =
  /^(PATH|HOME|USER|SHELL|TMPDIR|LANG|LD_.*|DOCKER_.*|BUILDKIT_.*|BUILDX_.*|BUILDAH_.*|CONTAINERS_.*|REGISTRY_.*|XDG_.*|SSL_.*|(HTTPS?|FTP|NO|ALL)_PROXY)$/i;
const MUTABILITY = ['MUTABLE', 'IMMUTABLE'] as const;
/** The id a `RUN --mount=type=secret,id=...` (or `type=ssh,id=...`) names. */
const SECRET_ID = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;
const SECRET_ID_RULE = 'id: letters, digits, _ . and -';

/**
 * `secrets`: `id=value` lines. Read by hand rather than with InputReader.pairs, whose messages
 * quote the line: here a line is a secret, and a message names it by its number only.
 */
function readBuildSecrets(r: InputReader, text: string, ids: Set<string>): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '') return;
    const at = line.indexOf('=');
    const id = at < 0 ? '' : line.slice(0, at).trim();
    if (!SECRET_ID.test(id)) {
      r.problem(
        'secrets',
        `line ${i + 1} must be id=value (${SECRET_ID_RULE}); the line is not shown, it may hold a secret`,
      );
      return;
    }
    const value = line.slice(at + 1).trim();
    if (value === '') {
      r.problem('secrets', `line ${i + 1} gives no value for ${shown(id)}`);
      return;
    }
    if (ids.has(id)) r.problem('secrets', `names the id ${shown(id)} twice`);
    ids.add(id);
    out.push([id, value]);
  });
  return out;
}

/** A registry host such as ghcr.io or 127.0.0.1:5000 (no scheme, no path). */
function isRegistryHost(text: string): boolean {
  const ref = parseImageReference(`${text}/x`);
  return isImageReference(ref) && ref.registry === text;
}

export function readInputs(get: InputGetter, github: GithubRun = {}): BuildPushInputs {
  const r = new InputReader(get);

  // Where: repository and registry.
  const repository = r.required('repository', 'the repository name, e.g. fastapi-app or team/api');
  if (repository !== '') {
    const ref = parseImageReference(repository);
    if (!isImageReference(ref)) r.problem('repository', `${ref.error}; got ${shown(repository)}`);
    else if (ref.registry !== '' || ref.tag !== undefined || ref.digest !== undefined)
      r.problem(
        'repository',
        `must be the repository name only, like fastapi-app (registry host in 'registry', tags in 'tags'); got ${shown(repository)}`,
      );
  }
  const registryText = r.string('registry');
  const username = r.string('username');
  const password = get('password'); // not trimmed: a password is exactly what was given
  let registry: BuildPushOptions['registry'] = { kind: 'ecr' };
  let region: string | undefined;
  if (registryText !== '' && !isRegistryHost(registryText)) {
    r.problem(
      'registry',
      `must be a registry host like ghcr.io, 123456789012.dkr.ecr.eu-west-1.amazonaws.com or 127.0.0.1:5000 (no https://, no path); got ${shown(registryText)}`,
    );
  }
  const ecrHost = parseEcrHost(registryText);
  if (registryText === '' || ecrHost) {
    if (username !== '' || password !== '')
      r.problem(
        username !== '' ? 'username' : 'password',
        'is for registries other than ECR; ECR logs in with the AWS credentials of the job',
      );
    registry = ecrHost
      ? { kind: 'ecr', host: registryText, registryId: ecrHost.account }
      : { kind: 'ecr' };
    region = ecrHost?.region;
  } else {
    if ((username === '') !== (password === ''))
      r.problem(
        username === '' ? 'username' : 'password',
        `is required when '${username === '' ? 'password' : 'username'}' is set`,
      );
    registry = {
      kind: 'other',
      host: registryText,
      ...(username !== '' ? { credentials: { username, password } } : {}),
    };
  }

  // Tags.
  const shaInput = r.string('sha');
  const sha = (shaInput || github.sha || '').toLowerCase();
  if (sha === '')
    r.problem('sha', 'is required outside GitHub Actions (GITHUB_SHA is not set): the commit SHA');
  else if (!SHA_PATTERN.test(sha))
    r.problem(
      'sha',
      `must be a hex commit SHA (7 to 64 characters); got ${shown(shaInput || sha)}`,
    );
  const shaFormat = r.choice<ShaFormat>('sha-format', ['long', 'short'], 'long');
  const latest = r.boolean('latest', true);
  const extra = r.lines('tags');
  for (const tag of extra) {
    if (!TAG_PATTERN.test(tag)) r.problem('tags', `has an invalid tag ${shown(tag)} (${TAG_RULE})`);
    if (tag === LATEST_TAG && !latest)
      r.problem('tags', "lists 'latest' while input 'latest' is false; drop one of them");
  }

  // Build.
  const context = r.string('context', '.');
  const file = r.string('file');
  const target = r.string('target');
  if (target !== '' && !STAGE.test(target))
    r.problem('target', `must be a build stage name; got ${shown(target)}`);
  const buildArgs = r.pairs(
    'build-args',
    '=',
    BUILD_ARG_NAME,
    'NAME=value (NAME: letters, digits, _)',
  );
  const secretBuildArgs = r.lines('secret-build-args');
  for (const name of secretBuildArgs) {
    if (!buildArgs.some(([n]) => n === name))
      r.problem('secret-build-args', `names ${shown(name)}, which is not in 'build-args'`);
    else if (ENGINE_ENV.test(name))
      r.problem(
        'secret-build-args',
        `names ${shown(name)}: secret values reach the engine as environment variables, and the engine itself reads ${name}; rename the build argument`,
      );
  }
  const secretIds = new Set<string>();
  const buildSecrets = readBuildSecrets(r, get('secrets'), secretIds);
  const secretFiles = r.pairs('secret-files', '=', SECRET_ID, `id=path (${SECRET_ID_RULE})`);
  for (const [id, path] of secretFiles) {
    if (secretIds.has(id)) r.problem('secret-files', `names the id ${shown(id)} twice`);
    secretIds.add(id);
    if (path === '') r.problem('secret-files', `gives no path for ${shown(id)}`);
    if (path.includes(','))
      r.problem(
        'secret-files',
        `has a path with a comma for ${shown(id)}, which the engines' --secret cannot take; got ${shown(path)}`,
      );
  }
  const ssh: string[] = [];
  const sshIds = new Set<string>();
  for (const line of r.lines('ssh')) {
    const at = line.indexOf('=');
    const id = line === 'default' ? 'default' : at < 0 ? '' : line.slice(0, at).trim();
    const path = at < 0 ? '' : line.slice(at + 1).trim();
    if (!SECRET_ID.test(id) || (line !== 'default' && path === '')) {
      r.problem(
        'ssh',
        `must be default or id=path (an agent socket or a key file), one per line; got ${shown(line)}`,
      );
      continue;
    }
    if (sshIds.has(id)) r.problem('ssh', `names ${shown(id)} twice`);
    sshIds.add(id);
    if (path.includes(','))
      r.problem(
        'ssh',
        `has a path with a comma for ${shown(id)}, which the engines' --ssh cannot take; got ${shown(path)}`,
      );
    ssh.push(line === 'default' ? 'default' : `${id}=${path}`);
  }
  const labels = r.pairs('labels', '=', LABEL_KEY, 'key=value label');
  const platforms = r
    .lines('platforms')
    .flatMap((l) => l.split(','))
    .map((p) => p.trim())
    .filter((p) => p !== '');
  for (const p of platforms)
    if (!PLATFORM.test(p))
      r.problem(
        'platforms',
        `must be platforms like linux/amd64 or linux/arm64/v8; got ${shown(p)}`,
      );
  const pull = r.boolean('pull', false);
  const noCache = r.boolean('no-cache', false);
  const provenance = r.boolean('provenance', false);
  const sbom = r.boolean('sbom', false);
  const engine = r.choice<EngineName>('engine', ENGINES, 'docker');
  const cache = r.choice('cache', ['registry', 'none'] as const, 'registry');
  if (engine === 'podman') {
    if (platforms.length > 1)
      r.problem(
        'platforms',
        'may name one platform with engine: podman; several need engine: docker (buildx)',
      );
    if (provenance) r.problem('provenance', 'needs engine: docker (buildx attestations)');
    if (sbom) r.problem('sbom', 'needs engine: docker (buildx attestations)');
  }
  if (engine === 'docker' && cache === 'registry' && extra.includes(BUILDX_CACHE_TAG))
    r.problem(
      'tags',
      `lists '${BUILDX_CACHE_TAG}', the tag that holds the registry cache; rename it or set cache: none`,
    );

  // Repository creation (ECR).
  const createRepository = r.boolean('create-repository', false);
  const tagMutability =
    r.parse<TagMutability>(
      'tag-mutability',
      'MUTABLE',
      (t) =>
        (MUTABILITY as readonly string[]).find((m) => m === t.toUpperCase()) as
          TagMutability | undefined,
      'MUTABLE or IMMUTABLE',
    ) ?? 'MUTABLE';
  const keepImages = r.integer('keep-images', 10, { min: 1, max: 10_000 });
  if (createRepository && tagMutability === 'IMMUTABLE') {
    if (latest)
      r.problem(
        'tag-mutability',
        "is IMMUTABLE while 'latest' is true: 'latest' must move on every push; set latest: false",
      );
    if (engine === 'docker' && cache === 'registry')
      r.problem(
        'tag-mutability',
        `is IMMUTABLE while cache: registry keeps the docker cache in the '${BUILDX_CACHE_TAG}' tag, which moves on every push; set cache: none`,
      );
  }

  r.finish();
  const tags = imageTags({ sha, shaFormat, latest, extra });
  const secretValues = buildArgs.filter(([n]) => secretBuildArgs.includes(n)).map(([, v]) => v);
  return {
    engine,
    registry,
    ...(region ? { region } : {}),
    repository,
    tags,
    source: {
      revision: sha,
      ...(github.serverUrl && github.repository
        ? { sourceUrl: `${github.serverUrl}/${github.repository}` }
        : {}),
    },
    build: {
      context,
      ...(file ? { file } : {}),
      ...(target ? { target } : {}),
      platforms,
      buildArgs,
      secretBuildArgs,
      labels,
      pull,
      noCache,
      provenance,
      sbom,
      ...(buildSecrets.length > 0 ? { secrets: buildSecrets } : {}),
      ...(secretFiles.length > 0 ? { secretFiles } : {}),
      ...(ssh.length > 0 ? { ssh } : {}),
    },
    cache,
    createRepository,
    tagMutability,
    keepImages,
    secrets: [
      ...(password !== '' ? [password] : []),
      ...secretValues,
      ...buildSecrets.map(([, value]) => value),
    ].filter((s) => s !== ''),
  };
}

/** The smallest set of inputs this action accepts (used by the metadata tests). */
export const MINIMAL_INPUTS = {
  repository: 'fastapi-app',
  sha: '0123456789abcdef0123456789abcdef01234567',
};
