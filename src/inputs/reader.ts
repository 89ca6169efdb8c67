/**
 * Typed parsing of action inputs. The adapter hands in a getter (core.getInput); the reader
 * collects every problem so that a user with three typos hears about all three at once, and
 * each message names the input, what is accepted and what it got.
 */
import { parseDuration } from '../duration.js';

/** Returns the raw input, '' when unset (the contract of core.getInput). */
export type InputGetter = (name: string) => string;

export class InputError extends Error {
  constructor(readonly problems: string[]) {
    super(
      problems.length === 1
        ? problems[0]
        : `${problems.length} inputs are invalid:\n- ${problems.join('\n- ')}`,
    );
    this.name = 'InputError';
  }
}

/** An environment variable name, as the inputs that set a container's environment take it. */
export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
export const ENV_NAME_RULE = 'letters, digits and _, not starting with a digit';

/** Quote a user value inside an error message, short enough to read. */
export function shown(value: string): string {
  const oneLine = value.replace(/\r?\n/g, '\\n');
  return `'${oneLine.length > 80 ? `${oneLine.slice(0, 77)}...` : oneLine}'`;
}

export class InputReader {
  private readonly problems: string[] = [];
  private readonly inputsWithProblems = new Set<string>();

  constructor(private readonly get: InputGetter) {}

  /** Record a problem with an input; parsing goes on so that all problems are reported together. */
  problem(name: string, message: string): void {
    this.problems.push(`input '${name}' ${message}`);
    this.inputsWithProblems.add(name);
  }

  /** Whether a problem with this input was recorded already. */
  hasProblem(name: string): boolean {
    return this.inputsWithProblems.has(name);
  }

  /** Throws one InputError listing every problem seen, if any. */
  finish(): void {
    if (this.problems.length > 0) throw new InputError([...this.problems]);
  }

  string(name: string, fallback = ''): string {
    const value = this.get(name).trim();
    return value === '' ? fallback : value;
  }

  required(name: string, accepted: string): string {
    const value = this.get(name).trim();
    if (value === '') this.problem(name, `is required: ${accepted}`);
    return value;
  }

  /** Parse with a function that returns undefined for bad text; `accepted` describes good text. */
  parse<T>(
    name: string,
    fallback: string,
    parseFn: (text: string) => T | undefined,
    accepted: string,
  ): T | undefined {
    const text = this.string(name, fallback);
    const value = parseFn(text);
    if (value === undefined) this.problem(name, `must be ${accepted}; got ${shown(text)}`);
    return value;
  }

  /** Milliseconds. */
  duration(name: string, fallback: string, opts: { allowZero?: boolean } = {}): number {
    const text = this.string(name, fallback);
    const ms = parseDuration(text);
    if (ms === undefined || (ms === 0 && !opts.allowZero)) {
      const what = text.trim().startsWith('-') ? 'a positive duration' : 'a duration';
      this.problem(name, `must be ${what} like 90, 90s, 5m or 1h; got ${shown(text)}`);
      return parseDuration(fallback) ?? 0;
    }
    return ms;
  }

  integer(name: string, fallback: number, opts: { min?: number; max?: number } = {}): number {
    const text = this.string(name, String(fallback));
    const n = /^-?\d+$/.test(text) ? Number(text) : NaN;
    const { min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER } = opts;
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      const range = opts.max === undefined ? `${min} or more` : `between ${min} and ${max}`;
      this.problem(name, `must be a whole number ${range}; got ${shown(text)}`);
      return fallback;
    }
    return n;
  }

  /** `true` or `false` in any letter case (`True`, `FALSE`, `tRuE`); nothing else, not yes/no. */
  boolean(name: string, fallback: boolean): boolean {
    const text = this.string(name, String(fallback)).toLowerCase();
    if (text === 'true') return true;
    if (text === 'false') return false;
    this.problem(name, `must be true or false; got ${shown(text)}`);
    return fallback;
  }

  choice<T extends string>(name: string, choices: readonly T[], fallback: T): T {
    const text = this.string(name, fallback);
    if ((choices as readonly string[]).includes(text)) return text as T;
    this.problem(name, `must be one of ${choices.join(', ')}; got ${shown(text)}`);
    return fallback;
  }

  /** One value per line; blank lines are skipped, surrounding space trimmed. */
  lines(name: string): string[] {
    return splitLines(this.get(name));
  }

  /**
   * `KEY<sep>value` per line. Keys must match `keyPattern`; values keep inner spaces and may be empty.
   * Order is kept; a repeated key is a problem (it is almost always a copy-paste mistake).
   */
  pairs(
    name: string,
    sep: '=' | ':',
    keyPattern: RegExp,
    accepted: string,
  ): Array<[key: string, value: string]> {
    const out: Array<[string, string]> = [];
    const seen = new Set<string>();
    for (const line of this.lines(name)) {
      const at = line.indexOf(sep);
      const key = at < 0 ? '' : line.slice(0, at).trim();
      if (at < 0 || !keyPattern.test(key)) {
        this.problem(name, `must have one ${accepted} per line; got ${shown(line)}`);
        continue;
      }
      if (seen.has(key.toLowerCase())) this.problem(name, `names ${shown(key)} twice`);
      seen.add(key.toLowerCase());
      out.push([key, line.slice(at + 1).trim()]);
    }
    return out;
  }
}

function splitLines(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '');
}
