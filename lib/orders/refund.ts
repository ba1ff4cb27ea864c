import { log } from '../log.js';
import { cancelledByShopNotice, refundNotice } from '../messaging/order-notices.js';
import type { Notice } from '../messaging/record.js';
import { stripe } from '../payments/stripe-client.js';
import { setAvailableStock, type Shortage } from '../stock/index.js';
import { statusesFor, transition } from './lifecycle.js';
import { getOrder, type Order } from './order.js';
import { alert, alreadyPaid, done, ignored, inSequence, sendNotices, sendPending, type PaymentRecord, type PaySettled } from './settlement.js';
import type { Work } from '../work.js';
import { REFUND_DECISION_COLUMNS, refundDecisionCte, refundDecisionOf, storeDuplicateRefund, storeRefundDecided, storeRefundDone, type ActionAnswer, type RefundDecision } from './store.js';

/**
 * Refunds the shop decides itself, as a saga: (1) one statement decides (`refunded` + a
 * `refund_required` event), (2) Stripe refunds the payment intent under the idempotency key
 * refund:<orderId>, (3) one statement records refunded_at, the `refunded` event and the customer's
 * notice. An order `refunded` with refunded_at NULL resumes at (2) on the next event or request.
 * Two routes: a late payment on sold-out stock (`late_payment`), and the shop cancelling a paid
 * order (`cancelled_by_shop`, the units go back on hand). A third, outside the saga: a second payment
 * of an order paid another way goes back on its own (`duplicate_payment`, refundDuplicatePayment).
 */

/** Steps 2–3: the one Stripe refund call (none for an offline payment: that money is the shop's to return). */
export async function refundOrder(
  order: Order,
  notice: Notice,
  event: Record<string, unknown>,
  answer?: (refundId: string | null) => ActionAnswer,
): Promise<{ refundId: string | null; recorded: boolean }> {
  let refundId: string | null = null;
  if (order.stripePaymentIntent) {
    try {
      const refund = await stripe().refunds.create(
        { payment_intent: order.stripePaymentIntent, metadata: { order_id: order.id, order_reference: order.reference } },
        { idempotencyKey: `refund:${order.id}` },
      );
      refundId = refund.id;
    } catch (error) {
      // Past Stripe's 24-hour idempotency window a retry may find the charge refunded already.
      if ((error as { code?: string }).code !== 'charge_already_refunded') throw error;
    }
  }
  const recorded = await storeRefundDone(order.id, { ...event, refundId, amountMinor: order.totalMinor, currency: order.currency }, [notice], answer?.(refundId));
  return { refundId, recorded };
}

/** late_payment: paid after the hold lapsed and the units sold meanwhile; the money goes back. */
export async function refundLatePayment(work: Work, order: Order, paymentIntent: string, shortages: Shortage[], sessionId: string | null = null): Promise<PaySettled> {
  if (order.paymentStatus !== 'refunded') {
    const event = { reason: 'out_of_stock', shortages, from: order.paymentStatus };
    const { decided } = await storeRefundDecided(order.id, statusesFor('late_payment'), { sessionId, paymentIntent }, false, event);
    if (!decided) {
      const now = await getOrder(order.id);
      // Paid another way meanwhile: this payment is a second one, and goes back as such.
      if (now?.paymentStatus === 'paid') return (await settledAlready(work, now, { method: 'stripe', amountMinor: order.totalMinor, currency: order.currency, reference: sessionId ?? paymentIntent, stripeSessionId: sessionId, stripePaymentIntent: paymentIntent }))!;
      if (now?.paymentStatus !== 'refunded') {
        log.error('payment.refund_not_decided', { orderId: order.id, status: now?.paymentStatus });
        return ignored(`not_refundable_in_status_${now?.paymentStatus ?? 'unknown'}`);
      }
      if (now.refundedAt) return done(work, { outcome: { status: 'refunded', orderId: order.id }, summary: 'already_refunded', deliver: sendPending(order.id) });
    }
    log.warn('order.refund_required', { orderId: order.id, shortages });
  }
  const withIntent = { ...order, stripePaymentIntent: paymentIntent };
  const notice = refundNotice(order, order.insideWindow);
  const { refundId, recorded } = await refundOrder(withIntent, notice, { paymentIntent });
  if (recorded) log.warn('order.refunded', { orderId: order.id, refundId });
  const details = { refundId, amountMinor: order.totalMinor, currency: order.currency };
  return done(work, {
    outcome: { status: 'refunded', orderId: order.id },
    summary: recorded ? 'refunded' : 'already_refunded',
    deliver: recorded
      ? inSequence(sendNotices(order.id, [notice]), alert({ key: `late-payment-refunded:${order.id}`, kind: 'late_payment_refunded', orderId: order.id, details }))
      : sendPending(order.id),
  });
}

