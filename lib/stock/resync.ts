import { db } from '../db.js';
import { setAvailableStock } from './counters.js';
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
