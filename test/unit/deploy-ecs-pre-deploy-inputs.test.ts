/** deploy-ecs's pre-deploy inputs: read, checked, and every problem naming its input. */
import { readInputs } from '../../src/inputs/deploy-ecs.js';
import { inputProblems } from './input-problems.js';

const read = (values: Record<string, string>) => readInputs((name) => values[name] ?? '');
const base = { cluster: 'prod', services: 'api', 'pre-deploy-timeout': '10m' };
const problemsOf = (values: Record<string, string>) => inputProblems(() => read(values));

it('splits the command and applies the defaults', () => {
  expect(
    read({ ...base, 'pre-deploy-command': `bin/rails db:migrate 'VERSION=$V'` }).preDeploy,
  ).toEqual({
    command: ['bin/rails', 'db:migrate', 'VERSION=$V'],
    timeoutMs: 10 * 60_000,
  });
  expect(read(base)).not.toHaveProperty('preDeploy');
});

it('reads the container, the deadline and the overrides (environment as an object or a list)', () => {
  const preDeploy = read({
    ...base,
    'pre-deploy-command': 'migrate',
    'pre-deploy-container': 'api',
    'pre-deploy-timeout': '30m',
    'pre-deploy-overrides': '{"environment": {"LOCK": "1"}, "cpu": 512, "memory": 1024}',
  }).preDeploy;
  expect(preDeploy).toEqual({
    command: ['migrate'],
    container: 'api',
    timeoutMs: 30 * 60_000,
    overrides: { environment: [{ name: 'LOCK', value: '1' }], cpu: 512, memory: 1024 },
  });
  const list = read({
    ...base,
    'pre-deploy-command': 'migrate',
    'pre-deploy-overrides': '{"environment": [{"name": "LOCK", "value": "1"}]}',
  }).preDeploy;
  expect(list?.overrides).toEqual({ environment: [{ name: 'LOCK', value: '1' }] });
});

it.each<[Record<string, string>, RegExp]>([
  [
    { 'pre-deploy-command': 'migrate && seed' },
    /^input 'pre-deploy-command' contains the shell operator '&&'/,
  ],
  [
    { 'pre-deploy-command': "migrate 'x" },
    /^input 'pre-deploy-command' has an unbalanced single quote/,
  ],
  [
    { 'pre-deploy-command': 'm', 'pre-deploy-timeout': 'soon' },
    /^input 'pre-deploy-timeout' must be a duration/,
  ],
  [
    { 'pre-deploy-command': 'm', 'pre-deploy-container': 'a b' },
    /^input 'pre-deploy-container' must be a container name/,
  ],
  [
    { 'pre-deploy-container': 'api' },
    /^input 'pre-deploy-container' is only used with 'pre-deploy-command'/,
  ],
  [
    { 'pre-deploy-command': 'm', 'pre-deploy-overrides': '{"cpu": 256' },
    /^input 'pre-deploy-overrides' is not valid JSON/,
  ],
  [
    { 'pre-deploy-command': 'm', 'pre-deploy-overrides': '[1]' },
    /^input 'pre-deploy-overrides' must be a JSON object/,
  ],
  [
    { 'pre-deploy-command': 'm', 'pre-deploy-overrides': '{"memroy": 512}' },
    /^input 'pre-deploy-overrides' has key 'memroy' \(did you mean memory\?\)/,
  ],
  [
    { 'pre-deploy-command': 'm', 'pre-deploy-overrides': '{"cpu": "256"}' },
    /^input 'pre-deploy-overrides' 'cpu' must be a whole number/,
  ],
  [
    { 'pre-deploy-command': 'm', 'pre-deploy-overrides': '{"memory": 2}' },
    /^input 'pre-deploy-overrides' 'memory' must be a whole number between 6/,
  ],
  [
    { 'pre-deploy-command': 'm', 'pre-deploy-overrides': '{"environment": {"1X": "a"}}' },
    /invalid variable name '1X'/,
  ],
])('refuses %j', (values, message) => {
  const problems = problemsOf({ ...base, ...values });
  expect(problems).toEqual([expect.stringMatching(message)]);
});

it('never quotes an environment value back, in a type error or a JSON error', () => {
  const secret = 'hunter2-very-secret';
  const problems = [
    ...problemsOf({
      ...base,
      'pre-deploy-command': 'm',
      'pre-deploy-overrides': `{"environment": {"DB_PASSWORD": ["${secret}"]}}`,
    }),
    ...problemsOf({
      ...base,
      'pre-deploy-command': 'm',
      'pre-deploy-overrides': `{"environment": {"DB_PASSWORD": "${secret}"`,
    }),
  ];
  expect(problems).toHaveLength(2);
  for (const p of problems) expect(p).not.toContain(secret);
});
