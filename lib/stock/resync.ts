import { db } from '../db.js';
import { availableStockIfKnown, setAvailableStock } from './counters.js';
import { restoreHold, type HoldLine } from './holds.js';

/**
 * Rebuilds Redis's side of stock from Postgres after a Redis loss (`npm run stock:sync`, the dev
 * stack): first the holds of pending orders whose hold has not lapsed (kept if they still exist),
 * then every SKU's available counter = on hand − active holds. Safe to run at any time.
 */
export async function rebuildRedisStock(): Promise<{ skus: number; holdsRestored: number }> {
  const [pending, variants] = await Promise.all([
    db()`SELECT id, items, hold_expires_at FROM orders WHERE payment_status IN ('pending', 'awaiting_payment') AND hold_expires_at > now()`,
    db()`SELECT sku, stock FROM variants`,
  ]);
  const restored = await Promise.all(
    pending.map((o) =>
      restoreHold(o.id as string, (o.items as HoldLine[]).map((i) => ({ sku: i.sku, quantity: i.quantity })), new Date(o.hold_expires_at as string)),
    ),
  );
  await Promise.all(variants.map((v) => setAvailableStock(v.sku as string, Number(v.stock))));
  return { skus: variants.length, holdsRestored: restored.filter(Boolean).length };
}

export type StockDrift = { sku: string; redis: number | null; expected: number };

/**
 * The resync's dry run (`npm run doctor`): each SKU's counter as Redis holds it against what
 * rebuildRedisStock would set (on hand − the units of pending orders whose hold is live, from
 * Postgres). Writes nothing. `missing` counters are rebuilt on first use; `off` ones need
 * `npm run stock:sync`. A hold being placed while this reads can show as a one-off difference.
 */
export async function stockDrift(): Promise<{ skus: number; missing: string[]; off: StockDrift[] }> {
  const sql = db();
  const [variants = [], pending = []] = await sql.transaction(
    [
      sql`SELECT sku, stock FROM variants`,
      sql`SELECT items FROM orders WHERE payment_status IN ('pending', 'awaiting_payment') AND hold_expires_at > now()`,
    ],
    { readOnly: true },
  );
  const held = new Map<string, number>();
  for (const o of pending) for (const i of o.items as HoldLine[]) held.set(i.sku, (held.get(i.sku) ?? 0) + i.quantity);
  const skus = variants.map((v) => v.sku as string);
  const counters = await availableStockIfKnown(skus);
  const missing: string[] = [];
  const off: StockDrift[] = [];
  for (const v of variants) {
    const sku = v.sku as string;
    const expected = Number(v.stock) - (held.get(sku) ?? 0);
    const actual = counters.get(sku) ?? null;
    if (actual === null) missing.push(sku);
    else if (actual !== expected) off.push({ sku, redis: actual, expected });
  }
  return { skus: skus.length, missing, off };
}
