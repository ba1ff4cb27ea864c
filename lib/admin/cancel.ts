import { messageKeys } from '../messaging/keys.js';
import { closeOrder } from '../orders/close.js';
import { isOpen } from '../orders/lifecycle.js';
import { getOrder, isOrderId } from '../orders/order.js';
import { refundCancelledOrder } from '../orders/refund.js';
import { releaseHold } from '../stock/index.js';
import { conflict, notFound } from '../http/errors.js';
import type { AdminResult } from './result.js';
import { requestHash, sha256, storeAnswer, storedAnswer } from './idempotency.js';

/**
 * POST /api/orders/:id/cancel — the shop cancels an order that has not shipped.
 *
 *  - unpaid (pending): its Checkout Session is expired first, so it can no longer be paid, then
 *    the one close path closes it (lib/orders/close.ts: status `cancelled`, hold released, the
 *    customer told once). If Stripe says the session was completed meanwhile, the payment path
 *    takes it (the order ends paid) and the answer is 409 payment_in_progress, as for an order
 *    awaiting an async payment — once the payment lands, cancelling again refunds it.
 *  - paid: one statement decides the refund (status `refunded`, `refund_required` event, the
 *    units go back to stock); then Stripe refunds the payment intent (idempotency key
 *    refund:<orderId>, as the payment path uses); then refunded_at, the `refunded` event and the
 *    customer's notice in the same statement (outbox key "cancelled:<orderId>", the hold_expired
 *    template outside the 24-hour window): lib/orders/refund.ts. A retry resumes where it stopped. An
 *    order paid offline has no Stripe payment: it is recorded refunded and the refund is the shop's.
 *  - already closed (expired, cancelled, refunded): nothing to do; the hold release is repeated.
 * Every answer is stored under sha256("cancel:<orderId>"): a repeated cancel answers the same.
 */

export const cancelEventKey = messageKeys.cancelledByShop;

export async function cancelOrder(orderId: string): Promise<AdminResult> {
  if (!isOrderId(orderId)) throw notFound('order');
  const key = sha256(cancelEventKey(orderId));
  const hash = requestHash({});
  const stored = await storedAnswer(key, hash);
  if (stored) return stored;

  let order = await getOrder(orderId);
  if (!order) throw notFound('order');
  // Shipped or delivered (docs/fulfilment.md): never cancelled by the shop (the refund step's gate would not decide it either).
  if (order.fulfillmentStatus !== 'unfulfilled') throw conflict('already_shipped', `a ${order.fulfillmentStatus} order cannot be cancelled here`);

  let refund: Record<string, unknown> | null = null;
  if (isOpen(order.paymentStatus)) {
    const closed = await closeOrder(orderId, 'cancelled_by_shop');
    order = (await getOrder(orderId))!;
    if (closed.result !== 'closed' && (isOpen(order.paymentStatus) || order.paymentStatus === 'paid')) throw paymentInProgress();
  } else if (order.paymentStatus === 'paid' || (order.paymentStatus === 'refunded' && !order.refundedAt)) {
    const r = await refundCancelledOrder(order);
    await r.deliver();
    refund = { method: r.method, id: r.refundId, amountMinor: order.totalMinor, currency: order.currency, status: r.method === 'stripe' ? 'refunded' : 'manual' };
    order = (await getOrder(orderId))!;
  } else {
    // Already closed: repeating the release is a no-op, and keeps a crashed close from holding units.
    await releaseHold(orderId);
  }

  const body = {
    orderId: order.id,
    reference: order.reference,
    paymentStatus: order.paymentStatus,
    fulfillmentStatus: order.fulfillmentStatus,
    refund,
  };
  return storeAnswer(key, hash, 200, body);
}

const paymentInProgress = () =>
  conflict('payment_in_progress', 'the customer has just paid or a payment is being processed; cancel again once it settled to refund it');
