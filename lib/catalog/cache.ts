import { randomUUID } from 'node:crypto';
import { log } from '../log.js';
import { redis } from '../redis.js';
import { listSellableVariants, type Variant } from './store.js';

/**
 * The sellable catalog cached per function instance, for the conversation (menu, list replies,
 * "buy" text matching): names, SKUs, prices as shown. Never for an order's prices or for stock:
 * an order reads its variants from Postgres, availability comes from lib/stock, and `stock` of a
 * cached variant may be stale.
 *
 * Invalidation: every catalog write sets `catalog:version` in Redis to a new random value after it
 * commits (bumpCatalogVersion); the webhook's processing reads that key with its first Redis request
 * (observeCatalogVersion, riding on the inbound flow's Work: lib/work.ts), so a message
 * uses the version the previous one observed; with none observed lately, the version is read before
 * the catalog is loaded (a cold instance only). The cache is used only while the version observed in the last
 * OBSERVED_FRESH_MS equals the version it was loaded under, and never longer than MAX_AGE_MS (a bump
 * lost to a Redis outage or a crash between commit and bump). A version observed before a write
 * and the list loaded after it only reloads once more; a random value (not INCR) cannot come back
 * after Redis restarts empty.
 */

const VERSION_KEY = 'catalog:version';
const OBSERVED_FRESH_MS = 30_000;
const MAX_AGE_MS = 5 * 60_000;

let observed: { version: string | null; at: number } | undefined;
let cached: { version: string | null; at: number; variants: Variant[] } | undefined;

/** The Redis key whose value says which catalog is current (read by the webhook's seen MGET). */
export const catalogVersionKey = () => VERSION_KEY;

export function observeCatalogVersion(value: unknown): void {
  observed = { version: value === null || value === undefined ? null : String(value), at: Date.now() };
}

/** The cached variants when the cache is current (see the header), else null: never a round trip. */
export function currentCachedVariants(): Variant[] | null {
  const now = Date.now();
  const version = observed && now - observed.at < OBSERVED_FRESH_MS ? observed.version : undefined;
  return version !== undefined && cached && cached.version === version && now - cached.at < MAX_AGE_MS ? cached.variants : null;
}

/** The sellable variants: from this instance's cache while the observed catalog version matches, else Postgres. */
export async function cachedSellableVariants(): Promise<Variant[]> {
  const current = currentCachedVariants();
  if (current) return current;
  let now = Date.now();
  if (!observed || now - observed.at >= OBSERVED_FRESH_MS) {
    // Nothing observed lately (a cold instance): the version first, so the list loaded after it can be cached under it.
    await redis()
      .get(VERSION_KEY)
      .then(observeCatalogVersion)
      .catch((error) => log.warn('catalog.version_read_failed', { error }));
    now = Date.now();
  }
  const version = observed && now - observed.at < OBSERVED_FRESH_MS ? observed.version : undefined;
  const variants = await listSellableVariants();
  cached = version === undefined ? undefined : { version, at: now, variants };
  return variants;
}

/** After a catalog write committed: every instance reloads its cached catalog on its next request. */
export async function bumpCatalogVersion(): Promise<void> {
  cached = undefined;
  try {
    await redis().set(VERSION_KEY, randomUUID());
  } catch (error) {
    // Instances holding the old catalog keep it at most MAX_AGE_MS.
    log.warn('catalog.version_bump_failed', { error });
  }
}
