/** Masking of secret values in text we show (messages, summaries, body excerpts). */

/** Replace every occurrence of each secret with ***. Secrets shorter than 3 chars are ignored (too noisy). */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of [...secrets].sort((a, b) => b.length - a.length)) {
    if (secret.length >= 3) out = out.split(secret).join('***');
  }
  return out;
}
