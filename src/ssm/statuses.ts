/**
 * Every status SSM Run Command reports, in plain words, in one table. An invocation (one instance)
 * has a coarse `Status` and a finer `StatusDetails` (`Delivery Timed Out`, `Undeliverable`, ...);
 * the finer one wins when we know it.
 */

export interface InvocationState {
  /** Stable key: the SSM status without spaces, e.g. `ExecutionTimedOut`. */
  key: string;
  /** What happened, for logs, the summary and failure messages. */
  words: string;
  /** No further change will come. */
  terminal: boolean;
  succeeded: boolean;
  /** The script may have started, so the instance has output worth reading. */
  ran: boolean;
}

type Row = Omit<InvocationState, 'key'>;
const waiting = (words: string): Row => ({ words, terminal: false, succeeded: false, ran: false });
const ended = (words: string, ran: boolean): Row => ({
  words,
  terminal: true,
  succeeded: false,
  ran,
});

const INVOCATION: Record<string, Row> = {
  Pending: waiting('waiting to be sent (max-concurrency, or not picked up by the agent yet)'),
  InProgress: { ...waiting('running'), ran: true },
  Delayed: waiting('delivery delayed: the instance did not answer, SSM retries'),
  Cancelling: { ...waiting('being cancelled'), ran: true },
  Success: { words: 'succeeded', terminal: true, succeeded: true, ran: true },
  Failed: ended('failed: the script exited non-zero', true),
  Cancelled: ended('cancelled before it finished', true),
  TimedOut: ended('timed out', true),
  ExecutionTimedOut: ended('killed: the script ran longer than execution-timeout', true),
  DeliveryTimedOut: ended(
    'never delivered: the agent did not pick the command up before the rollout timeout',
    false,
  ),
  Undeliverable: ended(
    'undeliverable: the instance is stopped, gone, or its SSM agent is not registered',
    false,
  ),
  Terminated: ended('not run: SSM stopped the rollout after max-errors failures', false),
  InvalidPlatform: ended('not run: the document does not support this platform (Windows?)', false),
  AccessDenied: ended('not run: access denied to this instance', false),
};

/** SSM writes `Canceled` in some places and `Cancelled` in others; details have spaces. */
function normalize(text: string): string {
  const compact = text.replace(/\s+/g, '');
  const key = Object.keys(INVOCATION).find((k) => k.toLowerCase() === compact.toLowerCase());
  if (key) return key;
  return compact.toLowerCase() === 'canceled' ? 'Cancelled' : compact;
}

export function invocationState(status = '', details = ''): InvocationState {
  for (const candidate of [details, status]) {
    const key = normalize(candidate);
    const row = INVOCATION[key];
    if (row) return { key, ...row };
  }
  // A status this table does not know yet: keep waiting unless the coarse status is final.
  const key = normalize(details || status || 'Unknown');
  const terminal = ['Success', 'Failed', 'Cancelled', 'TimedOut'].includes(normalize(status));
  return {
    key,
    words: `SSM status ${details || status || 'unknown'}`,
    terminal,
    succeeded: normalize(status) === 'Success' && terminal,
    ran: true,
  };
}

const COMMAND: Record<string, string> = {
  Pending: 'not sent to any instance yet',
  InProgress: 'in progress',
  Success: 'succeeded on every instance',
  Failed: 'failed: max-errors was reached',
  Incomplete: 'finished, but some instances did not succeed',
  Cancelled: 'cancelled',
  Cancelling: 'being cancelled',
  TimedOut: 'timed out',
  DeliveryTimedOut: 'timed out before delivery to max-errors instances',
  ExecutionTimedOut: 'execution timed out on max-errors instances',
  RateExceeded: 'refused: too many pending invocations in this account (Rate Exceeded)',
  NoInstancesInTag: 'no instance matched the targets',
  AccessDenied: 'access denied',
};

/** Words for the command as a whole (ListCommands' Status and StatusDetails). */
export function commandStateWords(status = '', details = ''): string {
  for (const candidate of [details, status]) {
    const compact = candidate.replace(/\s+/g, '');
    const key = Object.keys(COMMAND).find((k) => k.toLowerCase() === compact.toLowerCase());
    if (key) return COMMAND[key] as string;
  }
  return `SSM status ${details || status || 'unknown'}`;
}

/** The command as a whole will not change any more. */
export function isCommandFinished(status = ''): boolean {
  return ['Success', 'Failed', 'Cancelled', 'TimedOut'].includes(status);
}
