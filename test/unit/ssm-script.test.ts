/**
 * The host script generator and what it rests on: the quoting function (checked against real
 * shells), the spec grammars (ports, run-options, names), shellcheck over a spread of specs, and
 * the parsing of the result line.
 */
import { spawn, spawnSync } from 'node:child_process';
import fc from 'fast-check';
import { QuoteError, quote } from '../../src/ssm/quote.js';
import { readFileSync } from 'node:fs';
import {
  candidateObstacle,
  renderDeployScript,
  SET_ASIDE_SUFFIX,
} from '../../src/ssm/remote-script.js';
import { RESULT_MARKER, parseDeployResult } from '../../src/ssm/result.js';
import { ENV_NAME } from '../../src/inputs/reader.js';
import {
  DEFAULT_HEALTH_TIMEOUT_SECONDS,
  DEFAULT_KEEP_IMAGES,
  DEFAULT_RESTART_POLICY,
  DEFAULT_STOP_TIMEOUT_SECONDS,
  RESTART_POLICY,
  SSM_PARAMETER_NAME,
  deploySpecProblems,
  formatPortMapping,
  parsePortMapping,
  hostAccessOptions,
  normalizeHostPath,
  parseRunOptions,
  type DeploySpec,
} from '../../src/ssm/spec.js';

const NUL = String.fromCharCode(0);

function baseSpec(overrides: Partial<DeploySpec> = {}): DeploySpec {
  return {
    image: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/api:1.4.2',
    containerName: 'api',
    ports: [],
    env: [],
    envFromSsm: [],
    restartPolicy: DEFAULT_RESTART_POLICY,
    runOptions: [],
    engine: 'docker',
    registryLogin: 'ecr',
    healthTimeoutSeconds: DEFAULT_HEALTH_TIMEOUT_SECONDS,
    stopTimeoutSeconds: DEFAULT_STOP_TIMEOUT_SECONDS,
    keepImages: DEFAULT_KEEP_IMAGES,
    ...overrides,
  };
}

