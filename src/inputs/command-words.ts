/**
 * A command written in an input (`pre-deploy-command`), split into arguments by shell-word rules,
 * as `docker run IMAGE ARGS…` takes them: quotes are respected ('…' literal; "…" where a backslash
 * escapes only " \ $ and a backquote; outside quotes a backslash escapes the next character), and
 * NOTHING is expanded: `$VAR`, `*` and `~` reach the program as written. Shell syntax that only a
 * shell would act on (; | & < > ( ) a backquote, a comment) is refused: nothing here runs a shell,
 * and `sh -c '…'` is the way to ask for one.
 */

/** A command the splitter refuses; `problem` reads after "input '<name>' ". */
export class CommandWordsError extends Error {
  constructor(
    readonly inputName: string,
    readonly problem: string,
  ) {
    super(`input '${inputName}' ${problem}`);
    this.name = 'CommandWordsError';
  }
}

const OPERATORS = new Set([';', '|', '&', '<', '>', '(', ')', '`']);
const BLANKS = new Set([' ', '\t', '\n', '\r']);
const DOUBLE_QUOTE_ESCAPES = new Set(['"', '\\', '$', '`']);
const HINT = "nothing runs a shell here: for shell syntax write sh -c '…'";

/** Split `value` into arguments; throws CommandWordsError naming `inputName`. */
export function splitCommandWords(inputName: string, value: string): string[] {
  const fail = (problem: string): never => {
    throw new CommandWordsError(inputName, problem);
  };
  if (value.includes('\0')) fail('holds a NUL byte, which no argument can carry');
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let i = 0;
  while (i < value.length) {
    const c = value[i] as string;
    if (BLANKS.has(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
      i++;
    } else if (c === "'") {
      const end = value.indexOf("'", i + 1);
      if (end < 0) fail(`has a ' at character ${i + 1} that is never closed`);
      word += value.slice(i + 1, end);
      inWord = true;
      i = end + 1;
    } else if (c === '"') {
      let j = i + 1;
      for (;;) {
        if (j >= value.length) fail(`has a " at character ${i + 1} that is never closed`);
        const d = value[j] as string;
        if (d === '"') break;
        if (d === '\\' && DOUBLE_QUOTE_ESCAPES.has(value[j + 1] ?? '')) {
          word += value[j + 1];
          j += 2;
        } else {
          word += d;
          j++;
        }
      }
      inWord = true;
      i = j + 1;
    } else if (c === '\\') {
      if (i + 1 >= value.length) fail('ends with a lone backslash');
      const next = value[i + 1] as string;
      // A backslash before a line break joins the lines, as in a shell.
      if (next !== '\n') {
        word += next;
        inWord = true;
      }
      i += 2;
    } else if (OPERATORS.has(c)) {
      fail(`has the shell operator '${c}' at character ${i + 1}: ${HINT}, or quote it`);
    } else if (c === '#' && !inWord) {
      fail(`has a comment (#) at character ${i + 1}: ${HINT}, or quote it`);
    } else {
      word += c;
      inWord = true;
      i++;
    }
  }
  if (inWord) words.push(word);
  if (words.length === 0) fail('is empty: write the command and its arguments');
  return words;
}
