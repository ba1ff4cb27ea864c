import { db } from './db.js';
import { log } from './log.js';
import { redis } from './redis.js';
import { commitScript, KEEP_MS, rebuildScript, releaseScript, reserveScript, restoreScript, setStockScript } from './reservation-scripts.js';

/**
 * Stock holds in Redis. Postgres `variants.stock` is units on hand; Redis keeps
 *   stock:<sku>        available-to-sell = on hand − active holds
 *   hold:<orderId>     hash: state (held | released | committed), exp, sku:<sku> → qty
 *   holds:sku:<sku>    zset orderId by expiry (lets a script purge that SKU's lapsed holds)
 *   holds:exp          zset orderId by expiry (lets cleanup find lapsed holds in O(expired))
 * Every change is one Lua script, so a multi-line hold is all-or-nothing and a counter never
 * goes below zero. Scripts purge lapsed holds of the SKUs they touch first, so correctness
 * never waits for the cleanup run. Hold hashes outlive their expiry (30 days) so late events
 * still see what happened. A missing stock:<sku> (Redis lost its data) means "unknown", never
 * "sold out": the scripts say so and rebuildStockCounters fills it from Postgres before a retry.
 */

export type HoldLine = { sku: string; quantity: number };
export type Shortage = { sku: string; available: number };

type Script = ReturnType<ReturnType<typeof redis>['createScript']>;
const scripts = new WeakMap<object, Record<string, Script>>();

function script(name: 'reserve' | 'release' | 'commit' | 'setStock' | 'restore' | 'rebuild'): Script {
  const client = redis();
  let set = scripts.get(client);
  if (!set) {
    set = {
      reserve: client.createScript(reserveScript),
      release: client.createScript(releaseScript),
      commit: client.createScript(commitScript),
      setStock: client.createScript(setStockScript),
      restore: client.createScript(restoreScript),
      rebuild: client.createScript(rebuildScript),
    };
    scripts.set(client, set);
  }
  return set[name]!;
}

/** Merges repeated SKUs so each appears once, in a stable order. */
function flatten(lines: HoldLine[]): string[] {
  const merged = new Map<string, number>();
  for (const l of lines) merged.set(l.sku, (merged.get(l.sku) ?? 0) + l.quantity);
  return [...merged].sort(([a], [b]) => a.localeCompare(b)).flatMap(([sku, q]) => [sku, String(q)]);
}

function shortages(reply: unknown[]): Shortage[] {
  const out: Shortage[] = [];
  for (let i = 1; i < reply.length; i += 2) out.push({ sku: String(reply[i]), available: Number(reply[i + 1]) });
  return out;
}

export type ReserveResult = { status: 'held' } | { status: 'exists'; state: string } | { status: 'short'; shortages: Shortage[] };

/** Holds every line for the order until expiresAt, or nothing. Idempotent per order id. */
export async function reserveStock(orderId: string, lines: HoldLine[], expiresAt: Date): Promise<ReserveResult> {
  const reply = await withKnownCounters(() => script('reserve').exec([], [orderId, String(Date.now()), String(expiresAt.getTime()), String(expiresAt.getTime() + KEEP_MS), ...flatten(lines)]));
  if (reply[0] === 'held') return { status: 'held' };
  if (reply[0] === 'exists') return { status: 'exists', state: String(reply[1]) };
  return { status: 'short', shortages: shortages(reply) };
}

/** Returns a held order's units to the available counters; a no-op for released or committed holds. */
export async function releaseHold(orderId: string): Promise<'released' | 'missing' | 'committed'> {
  return (await script('release').exec([], [orderId])) as 'released' | 'missing' | 'committed';
}

export type CommitResult = { status: 'committed' | 'reheld' | 'already' } | { status: 'short'; shortages: Shortage[] };

/** Turns a paid order's hold into a sale (units leave for good). If the hold lapsed, tries to take the units again. */
export async function commitHold(orderId: string, lines: HoldLine[]): Promise<CommitResult> {
  const reply = await withKnownCounters(() => script('commit').exec([], [orderId, String(Date.now()), String(KEEP_MS), ...flatten(lines)]));
  if (reply[0] === 'short') return { status: 'short', shortages: shortages(reply) };
  return { status: reply[0] as 'committed' | 'reheld' | 'already' };
}

