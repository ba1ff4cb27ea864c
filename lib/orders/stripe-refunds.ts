import { log } from '../log.js';
import { messageKeys } from '../messaging/keys.js';
import { fullRefundNotice } from '../messaging/order-notices.js';
import { getOrder, isOrderId } from './order.js';
import { alert, done, inSequence, sendNotices, type Settled } from './settlement.js';
import type { Work } from '../work.js';
import { existingOrderId, orderIdByPaymentIntent } from './store-jobs.js';
import { storeStripeRefund } from './store-refunds.js';
import { storeDuplicateRefundSeen } from './store.js';
import { stripe } from '../payments/stripe-client.js';

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
 * refunded transition only, the customer's notice (lib/orders/store-refunds.ts; outbox key refund-notice:<orderId>, the same
 * key as the late-payment refund notice: one refund notice per order whatever the route). The shop
 * gets one ops alert per refund made outside the shop.
 *
 * A refund failing after these refunds made the order `refunded` moves it back to `paid` (event
 * refund_reverted; the refund_failed alert says reopened and whether the notice went out). The
 * customer is not messaged again: the shop decides (refund another way, or explain). An order our
 * own saga decided to refund (a `refund_required` event) stays `refunded`.
 *
 * A refund of a payment intent that is not the order's own, for a paid or refunded order, is the refund of a
 * second payment (lib/orders/refund.ts refundDuplicatePayment): it is recorded on the order once and never
 * counted toward its refunds (it would otherwise "refund" an order that keeps its first payment).
 */

export type StripeIdRef = string | { id: string } | null | undefined;

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
export const idOf = (ref: StripeIdRef): string | null => (typeof ref === 'string' ? ref : (ref?.id ?? null));
export const ignored = (reason: string): Settled<unknown> => ({ outcome: null, summary: `ignored: ${reason}` });

/**
 * The order a Stripe payment object belongs to: by its payment intent (recorded when the order was
 * paid), by the order id our own refunds carry in metadata, else by the Checkout Session that
 * created the payment intent (an event that overtook checkout.session.completed).
 */
export async function orderOf(paymentIntent: string | null, metadata: Record<string, string> | null | undefined): Promise<string | null> {
  if (paymentIntent) {
    const id = await orderIdByPaymentIntent(paymentIntent);
    if (id) return id;
  }
  const hinted = metadata?.order_id;
  if (hinted && isOrderId(hinted)) {
    const id = await existingOrderId(hinted);
    if (id) return id;
  }
  if (!paymentIntent) return null;
  const sessions = await stripe().checkout.sessions.list({ payment_intent: paymentIntent, limit: 1 });
  const session = sessions.data[0];
  const fromSession = session?.client_reference_id ?? session?.metadata?.order_id ?? null;
  if (!fromSession || !isOrderId(fromSession)) return null;
  return existingOrderId(fromSession);
}

/** charge.refunded: the charge's refunds (listed in the event, or fetched when the API version leaves them out), each applied once. */
export async function applyChargeRefunded(work: Work, charge: ChargeFacts): Promise<Settled<unknown>> {
  let refunds = charge.refunds && !charge.refunds.has_more ? charge.refunds.data : [];
  if (refunds.length === 0 && charge.amount_refunded > 0) {
    const listed = await stripe().refunds.list({ charge: charge.id, limit: 100 });
    refunds = listed.data as unknown as RefundFacts[];
  }
  if (refunds.length === 0) return ignored('charge without refunds');
  const outcomes: Settled<unknown>[] = [];
  // Oldest first, so the refund that completes the full amount is the one recorded as `refunded`.
  for (const r of [...refunds].reverse()) outcomes.push(await applyRefund(work, { ...r, payment_intent: r.payment_intent ?? charge.payment_intent, charge: charge.id }));
  return {
    outcome: outcomes.map((o) => o.outcome),
    summary: outcomes.map((o) => o.summary).join('; ').slice(0, 500),
  };
}