/** What `sh -c 'printf %s <word>'` prints, for sh = bash and dash. */
function printedBy(shell: 'bash' | 'dash', word: string): string {
  const r = spawnSync(shell, ['-c', `printf %s ${word}`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${shell} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

const hasDash = spawnSync('dash', ['-c', 'true']).status === 0;

describe('quote', () => {
  it('gives back any string without NUL, byte for byte, in bash and dash', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary', maxLength: 40 }).filter((s) => !s.includes(NUL)),
        (s) => {
          expect(printedBy('bash', quote(s))).toBe(s);
          if (hasDash) expect(printedBy('dash', quote(s))).toBe(s);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('survives the classic traps', () => {
    for (const s of [
      '',
      "'",
      "''",
      "it's",
      '$(touch /tmp/x)',
      '`id`',
      '"; rm -rf / #',
      'a\nb',
      '\\',
      '-n',
      '~root',
      '*',
      '{a,b}',
      '!!',
      "'\\''",
    ]) {
      expect(printedBy('bash', quote(s))).toBe(s);
    }
  });

  it('leaves plain words bare and single-quotes the rest', () => {
    expect(quote('eu-west-1')).toBe('eu-west-1');
    expect(quote('127.0.0.1:5000/app:1.2')).toBe('127.0.0.1:5000/app:1.2');
    expect(quote('a b')).toBe("'a b'");
    expect(quote("it's")).toBe("'it'\\''s'");
    expect(quote('')).toBe("''");
  });

  it('refuses a NUL byte instead of cutting the value short', () => {
    expect(() => quote(`abc${NUL}def`)).toThrow(QuoteError);
  });
});

describe('parsePortMapping', () => {
  it('reads the three forms and keeps them round-trippable', () => {
    expect(parsePortMapping('80:8000')).toEqual({
      hostPort: 80,
      containerPort: 8000,
      protocol: 'tcp',
    });
    expect(parsePortMapping('127.0.0.1:80:8000')).toEqual({
      hostIp: '127.0.0.1',
      hostPort: 80,
      containerPort: 8000,
      protocol: 'tcp',
    });
    expect(parsePortMapping('53:53/udp')).toEqual({
      hostPort: 53,
      containerPort: 53,
      protocol: 'udp',
    });
    const v6 = parsePortMapping('[::1]:8080:80/tcp');
    expect(v6).toEqual({ hostIp: '::1', hostPort: 8080, containerPort: 80, protocol: 'tcp' });
    expect(formatPortMapping(v6 as never)).toBe('[::1]:8080:80/tcp');
    expect(formatPortMapping(parsePortMapping(' 127.0.0.1:80:8000 ') as never)).toBe(
      '127.0.0.1:80:8000/tcp',
    );
  });

  it.each([
    ['8000', /expected HOST_PORT:CONTAINER_PORT/],
    ['80:x', /container port 'x' is not a number from 1 to 65535/],
    ['0:80', /host port '0'/],
    ['80:65536', /container port '65536'/],
    ['80:8000/sctp', /protocol 'sctp' is not tcp or udp/],
    ['300.1.1.1:80:8000', /'300.1.1.1' is not an IPv4 address/],
    ['[::1:80:8000', /IPv6 host address must be written/],
    ['[::1::2]:80:8000', /'::1::2' is not an IPv6 address/],
    ['[1:2:3:4:5:6:7:8:9]:80:8000', /is not an IPv6 address/],
    ['80-81:8000', /host port '80-81'/],
    ['a:b:c:d', /expected HOST_PORT:CONTAINER_PORT/],
  ])('refuses %s, saying what is wrong and the accepted forms', (text, why) => {
    const r = parsePortMapping(text);
    expect('error' in r).toBe(true);
    const { error } = r as { error: string };
    expect(error).toMatch(why);
    expect(error).toContain(`'${text}'`);
    expect(error).toContain('80:8000, 127.0.0.1:80:8000, 53:53/udp');
  });
});

describe('parseRunOptions', () => {
  it('splits like a shell without evaluating anything', () => {
    expect(
      parseRunOptions(
        `--memory=512m --cpus 1.5 -v /data:/data:ro\n--label 'team=a b' --log-opt "tag={{.Name}}" --read-only --init=true -m1g`,
      ),
    ).toEqual([
      '--memory=512m',
      '--cpus',
      '1.5',
      '-v',
      '/data:/data:ro',
      '--label',
      'team=a b',
      '--log-opt',
      'tag={{.Name}}',
      '--read-only',
      '--init=true',
      '-m1g',
    ]);
    expect(parseRunOptions(`--label 'x=$(touch /tmp/p) \`id\`'`)).toEqual([
      '--label',
      'x=$(touch /tmp/p) `id`',
    ]);
    expect(parseRunOptions('--label a\\ b --label "q\\"x"')).toEqual([
      '--label',
      'a b',
      '--label',
      'q"x',
    ]);
    expect(parseRunOptions('')).toEqual([]);
  });

  it.each([
    ['--privileged', /'--privileged', which is refused: it weakens the isolation/],
    ['--pid=host', /'--pid', which is refused/],
    ['-d', /'-d', which is refused: the script always starts the container detached/],
    ['--rm', /'--rm', which is refused/],
    ['--name x', /'--name', which is refused: the name is the 'container-name' input/],
    ['-p 80:80', /'-p', which is refused: use the 'ports' input/],
    ['--env-file /etc/x', /'--env-file', which is refused: use the 'env' and 'env-from-ssm'/],
    ['--restart=always', /'--restart', which is refused: use the 'restart-policy' input/],
    ['-it', /'-i', which is refused/],
    ['--frobnicate', /'--frobnicate', which is refused: it is not on the allow-list/],
  ])('refuses %s, naming the flag and listing the allowed ones', (text, why) => {
    const r = parseRunOptions(text);
    expect(Array.isArray(r)).toBe(false);
    const { error } = r as { error: string };
    expect(error).toMatch(why);
    expect(error).toContain('Allowed flags: --add-host, ');
    expect(error).toContain('--memory (-m)');
  });

  it.each([
    [
      '--memory 512',
      /512 bytes is below the engines' minimum of 6 MB \(a bare number is bytes: did you mean 512m\?\)/,
    ],
    ['-m1k', /1024 bytes is below the engines' minimum/],
    ['--memory=lots', /not a size like 512m/],
    ['--health-interval 5', /'--health-interval 5': a duration needs its unit/],
    ['--cpus -1', /not a positive number of CPUs/],
    ['--ulimit nofile=lots', /expected name=soft\[:hard\]/],
    ['--pids-limit ten', /not a whole number/],
  ])('refuses %s, a value the engines would refuse, before anything is sent', (text, why) => {
    const r = parseRunOptions(text);
    expect((r as { error: string }).error).toMatch(why);
  });

  it.each([
    '--cap-add ALL',
    '--cap-add=all',
    '--cap-add CAP_SYS_ADMIN',
    '--cap-add sys_admin',
    '--cap-add NET_ADMIN,SYS_ADMIN',
    '-v /:/host',
    '-v /etc:/etc:ro',
    '-v /var/run/docker.sock:/var/run/docker.sock',
    '-v /run:/run',
    '-v /var/lib/containers/storage:/s',
    '-v /srv/../etc/:/x:Z',
    '-v/proc:/p',
    '--volume /sys/fs/cgroup:/cg',
    '--mount type=bind,source=/,target=/host',
    '--mount type=bind,src=/dev,dst=/d',
    '--mount type=volume,dst=/d,volume-opt=type=none,volume-opt=o=bind,volume-opt=device=/boot',
    '--mount=type=bind,source=/var/lib/docker,target=/d',
  ])('refuses %s, which gives the container its host, unless allow-host-access', (text) => {
    const r = parseRunOptions(text);
    expect((r as { error: string }).error).toMatch(/allow-host-access: true/);
    expect(Array.isArray(parseRunOptions(text, { allowHostAccess: true }))).toBe(true);
    expect(
      hostAccessOptions(parseRunOptions(text, { allowHostAccess: true }) as string[]),
    ).toHaveLength(1);
  });

  it('keeps ordinary volumes, mounts and capabilities', () => {
    const ok =
      '-v /srv/api:/data -v data:/d -v /d --mount type=bind,source=/opt/app,target=/a --mount type=tmpfs,target=/t --cap-add NET_BIND_SERVICE -v /var/log/api:/logs -v /run/api:/run/api';
    const r = parseRunOptions(ok);
    expect(Array.isArray(r)).toBe(true);
    expect(hostAccessOptions(r as string[])).toEqual([]);
    expect(normalizeHostPath('/srv/../etc/')).toBe('/etc');
  });

  it.each([
    ['--memory', /'--memory' without its value/],
    ['--read-only=yes', /it is a switch \(true or false\)/],
    ['nginx', /'nginx' where a flag was expected/],
    ["--label 'a", /unterminated single quote/],
    ['--label "a', /unterminated double quote/],
    ['--label $HOME', /'\$', which nothing expands here; use single quotes/],
    ['--label "$HOME"', /'\$' inside double quotes/],
    ['--label `id`', /'`', which nothing expands/],
    ['--memory 1g; reboot', /shell operator ';'/],
    ['--memory 1g && reboot', /shell operator '&'/],
    ['# comment', /'#', which would start a comment/],
  ])('refuses malformed text %s with the reason', (text, why) => {
    const r = parseRunOptions(text);
    expect(Array.isArray(r)).toBe(false);
    expect((r as { error: string }).error).toMatch(why);
  });
});

describe('name grammars', () => {
  it('accepts environment names a shell and an engine take, and nothing else', () => {
    for (const ok of ['A', '_x', 'DB_PASSWORD', 'a1']) expect(ENV_NAME.test(ok)).toBe(true);
    for (const bad of ['', '1A', 'A-B', 'A B', 'A=B', 'É', 'A\n'])
      expect(ENV_NAME.test(bad)).toBe(false);
  });

  it('accepts the restart policies of docker and podman', () => {
    for (const ok of ['no', 'always', 'unless-stopped', 'on-failure', 'on-failure:5'])
      expect(RESTART_POLICY.test(ok)).toBe(true);
    for (const bad of ['', 'never', 'on-failure:', 'on-failure:0', 'always ', 'on-failure:x'])
      expect(RESTART_POLICY.test(bad)).toBe(false);
  });

  it('accepts SSM parameter names, ARNs and selectors', () => {
    for (const ok of [
      'api-key',
      '/prod/db/password',
      '/prod/db/password:3',
      '/prod/db/password:live',
      'arn:aws:ssm:eu-west-1:123456789012:parameter/prod/db/password',
    ])
      expect(SSM_PARAMETER_NAME.test(ok)).toBe(true);
    for (const bad of ['', '/a b', '/a;b', '$(x)', '/a//b', '/prod/x:', 'a\nb'])
      expect(SSM_PARAMETER_NAME.test(bad)).toBe(false);
  });
});

describe('deploySpecProblems', () => {
  it('accepts the minimal spec', () => {
    expect(deploySpecProblems(baseSpec())).toEqual([]);
  });

  it('reports every problem of a bad spec', () => {
    const problems = deploySpecProblems(
      baseSpec({
        image: 'nginx:1',
        containerName: '-bad',
        ports: [
          { hostPort: 80, containerPort: 8000, protocol: 'tcp' },
          { hostPort: 80, containerPort: 9000, protocol: 'tcp' },
        ],
        env: [
          ['A', `x${NUL}y`],
          ['1B', 'v'],
        ],
        envFromSsm: [['A', '/bad name']],
        restartPolicy: 'sometimes',
        runOptions: ['--privileged'],
        region: 'Europe',
        healthCmd: ' ',
        keepImages: 0,
      }),
    );
    // Each names the input it comes from, in the order of the rule table.
    expect(problems).toEqual([
      "input 'container-name' must be letters, digits, _ . and -, starting with a letter or digit; got '-bad'",
      "input 'ports' maps host port 80/tcp twice",
      "input 'env' has the variable name '1B': names are letters, digits and _, not starting with a digit",
      "input 'env' holds a NUL byte in the value of A",
      expect.stringContaining("input 'env-from-ssm' must map A to a parameter name"),
      "input 'env-from-ssm' sets A, which 'env' sets too: keep one",
      "input 'restart-policy' must be no, always, unless-stopped, on-failure or on-failure:N; got 'sometimes'",
      expect.stringContaining("input 'run-options' has flag '--privileged', which is refused"),
      "input 'registry-login' is ecr, which needs an image in a registry, like 123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:1; got 'nginx:1'",
      "input 'region' must be an AWS region like eu-west-1; got 'Europe'",
      "input 'health-cmd' is empty",
      "input 'keep-images' must be a whole number between 1 and 100; got 0",
    ]);
  });

  it('names what sets a field that no input does', () => {
    expect(deploySpecProblems(baseSpec({ stateDir: '/', runId: 'x' }))).toEqual([
      "the state directory must be an absolute path, not /; got '/'",
      "the run id (GITHUB_RUN_ID) must be digits; got 'x'",
    ]);
  });

  it('makes renderDeployScript refuse to render an unsafe spec', () => {
    expect(() => renderDeployScript(baseSpec({ healthCmd: `curl ${NUL}` }))).toThrow(
      /cannot generate the deploy script: input 'health-cmd' holds a NUL byte/,
    );
  });
});

/** Run shellcheck on a script given on stdin; resolves with its report ('' when clean). */
function shellcheck(script: string): Promise<{ code: number | null; report: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('shellcheck', ['-s', 'bash', '-'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let report = '';
    child.stdout.on('data', (d) => (report += d));
    child.stderr.on('data', (d) => (report += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, report }));
    child.stdin.end(script);
  });
}

const HOSTILE = `it's "$(touch /tmp/pwned)" \`id\`; rm -rf / #\n\t\\ $HOME *`;

/** A spread of specs: every engine, login mode, and optional part present and absent. */
const SPREAD: Array<[string, DeploySpec]> = [
  ['minimal, docker, ECR', baseSpec()],
  [
    'podman, public image, no login, ports',
    baseSpec({
      engine: 'podman',
      registryLogin: 'none',
      image: 'nginx:1.27',
      ports: [
        { hostPort: 80, containerPort: 8000, protocol: 'tcp' },
        { hostIp: '127.0.0.1', hostPort: 9090, containerPort: 9090, protocol: 'tcp' },
        { hostIp: '::1', hostPort: 53, containerPort: 53, protocol: 'udp' },
      ],
    }),
  ],
  [
    'env with hostile values',
    baseSpec({
      env: [
        ['GREETING', HOSTILE],
        ['EMPTY', ''],
      ],
    }),
  ],
  [
    'env-from-ssm and region',
    baseSpec({
      region: 'us-gov-west-1',
      envFromSsm: [
        ['DB_PASSWORD', '/prod/db/password'],
        ['API_KEY', 'arn:aws:ssm:eu-west-1:123456789012:parameter/prod/api-key:3'],
      ],
    }),
  ],
  [
    'health-cmd and run-options with hostile values',
    baseSpec({
      engine: 'podman',
      healthCmd: `curl -fsS http://127.0.0.1:8000/health | grep -q '"ok"' && ${HOSTILE}`,
      runOptions: ['--memory=512m', '--label', HOSTILE, '--log-opt', `tag=${HOSTILE}`],
    }),
  ],
  [
    'everything at once',
    baseSpec({
      engine: 'podman',
      image: '127.0.0.1:5000/app@sha256:' + 'a'.repeat(64),
      containerName: 'web.v2_blue-1',
      ports: [{ hostPort: 8080, containerPort: 8000, protocol: 'tcp' }],
      env: [['A', HOSTILE]],
      envFromSsm: [['B', '/b']],
      restartPolicy: 'on-failure:3',
      runOptions: ['--read-only', '--tmpfs', '/tmp', '-u', '1000:1000'],
      healthCmd: HOSTILE,
      healthTimeoutSeconds: 300,
      stopTimeoutSeconds: 0,
      keepImages: 1,
      stateDir: "/run/it's here",
      lockTimeoutSeconds: 0,
    }),
  ],
];

describe('renderDeployScript', () => {
  it.each(SPREAD)('passes shellcheck: %s', async (_name, spec) => {
    const { code, report } = await shellcheck(renderDeployScript(spec));
    expect(report).toBe('');
    expect(code).toBe(0);
  });

  it('is plain bash with strict mode, and parses', () => {
    for (const [, spec] of SPREAD) {
      const script = renderDeployScript(spec);
      expect(script.startsWith('#!/usr/bin/env bash\n')).toBe(true);
      expect(script).toContain('\nset -euo pipefail\n');
      const syntax = spawnSync('bash', ['-n'], { input: script, encoding: 'utf8' });
      expect(syntax.stderr).toBe('');
      expect(syntax.status).toBe(0);
    }
  });

  it('puts values only in the settings block: the body is the same for every spec', () => {
    const bodies = new Set(
      SPREAD.map(([, spec]) => {
        const script = renderDeployScript(spec);
        return script.slice(script.indexOf('# --- body'));
      }),
    );
    expect(bodies.size).toBe(1);
    const [body] = [...bodies] as [string];
    expect(body).not.toContain('pwned');
    expect(body).toContain(`aside="$container${SET_ASIDE_SUFFIX}"`);
  });

  it('carries the run id and force for the ordering check', () => {
    expect(renderDeployScript(baseSpec({ runId: '12345', force: true }))).toContain(
      '\nrun_id=12345\nforce=true\n',
    );
    expect(renderDeployScript(baseSpec())).toContain("\nrun_id=''\nforce=false\n");
    expect(deploySpecProblems(baseSpec({ runId: '12;x' }))).toEqual([
      "the run id (GITHUB_RUN_ID) must be digits; got '12;x'",
    ]);
  });

  it('names SSM parameters but never holds their values', () => {
    const script = renderDeployScript(
      baseSpec({ envFromSsm: [['DB_PASSWORD', '/prod/db/password']] }),
    );
    expect(script).toContain('  DB_PASSWORD\n  /prod/db/password\n');
    expect(script).not.toMatch(/--env=DB_PASSWORD/);
  });

  it('logs in to ECR in the region of the registry, and reads parameters in the given region', () => {
    const ecr = renderDeployScript(baseSpec());
    expect(ecr).toContain('\nregistry=123456789012.dkr.ecr.eu-west-1.amazonaws.com\n');
    expect(ecr).toContain('\necr_region=eu-west-1\n');
    expect(ecr).toContain("\nregion=''\n"); // the AWS CLI's own default
    // Instances in us-east-2 pulling from a registry in eu-west-1.
    const crossRegion = renderDeployScript(baseSpec({ region: 'us-east-2' }));
    expect(crossRegion).toContain('\necr_region=eu-west-1\n');
    expect(crossRegion).toContain('\nregion=us-east-2\n');
    const none = renderDeployScript(baseSpec({ registryLogin: 'none' }));
    expect(none).toContain("\nregistry=''\n");
  });

  it('prunes Docker Hub images under both names engines list them by', () => {
    const script = renderDeployScript(baseSpec({ registryLogin: 'none', image: 'nginx:1' }));
    expect(script).toContain('\nprune_repos=(nginx docker.io/library/nginx)\n');
    const org = renderDeployScript(baseSpec({ registryLogin: 'none', image: 'grafana/loki:3' }));
    expect(org).toContain('\nprune_repos=(grafana/loki docker.io/grafana/loki)\n');
  });
});

describe('candidate first', () => {
  const web = { hostPort: 80, containerPort: 8000, protocol: 'tcp' as const };
  const dns = { hostIp: '::1', hostPort: 53, containerPort: 53, protocol: 'udp' as const };

  it('runs the candidate on loopback ports with --restart=no, with the same env and options', () => {
    const script = renderDeployScript(
      baseSpec({
        ports: [web, dns],
        env: [['MODE', 'blue']],
        runOptions: ['--memory', '512m'],
        restartPolicy: 'always',
      }),
    );
    expect(script).toContain(
      '\ncandidate_args=(\n  --restart=no\n  --publish=127.0.0.1::8000/tcp\n  --publish=127.0.0.1::53/udp\n  --env=MODE=blue\n  --memory\n  512m\n)\n',
    );
    expect(script).toContain(
      "\nfinal_args=(\n  --restart=always\n  --publish=80:8000/tcp\n  '--publish=[::1]:53:53/udp'\n  --env=MODE=blue\n  --memory\n  512m\n)\n",
    );
    expect(script).toContain('\ncontainer_ports=(\n  8000/tcp\n  53/udp\n)\n');
    expect(script).toContain("\ncandidate_off=''\n");
  });

  it.each([
    [[], [], /publishes no ports/],
    [[web], ['--network', 'host'], /--network host shares the ports/],
    [[web], ['--network=host'], /--network host shares the ports/],
    [[web], ['--network', 'container:db'], /--network container:db shares the ports/],
    [[web], ['--network-alias', 'api'], /network-alias would send/],
  ])('falls back to the old order, saying why: ports %j, options %j', (ports, runOptions, why) => {
    const spec = baseSpec({ ports, runOptions });
    expect(candidateObstacle(spec)).toMatch(why);
    const script = renderDeployScript(spec);
    expect(script).toContain('\ncandidate_args=()\n');
    expect(script).toMatch(/\ncandidate_off='[^']+'\n/);
  });

  it('keeps the candidate for a named network and volumes', () => {
    expect(
      candidateObstacle(
        baseSpec({ ports: [web], runOptions: ['--network', 'app', '-v', 'data:/d'] }),
      ),
    ).toBeUndefined();
  });
});

describe('the host script file', () => {
  const file = readFileSync(new URL('../../src/ssm/host/deploy.sh', import.meta.url), 'utf8');

  it('is what the renderer uses: the body of every rendered script is the body of the file', () => {
    const body = (text: string) => text.slice(text.indexOf('# --- end of settings ---'));
    expect(body(renderDeployScript(baseSpec()))).toBe(body(file));
  });

  it('passes shellcheck as it is in the tree', async () => {
    const { code, report } = await shellcheck(file);
    expect(report).toBe('');
    expect(code).toBe(0);
  });
});

describe("the script's progress ticker", () => {
  /** The `ticking` function of the body, run on its own with a shorter period. */
  function runTicking(periodSeconds: number, command: string) {
    const script = renderDeployScript(baseSpec());
    const fn = /^progress_every=\d+\n[\s\S]*?\n\}\n/m.exec(script)?.[0];
    expect(fn).toContain('ticking() {');
    const harness = [
      'set -euo pipefail',
      'exec 3>&2 5>&1',
      'note() { printf \'    %s\\n\' "$*"; }',
      fn,
      `progress_every=${periodSeconds}`,
      `out=$(ticking pulling bash -c ${quote(command)} 2>&1) || echo "exit $?"`,
      'echo "captured: $out"',
    ].join('\n');
    const started = performance.now();
    const r = spawnSync('bash', ['-c', harness], { encoding: 'utf8', timeout: 30_000 });
    return { ...r, elapsedMs: performance.now() - started };
  }

  it('says what it is still waiting for, outside the captured output, and keeps the exit code', () => {
    const r = runTicking(1, 'echo engine-output; sleep 2.5; exit 3');
    expect(r.stdout).toMatch(
      /^ {4}still pulling after 1s\n( {4}still pulling after [23]s\n)*exit 3\n/,
    );
    expect(r.stdout.endsWith('\ncaptured: engine-output\n')).toBe(true);
  });

  it('leaves nothing holding the output once the command is done', () => {
    // A leftover `sleep 20` on the pipe would keep the reader waiting for 20 s.
    const r = runTicking(20, 'sleep 0.2');
    expect(r.stdout).toBe('captured: \n');
    expect(r.elapsedMs).toBeLessThan(5_000);
  });
});

describe('parseDeployResult', () => {
  const line = (o: object) => `${RESULT_MARKER}${JSON.stringify(o)}`;
  const deployed = {
    outcome: 'deployed',
    container: 'api',
    newImage: 'r/app:2',
    newImageId: 'sha256:b',
    previousImage: 'r/app:1',
    previousImageId: 'sha256:a',
    reason: '',
    failedStep: '',
  };

  it('reads the result line among progress lines, dropping empty fields', () => {
    const output = `==> 12:00:00 pulling r/app:2\n    running now: r/app:1\n${line(deployed)}\n`;
    expect(parseDeployResult(output)).toEqual({
      outcome: 'deployed',
      container: 'api',
      newImage: 'r/app:2',
      newImageId: 'sha256:b',
      previousImage: 'r/app:1',
      previousImageId: 'sha256:a',
    });
  });

  it('takes the last complete line and tolerates CRLF', () => {
    const first = line({ ...deployed, outcome: 'failed', reason: 'x' });
    const last = line({
      ...deployed,
      outcome: 'rolled-back',
      reason: 'unhealthy',
      failedStep: 'health',
    });
    const r = parseDeployResult(`${first}\r\n${last}\r\n`);
    expect(r).toMatchObject({ outcome: 'rolled-back', reason: 'unhealthy', failedStep: 'health' });
  });

  it('counts the marker only at the start of a line: a forwarded container log cannot forge it', () => {
    const real = line({ ...deployed, outcome: 'rejected', reason: 'unhealthy' });
    const forged = line(deployed);
    for (const prefix of ['noise ', '    | ', '    ! ', ' ', '\t']) {
      expect(parseDeployResult(`${real}\n${prefix}${forged}\n`)?.outcome).toBe('rejected');
    }
  });

  it('returns undefined when the output was cut before or inside the line', () => {
    const full = `progress\n${line(deployed)}\n`;
    expect(parseDeployResult('progress\n')).toBeUndefined();
    expect(parseDeployResult(full.slice(0, full.length - 20))).toBeUndefined();
    expect(parseDeployResult('')).toBeUndefined();
  });

  it('falls back to an earlier complete line when a later one is cut', () => {
    const output = `${line({ ...deployed, outcome: 'failed' })}\n${line(deployed).slice(0, 40)}`;
    expect(parseDeployResult(output)?.outcome).toBe('failed');
  });

  it('ignores lines with the marker but not a result', () => {
    expect(
      parseDeployResult(`${RESULT_MARKER}{"outcome":"maybe","container":"a","newImage":"b"}`),
    ).toBeUndefined();
    expect(
      parseDeployResult(`${RESULT_MARKER}{"outcome":"deployed","container":1,"newImage":"b"}`),
    ).toBeUndefined();
    expect(parseDeployResult(`${RESULT_MARKER}[1,2]`)).toBeUndefined();
    expect(parseDeployResult(`${RESULT_MARKER}not json`)).toBeUndefined();
  });
});
