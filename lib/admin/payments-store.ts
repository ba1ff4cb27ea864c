import { db, type Query } from '../db.js';
import { outboxCte, outboxRows, type Notice } from '../messaging/record.js';
import { orderColumns, toOrder, type Order } from '../orders/order.js';
import type { PaidWith } from '../orders/store.js';
import type { AdminResult } from './result.js';
import { answerOf, storedAnswerSql } from './idempotency.js';

/**
 * The `payments` table (offline payments, lib/admin/offline-payment.ts): its rows, the read of a reference's
 * payment with the stored answer and the order, and the payment's row with its notice, on its own or as CTEs of
 * the statement that pays the order.
 */

export type PaymentRow = { id: string; orderId: string | null; waId: string | null; userId: string | null; name: string | null; amountMinor: number; currency: string; paidAt: Date };

/** storedAnswer, the payment of the reference (if recorded) and the order: its linked one, else `orderId`'s, in one statement. */
export async function lookup(key: string, hash: string, reference: string, orderId: string | null): Promise<{ stored: AdminResult | null; payment: PaymentRow | null; order: Order | null }> {
  const [row] = await db().query(
    `WITH payment AS (SELECT * FROM payments WHERE reference = $2)
     SELECT (SELECT to_jsonb(p) FROM payment p) AS payment, ${storedAnswerSql('$1')} AS answer,
            (SELECT to_jsonb(x) FROM (SELECT ${orderColumns()} FROM orders o JOIN customers c ON c.id = o.customer_id
               WHERE o.id = COALESCE((SELECT order_id FROM payment), $3::uuid)) x) AS "order"`,
    [key, reference, orderId],
  );
  return {
    stored: answerOf(row?.answer as Record<string, unknown> | null, hash),
    payment: row?.payment ? toPayment(row.payment as Record<string, unknown>) : null,
    order: row?.order ? toOrder(row.order as Record<string, unknown>) : null,
  };
}

async function findPayment(reference: string): Promise<PaymentRow | null> {
  const [r] = await db()`SELECT * FROM payments WHERE reference = ${reference}`;
  return r ? toPayment(r) : null;
}

export function toPayment(r: Record<string, unknown>): PaymentRow {
  return {
    id: r.id as string,
    orderId: (r.order_id as string | null) ?? null,
    waId: (r.customer_wa_id as string | null) ?? null,
    userId: (r.customer_user_id as string | null) ?? null,
    name: (r.customer_name as string | null) ?? null,
    amountMinor: Number(r.amount_minor),
    currency: String(r.currency).trim(),
    paidAt: new Date(r.paid_at as string),
  };
}

/** A payment checked and its notice made, not recorded yet (insertPayment, or paymentCtes with the order's payment). */
export type Prepared = { input: { reference: string }; row: PaymentRow; order: Order | null; notice: Notice };

/**
 * The payment's row and its notice as CTEs (`inserted`, `payment_outbox`), parameters from $`first`, made only `when`
 * (an SQL clause). With the order's payment (storePaid's PaidWith) a row of this reference recorded meanwhile fails the
 * whole statement (unique reference): nothing is paid twice, and recordOfflinePayment starts over.
 */
function paymentSql(p: Prepared, first: number, when: string, onConflict: string): { sql: string; params: unknown[] } {
  const $ = (i: number) => `$${first + i}`;
  return {
    sql: `inserted AS (
       INSERT INTO payments (id, reference, method, order_id, customer_wa_id, customer_user_id, customer_name, amount_minor, currency, paid_at)
       SELECT ${$(0)}::uuid, ${$(1)}::text, 'offline', ${$(2)}::uuid, ${$(3)}::text, ${$(4)}::text, ${$(5)}::text, ${$(6)}::int, ${$(7)}::text, ${$(8)}::timestamptz
       ${when}
       ${onConflict}
       RETURNING *
     ), payment_outbox AS (
       ${outboxCte($(9), { source: 'inserted', orderId: 'inserted.order_id' })}
     )`,
    params: [p.row.id, p.input.reference, p.row.orderId, p.row.waId, p.row.userId, p.row.name, p.row.amountMinor, p.row.currency, p.row.paidAt.toISOString(), outboxRows([p.notice])],
  };
}

export const paymentCtes = (p: Prepared): PaidWith => (first) => paymentSql(p, first, 'WHERE EXISTS (SELECT 1 FROM updated)', '');

/** Records the payment (one row per reference) with its notice; the row that stands for the reference. */
export async function insertPayment(p: Prepared): Promise<PaymentRow> {
  const { sql, params } = paymentSql(p, 1, '', 'ON CONFLICT (reference) DO NOTHING');
  const [row] = await db().query(`WITH ${sql} SELECT * FROM inserted`, params);
  return row ? toPayment(row) : (await findPayment(p.input.reference))!;
}

/** An order's offline payments (the console's order view, a statement of its read-only batch). */
export const paymentsOfOrderQuery = (orderId: string): Query =>
  db()`SELECT reference, method, amount_minor, currency, paid_at, created_at FROM payments WHERE order_id = ${orderId} ORDER BY created_at`;
