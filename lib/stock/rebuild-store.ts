import { db } from '../db.js';

/**
 * The stock rebuild's read model (a store of its own that owns no table and never writes: the tables' owners are
 * lib/catalog/store.ts and lib/orders/store.ts; tests/architecture-tables.test.ts READ_MODELS). For the SKUs whose
 * counter Redis lost: their units on hand, and the open orders whose hold is still live, in one read-only round trip.
 */
export async function lostCountersRows(skus: string[]): Promise<{ variants: Record<string, unknown>[]; pending: Record<string, unknown>[] }> {
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
  return { variants, pending };
}
