/**
 * Every action run pays for its bundle: it is downloaded with the action and parsed at start-up.
 * The budget is 1.2 MB per bundle, lazily loaded chunks included; start-up times are measured in
 * bench/.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';

const BUDGET_BYTES = 1_200_000;
const bundles = readdirSync('actions')
  .flatMap((name) => [`actions/${name}/dist/index.js`, `actions/${name}/dist/post/index.js`])
  .filter((path) => existsSync(path));

it('finds the bundles', () => expect(bundles).toContain('actions/wait-healthy/dist/index.js'));

it.each(bundles)('%s stays within 1.2 MB', (path) => {
  expect(statSync(path).size).toBeLessThanOrEqual(BUDGET_BYTES);
});

it.each(bundles)('%s carries the undici stand-in, not undici (shims/README.md)', (path) => {
  const text = readFileSync(path, 'utf8');
  expect(text).not.toContain('UND_ERR_');
});
