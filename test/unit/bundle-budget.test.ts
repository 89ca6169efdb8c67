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

// ncc writes a module loaded with a dynamic import() (an AWS client only some inputs need) as a
// chunk beside the bundle, `<id>.index.js`: an action that loads it pays for it too.
const actionsWithChunks = readdirSync('actions')
  .filter((name) => existsSync(`actions/${name}/dist/index.js`))
  .map((name) => {
    const files = readdirSync(`actions/${name}/dist`).filter((f) =>
      /^(?:\d+\.)?index\.js$/.test(f),
    );
    return {
      name,
      files,
      bytes: files.reduce((sum, f) => sum + statSync(`actions/${name}/dist/${f}`).size, 0),
    };
  });

it('counts the lazily loaded chunks (deploy-ec2-ssm loads ELBv2 only with target-groups)', () => {
  expect(actionsWithChunks.find((a) => a.name === 'deploy-ec2-ssm')?.files.length).toBeGreaterThan(
    1,
  );
});

it.each(actionsWithChunks)(
  '$name with every chunk it may load stays within 1.2 MB',
  ({ bytes }) => {
    expect(bytes).toBeLessThanOrEqual(BUDGET_BYTES);
  },
);

it.each(bundles)('%s carries the undici stand-in, not undici (shims/README.md)', (path) => {
  const text = readFileSync(path, 'utf8');
  expect(text).not.toContain('UND_ERR_');
});
