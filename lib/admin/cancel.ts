import { messageKeys } from '../messaging/keys.js';
import { close } from '../orders/close.js';
import { isOpen } from '../orders/lifecycle.js';
import { getOrder, isOrderId, type Order } from '../orders/order.js';
import { cancelRefundDecision, refundCancelledOrder } from '../orders/refund.js';
import { cancelRefundOf } from '../orders/store.js';
import { releaseHold } from '../stock/index.js';
import { notFound } from '../errors.js';
import { Work } from '../work.js';
import { stateConflict, type AdminResult } from './result.js';
import { orderState, requestHash, sha256, storeAnswer, storedAnswerOrderAndWrite } from './idempotency.js';

/**
 * POST /api/orders/:id/cancel — the shop cancels an order that has not shipped.
 *
 *  - unpaid (pending): its Checkout Session is expired first, so it can no longer be paid, then
 *    the one close path closes it (lib/orders/close.ts: status `cancelled`, hold released, the
 *    customer told once). If Stripe says the session was completed meanwhile, the payment path
 *    takes it (the order ends paid) and the answer is 409 payment_in_progress, as for an order
 *    awaiting an async payment — once the payment lands, cancelling again refunds it.
 *  - paid: one statement decides the refund (status `refunded`, `refund_required` event, the
 *    units go back to stock) — only from paid, unfulfilled: a concurrent "shipped" and this
 *    decision exclude each other in Postgres; then Stripe refunds the payment intent (idempotency
 *    key refund:<orderId>, as the payment path uses) — only when this decision won, or to resume a
 *    refund decided and never recorded; then refunded_at, the `refunded` event and the
 *    customer's notice in the same statement (outbox key "cancelled:<orderId>", the hold_expired
 *    template outside the 24-hour window): lib/orders/refund.ts. A retry resumes where it stopped. An
 *    order paid offline has no Stripe payment: it is recorded refunded and the refund is the shop's.
 *    A decision that lost (the order shipped, or was refunded in Stripe, meanwhile) answers 409 with
 *    the order's current state; nothing is refunded and nobody is told.
 *  - already cancelled: nothing to do (200); the hold release is repeated. Closed another way (expired by
 *    the cleanup, payment failed) — also when that won the race against this cancel: 409 already_closed with
 *    the order's state. Refunded not by a cancel: 409 already_refunded.
 * Every answer is stored under sha256("cancel:<orderId>"), bound to the order state it reported: a
 * repeated cancel answers the same while the order stays so; once it changed (say, the cancelled order
 * was paid late), the cancel runs anew.
 */

export const cancelEventKey = messageKeys.cancelledByShop;

