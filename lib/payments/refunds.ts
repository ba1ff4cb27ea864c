import { db } from '../db.js';
import { log } from '../log.js';
import { formatMoney } from '../money.js';
import { deliverNotices, noticeKeys, outboxInsertSql, outboxRows, type OrderNotice } from '../notifications/order-paid.js';
import { raiseOpsAlert, type OpsAlertInput } from '../ops-alerts.js';
import { outboxKey } from '../outbox.js';
import type { Settlement } from './settle.js';
import { loadOrder, type SettleOrder } from './settle.js';
import { stripe } from './stripe-client.js';

/**
 * Money that moves after Checkout, reported by Stripe: refunds made outside the shop (the Stripe
 * dashboard, another tool) and disputes. Our own refunds (late payment on sold-out stock, admin
 * cancel) come back through the same events and are recognised by their metadata.order_id.
 *
 * Refunds: every refund is kept by its id in stripe_refunds (refund.created / refund.updated /
 * charge.refunded all report the same refund), and the order's refunded_minor is the sum of its
 * refunds that are not failed/canceled. One round trip, a transaction of two statements: the first
 * locks the order row, the second (a fresh snapshot at READ COMMITTED, so it sees a concurrent
 * refund committed while it waited) records the refund, recomputes the sum, moves a paid order to
 * `refunded` once the sum reaches its total (a partial refund leaves it paid), writes one
 * order_events row per refund (unique by data.stripeKey = "refund:<id>") and, on that paid →
 * refunded transition only, the customer's notice (outbox key refund-notice:<orderId>, the same
 * key as the late-payment refund notice: one refund notice per order whatever the route). The shop
 * gets one ops alert per refund made outside the shop.
 *
 * A refund failing after these refunds made the order `refunded` moves it back to `paid` (event
 * refund_reverted; the refund_failed alert says reopened and whether the notice went out). The
 * customer is not messaged again: the shop decides (refund another way, or explain). An order our
 * own saga decided to refund (a `refund_required` event) stays `refunded`.
 *
 * Disputes: charge.dispute.created / charge.dispute.closed each record one order event (unique per
 * dispute and phase) and raise one alert. The order's status does not change: whether the goods
 * go out (or come back) is the shop's decision.
 */

export type StripeIdRef = string | { id: string } | null | undefined;
const idOf = (ref: StripeIdRef): string | null => (typeof ref === 'string' ? ref : (ref?.id ?? null));

export type RefundFacts = {
  id: string;
  amount: number;
  currency: string;
  status: string | null;
  reason?: string | null;
  charge?: StripeIdRef;
  payment_intent?: StripeIdRef;
  metadata?: Record<string, string> | null;
};
export type ChargeFacts = {
  id: string;
  amount_refunded: number;
  refunded: boolean;
  payment_intent?: StripeIdRef;
  metadata?: Record<string, string> | null;
  refunds?: { data: RefundFacts[]; has_more: boolean } | null;
};
export type DisputeFacts = {
  id: string;
  amount: number;
  currency: string;
  status: string;
  reason: string;
  charge: StripeIdRef;
  payment_intent?: StripeIdRef;
  metadata?: Record<string, string> | null;
  evidence_details?: { due_by?: number | null } | null;
};

/** Refund statuses whose money is gone or on its way back to the customer. */
const COUNTED = ['succeeded', 'pending', 'requires_action'];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const nothing = async () => {};
const ignored = (reason: string): Settlement<unknown> => ({ outcome: null, summary: `ignored: ${reason}`, deliver: nothing });
const quietly = (what: string, fn: () => Promise<unknown>) => async () => {
  try {
    await fn();
  } catch (error) {
    // The notice is in the outbox (the cleanup run retries it); the alert row is retried likewise.
    log.error('refund.delivery_failed', { what, error });
  }
};
const alert = (a: OpsAlertInput) => quietly('ops_alert', () => raiseOpsAlert(a));

