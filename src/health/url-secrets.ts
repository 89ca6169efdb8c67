/**
 * Secrets that ride in a health URL: the password part and the values of query parameters whose
 * names look secret (`?token=`, `&X-Amz-Signature=`, a presigned URL's credential). The shown form
 * of a URL has them as `***`; long values are also handed to the runner's masking.
 */

/**
 * Values shorter than this are never masked by themselves, only shown as `***` in the URL text.
 * The runner masks a value everywhere in the log: `key=1`, `sig=v2` or `token=test` would blank
 * every `1`, `v2` or `test` in every later line, and a credential that short is no secret anyway.
 * Eight characters is below any real token, key or signature (AWS signatures are 64, access key
 * ids 20) and above the common short words and numbers.
 */
const MIN_MASKED_LENGTH = 8;

/** The words a secret parameter name is, or ends with (`access_token`, `api-key`, `apiKey`). */
const SECRET_WORDS = ['token', 'key', 'signature', 'sig', 'password', 'secret', 'credential'];
const SECRET_NAME = new RegExp(`(?:^|[-_.])(?:${SECRET_WORDS.join('|')})$`, 'i');
const SECRET_CAMEL = new RegExp(
  `[a-z0-9](?:${SECRET_WORDS.map((w) => w[0]!.toUpperCase() + w.slice(1)).join('|')})$`,
);

/** Does a query parameter with this name carry a secret (case-insensitive)? */
function isSecretParameter(name: string): boolean {
  const decoded = safeDecode(name.replace(/\+/g, ' '));
  return SECRET_NAME.test(decoded) || SECRET_CAMEL.test(decoded);
}

/** A URL as it may be shown: the password and secret-looking query values replaced by `***`. */
export function displayUrl(url: URL | string): string {
  const u = new URL(String(url));
  if (u.password) u.password = '***';
  // Rewrite the text of the query rather than searchParams, which would re-encode the rest.
  if (u.search.length > 1) u.search = maskQuery(u.search.slice(1));
  return u.href;
}

/** `a=1&token=x` -> `a=1&token=***`: the values of secret-looking parameters, as text. */
function maskQuery(query: string): string {
  return query
    .split('&')
    .map((part) => {
      const eq = part.indexOf('=');
      return eq > 0 && eq < part.length - 1 && isSecretParameter(part.slice(0, eq))
        ? `${part.slice(0, eq)}=***`
        : part;
    })
    .join('&');
}

/** Text that may not parse as a URL (a redirect's Location), with secret query values as `***`. */
export function maskQueryText(text: string): string {
  const at = text.indexOf('?');
  if (at < 0) return text;
  const end = text.indexOf('#', at);
  const query = text.slice(at + 1, end < 0 ? undefined : end);
  return `${text.slice(0, at + 1)}${maskQuery(query)}${end < 0 ? '' : text.slice(end)}`;
}

/**
 * Values the runner should mask: the password and the secret query values of a URL, raw and
 * decoded, each only when at least MIN_MASKED_LENGTH characters long.
 */
export function urlSecrets(url: URL): string[] {
  const found: string[] = [];
  if (url.password) found.push(url.password, safeDecode(url.password));
  for (const part of url.search.slice(1).split('&')) {
    const at = part.indexOf('=');
    if (at < 0 || !isSecretParameter(part.slice(0, at))) continue;
    const raw = part.slice(at + 1);
    found.push(raw, safeDecode(raw));
  }
  return [...new Set(found)].filter((v) => v.length >= MIN_MASKED_LENGTH);
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
