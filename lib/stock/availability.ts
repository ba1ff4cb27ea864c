import { redis } from '../redis.js';
import { EXPIRY_INDEX, FLIPS, FLIPS_PUSHED } from './keys.js';

/**
 * Whether availability (in stock / sold out) changed since the catalog push last covered it: every script that moves
 * an available counter across zero bumps `counters:flips` (scripts.ts `moved`). The catalog push reads the value
 * before it reads the counters and records it once Meta took the push, so a flip during a push stays due.
 */

/** The flips counter now (read before the counters a push computes from). */
export async function availabilityVersion(): Promise<number> {
  return Number((await redis().get<string | number>(FLIPS)) ?? 0);
}

/** A push covering `version` went through. */
export async function markAvailabilityPushed(version: number): Promise<void> {
  await redis().set(FLIPS_PUSHED, String(version));
}

/**
 * The cleanup run's one Redis request: order ids whose hold expired by `now` (oldest first, at most `limit`) and
 * whether availability changed since the last catalog push, in one pipeline.
 */
export async function lapsedHoldsAndFlips(now: Date, limit: number): Promise<{ lapsed: string[]; availabilityChanged: boolean }> {
  const p = redis().pipeline();
  p.zrange(EXPIRY_INDEX, '-inf', now.getTime(), { byScore: true, offset: 0, count: limit });
  p.mget(FLIPS, FLIPS_PUSHED);
  const [ids, flips] = (await p.exec()) as [string[], (string | number | null)[]];
  return { lapsed: ids ?? [], availabilityChanged: Number(flips?.[0] ?? 0) !== Number(flips?.[1] ?? 0) };
}
