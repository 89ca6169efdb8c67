/** What actionlint cannot see: the inputs an action reads are exactly the inputs its action.yml declares. */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { readWaitHealthyInputs } from '../../src/inputs/wait-healthy.js';

type Reader = (get: (name: string) => string) => unknown;
/** Each action's input reader, and the smallest set of inputs it accepts. */
const actions: Record<string, { read: Reader; minimal: Record<string, string> }> = {
  'wait-healthy': { read: readWaitHealthyInputs, minimal: { url: 'http://127.0.0.1/' } },
};

describe.each(Object.entries(actions))('%s', (name, { read, minimal }) => {
  const meta = parse(readFileSync(`actions/${name}/action.yml`, 'utf8'));

  it('reads every declared input and nothing else', () => {
    const asked = new Set<string>();
    // Give each input a value that satisfies the required ones; parse errors don't matter here.
    try {
      read((input) => {
        asked.add(input);
        return '';
      });
    } catch {
      /* required inputs are missing: expected */
    }
    expect([...asked].sort()).toEqual(Object.keys(meta.inputs).sort());
  });

  it('runs on node24 from its committed bundle', () => {
    expect(meta.runs).toMatchObject({ using: 'node24', main: 'dist/index.js' });
  });

  it('declares the defaults the code applies', () => {
    for (const [input, spec] of Object.entries(
      meta.inputs as Record<string, { default?: string }>,
    )) {
      if (spec.default === undefined) continue;
      // Reading with and without the declared default set explicitly must give the same result.
      const withDefault: Record<string, string> = { ...minimal, [input]: String(spec.default) };
      expect(read((n) => withDefault[n] ?? '')).toEqual(read((n) => minimal[n] ?? ''));
    }
  });
});
