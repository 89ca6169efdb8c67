/**
 * A command written in an input (`pre-deploy-command`), split into arguments by shell-word rules,
 * the way `docker run IMAGE ARGS…` and ECS's `command` override take them: quotes are respected
 * ('…' literal, "…" with \" \\ \$ \` escapes, a backslash outside quotes escapes the next
 * character) and NOTHING is expanded: `$VAR`, `*` and `~` reach the program as written.
 *
 * Shell syntax that would only work in a shell (`;`, `|`, `&&`, `>`, `<`, `(`, a backquote, a
 * comment) is refused rather than passed on as an argument: the user expects it to work. For a
 * shell, they write `sh -c '…'`.
 *
 * Written here rather than taken from `shell-quote`: its `parse` turns `$VAR` into '' unless given
 * an env function, turns globs and comments into objects, and accepts an unbalanced quote; the
 * rules above are smaller than the adapting code would be.
 */

import type { InputReader } from './reader.js';

/** A command the splitter refuses; `problem` reads after "input '<name>'". */
export class CommandWordsError extends Error {
  constructor(
    readonly inputName: string,
    readonly problem: string,
  ) {
    super(`input '${inputName}' ${problem}`);
    this.name = 'CommandWordsError';
  }
}

/** Characters that end a word and start shell syntax when unquoted. */
const OPERATOR = new Set([';', '|', '&', '<', '>', '(', ')', '`']);
const BLANK = new Set([' ', '\t', '\n', '\r']);
/** Inside "…", a backslash escapes only these (POSIX); before anything else it is kept. */
const DOUBLE_QUOTED_ESCAPES = new Set(['"', '\\', '$', '`', '\n']);

const SHELL_HINT = "nothing here runs a shell: to use shell syntax, write sh -c '…'";

/** Split `value` into arguments; throws CommandWordsError naming `inputName`. */
export function splitCommandWords(inputName: string, value: string): string[] {
  const fail = (problem: string): never => {
    throw new CommandWordsError(inputName, problem);
  };
  const words: string[] = [];
  let word = '';
  /** A word has started (an empty quoted word '' counts). */
  let inWord = false;
  let i = 0;
  while (i < value.length) {
    const c = value[i] as string;
    if (BLANK.has(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
      i++;
    } else if (c === "'") {
      const end = value.indexOf("'", i + 1);
      if (end < 0) fail(`has an unbalanced single quote at character ${i + 1}: close it with '`);
      word += value.slice(i + 1, end);
      inWord = true;
      i = end + 1;
    } else if (c === '"') {
      const open = i;
      i++;
      for (;;) {
        if (i >= value.length) {
          fail(`has an unbalanced double quote at character ${open + 1}: close it with "`);
        }
        const d = value[i] as string;
        if (d === '"') break;
        if (
          d === '\\' &&
          i + 1 < value.length &&
          DOUBLE_QUOTED_ESCAPES.has(value[i + 1] as string)
        ) {
          // A backslash-newline continues the line: both go.
          if (value[i + 1] !== '\n') word += value[i + 1];
          i += 2;
          continue;
        }
        word += d;
        i++;
      }
      inWord = true;
      i++;
    } else if (c === '\\') {
      if (i + 1 >= value.length) fail('ends with a backslash that escapes nothing');
      const next = value[i + 1] as string;
      if (next === '\n') {
        i += 2;
        continue;
      }
      word += next;
      inWord = true;
      i += 2;
    } else if (OPERATOR.has(c)) {
      const op = c + (value[i + 1] === c && '&|<>'.includes(c) ? c : '');
      fail(
        `contains ${op === '`' ? 'a backquote' : `the shell operator '${op}'`}; ${SHELL_HINT} (or quote it to pass it as an argument)`,
      );
    } else if (c === '#' && !inWord) {
      fail(`contains a shell comment ('#' starting a word); ${SHELL_HINT} (or quote it)`);
    } else {
      word += c;
      inWord = true;
      i++;
    }
  }
  if (inWord) words.push(word);
  if (words.length === 0) fail('is empty: give the command and its arguments');
  return words;
}

/**
 * The command of input `name` as words; undefined when it is empty, or refused (the problem is
 * recorded on the reader, with the action's other input problems).
 */
export function readCommandWords(r: InputReader, name: string): string[] | undefined {
  const text = r.string(name);
  if (text === '') return undefined;
  try {
    return splitCommandWords(name, text);
  } catch (error) {
    if (!(error instanceof CommandWordsError)) throw error;
    r.problem(name, error.problem);
    return undefined;
  }
}