/**
 * The order a Stripe payment object belongs to: by its payment intent (recorded when the order was
 * paid), by the order id our own refunds carry in metadata, else by the Checkout Session that
 * created the payment intent (an event that overtook checkout.session.completed).
 */
async function orderOf(paymentIntent: string | null, metadata: Record<string, string> | null | undefined): Promise<string | null> {
  if (paymentIntent) {
    const [row] = await db()`SELECT id FROM orders WHERE stripe_payment_intent = ${paymentIntent} LIMIT 1`;
    if (row) return row.id as string;
  }
  const hinted = metadata?.order_id;
  if (hinted && UUID.test(hinted)) {
    const [row] = await db()`SELECT id FROM orders WHERE id = ${hinted}`;
    if (row) return row.id as string;
  }
  if (!paymentIntent) return null;
  const sessions = await stripe().checkout.sessions.list({ payment_intent: paymentIntent, limit: 1 });
  const session = sessions.data[0];
  const fromSession = session?.client_reference_id ?? session?.metadata?.order_id ?? null;
  if (!fromSession || !UUID.test(fromSession)) return null;
  const [row] = await db()`SELECT id FROM orders WHERE id = ${fromSession}`;
  return row ? (row.id as string) : null;
}

/** The customer's notice of a full refund: free-form inside the 24-hour window; outside it no approved template says this, so the shop's alert says the customer was not told. */
function fullRefundNotice(order: SettleOrder): OrderNotice | null {
  if (!order.insideWindow) return null;
  const amount = formatMoney(order.totalMinor, order.currency);
  return {
    eventKey: noticeKeys(order.id).refund,
    kind: 'refund_notice',
    customerId: order.customerId,
    orderId: order.id,
    message: {
      type: 'text',
      body: `Your payment of ${amount} for order ${order.reference} has been refunded in full. It can take a few days to show on your statement. If you have any questions, just reply here.`,
    },
  };
}

/** charge.refunded: the charge's refunds (listed in the event, or fetched when the API version leaves them out), each applied once. */
export async function applyChargeRefunded(charge: ChargeFacts): Promise<Settlement<unknown>> {
  let refunds = charge.refunds && !charge.refunds.has_more ? charge.refunds.data : [];
  if (refunds.length === 0 && charge.amount_refunded > 0) {
    const listed = await stripe().refunds.list({ charge: charge.id, limit: 100 });
    refunds = listed.data as unknown as RefundFacts[];
  }
  if (refunds.length === 0) return ignored('charge without refunds');
  const outcomes: Settlement<unknown>[] = [];
  // Oldest first, so the refund that completes the full amount is the one recorded as `refunded`.
  for (const r of [...refunds].reverse()) outcomes.push(await applyRefund({ ...r, payment_intent: r.payment_intent ?? charge.payment_intent, charge: charge.id }));
  return {
    outcome: outcomes.map((o) => o.outcome),
    summary: outcomes.map((o) => o.summary).join('; ').slice(0, 500),
    deliver: async () => {
      for (const o of outcomes) await o.deliver();
    },
  };
}

