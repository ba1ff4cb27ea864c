import type Stripe from 'stripe';
import { log } from '../log.js';
import { closedNotice, type ClosedStatus } from '../messaging/order-notices.js';
import { expireCheckoutSession } from '../payments/checkout.js';
import { stripe } from '../payments/stripe-client.js';
import { releaseHold } from '../stock/index.js';
import { isClosedUnpaid, isOpen, refusal, statusesFor, transition, type OrderEvent, type PaymentStatus } from './lifecycle.js';
import { getOrder, type Order } from './order.js';
import { applyCompletedSession, sessionFacts } from './session.js';
import { done, ignored, nothing, sendNotices, sendPending, type PaySettled, type Settled } from './settlement.js';
import { Work } from '../work.js';
import { storeClosed, type ActionAnswer } from './store.js';

/**
 * The one close path, for every caller: the customer's "cancel" (conversation), the shop's cancel
 * of an unpaid order (admin API), cleanup when a hold lapsed, and Stripe's
 * checkout.session.expired / async_payment_failed.
 *   1. only an open order closes (lifecycle table); a closed one only has its hold released again
 *      (a replay, or a crash before the release: a no-op otherwise);
 *   2. when the event says so (`session_expired_first`) the Checkout Session is expired FIRST:
 *      after that Stripe accepts no payment for it, so releasing the stock cannot strand a payment.
 *      A session Stripe reports complete goes to the payment path instead and the order ends paid;
 *      one Stripe does not know (404) can take no payment, so the order closes;
 *   3. ONE statement: status, event with the reason, the customer's notice (store.ts storeClosed);
 *   4. the hold is released (the Lua release acts once whatever the hold's state).
 */

export type CloseEvent = Extract<OrderEvent, 'payment_failed' | 'session_expired' | 'expired_by_cleanup' | 'cancelled_by_customer' | 'cancelled_by_shop'>;
export type CloseResult = { result: 'closed' | 'paid' | 'not_closed'; reason: string; session: 'expired' | 'complete' | 'missing' | null };

const REASONS: Record<CloseEvent, string> = {
  payment_failed: 'async_payment_failed',
  session_expired: 'checkout_session_expired',
  expired_by_cleanup: 'hold lapsed',
  cancelled_by_customer: 'cancelled_by_customer',
  cancelled_by_shop: 'cancelled_by_shop',
};

/**
 * `sessionId`: the session Stripe reported, which must be the order's. What the flow put on its Work: the order as it
 * just read it (the `order` fact: saves the read; the conditional write still decides) and a staff action's answer
 * (`answer`), stored by the closing statement (lib/orders/store.ts storeClosed) and then taken.
 */
export type CloseOptions = { sessionId?: string };

/** Closes the order and sends the customer's notice (if the event has one). */
export async function closeOrder(orderId: string, event: CloseEvent, opts: CloseOptions = {}): Promise<CloseResult> {
  const work = new Work(`close ${orderId}`);
  const closed = await close(work, orderId, event, opts);
  await work.runAfter();
  return closed.outcome;
}

/**
 * Steps 1–4; the sends go on the work (`after`). A staff action's `answer` on the work is held aside (the card path's
 * payment must not store it) and taken only when the closing statement stored it.
 */
export async function close(work: Work, orderId: string, event: CloseEvent, opts: CloseOptions = {}): Promise<Settled<CloseResult>> {
  const answer = work.take('answer');
  const closed = await closeSteps(work, orderId, event, opts, answer ?? undefined);
  if (closed.outcome.result !== 'closed') work.readAhead('answer', answer);
  return closed;
}