/** What a shop's cancel refunded: how, and Stripe's refund id (none for an offline payment). */
export type CancelRefund = { method: 'stripe' | 'offline'; refundId: string | null };

declare module '../work.js' {
  interface ReadAhead {
    /** A staff cancel's answer for the refund it made, stored by the refund's closing statement (then taken). */
    cancelAnswer: (r: CancelRefund) => ActionAnswer;
  }
}

const cancelRefundFrom = () => statusesFor('cancelled_by_shop').filter((s) => transition(s, 'cancelled_by_shop')!.to === 'refunded');
const CANCEL_REFUND_EVENT = { reason: 'cancelled_by_shop' };

/**
 * The cancel's refund decision (step 1 of refundCancelledOrder) as CTEs for a staff action's first round trip
 * (lib/admin/idempotency.ts storedAnswerOrderAndWrite): the same conditional write, in the statement that reads the
 * stored answer and the order. Its outcome goes to refundCancelledOrder as `decision`.
 */
export const cancelRefundDecision = {
  cte: (p: { orderId: string; unless: string; first: number }) => ({
    sql: refundDecisionCte({ orderId: p.orderId, from: `$${p.first}`, sessionId: 'NULL', paymentIntent: 'NULL', restock: 'true', event: `$${p.first + 1}`, unless: p.unless }),
    params: [cancelRefundFrom(), JSON.stringify(CANCEL_REFUND_EVENT)],
  }),
  columns: REFUND_DECISION_COLUMNS,
  parse: refundDecisionOf,
};

/**
 * cancelled_by_shop of a paid, unfulfilled order: decided with the units back on hand, refunded, the customer told
 * (with a template outside the window). Stripe is called only when this call's decision won, or to resume a refund
 * the shop decided already and never recorded (refunded, refunded_at NULL: the same refund, under the same
 * idempotency key refund:<orderId>). Otherwise nothing is done and the order as it is now comes back (`refused`):
 * it shipped, or was refunded in Stripe, or paid no more, in the meantime.
 * `decision`: the decision made already by the caller's first round trip (cancelRefundDecision), with `order` as read
 * by that statement (before it); without it, this makes the decision. The work's `cancelAnswer` is stored by the
 * statement recording the refund (then taken); the customer's notice goes on the work (`after`).
 */