/** Sets a SKU's available counter from its units on hand minus its active holds. */
export async function setAvailableStock(sku: string, onHand: number): Promise<number> {
  return Number(await script('setStock').exec([], [sku, String(onHand), String(Date.now())]));
}

/** Recreates a hold that Redis lost (after a flush), without touching counters. */
export async function restoreHold(orderId: string, lines: HoldLine[], expiresAt: Date): Promise<boolean> {
  return Number(await script('restore').exec([], [orderId, String(expiresAt.getTime()), String(expiresAt.getTime() + KEEP_MS), ...flatten(lines)])) === 1;
}

/** Order ids whose hold expired by `now`, oldest first, at most `limit`. */
export async function lapsedHolds(now: Date, limit: number): Promise<string[]> {
  return (await redis().zrange('holds:exp', '-inf', now.getTime(), { byScore: true, offset: 0, count: limit })) as string[];
}

export async function forgetLapsedHold(orderId: string): Promise<void> {
  await redis().zrem('holds:exp', orderId);
}

/** Available units per SKU; a counter Redis lost is rebuilt from Postgres first (never read as 0). */
export async function availableStock(skus: string[]): Promise<Map<string, number>> {
  if (skus.length === 0) return new Map();
  const read = () => redis().mget<(string | number | null)[]>(...skus.map((s) => `stock:${s}`));
  let values = await read();
  const missing = skus.filter((_, i) => values[i] === null || values[i] === undefined);
  if (missing.length) {
    await rebuildStockCounters(missing);
    values = await read();
  }
  return new Map(skus.map((s, i) => [s, Number(values[i] ?? 0)]));
}

/** Runs a script that answers {'unknown', sku, ...} for missing counters: rebuilds them, then runs it again. */
async function withKnownCounters(run: () => Promise<unknown>): Promise<unknown[]> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const reply = (await run()) as unknown[];
    if (reply[0] !== 'unknown') return reply;
    await rebuildStockCounters(reply.slice(1).map(String));
  }
  throw new Error('stock counters missing after rebuilding them (is Redis losing writes?)');
}

/**
 * Rebuilds the stock counters Redis lost (it restarted empty): from Postgres, the units on hand
 * and the pending orders whose hold is still live, recreates their holds and sets each missing
 * counter to on hand − active holds, atomically and only where the counter is still absent.
 */
export async function rebuildStockCounters(skus: string[]): Promise<void> {
  const sql = db();
  const [variants = [], pending = []] = await sql.transaction(
    [
      sql`SELECT sku, stock FROM variants WHERE sku = ANY(${skus}::text[])`,
      sql`SELECT id, items, hold_expires_at FROM orders
          WHERE payment_status IN ('pending', 'awaiting_payment') AND hold_expires_at > now()
            AND EXISTS (SELECT 1 FROM jsonb_array_elements(items) i WHERE i->>'sku' = ANY(${skus}::text[]))`,
    ],
    { readOnly: true },
  );
  const onHand = new Map(variants.map((v) => [v.sku as string, Number(v.stock)]));
  const now = Date.now();
  const holds = pending.flatMap((o) => {
    const exp = new Date(o.hold_expires_at as string).getTime();
    if (exp <= now) return [];
    const lines = flatten((o.items as { sku: string; quantity: number }[]).map((i) => ({ sku: i.sku, quantity: i.quantity })));
    return [o.id as string, String(exp), String(exp + KEEP_MS), String(lines.length / 2), ...lines];
  });
  const rebuilt = Number(await script('rebuild').exec([], [String(now), String(skus.length), ...skus.flatMap((s) => [s, String(onHand.get(s) ?? 0)]), ...holds]));
  if (rebuilt) log.warn('stock.counters_rebuilt', { skus: skus.slice(0, 20), count: rebuilt });
}
