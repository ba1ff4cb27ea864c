import { redis } from '../redis.js';
import type { Work } from '../work.js';
import { withKnownCounters } from './counters.js';
import { EXPIRY_INDEX, holdKey } from './keys.js';
import { flatten, KEEP_MS, runScript, runScriptWith, type HoldLine } from './scripts.js';

/**
 * Stock holds, one per order (layout in keys.ts). Every change is one Lua script, so a multi-line
 * hold is all-or-nothing and a counter never goes below zero (no oversell). Scripts purge lapsed
 * holds of the SKUs they touch first, so correctness never waits for the cleanup run. Hold hashes
 * outlive their expiry (30 days) so late events still see what happened. A counter Redis lost is
 * rebuilt from Postgres before the script runs again (counters.ts), never read as "sold out".
 */

export type { HoldLine };
export type Shortage = { sku: string; available: number };

function shortages(reply: unknown[]): Shortage[] {
  const out: Shortage[] = [];
  for (let i = 1; i < reply.length; i += 2) out.push({ sku: String(reply[i]), available: Number(reply[i + 1]) });
  return out;
}

/** held: taken now, until expiresAt; exists: the order had a hold already (its state and expiry); short: nothing taken. */
export type ReserveResult =
  | { status: 'held'; expiresAt: Date }
  | { status: 'exists'; state: string; expiresAt: Date | null; /** The existing hold is of exactly these lines (reserveStock only). */ sameLines: boolean }
  | { status: 'short'; shortages: Shortage[] };

const expiryOf = (v: unknown): Date | null => {
  const ms = Number(v);
  return v === '' || v === null || v === undefined || !Number.isFinite(ms) ? null : new Date(ms);
};

function reserveResult(reply: unknown[]): ReserveResult {
  if (reply[0] === 'held') return { status: 'held', expiresAt: expiryOf(reply[1])! };
  if (reply[0] === 'exists') return { status: 'exists', state: String(reply[1]), expiresAt: expiryOf(reply[2]), sameLines: reply[3] !== '0' };
  return { status: 'short', shortages: shortages(reply) };
}

/**
 * Holds every line for the order until expiresAt, or nothing. Idempotent per order id: when the
 * order already has a hold, nothing changes and the answer is `exists` with that hold's state and
 * expiry (a retry of the same event learns the expiry the first attempt set) and whether it holds exactly
 * these lines (`sameLines`: another request under the same order id, i.e. a reused idempotency key, does not). With a Work (an inbound
 * message's: lib/work.ts), the script runs in one pipeline with the work's pending Redis writes.
 */
export async function reserveStock(orderId: string, lines: HoldLine[], expiresAt: Date, work?: Work): Promise<ReserveResult> {
  const exp = expiresAt.getTime();
  return reserveResult(await withKnownCounters(() => runScriptWith(work, 'reserve', [orderId, String(Date.now()), String(exp), String(exp + KEEP_MS), ...flatten(lines)])));
}

/**
 * Holds the lines again, until expiresAt, for an order whose hold lapsed or was released before the
 * order was recorded (a late retry): `seen` is the expiry reserveStock reported. A hold another
 * attempt renewed meanwhile is kept (`held` with its expiry); a committed one is left alone.
 */
export async function reholdStock(orderId: string, lines: HoldLine[], expiresAt: Date, seen: Date | null): Promise<ReserveResult> {
  const exp = expiresAt.getTime();
  const args = [orderId, String(Date.now()), String(exp), String(exp + KEEP_MS), seen ? String(seen.getTime()) : '', ...flatten(lines)];
  return reserveResult(await withKnownCounters(() => runScript('rehold', args)));
}

/** Returns a held order's units to the available counters; a no-op for released or committed holds. */
export async function releaseHold(orderId: string): Promise<'released' | 'missing' | 'committed'> {
  return (await runScript('release', [orderId])) as 'released' | 'missing' | 'committed';
}

/**
 * A cleanup batch in ONE script (round trips do not grow with the batch): `release` holds return their units (at most
 * once, like releaseHold) and leave the expiry index; `forget` ids only leave the index (unless extended meanwhile).
 * Returns how many holds this call released.
 */
export async function releaseHolds(release: string[], forget: string[], now = new Date()): Promise<number> {
  if (release.length === 0 && forget.length === 0) return 0;
  const reply = (await runScript('releaseMany', [String(now.getTime()), String(release.length), ...release, ...forget])) as unknown[] | null;
  return (reply ?? []).filter((r) => Number(r) === 1).length;
}

