import { availableStockIfKnown, setAvailableStock } from './counters.js';
import { restoreHold } from './holds.js';

/** Rows the rebuild is handed (lib/stock is below the domain: the orders store reads them, lib/orders/stock-resync.ts). */
export type RebuildRows = { pending: { id: string; items: { sku: string; quantity: number }[]; holdExpiresAt: Date }[]; variants: { sku: string; stock: number }[] };

/**
 * Rebuilds Redis's side of stock from Postgres's rows after a Redis loss (`npm run stock:sync`, the dev
 * stack; lib/orders/stock-resync.ts reads the rows): first the holds of pending orders whose hold has not
 * lapsed (kept if they still exist), then every SKU's available counter = on hand − active holds. Safe to run
 * at any time.
 */
export async function rebuildRedisStockFrom({ pending, variants }: RebuildRows): Promise<{ skus: number; holdsRestored: number }> {
  const restored = await Promise.all(
    pending.map((o) => restoreHold(o.id, o.items.map((i) => ({ sku: i.sku, quantity: i.quantity })), o.holdExpiresAt)),
  );
  await Promise.all(variants.map((v) => setAvailableStock(v.sku, v.stock)));
  return { skus: variants.length, holdsRestored: restored.filter(Boolean).length };
}

export type StockDrift = { sku: string; redis: number | null; expected: number };

/**
 * The resync's dry run (`npm run doctor`): each SKU's counter as Redis holds it against what the rebuild
 * would set (on hand − the units of pending orders whose hold is live, from Postgres's snapshot: `held`, the
 * live holds' items). Writes nothing. `missing` counters are rebuilt on first use; `off` ones need
 * `npm run stock:sync`. A hold being placed while this reads can show as a one-off difference.
 */
export async function stockDriftFrom({ variants, held: holds }: { variants: { sku: string; stock: number }[]; held: { sku: string; quantity: number }[][] }): Promise<{ skus: number; missing: string[]; off: StockDrift[] }> {
  const held = new Map<string, number>();
  for (const items of holds) for (const i of items) held.set(i.sku, (held.get(i.sku) ?? 0) + i.quantity);
  const skus = variants.map((v) => v.sku);
  const counters = await availableStockIfKnown(skus);
  const missing: string[] = [];
  const off: StockDrift[] = [];
  for (const v of variants) {
    const sku = v.sku;
    const expected = v.stock - (held.get(sku) ?? 0);
    const actual = counters.get(sku) ?? null;
    if (actual === null) missing.push(sku);
    else if (actual !== expected) off.push({ sku, redis: actual, expected });
  }
  return { skus: skus.length, missing, off };
}
