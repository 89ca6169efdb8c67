import {
  formatImageReference,
  parseEcrHost,
  parseImageReference,
} from '../../src/image/reference.js';

const SHA = `sha256:${'a'.repeat(64)}`;

describe('parseImageReference', () => {
  it.each([
    ['nginx', { registry: '', repository: 'nginx' }],
    ['nginx:1.27', { registry: '', repository: 'nginx', tag: '1.27' }],
    ['team/api:v1', { registry: '', repository: 'team/api', tag: 'v1' }],
    ['localhost/app', { registry: 'localhost', repository: 'app' }],
    ['127.0.0.1:5000/app:latest', { registry: '127.0.0.1:5000', repository: 'app', tag: 'latest' }],
    [
      '123456789012.dkr.ecr.eu-west-1.amazonaws.com/fastapi-app:3f2a',
      {
        registry: '123456789012.dkr.ecr.eu-west-1.amazonaws.com',
        repository: 'fastapi-app',
        tag: '3f2a',
      },
    ],
    [`ghcr.io/org/app@${SHA}`, { registry: 'ghcr.io', repository: 'org/app', digest: SHA }],
    [
      `ghcr.io/org/app:v2@${SHA}`,
      { registry: 'ghcr.io', repository: 'org/app', tag: 'v2', digest: SHA },
    ],
    ['my_app__x.y-z', { registry: '', repository: 'my_app__x.y-z' }],
  ])('%s', (text, expected) => {
    expect(parseImageReference(text)).toEqual(expected);
    expect(formatImageReference(expected)).toBe(text);
  });

  it.each([
    ['', 'is empty'],
    ['app name', 'contains whitespace'],
    ['App', "invalid repository name 'App'"],
    ['app:-bad', "invalid tag '-bad'"],
    [`app:${'x'.repeat(129)}`, 'invalid tag'],
    ['app@sha256:123', 'malformed digest'],
    ['reg.io//app', 'invalid repository name'],
    ['app;rm -rf /', 'contains whitespace'],
    ['app$(id)', 'invalid repository name'],
    ['-host.io/app', "invalid registry host '-host.io'"],
  ])('rejects %p', (text, message) => {
    const r = parseImageReference(text);
    expect('error' in r && r.error).toContain(message);
  });
});

it('recognises ECR hosts', () => {
  expect(parseEcrHost('123456789012.dkr.ecr.eu-west-1.amazonaws.com')).toEqual({
    account: '123456789012',
    region: 'eu-west-1',
  });
  expect(parseEcrHost('123456789012.dkr.ecr-fips.us-east-1.amazonaws.com')).toEqual({
    account: '123456789012',
    region: 'us-east-1',
  });
  expect(parseEcrHost('ghcr.io')).toBeUndefined();
});
