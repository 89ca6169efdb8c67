/** build-push inputs: tags, registry kinds, build args and the rules between inputs. */
import { MINIMAL_INPUTS, readInputs, type GithubRun } from '../../src/inputs/build-push.js';
import { inputProblems } from './input-problems.js';

const SHA = '0123456789abcdef0123456789abcdef01234567';
const read = (values: Record<string, string>, github: GithubRun = {}) =>
  readInputs((name) => values[name] ?? '', github);

const problemsOf = (values: Record<string, string>, github: GithubRun = {}) =>
  inputProblems(() => read(values, github));

describe('tags', () => {
  it('tags with the full SHA and latest by default; ECR when no registry is given', () => {
    const inputs = read(MINIMAL_INPUTS);
    expect(inputs.tags).toEqual([SHA, 'latest']);
    expect(inputs.registry).toEqual({ kind: 'ecr' });
    expect(inputs.engine).toBe('docker');
    expect(inputs.cache).toBe('registry');
    expect(inputs.build).toMatchObject({ context: '.', provenance: false, sbom: false });
  });

  it('takes the SHA of the workflow run when the input is empty, and shortens it on request', () => {
    const inputs = read(
      { repository: 'api', 'sha-format': 'short', latest: 'false', tags: 'v1.2.3\n\nstable' },
      { sha: SHA.toUpperCase(), serverUrl: 'https://github.com', repository: 'org/api' },
    );
    expect(inputs.tags).toEqual(['0123456', 'v1.2.3', 'stable']);
    expect(inputs.source).toEqual({ revision: SHA, sourceUrl: 'https://github.com/org/api' });
  });

  it('does not repeat latest when it is also listed in tags', () => {
    expect(read({ ...MINIMAL_INPUTS, tags: 'latest\nv1' }).tags).toEqual([SHA, 'latest', 'v1']);
  });

  it('names the input of every bad tag, and a missing or malformed SHA', () => {
    expect(problemsOf({ repository: 'api', tags: '-bad\nok\nwith space' })).toEqual([
      "input 'sha' is required outside GitHub Actions (GITHUB_SHA is not set): the commit SHA",
      "input 'tags' has an invalid tag '-bad' (up to 128 letters, digits, _ . and -, not starting with . or -)",
      "input 'tags' has an invalid tag 'with space' (up to 128 letters, digits, _ . and -, not starting with . or -)",
    ]);
    expect(problemsOf({ repository: 'api', sha: 'main' })).toEqual([
      "input 'sha' must be a hex commit SHA (7 to 64 characters); got 'main'",
    ]);
  });

  it("refuses 'latest' in tags when latest is false", () => {
    expect(problemsOf({ ...MINIMAL_INPUTS, latest: 'false', tags: 'latest' })).toEqual([
      "input 'tags' lists 'latest' while input 'latest' is false; drop one of them",
    ]);
  });
});

