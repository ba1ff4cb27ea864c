/**
 * Postgres refuses NUL (U+0000) in `text` and `jsonb`, and unpaired UTF-16 surrogates in `jsonb`
 * (JSON.parse accepts both, e.g. "\u0000" or "\ud83d"). Our APIs refuse such input with a 4xx naming
 * the field; signed webhooks (Meta, Stripe), which would redeliver the same bytes for days, are stored
 * with each such character replaced by U+FFFD (`pgSafe`).
 */
const UNSAFE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

export const UNSAFE_TEXT_MESSAGE = 'must not contain NUL characters or unpaired UTF-16 surrogates';

export function isSafeText(s: string): boolean {
  return !UNSAFE.test(s);
}

const UNSAFE_ALL = new RegExp(UNSAFE.source, 'g');

export function pgSafeText(s: string): string {
  return s.replace(UNSAFE_ALL, '\ufffd');
}

/** The value with every unstorable character replaced by U+FFFD, in values and keys, at any depth. */
export function pgSafe<T>(value: T): T {
  if (typeof value === 'string') return pgSafeText(value) as T;
  if (Array.isArray(value)) return value.map((v) => pgSafe(v)) as T;
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[pgSafeText(k)] = pgSafe(v);
    return out as T;
  }
  return value;
}

/**
 * JSON.parse for a signed webhook body: every string value and key comes out storable (see pgSafe),
 * so one customer's NUL or broken emoji cannot make Postgres refuse the whole batch forever.
 */
export function parseStorableJson(text: string): unknown {
  return JSON.parse(text, function (_key, value: unknown) {
    if (typeof value === 'string') return pgSafeText(value);
    if (value && typeof value === 'object' && !Array.isArray(value) && Object.keys(value).some((k) => !isSafeText(k)))
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [pgSafeText(k), v]));
    return value;
  });
}

/** A value fit for one log field: storable and at most `max` characters. */
export function logSafe(value: unknown, max = 120): string | undefined {
  if (value === undefined || value === null) return undefined;
  const s = pgSafeText(typeof value === 'string' ? value : JSON.stringify(value) ?? String(value));
  return s.length > max ? `${s.slice(0, max)}…(${s.length} chars)` : s;
}

/**
 * The path (e.g. ['items', 0, 'sku']) of the first string or object key in a parsed JSON value that
 * Postgres would refuse, or null. Iterative, so deeply nested input cannot overflow the stack.
 */
export function unsafeTextPath(value: unknown): (string | number)[] | null {
  // Each entry links to its parent, so the walk stays linear however deep the nesting.
  type Entry = { value: unknown; key: string | number | null; parent: Entry | null };
  const pathOf = (e: Entry | null, last?: string): (string | number)[] => {
    const out: (string | number)[] = [];
    for (let x = e; x && x.key !== null; x = x.parent) out.push(x.key);
    out.reverse();
    return last === undefined ? out : [...out, last];
  };
  const stack: Entry[] = [{ value, key: null, parent: null }];
  while (stack.length) {
    const e = stack.pop()!;
    const v = e.value;
    if (typeof v === 'string') {
      if (!isSafeText(v)) return pathOf(e);
    } else if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push({ value: v[i], key: i, parent: e });
    } else if (v && typeof v === 'object') {
      for (const [k, child] of Object.entries(v)) {
        if (!isSafeText(k)) return pathOf(e, k);
        stack.push({ value: child, key: k, parent: e });
      }
    }
  }
  return null;
}

/** Text safe to echo in an error message: unsafe characters replaced, at most 200 characters. */
export function forMessage(text: string): string {
  const safe = pgSafeText(text);
  return safe.length > 200 ? `${safe.slice(0, 200)}…` : safe;
}

/** A dotted path (`items.0.sku`) for an error message. */
export function describePath(path: (string | number)[]): string {
  return forMessage(path.slice(0, 50).map(String).join('.')) || '(body)';
}

/** Whether a parsed JSON value nests deeper than `max` levels (iterative: any depth is safe to ask about). */
export function nestedDeeperThan(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length) {
    const [v, depth] = stack.pop()!;
    if (!v || typeof v !== 'object') continue;
    if (depth >= max) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push([child, depth + 1]);
  }
  return false;
}

/**
 * A Unix timestamp in seconds (as Meta and Stripe send them) as a Date, or null when it is not one a
 * Date can hold (a signed but absurd `due_by: 1e300` would otherwise throw on toISOString: a 500, retried for days).
 */
export function dateFromUnixSeconds(value: unknown): Date | null {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isFinite(n) || n <= 0 || n * 1000 > 8.64e15) return null;
  return new Date(n * 1000);
}
