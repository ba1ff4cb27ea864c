/**
 * Requests invoked in process (routed as Netlify routes them) and the write probes the fuzz and
 * security files compare before and after: a digest of every table's content, Redis' count of
 * changes since the last save (redis-server runs without saves, so it only grows), and the calls
 * the Graph and Stripe stand-ins received.
 */
import type { TestStack } from '../../support/stack.js';
import { db } from '../../../lib/db.js';

export type Req = { method: string; path: string; headers?: Record<string, string | undefined>; body?: string };
/** `routed: false`: no function matches the path (Netlify answers its own 404; nothing of ours runs). */
export type Answer = { status: number; text: string; headers: Headers; ms: number; routed: boolean };

/** HTTP header values are bytes: what a client could actually send (no NUL, CR, LF; Latin-1). */
export const headerSafe = (s: string) => s.replace(/[^\t\x20-\x7e\x80-\xff]/g, '');

/** The Request Netlify would build, or null when no client could send it (a URL or header fetch refuses). */
export function toRequest(stack: TestStack, req: Req): Request | null {
  try {
    const headers = new Headers();
    for (const [k, v] of Object.entries(req.headers ?? {})) if (v !== undefined) headers.set(k, headerSafe(v));
    const hasBody = req.body !== undefined && req.method !== 'GET' && req.method !== 'HEAD';
    return new Request(`${stack.url}${req.path}`, { method: req.method, headers, body: hasBody ? req.body : undefined });
  } catch {
    return null;
  }
}

export async function send(stack: TestStack, req: Req): Promise<Answer | null> {
  const request = toRequest(stack, req);
  if (!request) return null;
  const started = performance.now();
  const invocation = await stack.inProcess!.handle(request);
  if (!invocation) return { status: 404, text: '', headers: new Headers(), ms: performance.now() - started, routed: false };
  const text = await invocation.response.text();
  await invocation.background;
  return { status: invocation.response.status, text, headers: invocation.response.headers, ms: performance.now() - started, routed: true };
}

/**
 * Every public table's content, hashed: equal before and after means nothing was written (inserted, updated or
 * deleted). Content, not Postgres' transaction counter: autovacuum's ANALYZE takes transaction ids of its own.
 */
export async function dbDigest(): Promise<Record<string, string>> {
  const tables = (await db()`SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename`).map((r) => r.tablename as string);
  const out: Record<string, string> = {};
  for (const t of tables) {
    const [row] = await db().query(`SELECT count(*)::text || ':' || coalesce(md5(string_agg(x::text, '|' ORDER BY x::text)), '') AS d FROM "${t}" x`);
    out[t] = row!.d as string;
  }
  return out;
}

export type WriteProbe = { tables: Record<string, string>; redisChanges: number; graphCalls: number; stripeCalls: string };

async function redisInfo(stack: TestStack, section: string): Promise<string> {
  const r = await fetch(stack.env.UPSTASH_REDIS_REST_URL!, {
    method: 'POST',
    headers: { authorization: `Bearer ${stack.env.UPSTASH_REDIS_REST_TOKEN}` },
    body: JSON.stringify(['INFO', section]),
  });
  return ((await r.json()) as { result: string }).result;
}

/** What a request could have written: Postgres (content), Redis (changes since the last save: it never saves), the stand-ins (calls). */
export async function writeProbe(stack: TestStack): Promise<WriteProbe> {
  const info = await redisInfo(stack, 'persistence');
  const stripeStats = await (await fetch(`${stack.stripe.url}/_standin/stats`)).text();
  return {
    tables: await dbDigest(),
    redisChanges: Number(/rdb_changes_since_last_save:(\d+)/.exec(info)?.[1] ?? NaN),
    graphCalls: stack.graph.stats.requests,
    stripeCalls: stripeStats,
  };
}

/** Counts of statuses as `{ "200": n, "422": m }`. */
export function histogram(statuses: number[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of statuses) out[s] = (out[s] ?? 0) + 1;
  return out;
}

export function percentile(values: number[], p: number): number {
  if (!values.length) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** What a request looked like, short enough for a failure report. */
export function describeReq(req: Req): string {
  const body = req.body === undefined ? '' : ` body(${req.body.length}): ${JSON.stringify(req.body.slice(0, 160))}`;
  return `${req.method} ${req.path.slice(0, 160)} ${JSON.stringify(Object.fromEntries(Object.entries(req.headers ?? {}).map(([k, v]) => [k, (v ?? '').slice(0, 40)])))}${body}`;
}
