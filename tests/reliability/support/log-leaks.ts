/**
 * Setup file of the reliability suite (vitest.reliability.config.ts): every line a test file writes
 * (console calls and raw stdout/stderr writes) is captured and, after the file, scanned for what must
 * never be logged: a configured secret (lib/config.ts `configuredSecrets`), a connection string with a
 * password, a bearer token, an invite token, and the full phone number or BSUID of any customer the file
 * created (read from Postgres after each test, while the stack still runs). The product's JSON log lines
 * are kept out of the test output (RELIABILITY_LOG=1 shows them); anything else is passed through.
 */
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { configuredSecrets } from '../../../lib/config.js';

type Sensitive = { kind: string; value: string };

const captured: string[] = [];
const sensitive = new Map<string, Sensitive>();
const showLogs = process.env.RELIABILITY_LOG === '1';
const isLogLine = (text: string) => /^\s*\{"level":"/.test(text);
let unhandled = 0;

let onlyMarkedIdentities = false;

/**
 * For files that write arbitrary strings into identity fields (the fuzz): scan for the phones and BSUIDs the file
 * marks itself, not every customer in Postgres. A fuzzed `from` of "1234567890" makes a customer of it, and the same
 * hostile string may come back, legitimately and capped, in another field's log line (a Stripe event's type).
 */
export function scanOnlyMarkedIdentities(): void {
  onlyMarkedIdentities = true;
}

/** Adds values a test knows to be sensitive (e.g. a token it made) to the scan. */
export function markSensitive(kind: string, ...values: (string | null | undefined)[]): void {
  for (const value of values) if (value && value.length >= 6) sensitive.set(value, { kind, value });
}

/** Lines captured so far in this file (a test may scan its own part). */
export function capturedLines(): string[] {
  return captured.join('\n').split('\n').filter((l) => l.trim());
}

const originals = { out: process.stdout.write.bind(process.stdout), err: process.stderr.write.bind(process.stderr) };
const consoleOriginals = { log: console.log, info: console.info, warn: console.warn, error: console.error, debug: console.debug };

beforeAll(() => {
  const tee = (original: typeof originals.out) =>
    ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
      captured.push(text);
      if (!showLogs && isLogLine(text)) return true;
      return (original as (...a: unknown[]) => boolean)(chunk, ...rest);
    }) as typeof process.stdout.write;
  process.stdout.write = tee(originals.out);
  process.stderr.write = tee(originals.err);
  for (const method of Object.keys(consoleOriginals) as (keyof typeof consoleOriginals)[]) {
    const original = consoleOriginals[method];
    console[method] = (...args: unknown[]) => {
      const text = args.map((a) => (typeof a === 'string' ? a : a instanceof Error ? `${a.name}: ${a.message}` : safeString(a))).join(' ');
      captured.push(text);
      if (!showLogs && isLogLine(text)) return;
      original.apply(console, args);
    };
  }
  process.on('unhandledRejection', countUnhandled);
});

function countUnhandled(): void {
  unhandled++;
}

function safeString(value: unknown): string {
  try {
    return typeof value === 'object' ? JSON.stringify(value) : String(value);
  } catch {
    return String(value);
  }
}

