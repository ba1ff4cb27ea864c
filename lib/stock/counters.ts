import { chunks } from '../chunks.js';
import { log } from '../log.js';
import { redis } from '../redis.js';
import type { Work } from '../work.js';
import { stockKey } from './keys.js';
import { lostCountersRows } from './rebuild-store.js';
import { flatten, KEEP_MS, runScript } from './scripts.js';

/**
 * Available-to-sell counters (`stock:<sku>` = on hand − active holds). A counter Redis lost is
 * "unknown", never "sold out": availableStock and the hold scripts rebuild it from Postgres first
 * (rebuildStockCounters); availableStockIfKnown reports it as null for listings that only show it.
 */

/** SKUs per MGET. */
const READ_CHUNK = 500;
/**
 * SKUs per batched script call (heldUnits, syncAvailableStock), and their arguments' bytes: one Redis
 * request each, far below Upstash's 10 MB request limit, and a script short enough not to stall Redis
 * (single-threaded while it runs) noticeably. Batches go one after another, never auto-pipelined into
 * one oversized request. An import of 10 000 SKUs is 2 requests for each. (A script's reply is built with Lua's
 * unpack, which Redis limits to 8 000 values: batches stay below.)
 */
const SCRIPT_SKUS = 5_000;
const SCRIPT_BYTES = 1_000_000;
const skuBatches = <T extends string | { sku: string }>(items: T[]) =>
  chunks(items, SCRIPT_SKUS, SCRIPT_BYTES, (i) => (typeof i === 'string' ? i.length : i.sku.length) + 16);

/** Sets a SKU's available counter from its units on hand minus its active holds; returns it. */
export async function setAvailableStock(sku: string, onHand: number): Promise<number> {
  return Number(await runScript('setStock', [sku, String(onHand), String(Date.now())]));
}

/** The units of each SKU in active holds (open orders' reservations), as the hold scripts count them. */
export async function heldUnits(skus: string[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const batch of skuBatches(skus)) {
    const reply = (await runScript('held', [String(Date.now()), ...batch])) as unknown[];
    batch.forEach((s, j) => out.set(s, Number(reply[j] ?? 0)));
  }
  return out;
}

/**
 * setAvailableStock for many SKUs (after Postgres changed their units on hand): one script per batch of
 * SKUs (a 10 000-SKU import is 2 Redis requests). Returns each SKU's units in active holds, as the
 * script subtracted them (a SKU whose holds exceed its stock has its counter at 0).
 */
export async function syncAvailableStock(onHand: { sku: string; stock: number }[]): Promise<Map<string, number>> {
  const held = new Map<string, number>();
  for (const batch of skuBatches(onHand)) {
    const reply = (await runScript('setStocks', [String(Date.now()), ...batch.flatMap((v) => [v.sku, String(v.stock)])])) as unknown[];
    batch.forEach((v, j) => held.set(v.sku, Number(reply[j] ?? 0)));
  }
  return held;
}

/** Available units per SKU, null where Redis has no counter (not rebuilt here: for listings). */
export async function availableStockIfKnown(skus: string[]): Promise<Map<string, number | null>> {
  const out = new Map<string, number | null>();
  for (let i = 0; i < skus.length; i += READ_CHUNK) {
    const chunk = skus.slice(i, i + READ_CHUNK);
    const values = await redis().mget<(string | number | null)[]>(...chunk.map(stockKey));
    chunk.forEach((s, j) => out.set(s, values[j] === null || values[j] === undefined ? null : Number(values[j])));
  }
  return out;
}

/**
 * Available units per SKU; a counter Redis lost is rebuilt from Postgres first (never read as 0).
 * With a Work, the read goes in one pipeline with its pending Redis writes (no round trip of their own).
 */
export async function availableStock(skus: string[], work?: Work): Promise<Map<string, number>> {
  if (skus.length === 0) return new Map();
  const read = () => redis().mget<(string | number | null)[]>(...skus.map(stockKey));
  let values = work ? ((await work.redis.pipeline((p) => p.mget(...skus.map(stockKey))))[0] as (string | number | null)[]) : await read();
  const missing = skus.filter((_, i) => values[i] === null || values[i] === undefined);
  if (missing.length) {
    await rebuildStockCounters(missing);
    values = await read();
  }
  return new Map(skus.map((s, i) => [s, Number(values[i] ?? 0)]));
}

/** Runs a script that answers {'unknown', sku, ...} for missing counters: rebuilds them, then runs it again. */
export async function withKnownCounters(run: () => Promise<unknown>): Promise<unknown[]> {
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
  const { variants, pending } = await lostCountersRows(skus);
  const onHand = new Map(variants.map((v) => [v.sku as string, Number(v.stock)]));
  const now = Date.now();
  const holds = pending.flatMap((o) => {
    const exp = new Date(o.hold_expires_at as string).getTime();
    if (exp <= now) return [];
    const lines = flatten((o.items as { sku: string; quantity: number }[]).map((i) => ({ sku: i.sku, quantity: i.quantity })));
    return [o.id as string, String(exp), String(exp + KEEP_MS), String(lines.length / 2), ...lines];
  });
  const rebuilt = Number(await runScript('rebuild', [String(now), String(skus.length), ...skus.flatMap((s) => [s, String(onHand.get(s) ?? 0)]), ...holds]));
  if (rebuilt) log.warn('stock.counters_rebuilt', { skus: skus.slice(0, 20), count: rebuilt });
}
