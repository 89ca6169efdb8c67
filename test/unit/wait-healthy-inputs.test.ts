/** wait-healthy inputs that concern what is sent and shown: header bytes, secret query parameters. */
import { readInputs } from '../../src/inputs/wait-healthy.js';
import { inputProblems } from './input-problems.js';

const getter = (values: Record<string, string>) => (name: string) => values[name] ?? '';

it.each([
  ['Authorization: Bearer \u2018x\u2019', 'Authorization', 'U+2018 at position 8'],
  ['X-Emoji: ok \u{1F600}', 'X-Emoji', 'U+1F600 at position 4'],
  ['X-Ctl: a\u0001b', 'X-Ctl', 'U+0001 at position 2'],
])(
  'rejects the header %p, naming the input and the header but not the value',
  (line, name, where) => {
    const problems = inputProblems(() => readInputs(getter({ url: 'http://h/', headers: line })));
    expect(problems).toEqual([
      `input 'headers' has a character outside Latin-1 in the value of '${name}' (${where}); ` +
        'HTTP header values must be Latin-1 text without control characters (percent-encode or base64 it)',
    ]);
  },
);

it('accepts Latin-1 header values, tabs included', () => {
  const inputs = readInputs(getter({ url: 'http://h/', headers: 'X-Team: caf\u00e9\tand co' }));
  expect(inputs.headers).toEqual({ 'X-Team': 'caf\u00e9\tand co' });
});

it('adds long secret query values to the secrets, and never a short one', () => {
  const inputs = readInputs(
    getter({
      url: 'https://h/health?access_token=abcdefgh%2B12&key=abc&page=12345678\nhttps://h/b?password=p%40ssw0rd-long',
      headers: 'X-Api-Key: header-value',
    }),
  );
  expect([...(inputs.secrets ?? [])].sort()).toEqual(
    ['abcdefgh%2B12', 'abcdefgh+12', 'header-value', 'p%40ssw0rd-long', 'p@ssw0rd-long'].sort(),
  );
});
