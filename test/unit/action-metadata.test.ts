/**
 * What actionlint cannot see: each action reads exactly the inputs its action.yml declares, with
 * the defaults it declares. Every action follows one convention: `src/inputs/<name>.ts` exports
 * `readInputs(get)` and `MINIMAL_INPUTS`, so new actions are checked without editing this file.
 */
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { parse } from 'yaml';

type Reader = (get: (name: string) => string) => unknown;
const names = readdirSync('actions').filter((n) => existsSync(`actions/${n}/action.yml`));

it('finds the actions', () => expect(names).toContain('wait-healthy'));

describe.each(names)('%s', (name) => {
  const meta = parse(readFileSync(`actions/${name}/action.yml`, 'utf8'));
  let read: Reader;
  let minimal: Record<string, string>;
  beforeAll(async () => {
    const mod = (await import(`../../src/inputs/${name}.js`)) as {
      readInputs: Reader;
      MINIMAL_INPUTS: Record<string, string>;
    };
    read = mod.readInputs;
    minimal = mod.MINIMAL_INPUTS;
  });

  it('reads every declared input and nothing else', () => {
    const asked = new Set<string>();
    try {
      read((input) => {
        asked.add(input);
        return minimal[input] ?? '';
      });
    } catch {
      /* a rule between inputs may fail with the minimal set; what was asked is what matters */
    }
    expect([...asked].sort()).toEqual(Object.keys(meta.inputs).sort());
  });

  it('accepts its minimal inputs', () => {
    expect(() => read((n) => minimal[n] ?? '')).not.toThrow();
  });

  it('runs on node24 from its committed bundle', () => {
    expect(meta.runs).toMatchObject({ using: 'node24', main: 'dist/index.js' });
  });

  it('declares the defaults the code applies', () => {
    for (const [input, spec] of Object.entries(
      meta.inputs as Record<string, { default?: string }>,
    )) {
      if (spec.default === undefined) continue;
      const withDefault: Record<string, string> = { ...minimal, [input]: String(spec.default) };
      expect([input, read((n) => withDefault[n] ?? '')]).toEqual([
        input,
        read((n) => minimal[n] ?? ''),
      ]);
    }
  });
});
