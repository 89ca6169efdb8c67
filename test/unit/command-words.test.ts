/** The pre-deploy-command splitter: shell-word rules, nothing expanded, shell syntax refused. */
import fc from 'fast-check';
import { CommandWordsError, splitCommandWords } from '../../src/inputs/command-words.js';
import { quote } from '../../src/ssm/quote.js';

const split = (value: string) => splitCommandWords('pre-deploy-command', value);
const problemOf = (value: string): string => {
  try {
    split(value);
  } catch (e) {
    if (e instanceof CommandWordsError) return e.message;
    throw e;
  }
  throw new Error(`expected ${JSON.stringify(value)} to be refused`);
};

describe('splitCommandWords', () => {
  it.each<[string, string[]]>([
    ['npm run migrate', ['npm', 'run', 'migrate']],
    ['  rails   db:migrate\n', ['rails', 'db:migrate']],
    [`sh -c 'echo "$HOME" && ls | wc -l'`, ['sh', '-c', 'echo "$HOME" && ls | wc -l']],
    [`say "it's \\"done\\"" '' x`, ['say', `it's "done"`, '', 'x']],
    ['echo a\\ b c\\\\d', ['echo', 'a b', 'c\\d']],
    ['echo "a\\nb" "\\$X"', ['echo', 'a\\nb', '$X']],
    ['migrate \\\n  --all', ['migrate', '--all']],
    ['echo $DATABASE_URL *.sql ~/x a#b', ['echo', '$DATABASE_URL', '*.sql', '~/x', 'a#b']],
    [`"a"'b'c`, ['abc']],
    ['printf "%s;%s" "a|b" \'>\' \\&', ['printf', '%s;%s', 'a|b', '>', '&']],
  ])('%j is %j', (value, words) => expect(split(value)).toEqual(words));

  it.each<[string, RegExp]>([
    ['', /^input 'pre-deploy-command' is empty/],
    ['  \n ', /is empty/],
    ['migrate && seed', /the shell operator '&&'.*sh -c/],
    ['migrate; seed', /the shell operator ';'/],
    ['migrate | tee log', /the shell operator '\|'/],
    ['migrate > out', /the shell operator '>'/],
    ['migrate 2>&1', /the shell operator '>'/],
    ['migrate &', /the shell operator '&'/],
    ['echo `id`', /a backquote/],
    ['echo $(id)', /the shell operator '\('/],
    ['migrate # all of it', /shell comment/],
    [`echo 'it`, /unbalanced single quote at character 6/],
    ['echo "it', /unbalanced double quote at character 6/],
    ['echo it\\', /ends with a backslash/],
  ])('refuses %j', (value, message) => {
    const problem = problemOf(value);
    expect(problem).toMatch(/^input 'pre-deploy-command' /);
    expect(problem).toMatch(message);
  });

  it('names the input it was given', () => {
    expect(() => splitCommandWords('migrate-command', 'a;b')).toThrow(/^input 'migrate-command' /);
  });

  it('reads back any words the host script quoting (quote) wrote', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.string({ unit: 'binary', maxLength: 12 }).filter((w) => !w.includes('\0')),
          { minLength: 1, maxLength: 6 },
        ),
        (words) => {
          expect(split(words.map(quote).join(' '))).toEqual(words);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('splits plain words on blanks, whatever the spacing', () => {
    const plain = fc.stringMatching(/^[A-Za-z0-9_@%+=:,./$*~-]{1,10}$/);
    const blanks = fc.stringMatching(/^[ \t\n]{1,3}$/);
    fc.assert(
      fc.property(fc.array(fc.tuple(plain, blanks), { minLength: 1, maxLength: 6 }), (parts) => {
        const text = parts.map(([w, b]) => w + b).join('');
        expect(split(text)).toEqual(parts.map(([w]) => w));
      }),
    );
  });
});
