/**
 * Postgres refuses two things JSON allows in a string: NUL (U+0000, in text and jsonb) and an
 * unpaired UTF-16 surrogate (jsonb rejects the escape). One such character in a signed webhook
 * would make every delivery fail the same way, so whatever we store goes through here first:
 * each is replaced by U+FFFD, in values and keys, at any depth.
 */
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

export function pgSafeText(s: string): string {
  return s.replace(UNSTORABLE, '\ufffd');
}

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

/** A value fit for one log field: stored-safe and at most `max` characters. */
export function logSafe(value: unknown, max = 120): string | undefined {
  if (value === undefined || value === null) return undefined;
  const s = pgSafeText(typeof value === 'string' ? value : JSON.stringify(value) ?? String(value));
  return s.length > max ? `${s.slice(0, max)}…(${s.length} chars)` : s;
}
