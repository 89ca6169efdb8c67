/** The process runner (real child processes) and engine login/logout command lines. */
import {
  engineLogin,
  engineLogout,
  lastMeaningfulLine,
  loginArgs,
  processRunner,
  type CommandRunner,
  type RunOptions,
} from '../../src/image/engine.js';

const run = processRunner({ PATH: process.env.PATH, BASE_ONLY: 'from-base' });

describe('processRunner', () => {
  it('gives stdin, merges the environment and streams lines as they come', async () => {
    const lines: string[] = [];
    const r = await run(
      'sh',
      [
        '-c',
        'read -r secret; echo "got ${#secret} chars"; echo "$BASE_ONLY $EXTRA" >&2; printf tail',
      ],
      {
        input: 'hunter2\n',
        env: { EXTRA: 'extra' },
        onLine: (line, stream) => lines.push(`${stream}:${line}`),
      },
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('got 7 chars\ntail');
    expect(lines).toEqual(
      expect.arrayContaining(['stdout:got 7 chars', 'stderr:from-base extra', 'stdout:tail']),
    );
  });

  it('kills a command that outlives its deadline and says so', async () => {
    const started = Date.now();
    const r = await run('sleep', ['30'], { timeoutMs: 200 });
    expect(r).toMatchObject({ code: null, timedOut: true });
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('kills a command when the job is cancelled', async () => {
    const controller = new AbortController();
    const pending = run('sleep', ['30'], { signal: controller.signal });
    setTimeout(() => controller.abort(), 100);
    expect((await pending).code).toBeNull();
  });

  it('reports a command that is not installed', async () => {
    const r = await run('shipyard-no-such-engine', ['--version']);
    expect(r).toMatchObject({ code: null, notFound: true });
  });

  it('beats while a command is silent, and not while it talks', async () => {
    const silences: number[] = [];
    await run('sh', ['-c', 'echo start; sleep 0.6; echo end'], {
      heartbeat: { everyMs: 200, onSilence: (ms) => silences.push(ms) },
    });
    expect(silences.length).toBeGreaterThanOrEqual(1);
    expect(silences.length).toBeLessThanOrEqual(3);
    for (const ms of silences) expect(ms).toBeGreaterThanOrEqual(200);
  });
});

describe('login and logout', () => {
  function recorder(result = { code: 0, stdout: '', stderr: '' }) {
    const calls: Array<{ cmd: string; args: readonly string[]; opts?: RunOptions }> = [];
    const fake: CommandRunner = async (cmd, args, opts) => {
      calls.push({ cmd, args, ...(opts ? { opts } : {}) });
      return result;
    };
    return { calls, fake };
  }

  it('gives the password on stdin only, with podman using the private auth file', async () => {
    const { calls, fake } = recorder();
    await engineLogin(
      fake,
      { engine: 'podman', authFile: '/tmp/run/auth.json' },
      { host: '127.0.0.1:5000', username: 'AWS', password: 'tok3n-value' },
    );
    expect(calls[0]?.cmd).toBe('podman');
    expect(calls[0]?.args).toEqual([
      'login',
      '--authfile',
      '/tmp/run/auth.json',
      '--username',
      'AWS',
      '--password-stdin',
      '127.0.0.1:5000',
    ]);
    expect(calls[0]?.opts?.input).toBe('tok3n-value');
    expect(JSON.stringify(calls[0]?.opts?.env ?? {})).not.toContain('tok3n-value');
  });

  it('docker uses its own config: no auth file flag', () => {
    expect(
      loginArgs({ engine: 'docker', authFile: '/ignored' }, { host: 'ghcr.io', username: 'bot' }),
    ).toEqual(['login', '--username', 'bot', '--password-stdin', 'ghcr.io']);
  });

  it("fails with the engine's reason, never the password", async () => {
    const { fake } = recorder({
      code: 125,
      stdout: '',
      stderr: 'Error: logging into "ghcr.io": invalid username/password\n',
    });
    const message = await engineLogin(
      fake,
      { engine: 'podman' },
      { host: 'ghcr.io', username: 'bot', password: 'wrong-pass' },
    ).catch((e: Error) => e.message);
    expect(message).toBe(
      'podman login to ghcr.io as bot failed: logging into "ghcr.io": invalid username/password',
    );
  });

  it('treats "not logged in" and a removed auth file as already logged out', async () => {
    let r = recorder({ code: 125, stdout: '', stderr: 'Error: not logged into 127.0.0.1:5000\n' });
    expect(await engineLogout(r.fake, { engine: 'podman' }, '127.0.0.1:5000')).toBeUndefined();
    r = recorder({
      code: 125,
      stdout: '',
      stderr: 'Error: checking authfile: stat /tmp/x/auth.json: no such file or directory',
    });
    expect(
      await engineLogout(r.fake, { engine: 'podman', authFile: '/tmp/x/auth.json' }, 'h'),
    ).toBeUndefined();
    r = recorder({ code: 1, stdout: '', stderr: 'permission denied' });
    expect(await engineLogout(r.fake, { engine: 'docker' }, 'h')).toBe(
      'docker logout h failed: permission denied',
    );
  });

  it('takes the last non-empty line as the reason', () => {
    expect(lastMeaningfulLine('a\nError: the reason\n\n')).toBe('the reason');
    expect(lastMeaningfulLine('')).toBe('');
  });
});
