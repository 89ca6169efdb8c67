/**
 * Where library code writes what a person reads. `src/` never imports @actions/core: the
 * adapters implement this with it (actions/shared/io.ts), benches and tests with `lineLogger`.
 */
import { redact } from './redact.js';

export interface Logger {
  info(line: string): void;
  warning(line: string): void;
  /** From now on `secret` must not be shown (the runner's add-mask). */
  mask(secret: string): void;
  /** Folds what `work` logs under `title` (core.group). */
  group<T>(title: string, work: () => Promise<T>): Promise<T>;
}

/**
 * A plain logger over line sinks: warnings go to `warning` (by default `info` with a
 * `warning: ` prefix), groups are a title line, and masked values are replaced by *** in every
 * line, as the runner would.
 */
export function lineLogger(
  info: (line: string) => void,
  warning: (line: string) => void = (line) => info(`warning: ${line}`),
): Logger {
  const secrets: string[] = [];
  return {
    info: (line) => info(redact(line, secrets)),
    warning: (line) => warning(redact(line, secrets)),
    mask: (secret) => void secrets.push(secret),
    group: (title, work) => {
      info(redact(title, secrets));
      return work();
    },
  };
}

/** For callers that want no lines (a library default when no logger is given). */
export const silentLogger: Logger = lineLogger(() => {});

/** The same logger, with `info` and `warning` lines passed through `edit` first (redaction). */
export function editedLogger(logger: Logger, edit: (line: string) => string): Logger {
  return {
    info: (line) => logger.info(edit(line)),
    warning: (line) => logger.warning(edit(line)),
    mask: (secret) => logger.mask(secret),
    group: (title, work) => logger.group(edit(title), work),
  };
}
