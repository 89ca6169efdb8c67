/**
 * `npm start`, the README's first command, run as a user runs it: it must end with v2 serving
 * after the broken v3 was rejected as a candidate without a single unanswered poll, in its table
 * and in the container really left running.
 */
import { rmSync } from 'node:fs';
import { engineAvailable, engineEnv, podman, runCommand } from '../../scripts/engine/engine.js';

const describeEngine = engineAvailable() ? describe : describe.skip;

describeEngine('npm start (the rehearsal)', () => {
  let output = '';
  let kept: { port: number; dir: string } | undefined;

  beforeAll(async () => {
    const run = await runCommand('npx', ['tsx', 'scripts/rehearse.ts'], {
      env: { SHIPYARD_REHEARSAL_KEEP: '1' },
      timeoutMs: 300_000,
    });
    output = run.stdout + run.stderr;
    const m = /kept: container shipyard-example on 127\.0\.0\.1:(\d+), engine dir (\S+)/.exec(
      output,
    );
    if (m) kept = { port: Number(m[1]), dir: m[2] as string };
    if (run.code !== 0) throw new Error(`the rehearsal failed (exit ${run.code}):\n${output}`);
  }, 320_000);

  afterAll(async () => {
    if (!kept) return;
    await podman(['system', 'reset', '--force'], { env: engineEnv(kept.dir) });
    rmSync(kept.dir, { recursive: true, force: true });
  });

  it('reports v1 and v2 deployed, v3 rejected with no downtime, v2 serving', () => {
    const rows = output
      .split('\n')
      .filter((l) => /^\| v\d /.test(l))
      .map((l) =>
        l
          .split('|')
          .map((c) => c.trim())
          .slice(1, -1),
      );
    expect(rows.map(([version, , result, , , serving]) => [version, result, serving])).toEqual([
      ['v1', 'deployed', 'v1'],
      ['v2', 'deployed', 'v2'],
      ['v3', 'rejected', 'v2'],
    ]);
    expect(rows[2]?.[4]).toMatch(/^0 failed polls, longest gap \d+ ms$/);
    expect(rows.every((r) => /^sha256:[0-9a-f]{12}/.test(r[1] ?? ''))).toBe(true);
    expect(output).toContain('rehearsal passed');
  });

  it('leaves v2 really running in the container', async () => {
    expect(kept).toBeDefined();
    const state = await podman(['inspect', '--format', '{{.State.Status}}', 'shipyard-example'], {
      env: engineEnv(kept!.dir),
    });
    expect(state.stdout.trim()).toBe('running');
    const health = await fetch(`http://127.0.0.1:${kept!.port}/health`);
    expect(await health.json()).toEqual({ status: 'ok', version: 'v2' });
  });
});
