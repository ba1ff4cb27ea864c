import { log } from '../log.js';
import { cancelledByShopNotice, refundNotice } from '../messaging/order-notices.js';
import type { Notice } from '../messaging/record.js';
import { stripe } from '../payments/stripe-client.js';
import { setAvailableStock, type Shortage } from '../stock/index.js';
import { statusesFor, transition } from './lifecycle.js';
import { getOrder, type Order } from './order.js';
import { alert, alreadyPaid, ignored, inSequence, sendNotices, sendPending, type PaySettlement } from './settlement.js';
import { storeRefundDecided, storeRefundDone } from './store.js';

/**
 * Refunds the shop decides itself, as a saga: (1) one statement decides (`refunded` + a
 * `refund_required` event), (2) Stripe refunds the payment intent under the idempotency key
 * refund:<orderId>, (3) one statement records refunded_at, the `refunded` event and the customer's
 * notice. An order `refunded` with refunded_at NULL resumes at (2) on the next event or request.
 * Two routes: a late payment on sold-out stock (`late_payment`), and the shop cancelling a paid
 * order (`cancelled_by_shop`, the units go back on hand).
 */

/** Steps 2–3: the one Stripe refund call (none for an offline payment: that money is the shop's to return). */
export async function refundOrder(order: Order, notice: Notice, event: Record<string, unknown>): Promise<{ refundId: string | null; recorded: boolean }> {
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
  const recorded = await storeRefundDone(order.id, { ...event, refundId, amountMinor: order.totalMinor, currency: order.currency }, [notice]);
  return { refundId, recorded };
}

/** late_payment: paid after the hold lapsed and the units sold meanwhile; the money goes back. */
export async function refundLatePayment(order: Order, paymentIntent: string, shortages: Shortage[], sessionId: string | null = null): Promise<PaySettlement> {
  if (order.paymentStatus !== 'refunded') {
    const event = { reason: 'out_of_stock', shortages, from: order.paymentStatus };
    const { decided } = await storeRefundDecided(order.id, statusesFor('late_payment'), { sessionId, paymentIntent }, false, event);
    if (!decided) {
      const now = await getOrder(order.id);
      if (now?.paymentStatus === 'paid') return alreadyPaid(order.id);
      if (now?.paymentStatus !== 'refunded') {
        log.error('payment.refund_not_decided', { orderId: order.id, status: now?.paymentStatus });
        return ignored(`not_refundable_in_status_${now?.paymentStatus ?? 'unknown'}`);
      }
      if (now.refundedAt) return { outcome: { status: 'refunded', orderId: order.id }, summary: 'already_refunded', deliver: sendPending(order.id) };
    }
    log.warn('order.refund_required', { orderId: order.id, shortages });
  }
  const withIntent = { ...order, stripePaymentIntent: paymentIntent };
  const notice = refundNotice(order, order.insideWindow);
  const { refundId, recorded } = await refundOrder(withIntent, notice, { paymentIntent });
  if (recorded) log.warn('order.refunded', { orderId: order.id, refundId });
  const details = { refundId, amountMinor: order.totalMinor, currency: order.currency };
  return {
    outcome: { status: 'refunded', orderId: order.id },
    summary: recorded ? 'refunded' : 'already_refunded',
    deliver: recorded
      ? inSequence(sendNotices(order.id, [notice]), alert({ key: `late-payment-refunded:${order.id}`, kind: 'late_payment_refunded', orderId: order.id, details }))
      : sendPending(order.id),
  };
}

/** cancelled_by_shop of a paid, unfulfilled order: decided with the units back on hand, refunded, the customer told (with a template outside the window). */
export async function refundCancelledOrder(order: Order): Promise<{ method: 'stripe' | 'offline'; refundId: string | null; deliver: () => Promise<void> }> {
  const fromPaid = statusesFor('cancelled_by_shop').filter((s) => transition(s, 'cancelled_by_shop')!.to === 'refunded');
  const { restocked } = await storeRefundDecided(order.id, fromPaid, { sessionId: null, paymentIntent: null }, true, { reason: 'cancelled_by_shop' });
  // Redis follows Postgres: available = on hand − active holds.
  await Promise.all(restocked.map((r) => setAvailableStock(r.sku, Number(r.stock))));
  const method = order.stripePaymentIntent ? 'stripe' : 'offline';
  const notice = cancelledByShopNotice(order, method, order.insideWindow);
  const { refundId } = await refundOrder(order, notice, { reason: 'cancelled_by_shop', method });
  log.warn('order.cancelled_refunded', { orderId: order.id, method, refundId });
  // Sent now; if this process dies first, the cleanup run's outbox retry sends the pending row.
  return { method, refundId, deliver: sendNotices(order.id, [notice]) };
}