describe('registry', () => {
  it('reads an ECR host as ECR in that account and region', () => {
    const inputs = read({
      ...MINIMAL_INPUTS,
      registry: '210987654321.dkr.ecr.ap-south-1.amazonaws.com',
    });
    expect(inputs.registry).toEqual({
      kind: 'ecr',
      host: '210987654321.dkr.ecr.ap-south-1.amazonaws.com',
      registryId: '210987654321',
    });
    expect(inputs.region).toBe('ap-south-1');
  });

  it('uses username and password for other registries and lists the password as a secret', () => {
    const inputs = read({
      ...MINIMAL_INPUTS,
      registry: 'ghcr.io',
      username: 'bot',
      password: ' p@ss word ',
    });
    expect(inputs.registry).toEqual({
      kind: 'other',
      host: 'ghcr.io',
      credentials: { username: 'bot', password: ' p@ss word ' },
    });
    expect(inputs.secrets).toEqual([' p@ss word ']);
  });

  it('explains registry, repository and credential mistakes', () => {
    expect(
      problemsOf({
        ...MINIMAL_INPUTS,
        repository: 'ghcr.io/org/api:1',
        registry: 'https://ghcr.io',
      }),
    ).toEqual([
      "input 'repository' must be the repository name only, like fastapi-app (registry host in 'registry', tags in 'tags'); got 'ghcr.io/org/api:1'",
      "input 'registry' must be a registry host like ghcr.io, 123456789012.dkr.ecr.eu-west-1.amazonaws.com or 127.0.0.1:5000 (no https://, no path); got 'https://ghcr.io'",
    ]);
    expect(problemsOf({ ...MINIMAL_INPUTS, repository: 'Upper' })[0]).toMatch(
      /^input 'repository' has an invalid repository name 'Upper'/,
    );
    expect(problemsOf({ ...MINIMAL_INPUTS, registry: 'ghcr.io', username: 'bot' })).toEqual([
      "input 'password' is required when 'username' is set",
    ]);
    expect(problemsOf({ ...MINIMAL_INPUTS, password: 'x' })).toEqual([
      "input 'password' is for registries other than ECR; ECR logs in with the AWS credentials of the job",
    ]);
  });
});

describe('build', () => {
  it('keeps build-arg values with their spaces and lists the secret ones for masking', () => {
    const inputs = read({
      ...MINIMAL_INPUTS,
      'build-args': 'VERSION=1.2.3\nNPM_TOKEN = tok en==\nEMPTY=',
      'secret-build-args': 'NPM_TOKEN',
      labels: 'team=payments\norg.opencontainers.image.title=api',
      platforms: 'linux/amd64, linux/arm64\nlinux/arm/v7',
    });
    expect(inputs.build.buildArgs).toEqual([
      ['VERSION', '1.2.3'],
      ['NPM_TOKEN', 'tok en=='],
      ['EMPTY', ''],
    ]);
    expect(inputs.build.secretBuildArgs).toEqual(['NPM_TOKEN']);
    expect(inputs.secrets).toEqual(['tok en==']);
    expect(inputs.build.platforms).toEqual(['linux/amd64', 'linux/arm64', 'linux/arm/v7']);
    expect(inputs.build.labels).toEqual([
      ['team', 'payments'],
      ['org.opencontainers.image.title', 'api'],
    ]);
  });

  it('refuses secret build args that are not build args or that the engine itself reads', () => {
    expect(
      problemsOf({
        ...MINIMAL_INPUTS,
        'build-args': 'PATH=/x\nA=1',
        'secret-build-args': 'TOKEN\nPATH',
      }),
    ).toEqual([
      "input 'secret-build-args' names 'TOKEN', which is not in 'build-args'",
      "input 'secret-build-args' names 'PATH': secret values reach the engine as environment variables, and the engine itself reads PATH; rename the build argument",
    ]);
  });

  it('knows what podman cannot do', () => {
    expect(
      problemsOf({
        ...MINIMAL_INPUTS,
        engine: 'podman',
        platforms: 'linux/amd64,linux/arm64',
        provenance: 'true',
      }),
    ).toEqual([
      "input 'platforms' may name one platform with engine: podman; several need engine: docker (buildx)",
      "input 'provenance' needs engine: docker (buildx attestations)",
    ]);
    expect(problemsOf({ ...MINIMAL_INPUTS, platforms: 'amd64' })).toEqual([
      "input 'platforms' must be platforms like linux/amd64 or linux/arm64/v8; got 'amd64'",
    ]);
  });

  it('refuses to create an immutable repository that latest or the docker cache tag would move in', () => {
    expect(
      problemsOf({ ...MINIMAL_INPUTS, 'create-repository': 'true', 'tag-mutability': 'immutable' }),
    ).toEqual([
      "input 'tag-mutability' is IMMUTABLE while 'latest' is true: 'latest' must move on every push; set latest: false",
      "input 'tag-mutability' is IMMUTABLE while cache: registry keeps the docker cache in the 'buildcache' tag, which moves on every push; set cache: none",
    ]);
    const ok = read({
      ...MINIMAL_INPUTS,
      'create-repository': 'true',
      'tag-mutability': 'IMMUTABLE',
      latest: 'false',
      engine: 'podman',
      'keep-images': '30',
    });
    expect(ok).toMatchObject({
      tagMutability: 'IMMUTABLE',
      keepImages: 30,
      createRepository: true,
    });
  });

  it('reports every bad input at once, naming each', () => {
    const problems = problemsOf({
      repository: '',
      engine: 'kaniko',
      cache: 'gha',
      'keep-images': '0',
      'tag-mutability': 'sometimes',
      sha: SHA,
    });
    expect(problems).toEqual([
      "input 'repository' is required: the repository name, e.g. fastapi-app or team/api",
      "input 'engine' must be one of docker, podman; got 'kaniko'",
      "input 'cache' must be one of registry, none; got 'gha'",
      "input 'tag-mutability' must be MUTABLE or IMMUTABLE; got 'sometimes'",
      "input 'keep-images' must be a whole number between 1 and 10000; got '0'",
    ]);
  });
});

