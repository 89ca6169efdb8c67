/**
 * Every action run pays for its bundle: it is downloaded with the action and parsed at start-up.
 * The budget is 1.2 MB per action: the main bundle plus every chunk ncc splits off for a lazily
 * loaded `import()` (the CodeDeploy SDK of deploy-ecs, the ELBv2 SDK of deploy-ec2-ssm) and the
 * post shim.
 * Start-up times are measured in bench/.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const BUDGET_BYTES = 1_200_000;

/** Every .js file under an action's dist/, chunks and post shim included. */
function scripts(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return scripts(path);
    return e.name.endsWith('.js') ? [path] : [];
  });
}

const actions = readdirSync('actions')
  .filter((name) => existsSync(`actions/${name}/dist/index.js`))
  .map((name) => ({ name, files: scripts(`actions/${name}/dist`) }));
const files = actions.flatMap((a) => a.files);

it('finds the bundles, and the lazily loaded chunks of deploy-ecs and deploy-ec2-ssm', () => {
  expect(files).toContain('actions/wait-healthy/dist/index.js');
  for (const name of ['deploy-ecs', 'deploy-ec2-ssm']) {
    const chunks = actions.find((a) => a.name === name)?.files ?? [];
    expect(chunks.some((f) => /dist\/\d+\.index\.js$/.test(f))).toBe(true);
  }
});

it.each(actions.map((a) => [a.name, a.files] as const))(
  '%s stays within 1.2 MB, its chunks included',
  (_name, paths) => {
    const total = paths.reduce((sum, path) => sum + statSync(path).size, 0);
    expect(total).toBeLessThanOrEqual(BUDGET_BYTES);
  },
);

it.each(files)('%s carries the undici stand-in, not undici (shims/README.md)', (path) => {
  const text = readFileSync(path, 'utf8');
  expect(text).not.toContain('UND_ERR_');
});