/** refund.created / refund.updated / refund.failed (and charge.refunded, per refund). */
export async function applyRefund(refund: RefundFacts): Promise<Settlement<unknown>> {
  const orderId = await orderOf(idOf(refund.payment_intent), refund.metadata);
  if (!orderId) {
    log.info('refund.not_ours', { refundId: refund.id });
    return ignored('refund of a payment that is not an order of this shop');
  }
  const order = await loadOrder(orderId);
  if (!order) return ignored('unknown order');
  if (refund.currency.toUpperCase() !== order.currency) {
    log.error('refund.currency_mismatch', { orderId, refundId: refund.id });
    return { ...ignored('currency mismatch'), deliver: alert({ key: `refund-mismatch:${refund.id}`, kind: 'refund_currency_mismatch', orderId, details: { refundId: refund.id, currency: refund.currency } }) };
  }
  const ours = refund.metadata?.order_id === orderId;
  const status = refund.status ?? 'pending';
  const counted = COUNTED.includes(status);
  const notice = fullRefundNotice(order);
  const details = { refundId: refund.id, amountMinor: refund.amount, currency: order.currency, status, reason: refund.reason ?? null, ours };
  const sql = db();
  // Locked by a statement of its own: a lock taken inside the main statement would leave its sum on
  // the snapshot from before the wait, blind to a concurrent refund committed meanwhile.
  const [, rows = []] = await sql.transaction(
    [
      sql`SELECT id FROM orders WHERE id = ${orderId} FOR UPDATE`,
      sql.query(
        `WITH o AS (
       SELECT id, payment_status, total_minor,
              EXISTS (SELECT 1 FROM order_events e WHERE e.order_id = orders.id AND e.type = 'refund_required') AS ours_decided
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
       INSERT INTO order_events (order_id, type, data)
       SELECT updated.id,
              CASE WHEN NOT $5 = ANY($8::text[]) THEN 'refund_failed'
                   WHEN transition.is_full THEN 'refunded'
                   WHEN o.payment_status = 'paid' THEN 'partially_refunded'
                   ELSE 'refund_recorded' END,
              $9::jsonb || jsonb_build_object('stripeKey', 'refund:' || $2::text, 'refundedMinor', updated.refunded_minor, 'orderStatus', updated.payment_status)
       FROM updated, o, transition
       WHERE NOT EXISTS (SELECT 1 FROM prev)
         AND NOT EXISTS (SELECT 1 FROM order_events e WHERE e.order_id = $1 AND e.data->>'refundId' = $2::text)
       ON CONFLICT ((data->>'stripeKey')) WHERE data ? 'stripeKey' DO NOTHING
       RETURNING type
     ), failed AS (
       INSERT INTO order_events (order_id, type, data)
       SELECT updated.id, 'refund_failed', $9::jsonb || jsonb_build_object('stripeKey', 'refund-failed:' || $2::text, 'refundedMinor', updated.refunded_minor)
       FROM updated, prev
       WHERE prev.status = ANY($8::text[]) AND NOT $5 = ANY($8::text[])
       ON CONFLICT ((data->>'stripeKey')) WHERE data ? 'stripeKey' DO NOTHING
       RETURNING type
     ), reverted AS (
       INSERT INTO order_events (order_id, type, data)
       SELECT updated.id, 'refund_reverted', $9::jsonb || jsonb_build_object('stripeKey', 'refund-reverted:' || $2::text, 'refundedMinor', updated.refunded_minor,
              'orderStatus', updated.payment_status, 'refundNotice', COALESCE((SELECT status FROM notice), 'none'))
       FROM updated, transition
       WHERE transition.reopened
       ON CONFLICT ((data->>'stripeKey')) WHERE data ? 'stripeKey' DO NOTHING
       RETURNING type
     ), outbox AS (
       ${outboxInsertSql('$10', 'WHERE (SELECT is_full FROM transition)')}
     )
     SELECT updated.payment_status, updated.refunded_minor, (SELECT is_full FROM transition) AS is_full,
            (SELECT reopened FROM transition) AS reopened, (SELECT status FROM notice) AS notice_status,
            (SELECT type FROM event) AS recorded, (SELECT type FROM failed) AS failed
     FROM updated`,
        [orderId, refund.id, refund.amount, order.currency, status, refund.reason ?? null, ours, COUNTED, JSON.stringify(details), outboxRows(notice ? [notice] : []), outboxKey(noticeKeys(orderId).refund)],
      ),
    ],
    { isolationLevel: 'ReadCommitted' },
  );
  const row = rows[0];
  if (!row) return ignored('order vanished');
  const recorded = row.recorded as string | null;
  const full = row.is_full === true;
  const reopened = row.reopened === true;
  const refundedMinor = Number(row.refunded_minor);
  if (recorded || full) log.warn('order.refund_recorded', { orderId, refundId: refund.id, type: recorded, full, ours });
  if (reopened) log.warn('order.refund_reverted', { orderId, refundId: refund.id, refundedMinor });

  const steps: (() => Promise<void>)[] = [];
  if (full && notice) steps.push(quietly('notice', () => deliverNotices([notice])));
  if (recorded && recorded !== 'refund_failed' && !ours) {
    steps.push(
      alert({
        key: `refund:${refund.id}`,
        kind: full ? 'order_refunded' : recorded === 'partially_refunded' ? 'order_partially_refunded' : 'refund_recorded',
        orderId,
        details: { ...details, refundedMinor, totalMinor: order.totalMinor, orderStatus: row.payment_status, customerNotified: full ? notice !== null : false },
      }),
    );
  }
  if (recorded === 'refund_failed' || row.failed || reopened) {
    // Reopened: the customer may have been told of a full refund (refundNotice 'sent'). No automatic
    // correction goes out: the shop decides (refund again, or explain); a new full refund sends nothing twice.
    const reopenedDetails = reopened ? { orderStatus: row.payment_status, reopened, refundNotice: (row.notice_status as string | null) ?? 'none' } : {};
    steps.push(alert({ key: `refund-failed:${refund.id}`, kind: 'refund_failed', orderId, details: { ...details, refundedMinor, ...reopenedDetails } }));
  }
  return {
    outcome: { orderId, refundId: refund.id, refundedMinor, paymentStatus: row.payment_status },
    summary: recorded ?? (row.failed ? 'refund_failed' : 'refund_already_recorded'),
    deliver: async () => {
      for (const step of steps) await step();
    },
  };
}

