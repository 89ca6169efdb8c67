import { table, code } from '../../src/summary/markdown.js';
import { displayUrl } from '../../src/health/url-secrets.js';
import { redact } from '../../src/redact.js';

it('escapes pipes and newlines so a value cannot break the table', () => {
  expect(table(['a', 'b'], [['x|y', 'line1\nline2']])).toBe(
    '| a | b |\n| --- | --- |\n| x\\|y | line1<br>line2 |\n',
  );
});

it('wraps values containing backticks in a longer fence', () => {
  expect(code('a`b')).toBe('``a`b``');
});

it('redacts secrets and URL passwords', () => {
  expect(redact('token=abc123 and abc123', ['abc123', 'x'])).toBe('token=*** and ***');
  expect(displayUrl('https://user:pw@host/health')).toBe('https://user:***@host/health');
});