export async function cancelOrder(orderId: string): Promise<AdminResult> {
  if (!isOrderId(orderId)) throw notFound('order');
  const key = sha256(cancelEventKey(orderId));
  const hash = requestHash({});
  // Round trip 1: the stored answer and the order, and — unless that answer stands — a paid order's refund decision
  // (the conditional write that excludes a concurrent "shipped"; it does nothing for an order that is not paid and
  // unfulfilled). The order comes back as it was before the decision.
  const { stored, order: found, wrote: decision } = await storedAnswerOrderAndWrite(key, hash, orderId, cancelRefundDecision);
  if (stored) return stored;

  let order = found;
  if (!order) throw notFound('order');
  // A fast refusal; the decision below is made by the conditional write itself, never by this read.
  if (order.fulfillmentStatus !== 'unfulfilled') throw alreadyShipped(order);

  // One Work for the action: the facts its steps use instead of a round trip (the order as read, the answer their
  // statement stores) and the customer's notices, sent after the answer.
  const work = new Work(`cancel ${orderId}`);
  let refund: Record<string, unknown> | null = null;
  let after: (() => Promise<void>) | undefined;
  if (isOpen(order.paymentStatus)) {
    // The answer reports what this cancel's write leaves (cancelled), even if a late payment has paid the order since:
    // bound to that state, a later cancel then runs anew (and refunds) instead of replaying this answer. Round trip 2:
    // the closing statement stores it; the customer's notice goes after the answer.
    const cancelled: Order = { ...order, paymentStatus: 'cancelled' };
    const body = bodyOf(cancelled, null);
    work.readAhead('order', { order }).readAhead('answer', { key, hash, body, state: orderState(cancelled).state });
    const settled = await close(work, orderId, 'cancelled_by_shop');
    if (settled.outcome.result === 'closed') return { status: 200, body, replayed: false, after: () => work.runAfter() };
    await work.runAfter(); // what the card path's payment (or a replayed close) recorded
    order = (await getOrder(orderId))!;
    if (isOpen(order.paymentStatus) || order.paymentStatus === 'paid') throw paymentInProgress(order);
    if (order.paymentStatus !== 'cancelled') throw alreadyClosed(order); // expired (cleanup) or failed meanwhile
  } else if (order.paymentStatus === 'paid' || (order.paymentStatus === 'refunded' && !order.refundedAt)) {
    // The refund's statements leave it refunded (and unfulfilled: the decision's gate); the one recording the refund
    // stores this answer too (round trips: the read with the decision, the record), and the notice goes after the answer.
    const refunded: Order = { ...order, paymentStatus: 'refunded' };
    const refundOf = (r: { method: 'stripe' | 'offline'; refundId: string | null }) => ({
      method: r.method,
      id: r.refundId,
      amountMinor: refunded.totalMinor,
      currency: refunded.currency,
      status: r.method === 'stripe' ? 'refunded' : 'manual',
    });
    work.readAhead('cancelAnswer', (made) => ({ key, hash, body: bodyOf(refunded, refundOf(made)), state: orderState(refunded).state }));
    const r = await refundCancelledOrder(work, order, decision);
    if ('refused' in r) throw lostTo(r.refused);
    refund = refundOf(r);
    order = refunded;
    after = () => work.runAfter();
    // The statement recording the refund stored the answer (took it): answered.
    if (!work.ahead('cancelAnswer')) return { status: 200, body: bodyOf(order, refund), replayed: false, after };
  } else if (order.paymentStatus === 'refunded') {
    // Refunded by an earlier cancel whose answer was never stored (it died after the refund): that answer again.
    const made = await cancelRefundOf(orderId);
    if (!made) throw stateConflict('already_refunded', 'the order was refunded already (not by a cancel); nothing was done', order);
    refund = { method: made.method, id: made.refundId, amountMinor: order.totalMinor, currency: order.currency, status: made.method === 'stripe' ? 'refunded' : 'manual' };
  } else {
    // Already closed: repeating the release is a no-op, and keeps a crashed close from holding units.
    await releaseHold(orderId);
    if (order.paymentStatus !== 'cancelled') throw alreadyClosed(order);
  }

  const answer = await storeAnswer(key, hash, 200, bodyOf(order, refund), orderState(order));
  return after ? { ...answer, after } : answer;
}

const bodyOf = (order: Order, refund: Record<string, unknown> | null) => ({
  orderId: order.id,
  reference: order.reference,
  paymentStatus: order.paymentStatus,
  fulfillmentStatus: order.fulfillmentStatus,
  refund,
});

const alreadyShipped = (order: Order) => stateConflict('already_shipped', 'a shipped order cannot be cancelled here', order);

/** The cancel's refund decision lost: answer with what won. */
function lostTo(now: Order | null) {
  if (!now) return notFound('order');
  if (now.fulfillmentStatus !== 'unfulfilled') return alreadyShipped(now);
  if (now.paymentStatus === 'refunded') return stateConflict('already_refunded', 'the order was refunded meanwhile (not by this cancel); nothing was done', now);
  return stateConflict('order_changed', `the order changed meanwhile (now ${now.paymentStatus}); nothing was done`, now);
}

const alreadyClosed = (order: Order) => stateConflict('already_closed', `the order is ${order.paymentStatus.replaceAll('_', ' ')} already (not cancelled); nothing was done`, order);

const paymentInProgress = (order: Order) =>
  stateConflict('payment_in_progress', 'the customer has just paid or a payment is being processed; cancel again once it settled to refund it', order);
