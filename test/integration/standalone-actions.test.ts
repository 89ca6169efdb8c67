/**
 * Each action directory must run on its own once built (so a release can publish it as its own
 * repository): copied alone into an empty directory, far from this repository's node_modules,
 * its bundle loads, reads its inputs and reports a missing one by name.
 */
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { runAction } from '../../stand-ins/runner.js';
import { reply, startServer } from './servers.js';

const names = readdirSync('actions').filter((n) => existsSync(`actions/${n}/action.yml`));
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** Copy what a published action repository holds: action.yml, dist/, README.md. */
function copyAlone(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `shipyard-alone-${name}-`));
  dirs.push(dir);
  for (const part of ['action.yml', 'dist', 'README.md'])
    cpSync(`actions/${name}/${part}`, join(dir, part), { recursive: true });
  return dir;
}

describe.each(names)('%s copied alone', (name) => {
  const meta = parse(readFileSync(`actions/${name}/action.yml`, 'utf8')) as {
    inputs: Record<string, { required?: boolean }>;
    runs: { main: string };
  };

  it('runs and names a missing required input', async () => {
    const dir = copyAlone(name);
    const run = await runAction(join(dir, meta.runs.main), {}, { cwd: dir });
    expect(run.code).toBe(1);
    const required = Object.entries(meta.inputs)
      .filter(([, s]) => s.required)
      .map(([k]) => k);
    expect(required.length).toBeGreaterThan(0);
    expect(run.stdout).toContain(`::error::`);
    expect(run.stdout).toMatch(new RegExp(`input '(${required.join('|')})' is required`));
    expect(run.stderr).not.toMatch(/Cannot find (module|package)|ERR_MODULE_NOT_FOUND/);
  });
});

const withPost = names.filter(
  (n) =>
    (parse(readFileSync(`actions/${n}/action.yml`, 'utf8')) as { runs: { post?: string } }).runs
      .post,
);
it('finds the actions with a post step', () =>
  expect(withPost).toEqual(['build-push', 'deploy-ec2-ssm', 'deploy-ecs']));

describe.each(withPost)('%s post step copied alone', (name) => {
  it('loads and does nothing when the main step recorded nothing', async () => {
    const dir = copyAlone(name);
    const run = await runAction(join(dir, 'dist/post/index.js'), {}, { cwd: dir });
    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
  });
});

it('wait-healthy copied alone does its job end to end', async () => {
  const server = await startServer((_q, res) => reply(res, 200, '{"status":"ok"}'));
  const dir = copyAlone('wait-healthy');
  const run = await runAction(
    join(dir, 'dist/index.js'),
    { url: server.url, 'json-path': 'status', 'json-value': 'ok' },
    { cwd: dir },
  );
  await server.close();
  expect(run.code).toBe(0);
  expect(run.outputs.healthy).toBe('true');
});