/** Customers' phones and BSUIDs, and invite tokens, as they are now (the stack is still up after each test). */
afterEach(async () => {
  for (const s of configuredSecrets()) markSensitive(`secret ${s.name}`, s.value);
  if (!process.env.NEON_FETCH_ENDPOINT && !process.env.DATABASE_URL) return;
  try {
    const { db } = await import('../../../lib/db.js');
    // Whole rows as JSON, so a renamed identity column (phone, BSUID) is still found.
    const read = Promise.all([db()`SELECT to_jsonb(c) AS row FROM customers c`, db()`SELECT to_jsonb(t) AS row FROM invite_tokens t`]);
    const [customers, tokens] = await Promise.race([read, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('timeout')), 5_000))]);
    for (const { row } of onlyMarkedIdentities ? [] : (customers as { row: Record<string, unknown> }[])) {
      for (const [key, value] of Object.entries(row)) {
        if (typeof value !== 'string') continue;
        if (/wa_id|phone/.test(key) && value.replace(/\D/g, '').length >= 7) markSensitive('phone', value, value.replace(/\D/g, ''));
        if (/bsuid|user_id/.test(key)) {
          const id = value.slice(value.lastIndexOf('.') + 1);
          markSensitive('BSUID', value, id.length >= 10 ? id : null);
        }
      }
    }
    for (const { row } of tokens as { row: Record<string, unknown> }[]) markSensitive('invite token', row.token as string);
  } catch (error) {
    if (process.env.RELIABILITY_LOG === '1') originals.err(`[reliability] leak scan could not read customers: ${String(error)}\n`);
    // The test left Postgres down (a fault scenario): the values read after earlier tests still count.
  }
});

/** Patterns that are a leak whatever the configured values: an unredacted password in a URL, a bearer token. */
const leakPatterns: [string, RegExp][] = [
  ['connection string with a password', /\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>/@:]+:(?!\[redacted)[^\s"'<>@]+@/i],
  ['bearer token', /\bBearer\s+(?!\[redacted)[A-Za-z0-9._~+/-]{8,}/],
  ['Stripe secret key', /\b(sk|rk)_(live|test)_(?!\[redacted)[A-Za-z0-9]{6,}/],
  ['webhook secret', /\bwhsec_(?!\[redacted)[A-Za-z0-9]{6,}/],
];

/**
 * The leaks in these lines: which kind of value, and where (the value itself is not repeated). Secrets are
 * searched as substrings; phones, BSUIDs and tokens (thousands of values) by looking up every word of a line.
 */
export function findLeaks(lines: string[], values: Iterable<Sensitive> = sensitive.values()): string[] {
  const list = [...values];
  const secrets = list.filter((s) => s.kind.startsWith('secret'));
  const words = new Map(list.filter((s) => !s.kind.startsWith('secret')).map((s) => [s.value, s]));
  const leaks: string[] = [];
  const report = (s: Sensitive, line: string) => leaks.push(`${s.kind} in: ${line.split(s.value).join('<HERE>').slice(0, 300)}`);
  for (const line of lines) {
    for (const s of secrets) if (line.includes(s.value)) report(s, line);
    for (const word of new Set(line.match(/[A-Za-z0-9_.+-]{6,}/g) ?? [])) {
      for (const candidate of [word, ...word.split(/[._+-]/), ...(word.match(/\d{7,}/g) ?? [])]) {
        const hit = words.get(candidate) ?? words.get(candidate.replace(/^\+/, ''));
        if (hit) report(hit, line);
      }
    }
    for (const [kind, pattern] of leakPatterns) if (pattern.test(line)) leaks.push(`${kind} in: ${line.slice(0, 300)}`);
  }
  return leaks;
}

afterAll(() => {
  process.stdout.write = originals.out;
  process.stderr.write = originals.err;
  Object.assign(console, consoleOriginals);
  process.off('unhandledRejection', countUnhandled);
  const lines = capturedLines();
  const leaks = findLeaks(lines);
  const logLines = lines.filter(isLogLine).length;
  const counts = [...sensitive.values()].reduce<Record<string, number>>((acc, s) => ((acc[s.kind.startsWith('secret') ? 'secrets' : s.kind] = (acc[s.kind.startsWith('secret') ? 'secrets' : s.kind] ?? 0) + 1), acc), {});
  originals.out(`[reliability] leak scan: ${lines.length} lines (${logLines} product log lines) against ${sensitive.size} values ${JSON.stringify(counts)} + ${leakPatterns.length} patterns → ${leaks.length} leaks; unhandled rejections: ${unhandled}\n`);
  expect(leaks.slice(0, 20)).toEqual([]);
  expect(unhandled).toBe(0);
});
