/**
 * Container image references (`registry/repository:tag@sha256:...`) parsed and validated with the
 * grammar of the distribution project, so a malformed reference is refused before anything runs.
 */

export interface ImageReference {
  /** `123456789012.dkr.ecr.eu-west-1.amazonaws.com`, `ghcr.io`, `127.0.0.1:5000`; '' for Docker Hub short names. */
  registry: string;
  /** `fastapi-app`, `team/api`. */
  repository: string;
  tag?: string;
  /** `sha256:<64 hex>`. */
  digest?: string;
}

const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const REPOSITORY = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const DOMAIN_LABEL = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = new RegExp(
  `^(?:${DOMAIN_LABEL}(?:\\.${DOMAIN_LABEL})*|\\[[0-9a-fA-F:]+\\])(?::[0-9]+)?$`,
);
export const TAG_PATTERN = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;
const MAX_NAME_LENGTH = 255;

/** The tag grammar, described for error messages. */
export const TAG_RULE = 'up to 128 letters, digits, _ . and -, not starting with . or -';

/** Parse a reference; the error says what part is wrong. */
export function parseImageReference(text: string): ImageReference | { error: string } {
  const ref = text.trim();
  if (ref === '') return { error: 'is empty' };
  if (/\s/.test(ref)) return { error: 'contains whitespace' };
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest))
      return { error: `has a malformed digest '${digest}' (expected sha256: and 64 hex digits)` };
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG_PATTERN.test(tag)) return { error: `has an invalid tag '${tag}' (${TAG_RULE})` };
  }
  let registry = '';
  const firstSlash = rest.indexOf('/');
  if (firstSlash >= 0) {
    const first = rest.slice(0, firstSlash);
    if (
      first.includes('.') ||
      first.includes(':') ||
      first === 'localhost' ||
      first !== first.toLowerCase()
    ) {
      registry = first;
      rest = rest.slice(firstSlash + 1);
      if (!DOMAIN.test(registry)) return { error: `has an invalid registry host '${registry}'` };
    }
  }
  if (!REPOSITORY.test(rest)) {
    return {
      error: `has an invalid repository name '${rest}' (lowercase letters, digits and . _ - separators, / between parts)`,
    };
  }
  if ((registry ? registry.length + 1 : 0) + rest.length > MAX_NAME_LENGTH) {
    return { error: `is longer than ${MAX_NAME_LENGTH} characters` };
  }
  return {
    registry,
    repository: rest,
    ...(tag !== undefined ? { tag } : {}),
    ...(digest !== undefined ? { digest } : {}),
  };
}

export function isImageReference(
  value: ImageReference | { error: string },
): value is ImageReference {
  return !('error' in value);
}

/** `registry/repository` (no tag or digest). */
export function imageName(ref: ImageReference): string {
  return ref.registry ? `${ref.registry}/${ref.repository}` : ref.repository;
}

/** The full reference text: name, then `:tag`, then `@digest`. */
export function formatImageReference(ref: ImageReference): string {
  return `${imageName(ref)}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest !== undefined ? `@${ref.digest}` : ''}`;
}

/** `<account>.dkr.ecr.<region>.amazonaws.com` (and .com.cn, FIPS); the account and region it names. */
export function parseEcrHost(host: string): { account: string; region: string } | undefined {
  const m = /^(\d{12})\.dkr\.ecr(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$/.exec(host);
  return m ? { account: m[1] as string, region: m[2] as string } : undefined;
}
