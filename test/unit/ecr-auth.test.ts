/** The ECR token flow against a mocked ECR client: decoding, the registry host, and errors. */
import { ECRClient, GetAuthorizationTokenCommand } from '@aws-sdk/client-ecr';
import { mockClient } from 'aws-sdk-client-mock';
import { decodeAuthorizationToken, getEcrLogin, registryHostOf } from '../../src/ecr/auth.js';

const ecrMock = mockClient(ECRClient);
const ecr = new ECRClient({ region: 'eu-west-1' });
const token = (text: string) => Buffer.from(text).toString('base64');
const awsError = (name: string, message: string) => Object.assign(new Error(message), { name });

beforeEach(() => ecrMock.reset());

it('decodes the token and returns the password on its own, with the host of the proxy endpoint', async () => {
  const expiresAt = new Date('2030-01-01T12:00:00Z');
  ecrMock.on(GetAuthorizationTokenCommand).resolves({
    authorizationData: [
      {
        authorizationToken: token('AWS:eyJwYXlsb2FkIjoi:with:colons'),
        proxyEndpoint: 'https://123456789012.dkr.ecr.eu-west-1.amazonaws.com',
        expiresAt,
      },
    ],
  });
  const login = await getEcrLogin(ecr);
  expect(login).toEqual({
    host: '123456789012.dkr.ecr.eu-west-1.amazonaws.com',
    username: 'AWS',
    password: 'eyJwYXlsb2FkIjoi:with:colons',
    expiresAt,
  });
  expect(ecrMock.commandCalls(GetAuthorizationTokenCommand)[0]?.args[0].input).toEqual({});
});

it('asks for the token of another account when a registry id is given', async () => {
  ecrMock.on(GetAuthorizationTokenCommand).resolves({
    authorizationData: [{ authorizationToken: token('AWS:p'), proxyEndpoint: 'https://x' }],
  });
  await getEcrLogin(ecr, { registryId: '210987654321' });
  expect(ecrMock.commandCalls(GetAuthorizationTokenCommand)[0]?.args[0].input).toEqual({
    registryIds: ['210987654321'],
  });
});

it('keeps the port of a proxy endpoint and accepts a bare host', () => {
  expect(registryHostOf('http://127.0.0.1:5000')).toBe('127.0.0.1:5000');
  expect(registryHostOf('https://123456789012.dkr.ecr.us-east-1.amazonaws.com/')).toBe(
    '123456789012.dkr.ecr.us-east-1.amazonaws.com',
  );
  expect(registryHostOf('registry.example.com')).toBe('registry.example.com');
});

it('refuses a token that is not user:password', () => {
  expect(() => decodeAuthorizationToken(token('no-colon-here'))).toThrow(
    /not base64 user:password/,
  );
  expect(() => decodeAuthorizationToken(token(':password'))).toThrow(/not base64 user:password/);
  expect(() => decodeAuthorizationToken(token('AWS:'))).toThrow(/not base64 user:password/);
});

it.each(['ExpiredTokenException', 'UnrecognizedClientException', 'InvalidSignatureException'])(
  '%s means expired or invalid credentials',
  async (name) => {
    ecrMock
      .on(GetAuthorizationTokenCommand)
      .rejects(awsError(name, 'The security token included in the request is expired'));
    await expect(getEcrLogin(ecr)).rejects.toThrow(
      'AWS credentials expired or invalid: The security token included in the request is expired',
    );
  },
);

it('says which permission is missing when access is denied', async () => {
  ecrMock
    .on(GetAuthorizationTokenCommand)
    .rejects(awsError('AccessDeniedException', 'User: arn:aws:iam::1:user/ci is not authorized'));
  await expect(getEcrLogin(ecr)).rejects.toThrow(
    'not allowed to get an ECR login token (ecr:GetAuthorizationToken): User: arn:aws:iam::1:user/ci is not authorized',
  );
});

it('points at configure-aws-credentials when there are no credentials at all', async () => {
  ecrMock
    .on(GetAuthorizationTokenCommand)
    .rejects(awsError('CredentialsProviderError', 'Could not load credentials from any providers'));
  await expect(getEcrLogin(ecr)).rejects.toThrow(
    /no AWS credentials found \(Could not load credentials from any providers\).*configure-aws-credentials/,
  );
});

it('fails clearly when ECR returns no authorization data', async () => {
  ecrMock.on(GetAuthorizationTokenCommand).resolves({ authorizationData: [] });
  await expect(getEcrLogin(ecr)).rejects.toThrow('ECR returned no authorization data');
});
