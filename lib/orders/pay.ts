import { inviteExpiry, newInviteToken } from '../invites/store.js';
import { log } from '../log.js';
import { confirmationNotice, inviteLinkNotice } from '../messaging/order-notices.js';
import { commitHold, type Shortage } from '../stock/index.js';
import { refusal } from './lifecycle.js';
import { arrivalText, paidFulfilment, type PaidFulfilment } from './shipping.js';
import { getOrder, type Order } from './order.js';
import { refundLatePayment, settledAlready } from './refund.js';
import { alert, alreadyPaid, done, ignored, inSequence, sendClaimed, sendPending, type PaymentRecord, type PaySettled, type SettleOutcome } from './settlement.js';
import { Work } from '../work.js';

export type { PaymentRecord, SettleOutcome };
import { recordOrderEvent, storeAwaitingPayment, storePaid } from './store.js';

/**
 * Paying an order (event `paid`, or `late_payment` when the stock is gone): every route ends here
 * (Stripe Checkout, async methods, offline payments, cleanup finding a session complete), so an
 * order is confirmed exactly once whatever the route.
 *   1. cross-check the payment against the order (session id, amount, currency); a mismatch is
 *      recorded as an order event and alerted, and changes nothing;
 *   2. Redis: commitHold — the hold becomes a sale, or, if it lapsed, the units are taken again;
 *   3. Postgres, ONE statement (store.ts storePaid): paid, its event, stock on hand, the invite
 *      token and the two notices (confirmation + invite link) recorded already claimed by this
 *      caller, and the Stripe event that paid it marked processed;
 *   4. the sends, left on the flow's Work (`work.after`, lib/work.ts): no claim round trip, both outcomes
 *      recorded in one (lib/messaging/record.ts deliverClaimed).
 * The Stripe event's flow puts on the Work the order it read in the round trip that recorded the event (the
 * `order` fact) and the event for storePaid to mark processed (`inboundEvent`); the other routes let step 1 read it.
 * If step 2 finds the stock gone, a Stripe payment goes back (refund.ts); an offline one is alerted.
 * A Stripe payment (another payment intent) for an order already paid another way, or refunded, is a
 * duplicate: it goes back in full, with an order event and an ops alert (refund.ts refundDuplicatePayment),
 * whether the order was paid before it arrived or by a payment that won the race to storePaid.
 */

/** Marks the order paid (commits or re-holds its stock; refunds when the stock is gone), then sends confirmation + invite link once. */
export async function markOrderPaid(orderId: string, payment: PaymentRecord): Promise<SettleOutcome> {
  const work = new Work(`pay ${orderId}`);
  const settled = await pay(work, orderId, payment);
  await work.runAfter();
  return settled.outcome;
}

function mismatchOf(order: Order, payment: PaymentRecord): string | null {
  if (payment.stripeSessionId && order.stripeSessionId && payment.stripeSessionId !== order.stripeSessionId) return 'session_mismatch';
  if (payment.currency.toUpperCase() !== order.currency) return 'currency_mismatch';
  // A Checkout Session's amount covers the items, the shipping and the tax it reports.
  if (payment.amountMinor !== order.totalMinor + (payment.checkout ? payment.checkout.shippingMinor + payment.checkout.taxMinor : 0)) return 'amount_mismatch';
  return null;
}

/** A payment that does not match its order: recorded and alerted, nothing changes. Null when it matches. */
async function refuseMismatch(work: Work, order: Order, payment: PaymentRecord): Promise<PaySettled | null> {
  const mismatch = mismatchOf(order, payment);
  if (!mismatch) return null;
  const currency = payment.currency.toUpperCase();
  log.error('payment.mismatch', { orderId: order.id, reason: mismatch, expected: { amountMinor: order.totalMinor, currency: order.currency }, got: { amountMinor: payment.amountMinor, currency } });
  const { method, reference } = payment;
  await recordOrderEvent(order.id, 'payment_mismatch', { reason: mismatch, method, reference, sessionId: payment.stripeSessionId ?? null, amountMinor: payment.amountMinor, currency });
  return done(work, {
    ...ignored(mismatch),
    deliver: alert({
      key: `payment-mismatch:${order.id}:${reference}`,
      kind: 'payment_mismatch',
      orderId: order.id,
      details: { reason: mismatch, method, expectedMinor: order.totalMinor, gotMinor: payment.amountMinor, gotCurrency: currency },
    }),
  });
}

