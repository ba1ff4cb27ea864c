import { db } from '../db.js';
import { outboxKey } from '../messaging/keys.js';
import { outboxCte, outboxRows, type Notice } from '../messaging/record.js';
import { EVENT_EXISTS_SQL, EVENTS_INSERT_SQL } from './events.js';

/** Refund statuses whose money is gone or on its way back to the customer. */
export const COUNTED_REFUND_STATUSES = ['succeeded', 'pending', 'requires_action'];

export type StripeRefundRecord = {
  orderId: string;
  refundId: string;
  amountMinor: number;
  currency: string;
  status: string;
  reason: string | null;
  ours: boolean;
  details: Record<string, unknown>;
  /** The full-refund notice, recorded only on the paid → refunded transition. */
  notice: Notice | null;
  noticeKey: string;
};

export type StripeRefundResult = {
  paymentStatus: string;
  refundedMinor: number;
  isFull: boolean;
  reopened: boolean;
  noticeStatus: string | null;
  recorded: string | null;
  failed: string | null;
};

/**
 * One refund Stripe reports, applied in ONE round trip: a READ COMMITTED transaction whose first
 * statement locks the order row and whose second (a fresh snapshot, so it counts a refund a
 * concurrent event committed while it waited) upserts stripe_refunds, recomputes refunded_minor,
 * moves paid → refunded once the sum reaches the total (refunded → paid when a counted refund
 * failed, unless our own saga decided the refund), writes one order event per refund and, on the
 * paid → refunded transition only, the customer's notice. Null when the order vanished.
 */
export async function storeStripeRefund(r: StripeRefundRecord): Promise<StripeRefundResult | null> {
  const sql = db();
  // Locked by a statement of its own: a lock taken inside the main statement would leave its sum on
  // the snapshot from before the wait, blind to a concurrent refund committed meanwhile.
  const [, rows = []] = await sql.transaction(
    [
      sql`SELECT id FROM orders WHERE id = ${r.orderId} FOR UPDATE`,
      sql.query(
        `WITH o AS (
       SELECT id, payment_status, total_minor,
              ${EVENT_EXISTS_SQL('orders.id', `e.type = 'refund_required'`)} AS ours_decided
       FROM orders WHERE id = $1
     ), prev AS (
       SELECT status FROM stripe_refunds WHERE refund_id = $2
     ), refund AS (
       INSERT INTO stripe_refunds (refund_id, order_id, amount_minor, currency, status, reason, ours)
       SELECT $2, o.id, $3, $4, $5, $6, $7 FROM o
       ON CONFLICT (refund_id) DO UPDATE SET status = excluded.status, amount_minor = excluded.amount_minor, reason = excluded.reason, updated_at = now()
       RETURNING refund_id
     ), total AS (
       SELECT COALESCE((SELECT sum(amount_minor) FROM stripe_refunds WHERE order_id = $1 AND refund_id <> $2 AND status = ANY($8::text[])), 0)
              + CASE WHEN $5 = ANY($8::text[]) THEN $3 ELSE 0 END AS minor
     ), next AS (
       -- paid → refunded once the refunds reach the total; refunded → paid when a refund failed and the
       -- order got there through these refunds (never an order our own refund saga decided to refund).
       SELECT CASE WHEN o.payment_status = 'paid' AND total.minor >= o.total_minor THEN 'refunded'
                   WHEN o.payment_status = 'refunded' AND total.minor < o.total_minor AND NOT o.ours_decided THEN 'paid'
                   ELSE o.payment_status END AS status
       FROM o, total
     ), updated AS (
       UPDATE orders SET refunded_minor = LEAST(total.minor, 2147483647),
              payment_status = next.status,
              refunded_at = CASE WHEN next.status = orders.payment_status THEN refunded_at WHEN next.status = 'refunded' THEN now() ELSE NULL END,
              updated_at = now()
       FROM total, refund, next WHERE orders.id = $1
       RETURNING orders.id, orders.payment_status, orders.refunded_minor
     ), transition AS (
       SELECT (updated.payment_status = 'refunded' AND o.payment_status = 'paid') AS is_full,
              (updated.payment_status = 'paid' AND o.payment_status = 'refunded') AS reopened
       FROM updated, o
     ), notice AS (
       SELECT status FROM outbound_messages WHERE idempotency_key = $11
     ), event AS (
       ${EVENTS_INSERT_SQL({
         orderId: 'updated.id',
         type: `CASE WHEN NOT $5 = ANY($8::text[]) THEN 'refund_failed'
                     WHEN transition.is_full THEN 'refunded'
                     WHEN o.payment_status = 'paid' THEN 'partially_refunded'
                     ELSE 'refund_recorded' END`,
         data: `$9::jsonb || jsonb_build_object('stripeKey', 'refund:' || $2::text, 'refundedMinor', updated.refunded_minor, 'orderStatus', updated.payment_status)`,
         from: `updated, o, transition
                WHERE NOT EXISTS (SELECT 1 FROM prev) AND NOT ${EVENT_EXISTS_SQL('$1', `e.data->>'refundId' = $2::text`)}`,
         stripeKeyed: true,
         returning: 'type',
       })}
     ), failed AS (
       ${EVENTS_INSERT_SQL({
         orderId: 'updated.id',
         type: `'refund_failed'`,
         data: `$9::jsonb || jsonb_build_object('stripeKey', 'refund-failed:' || $2::text, 'refundedMinor', updated.refunded_minor)`,
         from: `updated, prev WHERE prev.status = ANY($8::text[]) AND NOT $5 = ANY($8::text[])`,
         stripeKeyed: true,
         returning: 'type',
       })}
     ), reverted AS (
       ${EVENTS_INSERT_SQL({
         orderId: 'updated.id',
         type: `'refund_reverted'`,
         data: `$9::jsonb || jsonb_build_object('stripeKey', 'refund-reverted:' || $2::text, 'refundedMinor', updated.refunded_minor,
                'orderStatus', updated.payment_status, 'refundNotice', COALESCE((SELECT status FROM notice), 'none'))`,
         from: 'updated, transition WHERE transition.reopened',
         stripeKeyed: true,
         returning: 'type',
       })}
     ), outbox AS (
       ${outboxCte('$10', { where: 'WHERE (SELECT is_full FROM transition)' })}
     )
     SELECT updated.payment_status, updated.refunded_minor, (SELECT is_full FROM transition) AS is_full,
            (SELECT reopened FROM transition) AS reopened, (SELECT status FROM notice) AS notice_status,
            (SELECT type FROM event) AS recorded, (SELECT type FROM failed) AS failed
     FROM updated`,
        [r.orderId, r.refundId, r.amountMinor, r.currency, r.status, r.reason, r.ours, COUNTED_REFUND_STATUSES, JSON.stringify(r.details), outboxRows(r.notice ? [r.notice] : []), outboxKey(r.noticeKey)],
      ),
    ],
    { isolationLevel: 'ReadCommitted' },
  );
  const row = rows[0];
  if (!row) return null;
  return {
    paymentStatus: row.payment_status as string,
    refundedMinor: Number(row.refunded_minor),
    isFull: row.is_full === true,
    reopened: row.reopened === true,
    noticeStatus: (row.notice_status as string | null) ?? null,
    recorded: (row.recorded as string | null) ?? null,
    failed: (row.failed as string | null) ?? null,
  };
}
