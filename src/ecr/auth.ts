/**
 * An ECR login from the SDK's credentials: GetAuthorizationToken returns base64 `AWS:<password>`
 * (valid 12 hours) and the registry endpoint. The password is returned on its own so the adapter
 * can mask it before anything is logged; it only ever reaches an engine on stdin.
 */
import { GetAuthorizationTokenCommand, type ECRClient } from '@aws-sdk/client-ecr';
import { explainAwsError } from './errors.js';

/** The slice of ECRClient the ECR functions use (a mocked client fits too). */
export type EcrApi = Pick<ECRClient, 'send'>;

export interface EcrLogin {
  /** `123456789012.dkr.ecr.eu-west-1.amazonaws.com`, from the token's proxy endpoint. */
  host: string;
  username: string;
  password: string;
  expiresAt?: Date;
}

/** `https://host[:port]` (or a bare host) → `host[:port]`. */
export function registryHostOf(proxyEndpoint: string): string {
  try {
    return new URL(proxyEndpoint).host;
  } catch {
    return proxyEndpoint.replace(/\/+$/, '');
  }
}

/** Decode an authorization token; throws when it is not base64 `user:password`. */
export function decodeAuthorizationToken(token: string): { username: string; password: string } {
  const text = Buffer.from(token, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon <= 0 || colon === text.length - 1) {
    throw new Error('ECR returned an authorization token that is not base64 user:password');
  }
  return { username: text.slice(0, colon), password: text.slice(colon + 1) };
}

export async function getEcrLogin(
  ecr: EcrApi,
  opts: { registryId?: string } = {},
): Promise<EcrLogin> {
  let out;
  try {
    out = await ecr.send(
      new GetAuthorizationTokenCommand(opts.registryId ? { registryIds: [opts.registryId] } : {}),
    );
  } catch (error) {
    throw explainAwsError(error, 'get an ECR login token (ecr:GetAuthorizationToken)');
  }
  const data = out.authorizationData?.[0];
  if (!data?.authorizationToken || !data.proxyEndpoint) {
    throw new Error('ECR returned no authorization data for this account and region');
  }
  const { username, password } = decodeAuthorizationToken(data.authorizationToken);
  return {
    host: registryHostOf(data.proxyEndpoint),
    username,
    password,
    ...(data.expiresAt ? { expiresAt: data.expiresAt } : {}),
  };
}
