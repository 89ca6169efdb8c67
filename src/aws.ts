/**
 * How every AWS SDK client in the suite is configured. One place, so that every call tolerates
 * throttling the same way: the SDK's adaptive retry mode (client-side rate limiting plus
 * exponential backoff on ThrottlingException and 5xx) with room for a busy account.
 * Region and credentials come from the standard SDK chain (env, OIDC web identity, profile),
 * and endpoints from AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_<SERVICE>, which the SDK reads itself.
 */
import { errorMessage } from './errors.js';

export interface AwsClientOptions {
  /** Empty: the SDK's chain (AWS_REGION, profile). */
  region?: string;
  /** Attempts per call, retries included. */
  maxAttempts?: number;
}

const DEFAULT_MAX_ATTEMPTS = 8;

export function awsClientConfig(opts: AwsClientOptions = {}) {
  return {
    ...(opts.region ? { region: opts.region } : {}),
    retryMode: 'adaptive' as const,
    maxAttempts: opts.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
  };
}

/** The error name the SDK gives a service exception (`ThrottlingException`, `InvalidInstanceId`, ...). */
export function awsErrorName(error: unknown): string {
  return error instanceof Error ? error.name : '';
}

/** `ThrottlingException: Rate exceeded`: an AWS error as its name and message. */
export function awsErrorText(error: unknown): string {
  return `${awsErrorName(error) || 'Error'}: ${errorMessage(error)}`;
}

const THROTTLING = new Set([
  'ThrottlingException',
  'Throttling',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'ThrottledException',
  'RateExceeded',
]);

/** True for throttling errors that outlived the SDK's own retries; poll loops back off on them. */
export function isThrottling(error: unknown): boolean {
  return THROTTLING.has(awsErrorName(error));
}