describe('build secrets and ssh', () => {
  it('reads secrets, secret files and ssh, and lists the secret values for masking', () => {
    const inputs = read({
      ...MINIMAL_INPUTS,
      secrets: 'npm_token=npm-value-1\r\n\n  github.token = gh value=2  ',
      'secret-files': 'npmrc=/home/runner/.npmrc\naws=creds/aws',
      ssh: 'default\ngithub=/home/runner/.ssh/deploy_key',
    });
    expect(inputs.build.secrets).toEqual([
      ['npm_token', 'npm-value-1'],
      ['github.token', 'gh value=2'],
    ]);
    expect(inputs.build.secretFiles).toEqual([
      ['npmrc', '/home/runner/.npmrc'],
      ['aws', 'creds/aws'],
    ]);
    expect(inputs.build.ssh).toEqual(['default', 'github=/home/runner/.ssh/deploy_key']);
    expect(inputs.secrets).toEqual(['npm-value-1', 'gh value=2']);
  });

  it('names a bad secrets line by its number, never showing it', () => {
    const problems = problemsOf({
      ...MINIMAL_INPUTS,
      secrets: 'ok=1\nno-equals-sign-secret-value\n=nameless-secret-value\nempty=\nok=again',
    });
    expect(problems).toEqual([
      "input 'secrets' line 2 must be id=value (id: letters, digits, _ . and -); the line is not shown, it may hold a secret",
      "input 'secrets' line 3 must be id=value (id: letters, digits, _ . and -); the line is not shown, it may hold a secret",
      "input 'secrets' line 4 gives no value for 'empty'",
      "input 'secrets' names the id 'ok' twice",
    ]);
    expect(problems.join('\n')).not.toMatch(/secret-value|again/);
  });

  it('refuses an id used twice across secrets and secret-files, commas in paths, and bad ssh lines', () => {
    expect(
      problemsOf({
        ...MINIMAL_INPUTS,
        secrets: 'npm=x',
        'secret-files': 'npm=/a\ncsv=/a,b',
        ssh: 'default\ndefault\nkey=\nbad id=/k\nother=/k,l',
      }),
    ).toEqual([
      "input 'secret-files' names the id 'npm' twice",
      "input 'secret-files' has a path with a comma for 'csv', which the engines' --secret cannot take; got '/a,b'",
      "input 'ssh' names 'default' twice",
      "input 'ssh' must be default or id=path (an agent socket or a key file), one per line; got 'key='",
      "input 'ssh' must be default or id=path (an agent socket or a key file), one per line; got 'bad id=/k'",
      "input 'ssh' has a path with a comma for 'other', which the engines' --ssh cannot take; got '/k,l'",
    ]);
  });
});