async function closeSteps(work: Work, orderId: string, event: CloseEvent, opts: CloseOptions, answer: ActionAnswer | undefined): Promise<Settled<CloseResult>> {
  let session: CloseResult['session'] = null;
  const notClosed = (reason: string, deliver = nothing): Settled<CloseResult> => done(work, { outcome: { result: 'not_closed', reason, session }, summary: `not closed: ${reason}`, deliver });
  const releaseIfClosed = async (status: PaymentStatus | undefined) => {
    if (!status || !isClosedUnpaid(status)) return notClosed(status ?? 'unknown');
    await releaseHold(orderId);
    return notClosed(status, sendPending(orderId));
  };
  const known = work.take('order');
  const order = known?.order?.id === orderId ? known.order : await getOrder(orderId);
  if (!order) return notClosed('unknown_order');
  if (opts.sessionId && order.stripeSessionId && order.stripeSessionId !== opts.sessionId) {
    log.warn('order.close_session_mismatch', { orderId });
    return notClosed('session_mismatch');
  }
  const step = transition(order.paymentStatus, event);
  if (!step) return isOpen(order.paymentStatus) ? notClosed(refusal(order.paymentStatus, event)!) : releaseIfClosed(order.paymentStatus);

  if (step.effects.includes('session_expired_first')) {
    const card = await closeCardPathWithin(work, order);
    session = card.session;
    if (card.paid) return { ...card.paid, outcome: { result: 'paid', reason: card.paid.summary, session } };
    if (session === 'missing') log.warn('order.session_unknown_to_stripe', { orderId });
  }
  if (event === 'expired_by_cleanup' && order.paymentStatus === 'awaiting_payment' && session !== 'missing') {
    // A payment is under way without a completed session (e.g. recorded offline): the payment path owns it.
    return notClosed('payment_under_way');
  }
  const status = step.to as ClosedStatus;
  const notices = step.effects.includes('notice:closed') ? [closedNotice(order, status, order.insideWindow)] : [];
  const reason = REASONS[event];
  if (!(await storeClosed(orderId, status, statusesFor(event).filter(isOpen), reason, notices, answer))) return releaseIfClosed((await getOrder(orderId))?.paymentStatus);
  const released = await releaseHold(orderId);
  log.info('order.closed', { orderId, status, reason, hold: released });
  return done(work, { outcome: { result: 'closed', reason: status, session }, summary: `closed: ${status}`, deliver: sendNotices(orderId, notices) });
}

/**
 * Closes the card path of an open order: its Checkout Session is expired, after which Stripe accepts no payment
 * for it; a session Stripe reports complete goes to the payment path instead (`paid`: its settlement, the card
 * payment took the order — or submitted a delayed payment). The close path does this first; an offline payment
 * does it before it is recorded (lib/admin/offline-payment.ts).
 */
export async function closeCardPathWithin(work: Work, order: Pick<Order, 'paymentStatus' | 'stripeSessionId'>): Promise<{ session: CloseResult['session']; paid: PaySettled | null }> {
  if (!isOpen(order.paymentStatus) || !order.stripeSessionId) return { session: null, paid: null };
  const session = await expireCheckoutSession(order.stripeSessionId);
  return { session, paid: session === 'complete' ? await payCompletedSession(work, order.stripeSessionId) : null };
}

/** A session Stripe reports complete: the payment path, never a release. */
async function payCompletedSession(work: Work, sessionId: string): Promise<PaySettled> {
  const facts = sessionFacts(await stripe().checkout.sessions.retrieve(sessionId));
  if (!facts.orderId) return ignored('no_order_reference');
  return applyCompletedSession(work, { ...facts, orderId: facts.orderId });
}

/** A Checkout Session as Stripe reports it (completed/paid, unpaid, expired) → its order's lifecycle event; what the flow read ahead: see pay. */
export async function applyCheckoutSession(work: Work, session: Stripe.Checkout.Session): Promise<PaySettled> {
  const s = sessionFacts(session);
  if (!s.orderId) {
    log.warn('checkout.session_without_order', { sessionId: s.id });
    return ignored('no_order_reference');
  }
  if (s.status === 'complete') return applyCompletedSession(work, { ...s, orderId: s.orderId });
  if (s.status === 'expired') {
    const closed = await close(work, s.orderId, 'session_expired', { sessionId: s.id });
    return { ...closed, outcome: { status: 'ignored', reason: closed.outcome.result === 'closed' ? 'closed_expired' : 'not_open' } };
  }
  return ignored('session_open');
}

/** Applies a session and sends what it recorded. */
export async function settleCheckoutSession(session: Stripe.Checkout.Session): Promise<PaySettled['outcome']> {
  const work = new Work('checkout session');
  const settled = await applyCheckoutSession(work, session);
  await work.runAfter();
  return settled.outcome;
}
