import { InputError } from '../../src/inputs/reader.js';

/** The problems an input reader reports; fails the test when it accepts the inputs. */
export function inputProblems(read: () => unknown): string[] {
  try {
    read();
  } catch (e) {
    if (e instanceof InputError) return e.problems;
    throw e;
  }
  throw new Error('expected an InputError');
}