/**
 * The order as the flow read it (the work's `order` fact, e.g. read with the Stripe event's record), when it is this
 * one; else read now. The work may also carry the inbound event to mark processed with the payment, a staff
 * action's answer to store with it and what else the action's owner records with it (`inboundEvent`, `answer`,
 * `paidWith`: storePaid's PaidWith; each taken only if this step's statement pays the order).
 */
export const orderFor = async (work: Work, orderId: string): Promise<Order | null> => {
  const known = work.take('order');
  return !known || (known.order && known.order.id !== orderId) ? getOrder(orderId) : known.order;
};

/** Steps 1–3 of paying an order (see the header); the sends go on the work (`after`). */
export async function pay(work: Work, orderId: string, payment: PaymentRecord): Promise<PaySettled> {
  const order = await orderFor(work, orderId);
  if (!order) {
    log.error('payment.unknown_order', { method: payment.method });
    const details = { method: payment.method, reference: payment.reference };
    return done(work, { ...ignored('unknown_order'), deliver: alert({ key: `payment-unknown-order:${payment.reference}`, kind: 'payment_unknown_order', details }) });
  }
  // A second Stripe payment of an order paid another way (or refunded) goes back; the same payment again is already paid.
  const settled = await settledAlready(work, order, payment);
  if (settled) return settled;
  if (order.paymentStatus === 'refunded') {
    // A refund decided but not recorded yet (refunded_at NULL) resumes at the Stripe call.
    if (!order.refundedAt && order.stripePaymentIntent) return refundLatePayment(work, order, order.stripePaymentIntent, []);
    return done(work, { outcome: { status: 'refunded', orderId }, summary: 'already_refunded', deliver: sendPending(orderId) });
  }
  const refused = await refuseMismatch(work, order, payment);
  if (refused) return refused;

  const hold = await commitHold(orderId, order.items.map((i) => ({ sku: i.sku, quantity: i.quantity })));
  if (hold.status === 'short') return stockGone(work, order, payment, hold.shortages);

  const token = newInviteToken();
  const fulfilment = paidFulfilment(order, payment.checkout ?? null);
  const notices = [confirmationNotice({ ...order, totalMinor: fulfilment.totalMinor }, arrivalText(fulfilment)), inviteLinkNotice(order, token, order.insideWindow)];
  const event = {
    method: payment.method,
    reference: payment.reference,
    amountMinor: payment.amountMinor,
    currency: order.currency,
    sessionId: payment.stripeSessionId ?? null,
    paymentIntent: payment.stripePaymentIntent ?? null,
    hold: hold.status,
    ...(fulfilment.mode !== 'none' || fulfilment.taxMinor ? { fulfilment: fulfilmentEvent(fulfilment) } : {}),
  };
  const ids = { sessionId: payment.stripeSessionId ?? null, paymentIntent: payment.stripePaymentIntent ?? null, paidAt: payment.paidAt ?? null, offline: payment.method === 'offline' };
  const sends = await storePaid(orderId, ids, event, { token, expiresAt: inviteExpiry() }, notices, { inboundEventId: work.ahead('inboundEvent') ?? undefined, fulfilment, answer: work.ahead('answer') ?? undefined, with: work.ahead('paidWith') ?? undefined });
  if (sends) {
    log.info('order.paid', { orderId, method: payment.method, hold: hold.status, from: order.paymentStatus });
    // A notice recorded before (not claimed now) is sent the usual way, after ours.
    const sent = sends.length === notices.length ? sendClaimed(orderId, sends) : inSequence(sendClaimed(orderId, sends), sendPending(orderId));
    const deliver = fulfilment.problem ? inSequence(sent, shippingProblemAlert(order, fulfilment)) : sent;
    // This statement marked the inbound event processed and stored the staff answer: taken.
    work.take('inboundEvent');
    work.take('answer');
    work.take('paidWith');
    return done(work, { outcome: { status: 'paid', orderId }, summary: 'paid', deliver });
  }
  const now = await getOrder(orderId);
  // Paid (or refunded) by another payment that won the race: this one goes back if it is a second payment.
  const lost = now ? await settledAlready(work, now, payment) : null;
  if (lost) return lost;
  // Only a race with another state change lands here (the checks above passed).
  log.error('payment.not_applied', { orderId, status: now?.paymentStatus, hold: hold.status });
  return ignored(`not_payable_in_status_${now?.paymentStatus ?? 'unknown'}`);
}

