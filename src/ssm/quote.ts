/**
 * The one way a value enters a generated shell script. POSIX single quotes take every byte
 * literally (no expansion, no escapes), so the only character needing care is the single quote
 * itself: it ends the quoted run, is written as \', and a new run starts ('it'\''s').
 * A NUL byte cannot exist in a shell word or an argv entry, so it is refused rather than dropped:
 * silently cutting a value would deploy something other than what the user asked for.
 */

/** Words made only of these characters mean the same quoted or not; they stay bare for readability. */
const BARE_WORD = /^[A-Za-z0-9_@%+=:,./-]+$/;

export class QuoteError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'QuoteError';
  }
}

/** `value` as one shell word that expands to exactly `value` in sh, bash, dash and busybox ash. */
export function quote(value: string): string {
  if (value.includes('\0'))
    throw new QuoteError('a value holds a NUL byte, which no shell can pass on');
  if (BARE_WORD.test(value)) return value;
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/** `(word word ...)`, the right-hand side of a bash array assignment, each element through `quote`. */
export function quoteArray(values: readonly string[]): string {
  return `(${values.map(quote).join(' ')})`;
}
