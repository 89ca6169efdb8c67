/** AWS errors from ECR calls, turned into a sentence that says what to fix. */
import { awsErrorName } from '../aws.js';
import { errorMessage } from '../errors.js';

const BAD_CREDENTIALS = new Set([
  'ExpiredTokenException',
  'ExpiredToken',
  'UnrecognizedClientException',
  'InvalidSignatureException',
  'InvalidClientTokenId',
  'SignatureDoesNotMatch',
  'IncompleteSignature',
]);

/** `doing` says what was attempted, e.g. "get an ECR login token". */
export function explainAwsError(error: unknown, doing: string): Error {
  const name = awsErrorName(error);
  const message = errorMessage(error);
  if (BAD_CREDENTIALS.has(name)) return new Error(`AWS credentials expired or invalid: ${message}`);
  if (name === 'CredentialsProviderError') {
    return new Error(
      `no AWS credentials found (${message}); configure them before this step, e.g. with aws-actions/configure-aws-credentials`,
    );
  }
  if (/region is missing/i.test(message)) {
    return new Error(
      "no AWS region: set AWS_REGION (aws-actions/configure-aws-credentials does) or give the ECR host in 'registry'",
    );
  }
  if (name === 'AccessDeniedException' || name === 'AccessDenied') {
    return new Error(`not allowed to ${doing}: ${message}`);
  }
  return new Error(`could not ${doing}: ${name ? `${name}: ` : ''}${message}`);
}