export async function refundCancelledOrder(work: Work, order: Order, decision?: RefundDecision): Promise<CancelRefund | { refused: Order | null }> {
  const { decided, restocked } = decision ?? (await storeRefundDecided(order.id, cancelRefundFrom(), { sessionId: null, paymentIntent: null }, true, CANCEL_REFUND_EVENT));
  if (!decided) {
    // A refund decided earlier and never recorded, as the caller's statement read it, resumes without another read.
    const now = decision && order.paymentStatus === 'refunded' ? order : await getOrder(order.id);
    if (!now || now.paymentStatus !== 'refunded' || now.refundedAt || now.fulfillmentStatus !== 'unfulfilled') {
      log.warn('order.cancel_refund_not_decided', { orderId: order.id, status: now?.paymentStatus, fulfillment: now?.fulfillmentStatus });
      return { refused: now };
    }
    order = now;
  }
  // Redis follows Postgres: available = on hand − active holds.
  await Promise.all(restocked.map((r) => setAvailableStock(r.sku, Number(r.stock))));
  const method = order.stripePaymentIntent ? 'stripe' : 'offline';
  const notice = cancelledByShopNotice(order, method, order.insideWindow);
  const answer = work.ahead('cancelAnswer');
  const { refundId, recorded } = await refundOrder(order, notice, { reason: 'cancelled_by_shop', method }, answer ? (refundId) => answer({ method, refundId }) : undefined);
  if (recorded) work.take('cancelAnswer');
  log.warn('order.cancelled_refunded', { orderId: order.id, method, refundId, resumed: !decided });
  // Sent after the flow's answer; if this process dies first, the cleanup run's outbox retry sends the pending row.
  work.after('cancel refund: notice', sendNotices(order.id, [notice]));
  return { method, refundId };
}

/** The Stripe payment intent of `payment` when it is a second payment of `order` (paid another way, or refunded): null otherwise. */
export function duplicatePaymentIntent(order: Order, payment: Pick<PaymentRecord, 'method' | 'stripePaymentIntent'>): string | null {
  const pi = payment.method === 'stripe' ? (payment.stripePaymentIntent ?? null) : null;
  if (!pi || pi === order.stripePaymentIntent || !transition(order.paymentStatus, 'duplicate_payment')) return null;
  return pi;
}

/**
 * duplicate_payment: a Stripe payment that arrives for an order already paid another way (offline, another
 * payment intent) or already refunded goes back in full (idempotency key refund:duplicate:<payment intent>), then
 * one order event records it; the shop is alerted. The order and the customer's notices stay as they are.
 * Stripe redelivers the event until it is acknowledged, so a crash between the two steps is resumed.
 */
export async function refundDuplicatePayment(work: Work, order: Order, payment: PaymentRecord, paymentIntent: string): Promise<PaySettled> {
  let refundId: string | null = null;
  try {
    const refund = await stripe().refunds.create(
      { payment_intent: paymentIntent, reason: 'duplicate', metadata: { order_id: order.id, order_reference: order.reference, duplicate_payment: 'true' } },
      { idempotencyKey: `refund:duplicate:${paymentIntent}` },
    );
    refundId = refund.id;
  } catch (error) {
    if ((error as { code?: string }).code !== 'charge_already_refunded') throw error;
  }
  const paidBy = order.stripePaymentIntent ? 'stripe' : 'offline';
  const details = { refundId, paymentIntent, sessionId: payment.stripeSessionId ?? null, amountMinor: payment.amountMinor, currency: order.currency, orderStatus: order.paymentStatus, paidBy };
  const recorded = await storeDuplicateRefund(order.id, statusesFor('duplicate_payment'), paymentIntent, details);
  log.warn('payment.duplicate_refunded', { orderId: order.id, refundId, recorded, orderStatus: order.paymentStatus });
  return done(work, {
    outcome: order.paymentStatus === 'paid' ? { status: 'already_paid', orderId: order.id } : { status: 'refunded', orderId: order.id },
    summary: 'duplicate_payment_refunded',
    deliver: inSequence(alert({ key: `duplicate-payment-refunded:${paymentIntent}`, kind: 'duplicate_payment_refunded', orderId: order.id, details }), sendPending(order.id)),
  });
}

/** The order is paid or refunded already: a second Stripe payment goes back; the same payment is already paid. */
export async function settledAlready(work: Work, order: Order, payment: PaymentRecord): Promise<PaySettled | null> {
  const pi = duplicatePaymentIntent(order, payment);
  if (pi) return refundDuplicatePayment(work, order, payment, pi);
  return order.paymentStatus === 'paid' ? alreadyPaid(work, order.id) : null;
}