/** A charge Stripe does not know (another account's, a deleted test object) has no order here; other errors are worth a retry. */
async function paymentIntentOfCharge(chargeId: string): Promise<string | null> {
  try {
    return idOf((await stripe().charges.retrieve(chargeId)).payment_intent);
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) return null;
    throw error;
  }
}

/** charge.dispute.created / charge.dispute.closed: one order event and one alert per dispute and phase. */
export async function applyDispute(dispute: DisputeFacts, phase: 'created' | 'closed'): Promise<Settlement<unknown>> {
  let paymentIntent = idOf(dispute.payment_intent);
  const chargeId = idOf(dispute.charge);
  if (!paymentIntent && chargeId) paymentIntent = await paymentIntentOfCharge(chargeId);
  const orderId = await orderOf(paymentIntent, dispute.metadata);
  if (!orderId) {
    log.info('dispute.not_ours', { disputeId: dispute.id });
    return ignored('dispute of a payment that is not an order of this shop');
  }
  const stripeKey = `dispute:${dispute.id}:${phase}`;
  const details = {
    disputeId: dispute.id,
    amountMinor: dispute.amount,
    currency: dispute.currency.toUpperCase(),
    reason: dispute.reason,
    status: dispute.status,
    evidenceDueBy: dispute.evidence_details?.due_by ? new Date(dispute.evidence_details.due_by * 1000).toISOString() : null,
  };
  const [row] = await db()`
    INSERT INTO order_events (order_id, type, data)
    VALUES (${orderId}, ${phase === 'created' ? 'dispute_opened' : 'dispute_closed'}, ${JSON.stringify({ ...details, stripeKey })}::jsonb)
    ON CONFLICT ((data->>'stripeKey')) WHERE data ? 'stripeKey' DO NOTHING
    RETURNING id`;
  if (!row) return { outcome: { orderId }, summary: `dispute_${phase}_already_recorded`, deliver: nothing };
  log.warn(`order.dispute_${phase}`, { orderId, disputeId: dispute.id, status: dispute.status });
  return {
    outcome: { orderId, disputeId: dispute.id },
    summary: `dispute_${phase}`,
    deliver: alert({ key: stripeKey, kind: phase === 'created' ? 'dispute_created' : 'dispute_closed', orderId, details }),
  };
}
