// Writes the inputs/outputs tables of each actions/<name>/README.md from its action.yml, between
// the <!-- action-docs:start --> and <!-- action-docs:end --> markers, so docs never drift.
// `--check` only reports drift (used by the tests).
import { readFileSync, writeFileSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

const START = '<!-- action-docs:start -->';
const END = '<!-- action-docs:end -->';
const cell = (text) =>
  String(text ?? '')
    .replace(/\|/g, '\\|')
    .replace(/\n/g, ' ')
    .trim();

export function renderTables(actionYml) {
  const meta = parse(actionYml);
  const inputs = Object.entries(meta.inputs ?? {}).map(
    ([name, i]) =>
      `| \`${name}\` | ${i.required ? 'yes' : 'no'} | ${i.default === undefined ? '' : `\`${cell(i.default)}\``} | ${cell(i.description)} |`,
  );
  const outputs = Object.entries(meta.outputs ?? {}).map(
    ([name, o]) => `| \`${name}\` | ${cell(o.description)} |`,
  );
  return [
    START,
    '### Inputs',
    '',
    '| name | required | default | description |',
    '| --- | --- | --- | --- |',
    ...inputs,
    '',
    '### Outputs',
    '',
    '| name | description |',
    '| --- | --- |',
    ...outputs,
    END,
  ].join('\n');
}

export function syncReadme(dir) {
  const readmePath = join(dir, 'README.md');
  const readme = readFileSync(readmePath, 'utf8');
  const from = readme.indexOf(START);
  const to = readme.indexOf(END);
  if (from < 0 || to < 0) throw new Error(`${readmePath} has no ${START} ... ${END} markers`);
  const next =
    readme.slice(0, from) +
    renderTables(readFileSync(join(dir, 'action.yml'), 'utf8')) +
    readme.slice(to + END.length);
  return { readmePath, readme, next };
}

const check = process.argv.includes('--check');
let drift = 0;
for (const name of readdirSync('actions')) {
  const dir = join('actions', name);
  if (!existsSync(join(dir, 'action.yml'))) continue;
  const { readmePath, readme, next } = syncReadme(dir);
  if (next === readme) continue;
  if (check) {
    console.error(`${readmePath} is out of date with action.yml: run 'npm run docs'`);
    drift++;
  } else {
    writeFileSync(readmePath, next);
    console.log(`updated ${readmePath}`);
  }
}
process.exit(drift ? 1 : 0);
