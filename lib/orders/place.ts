import { customAlphabet } from 'nanoid';
import { findVariantsBySku, type Variant } from '../catalog/index.js';
import { getConfig } from '../config.js';
import { db, pgErrorCode } from '../db.js';
import { findOrCreateCustomer } from '../customers.js';
import { reserveStock, type Shortage } from '../stock/index.js';
import { getOrder, orderColumns, orderIdFor, toOrder, type Order, type OrderItem } from './order.js';

export type { Order };

/** A known customer (`id`), or an identity to find or create one by (never linked: see findOrCreateCustomer). */
export type OrderCustomer = { id?: string; waId: string | null; userId: string | null; profileName: string | null };
export type RequestedLine = { sku: string; quantity: number };

export type PlaceOrderResult =
  | { status: 'created' | 'existing'; order: Order }
  | { status: 'unknown_skus'; skus: string[] }
  | { status: 'invalid_quantity'; sku: string; max: number }
  | { status: 'mixed_currency' }
  | { status: 'too_many_open_orders'; max: number }
  | { status: 'out_of_stock'; shortages: (Shortage & { name: string })[] };

const reference = customAlphabet('23456789ABCDEFGHJKLMNPQRSTUVWXYZ', 8);

/**
 * Validates the lines against our catalog and prices, holds all of them atomically in Redis,
 * then records the pending order. Idempotent per sourceKey. Prices always come from Postgres.
 */
export async function placeOrder(input: { customer: OrderCustomer; source: Order['source']; sourceKey: string; lines: RequestedLine[] }): Promise<PlaceOrderResult> {
  const config = getConfig();
  const orderId = orderIdFor(input.sourceKey);
  const skus = [...new Set(input.lines.map((l) => l.sku))];
  const customerId = input.customer.id ?? (await customerIdFor(input.customer));

  // One round trip: the catalog rows, the customer's open orders, and an existing order for this event.
  const [catalog, context] = await Promise.all([
    findVariantsBySku(skus),
    db()`
      SELECT (SELECT count(*) FROM orders o JOIN customers c ON c.id = o.customer_id
              WHERE c.id = ${customerId} AND o.payment_status IN ('pending', 'awaiting_payment') AND o.id <> ${orderId}) AS open_orders,
             EXISTS (SELECT 1 FROM orders WHERE id = ${orderId}) AS existing`,
  ]);
  if (context[0]?.existing) return { status: 'existing', order: (await getOrder(orderId))! };

  const unknown = skus.filter((s) => !catalog.has(s));
  if (unknown.length) return { status: 'unknown_skus', skus: unknown };
  const merged = new Map<string, number>();
  for (const l of input.lines) merged.set(l.sku, (merged.get(l.sku) ?? 0) + l.quantity);
  for (const [sku, quantity] of merged) {
    if (!Number.isInteger(quantity) || quantity < 1 || quantity > config.MAX_QUANTITY_PER_LINE)
      return { status: 'invalid_quantity', sku, max: config.MAX_QUANTITY_PER_LINE };
  }
  const variants = [...merged.keys()].map((s) => catalog.get(s)!);
  const currency = variants[0]!.currency;
  if (variants.some((v) => v.currency !== currency)) return { status: 'mixed_currency' };
  if (Number(context[0]?.open_orders ?? 0) >= config.MAX_ACTIVE_HOLDS_PER_CUSTOMER)
    return { status: 'too_many_open_orders', max: config.MAX_ACTIVE_HOLDS_PER_CUSTOMER };

  const items = [...merged].map(([sku, quantity]) => lineOf(catalog.get(sku)!, quantity));
  const holdExpiresAt = new Date(Date.now() + config.RESERVATION_TTL_SECONDS * 1000);
  const hold = await reserveStock(orderId, items, holdExpiresAt);
  if (hold.status === 'short')
    return { status: 'out_of_stock', shortages: hold.shortages.map((s) => ({ ...s, name: catalog.get(s.sku)?.displayName ?? s.sku })) };

  // If recording fails the hold stays: the write may have happened (only its answer lost), and the retry of
  // this same event finds the same hold. A hold whose order never appears is released by the cleanup
  // once it lapses (an orphan hold).
  const order = await insertPendingOrder(orderId, customerId, input, items, currency, holdExpiresAt);
  return { status: order.created ? 'created' : 'existing', order: order.order };
}

async function customerIdFor(identity: OrderCustomer): Promise<string> {
  const resolved = await findOrCreateCustomer(identity);
  if (!resolved.ok) throw new Error(`${resolved.field} ${resolved.message}`);
  return resolved.id;
}

function lineOf(v: Variant, quantity: number): OrderItem {
  return { sku: v.sku, name: v.displayName, quantity, unitPriceMinor: v.priceMinor, lineTotalMinor: v.priceMinor * quantity };
}

async function insertPendingOrder(
  orderId: string,
  customerId: string,
  input: { source: Order['source']; sourceKey: string },
  items: OrderItem[],
  currency: string,
  holdExpiresAt: Date,
): Promise<{ created: boolean; order: Order }> {
  const total = items.reduce((s, i) => s + i.lineTotalMinor, 0);
  for (let attempt = 0; ; attempt++) {
    try {
      const rows = await db().query(
        `WITH customer AS (
           -- The customer may have been merged into another row meanwhile (a webhook linked their
           -- phone and BSUID): the order goes to the survivor, whose 'merged' event names this id.
           SELECT * FROM customers WHERE id = $2::uuid
           UNION ALL
           SELECT c.* FROM customers c
           WHERE NOT EXISTS (SELECT 1 FROM customers WHERE id = $2::uuid)
             AND c.id = (SELECT e.customer_id FROM customer_identity_events e
                         WHERE e.type = 'merged' AND e.data->>'from' = $2::text ORDER BY e.id DESC LIMIT 1)
         ), inserted AS (
           INSERT INTO orders (id, reference, customer_id, source, source_key, items, total_minor, currency, hold_expires_at)
           SELECT $1, $3, customer.id, $4, $5, $6::jsonb, $7, $8, $9 FROM customer
           ON CONFLICT (id) DO NOTHING
           RETURNING *
         ), event AS (
           INSERT INTO order_events (order_id, type, data)
           SELECT id, 'created', jsonb_build_object('source', source, 'holdExpiresAt', hold_expires_at) FROM inserted
         )
         SELECT ${orderColumns()} FROM inserted o, customer c`,
        [orderId, customerId, reference(), input.source, input.sourceKey, JSON.stringify(items), total, currency, holdExpiresAt.toISOString()],
      );
      if (rows[0]) return { created: true, order: toOrder(rows[0]) };
      const existing = await getOrder(orderId);
      // No customer row to record it for: the caller releases the hold.
      if (!existing) throw new Error(`order ${orderId} not recorded: customer ${customerId} no longer exists`);
      return { created: false, order: existing };
    } catch (error) {
      // A reference collision (8 chars of 32) is rare; draw another once or twice.
      if (pgErrorCode(error) === '23505' && attempt < 2 && String((error as { constraint?: string }).constraint).includes('reference')) continue;
      throw error;
    }
  }
}
