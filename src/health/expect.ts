/** What a healthy answer looks like: status codes, and optionally a body substring or a JSON value. */

export type StatusRange = readonly [low: number, high: number];

/** `200-299`, `200,204`, `200-299, 301`. Undefined for anything else (the reader reports it). */
export function parseStatusRanges(text: string): StatusRange[] | undefined {
  const ranges: StatusRange[] = [];
  for (const part of text.split(',').map((p) => p.trim())) {
    const m = /^(\d{3})(?:\s*-\s*(\d{3}))?$/.exec(part);
    if (!m) return undefined;
    const low = Number(m[1]);
    const high = Number(m[2] ?? m[1]);
    if (low < 100 || high > 599 || low > high) return undefined;
    ranges.push([low, high]);
  }
  return ranges.length > 0 ? ranges : undefined;
}

function formatStatusRanges(ranges: readonly StatusRange[]): string {
  return ranges.map(([lo, hi]) => (lo === hi ? `${lo}` : `${lo}-${hi}`)).join(',');
}

export function statusMatches(status: number, ranges: readonly StatusRange[]): boolean {
  return ranges.some(([lo, hi]) => status >= lo && status <= hi);
}

/**
 * Follow a dot path (`checks.db`, `items.0.state`, `items[0].state`) into parsed JSON.
 * Returns `{ found: false }` when any segment is missing.
 */
export function lookupJsonPath(
  doc: unknown,
  path: string,
): { found: true; value: unknown } | { found: false } {
  const segments = path
    .replace(/\[(\d+)\]/g, '.$1')
    .split('.')
    .filter((s) => s !== '');
  let node: unknown = doc;
  for (const segment of segments) {
    if (Array.isArray(node) && /^\d+$/.test(segment)) node = node[Number(segment)];
    else if (node !== null && typeof node === 'object' && Object.hasOwn(node, segment)) {
      node = (node as Record<string, unknown>)[segment];
    } else return { found: false };
    if (node === undefined) return { found: false };
  }
  return { found: true, value: node };
}

/** JSON values compared as users write them in YAML: `ok`, `true`, `3`, `null`. */
function jsonValueText(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

export interface Expectation {
  statuses: readonly StatusRange[];
  bodyContains?: string;
  json?: { path: string; value: string };
}

/** Why an answer is not healthy, or undefined when it is. */
export function judgeAnswer(status: number, body: string, expect: Expectation): string | undefined {
  if (!statusMatches(status, expect.statuses)) {
    return `status ${status} (expected ${formatStatusRanges(expect.statuses)})`;
  }
  if (expect.bodyContains !== undefined && !body.includes(expect.bodyContains)) {
    return `body does not contain '${expect.bodyContains}'`;
  }
  if (expect.json) {
    let doc: unknown;
    try {
      doc = JSON.parse(body);
    } catch {
      return `body is not JSON (json-path '${expect.json.path}' cannot be read)`;
    }
    const hit = lookupJsonPath(doc, expect.json.path);
    if (!hit.found) return `JSON has no '${expect.json.path}'`;
    const actual = jsonValueText(hit.value);
    if (actual !== expect.json.value) {
      return `JSON '${expect.json.path}' is '${actual}', expected '${expect.json.value}'`;
    }
  }
  return undefined;
}