/** refund.created / refund.updated / refund.failed (and charge.refunded, per refund). */
export async function applyRefund(work: Work, refund: RefundFacts): Promise<Settled<unknown>> {
  const orderId = await orderOf(idOf(refund.payment_intent), refund.metadata);
  if (!orderId) {
    log.info('refund.not_ours', { refundId: refund.id });
    return ignored('refund of a payment that is not an order of this shop');
  }
  const order = await getOrder(orderId);
  if (!order) return ignored('unknown order');
  if (refund.currency.toUpperCase() !== order.currency) {
    log.error('refund.currency_mismatch', { orderId, refundId: refund.id });
    return done(work, { ...ignored('currency mismatch'), deliver: alert({ key: `refund-mismatch:${refund.id}`, kind: 'refund_currency_mismatch', orderId, details: { refundId: refund.id, currency: refund.currency } }) });
  }
  const pi = idOf(refund.payment_intent);
  if (pi && pi !== order.stripePaymentIntent && (order.paymentStatus === 'paid' || order.paymentStatus === 'refunded')) {
    // A refund of a second payment (refundDuplicatePayment, or the shop in the dashboard): that money never
    // counted toward the order, so neither does its refund. Recorded once unless our own event explains it.
    const seen = await storeDuplicateRefundSeen(orderId, refund.id, { paymentIntent: pi, amountMinor: refund.amount, currency: order.currency, status: refund.status ?? 'pending' });
    log.info('refund.of_duplicate_payment', { orderId, refundId: refund.id, recorded: seen });
    return ignored('refund of a duplicate payment (not counted toward the order)');
  }
  const ours = refund.metadata?.order_id === orderId;
  const status = refund.status ?? 'pending';
    const notice = fullRefundNotice(order, order.insideWindow);
  const details = { refundId: refund.id, amountMinor: refund.amount, currency: order.currency, status, reason: refund.reason ?? null, ours };
  const row = await storeStripeRefund({
    orderId,
    refundId: refund.id,
    amountMinor: refund.amount,
    currency: order.currency,
    status,
    reason: refund.reason ?? null,
    ours,
    details,
    notice,
    noticeKey: messageKeys.refund(orderId),
  });
  if (!row) return ignored('order vanished');
  const { recorded, reopened, refundedMinor } = row;
  const full = row.isFull;
  if (recorded || full) log.warn('order.refund_recorded', { orderId, refundId: refund.id, type: recorded, full, ours });
  if (reopened) log.warn('order.refund_reverted', { orderId, refundId: refund.id, refundedMinor });

  const steps: (() => Promise<void>)[] = [];
  if (full && notice) steps.push(sendNotices(orderId, [notice]));
  if (recorded && recorded !== 'refund_failed' && !ours) {
    steps.push(
      alert({
        key: `refund:${refund.id}`,
        kind: full ? 'order_refunded' : recorded === 'partially_refunded' ? 'order_partially_refunded' : 'refund_recorded',
        orderId,
        details: { ...details, refundedMinor, totalMinor: order.totalMinor, orderStatus: row.paymentStatus, customerNotified: full ? notice !== null : false },
      }),
    );
  }
  if (recorded === 'refund_failed' || row.failed || reopened) {
    // Reopened: the customer may have been told of a full refund (refundNotice 'sent'). No automatic
    // correction goes out: the shop decides (refund again, or explain); a new full refund sends nothing twice.
    const reopenedDetails = reopened ? { orderStatus: row.paymentStatus, reopened, refundNotice: row.noticeStatus ?? 'none' } : {};
    steps.push(alert({ key: `refund-failed:${refund.id}`, kind: 'refund_failed', orderId, details: { ...details, refundedMinor, ...reopenedDetails } }));
  }
  return done(work, {
    outcome: { orderId, refundId: refund.id, refundedMinor, paymentStatus: row.paymentStatus },
    summary: recorded ?? (row.failed ? 'refund_failed' : 'refund_already_recorded'),
    deliver: inSequence(...steps),
  });
}

