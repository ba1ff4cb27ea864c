import { db } from '../db.js';

/**
 * The orders store's statements for jobs (part of lib/orders/store.ts): the cleanup run's due work (lib/flows/cleanup.ts),
 * the offline payment's open order of a customer (lib/admin/offline-payment.ts), and the stock rebuild's live
 * holds read with the on-hand units (./stock-resync.ts: lib/stock is below the domain and is handed these rows), and
 * the order a Stripe payment object names (./stripe-refunds.ts).
 */

/** The order paid by this payment intent (recorded when it was paid), if any. */
export async function orderIdByPaymentIntent(paymentIntent: string): Promise<string | null> {
  const [row] = await db()`SELECT id FROM orders WHERE stripe_payment_intent = ${paymentIntent} LIMIT 1`;
  return row ? (row.id as string) : null;
}

/** The id, when an order of this id exists. */
export async function existingOrderId(id: string): Promise<string | null> {
  const [row] = await db()`SELECT id FROM orders WHERE id = ${id}`;
  return row ? (row.id as string) : null;
}

/** Pending orders whose hold lapsed per Postgres, oldest first ($1: the limit; served by the partial index orders_open_by_expiry). */
export const RECONCILE_SQL = `SELECT id FROM orders WHERE payment_status = 'pending' AND hold_expires_at < now() ORDER BY hold_expires_at LIMIT $1`;

/**
 * The cleanup's due work in one statement: lapsed holds ($1), due reminders (`dueReminders`: lead $2, limit $3) and
 * `waitlisted` SKUs ($4), the last two given as their owners' statement parts.
 */
export const cleanupDueSql = (dueReminders: string, waitlisted: string) => `
  SELECT 'lapsed' AS kind, r.id::text AS id, NULL::jsonb AS data FROM (${RECONCILE_SQL}) r
  UNION ALL SELECT 'reminder', d.id::text, d.data FROM (${dueReminders}) d
  UNION ALL SELECT 'waitlist', w.sku, NULL FROM (${waitlisted}) w`;

/** The customer's latest order still open for payment (pending or awaiting it), if any. */
export async function latestOpenOrderId(customerId: string): Promise<string | null> {
  const [latest] = await db()`
      SELECT o.id FROM orders o
      WHERE o.customer_id = ${customerId} AND o.payment_status IN ('pending', 'awaiting_payment')
      ORDER BY o.created_at DESC LIMIT 1`;
  return latest ? (latest.id as string) : null;
}

export type LiveHold = { id: string; items: { sku: string; quantity: number }[]; holdExpiresAt: Date };
export type OnHand = { sku: string; stock: number };

/** For the rebuild: the live holds of pending orders, and every SKU's units on hand (two reads in parallel). */
export async function liveHoldsAndStock(): Promise<{ pending: LiveHold[]; variants: OnHand[] }> {
  const [pending, variants] = await Promise.all([
    db()`SELECT id, items, hold_expires_at FROM orders WHERE payment_status IN ('pending', 'awaiting_payment') AND hold_expires_at > now()`,
    db()`SELECT sku, stock FROM variants`,
  ]);
  return {
    pending: pending.map((o) => ({ id: o.id as string, items: o.items as LiveHold['items'], holdExpiresAt: new Date(o.hold_expires_at as string) })),
    variants: variants.map((v) => ({ sku: v.sku as string, stock: Number(v.stock) })),
  };
}

/** For the drift check: every SKU's units on hand and the live holds' items, as one read-only snapshot (one round trip). */
export async function stockSnapshot(): Promise<{ variants: OnHand[]; held: { sku: string; quantity: number }[][] }> {
  const sql = db();
  const [variants = [], pending = []] = await sql.transaction(
    [
      sql`SELECT sku, stock FROM variants`,
      sql`SELECT items FROM orders WHERE payment_status IN ('pending', 'awaiting_payment') AND hold_expires_at > now()`,
    ],
    { readOnly: true },
  );
  return { variants: variants.map((v) => ({ sku: v.sku as string, stock: Number(v.stock) })), held: pending.map((o) => o.items as { sku: string; quantity: number }[]) };
}