export type CommitResult = { status: 'committed' | 'reheld' | 'already' } | { status: 'short'; shortages: Shortage[] };

/** Turns a paid order's hold into a sale (units leave for good). If the hold lapsed, tries to take the units again. */
export async function commitHold(orderId: string, lines: HoldLine[]): Promise<CommitResult> {
  const reply = await withKnownCounters(() => runScript('commit', [orderId, String(Date.now()), String(KEEP_MS), ...flatten(lines)]));
  if (reply[0] === 'short') return { status: 'short', shortages: shortages(reply) };
  return { status: reply[0] as 'committed' | 'reheld' | 'already' };
}

/** Recreates a hold that Redis lost (after a flush), without touching counters. */
export async function restoreHold(orderId: string, lines: HoldLine[], expiresAt: Date): Promise<boolean> {
  const exp = expiresAt.getTime();
  return Number(await runScript('restore', [orderId, String(exp), String(exp + KEEP_MS), ...flatten(lines)])) === 1;
}

/** Order ids whose hold expired by `now`, oldest first, at most `limit`. */
export async function lapsedHolds(now: Date, limit: number): Promise<string[]> {
  return (await redis().zrange(EXPIRY_INDEX, '-inf', now.getTime(), { byScore: true, offset: 0, count: limit })) as string[];
}

/** Takes an order off the expiry index (cleanup handled it). */
export async function forgetLapsedHold(orderId: string): Promise<void> {
  await redis().zrem(EXPIRY_INDEX, orderId);
}

/** Of these order ids, the ones the expiry index does not know (e.g. Redis lost its data). */
export async function notInExpiryIndex(orderIds: string[]): Promise<string[]> {
  if (orderIds.length === 0) return [];
  const scores = (await redis().zmscore(EXPIRY_INDEX, orderIds)) as (number | null)[] | null;
  return orderIds.filter((_, i) => scores?.[i] === null || scores?.[i] === undefined);
}

/** held | released | committed, or null when Redis has no hold for the order. */
export async function holdState(orderId: string): Promise<string | null> {
  return (await redis().hget<string>(holdKey(orderId), 'state')) ?? null;
}

/** Read-only view of an order's hold (admin order view, sandbox). */
export type HoldView = { state: string; expiresAt: string | null; lines: HoldLine[] };

export async function readHold(orderId: string): Promise<HoldView | null> {
  const h = await redis().hgetall<Record<string, unknown>>(holdKey(orderId));
  if (!h || Object.keys(h).length === 0) return null;
  const lines = Object.entries(h)
    .filter(([k]) => k.startsWith('sku:'))
    .map(([k, v]) => ({ sku: k.slice(4), quantity: Number(v) }))
    .sort((a, b) => a.sku.localeCompare(b.sku));
  const exp = Number(h.exp);
  return { state: String(h.state ?? 'unknown'), expiresAt: Number.isFinite(exp) && exp > 0 ? new Date(exp).toISOString() : null, lines };
}

export type ExtendResult = { status: 'extended' | 'already' | 'lapsed'; expiresAt: Date } | { status: 'released' | 'committed' | 'missing' };

/**
 * Extends a live hold once, until expiresAt (the order's "Keep it", docs/second-chances.md): atomically
 * in every index the hold is in, so neither the SKU purge nor the cleanup's expiry index sees the old
 * expiry. `already`: extended before (its current expiry, so a retry that died before Postgres
 * recorded the extension can finish it); `lapsed`: its time ran out first (nothing changed).
 */
export async function extendHold(orderId: string, expiresAt: Date): Promise<ExtendResult> {
  const exp = expiresAt.getTime();
  const reply = (await runScript('extend', [orderId, String(Date.now()), String(exp), String(exp + KEEP_MS)])) as unknown[];
  const status = String(reply[0]);
  if (status === 'extended' || status === 'already' || status === 'lapsed') return { status, expiresAt: expiryOf(reply[1]) ?? new Date(0) };
  return { status: status as 'released' | 'committed' | 'missing' };
}

/** A hold's state, expiry and whether it was extended (null: Redis has no hold for the order). One round trip, like holdState. */
export async function holdStatus(orderId: string): Promise<{ state: string; expiresAt: Date | null; extended: boolean } | null> {
  const h = await redis().hmget<Record<string, unknown>>(holdKey(orderId), 'state', 'exp', 'extended');
  if (!h || h.state === null || h.state === undefined) return null;
  return { state: String(h.state), expiresAt: expiryOf(h.exp === null || h.exp === undefined ? '' : String(h.exp)), extended: h.extended !== null && h.extended !== undefined };
}