/** The paid event's summary of what ships how (the timeline shows it). */
const fulfilmentEvent = (f: PaidFulfilment) => ({
  mode: f.mode,
  rate: f.rate?.name ?? null,
  country: f.address?.country ?? null,
  itemsMinor: f.itemsMinor,
  shippingMinor: f.shippingMinor,
  taxMinor: f.taxMinor,
  totalMinor: f.totalMinor,
  problem: f.problem,
});

/** A paid order that cannot ship as it is (no address for a shipped product): ops hear it, the console flags it (orders.shipping_problem). */
function shippingProblemAlert(order: Order, f: PaidFulfilment) {
  log.error('order.shipping_problem', { orderId: order.id, problem: f.problem, mode: f.mode });
  return alert({ key: `shipping-problem:${order.id}`, kind: 'shipping_problem', orderId: order.id, details: { reference: order.reference, problem: f.problem } });
}

/** The hold lapsed and the units sold meanwhile: a Stripe payment goes back (late_payment); an offline one is the shop's to sort out. */
async function stockGone(work: Work, order: Order, payment: PaymentRecord, shortages: Shortage[]): Promise<PaySettled> {
  if (payment.method === 'stripe' && payment.stripePaymentIntent) return refundLatePayment(work, order, payment.stripePaymentIntent, shortages, payment.stripeSessionId ?? null);
  log.error('payment.stock_gone', { orderId: order.id, method: payment.method, shortages });
  await recordOrderEvent(order.id, 'payment_unfulfillable', { method: payment.method, reference: payment.reference, shortages });
  const details = { method: payment.method, shortages };
  return done(work, { ...ignored('out_of_stock'), deliver: alert({ key: `payment-unfulfillable:${order.id}:${payment.reference}`, kind: 'payment_unfulfillable', orderId: order.id, details }) });
}

/** payment_submitted: a delayed payment method (SEPA, bank transfer) was submitted; the order waits for it, keeping its hold. */
export async function awaitPayment(work: Work, orderId: string, payment: PaymentRecord & { stripeSessionId: string }): Promise<PaySettled> {
  const order = await orderFor(work, orderId);
  if (!order) return ignored('unknown_order');
  if (order.paymentStatus === 'paid') return alreadyPaid(work, orderId);
  const refused = await refuseMismatch(work, order, payment);
  if (refused) return refused;
  if (await storeAwaitingPayment(orderId, { sessionId: payment.stripeSessionId, paymentIntent: payment.stripePaymentIntent ?? null })) {
    log.info('order.awaiting_payment', { orderId });
    return { outcome: { status: 'awaiting_payment', orderId }, summary: 'awaiting_payment' };
  }
  const now = await getOrder(orderId);
  if (now?.paymentStatus === 'awaiting_payment') return { outcome: { status: 'awaiting_payment', orderId }, summary: 'already_awaiting_payment' };
  log.info('order.not_awaiting', { orderId, why: now ? refusal(now.paymentStatus, 'payment_submitted') : 'unknown order' });
  return ignored(`not_pending_${now?.paymentStatus ?? 'unknown'}`);
}
