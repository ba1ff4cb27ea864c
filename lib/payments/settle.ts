import type Stripe from 'stripe';
import { SERVICE_WINDOW_MS } from '../customers.js';
import { db } from '../db.js';
import { inviteExpiry, newInviteToken } from '../invites.js';
import { log } from '../log.js';
import {
  closedNotice,
  confirmationNotice,
  deliverNotices,
  deliverPendingNotices,
  inviteLinkNotice,
  outboxInsertSql,
  outboxRows,
  refundNotice,
  type ClosedStatus,
  type OrderNotice,
} from '../notifications/order-paid.js';
import { raiseOpsAlert, type OpsAlertInput } from '../ops-alerts.js';
import { orderColumns, toOrder, type Order, type PaymentStatus } from '../orders.js';
import { commitHold, releaseHold, type Shortage } from '../stock/index.js';
import { expireCheckoutSession } from './checkout.js';
import { stripe } from './stripe-client.js';

/**
 * The payment path: every way an order gets paid (Stripe Checkout, async methods, offline
 * payments recorded by the shop, cleanup finding a session already complete) ends here, so an
 * order is confirmed exactly once whatever the route.
 *
 * Paying an order:
 *   1. cross-check the payment against the order (session id, amount, currency); a mismatch is
 *      recorded as an order event and changes nothing;
 *   2. Redis: commitHold — the hold becomes a sale, or, if it lapsed, the units are taken again;
 *   3. Postgres, ONE statement: the conditional UPDATE orders → paid (the gate: concurrent
 *      duplicates find nothing to update), its order_events row, variants.stock decremented, the
 *      invite_tokens row and the two outbox rows (confirmation + invite link);
 *   4. the sends (the caller may defer them until after its HTTP answer: they are in the outbox).
 * If step 2 finds the stock gone (hold lapsed and sold meanwhile), the money goes back: the order
 * is marked `refunded` (refund decided), Stripe refunds it (idempotency key refund:<orderId>),
 * then refunded_at, the `refunded` event and the customer's notice are recorded together. A
 * `refunded` order whose refunded_at is still NULL resumes at the Stripe call on the next event.
 */

export type PaymentRecord = {
  method: 'stripe' | 'offline';
  amountMinor: number;
  currency: string;
  /** Stripe session id / payment intent, or the shop's offline payment reference. */
  reference: string;
  stripeSessionId?: string | null;
  stripePaymentIntent?: string | null;
  paidAt?: Date;
};

export type SettleOutcome =
  | { status: 'paid' | 'already_paid'; orderId: string }
  | { status: 'refunded'; orderId: string }
  | { status: 'awaiting_payment'; orderId: string }
  | { status: 'ignored'; reason: string };

/** What a payment-path step did, and the WhatsApp sends to make once that is durable (never throws). */
export type Settlement<T = SettleOutcome> = { outcome: T; summary: string; deliver: () => Promise<void> };

/** Marks the order paid (commits or re-holds its stock; refunds when the stock is gone), then sends confirmation + invite link once. */
export async function markOrderPaid(orderId: string, payment: PaymentRecord): Promise<SettleOutcome> {
  const settled = await applyPayment(orderId, payment);
  await settled.deliver();
  return settled.outcome;
}

/** Applies a Checkout Session Stripe reports (completed/paid, unpaid, expired) to its order. */
export async function settleCheckoutSession(session: Stripe.Checkout.Session): Promise<SettleOutcome> {
  const settled = await applyCheckoutSession(session);
  await settled.deliver();
  return settled.outcome;
}

/** Closes an unpaid order (hold lapsed, session expired, async payment failed): releases its hold, records why, tells the customer once. */
export async function closeUnpaidOrder(orderId: string, status: 'expired' | 'payment_failed' | 'cancelled', reason: string, opts: CloseOptions = {}): Promise<{ closed: boolean }> {
  const settled = await applyClose(orderId, status, reason, undefined, opts);
  await settled.deliver();
  return settled.outcome;
}

/**
 * Closes an open order the safe way round: its Checkout Session is expired first (after that Stripe
 * accepts no payment for it, so releasing the stock cannot strand a payment); a session Stripe
 * reports complete goes to the payment path instead, and the order ends paid.
 */
export async function expireThenClose(
  order: Pick<Order, 'id' | 'stripeSessionId'>,
  status: 'expired' | 'cancelled',
  reason: string,
  opts: CloseOptions = {},
): Promise<'closed' | 'paid' | 'not_closed'> {
  if (order.stripeSessionId && (await expireCheckoutSession(order.stripeSessionId)) === 'complete') {
    await settleCheckoutSession(await stripe().checkout.sessions.retrieve(order.stripeSessionId));
    return 'paid';
  }
  return (await closeUnpaidOrder(order.id, status, reason, opts)).closed ? 'closed' : 'not_closed';
}

// ---------------------------------------------------------------------------------------------

/** Statuses an order may be paid from: a late payment of an expired/cancelled/failed order still counts. */
const PAYABLE: PaymentStatus[] = ['pending', 'awaiting_payment', 'expired', 'cancelled', 'payment_failed'];
const CLOSABLE: PaymentStatus[] = ['pending', 'awaiting_payment'];
const CLOSED: PaymentStatus[] = ['expired', 'payment_failed', 'cancelled'];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export type SettleOrder = Order & { stripePaymentIntent: string | null; refundedAt: Date | null; insideWindow: boolean };

export async function loadOrder(orderId: string): Promise<SettleOrder | null> {
  if (!UUID.test(orderId)) return null;
  const [row] = await db().query(
    `SELECT ${orderColumns()}, o.stripe_payment_intent, o.refunded_at, c.last_inbound_at AS customer_last_inbound_at
     FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.id = $1`,
    [orderId],
  );
  if (!row) return null;
  const last = row.customer_last_inbound_at ? new Date(row.customer_last_inbound_at as string) : null;
  return {
    ...toOrder(row),
    stripePaymentIntent: (row.stripe_payment_intent as string | null) ?? null,
    refundedAt: row.refunded_at ? new Date(row.refunded_at as string) : null,
    insideWindow: last !== null && Date.now() - last.getTime() < SERVICE_WINDOW_MS,
  };
}

const quietly = (what: string, orderId: string, fn: () => Promise<unknown>) => async () => {
  try {
    await fn();
  } catch (error) {
    // Everything to send is in the outbox: the next replay or the cleanup run sends it.
    log.error('notice.delivery_failed', { what, orderId, error });
  }
};
const sendNotices = (orderId: string, notices: OrderNotice[]) => quietly('notices', orderId, () => deliverNotices(notices));
const sendPending = (orderId: string) => quietly('pending', orderId, () => deliverPendingNotices(orderId));
const nothing = async () => {};
/** Operators hear about money that arrived for an order we could not fulfil as paid (once per key). */
const alert = (a: OpsAlertInput) => quietly('ops_alert', a.orderId ?? '', () => raiseOpsAlert(a));
const both = (...steps: (() => Promise<void>)[]) => async () => {
  for (const step of steps) await step();
};

function ignored(reason: string): Settlement {
  return { outcome: { status: 'ignored', reason }, summary: `ignored: ${reason}`, deliver: nothing };
}

async function recordOrderEvent(orderId: string, type: string, data: Record<string, unknown>): Promise<void> {
  await db()`INSERT INTO order_events (order_id, type, data) VALUES (${orderId}, ${type}, ${JSON.stringify(data)}::jsonb)`;
}

function mismatchOf(order: SettleOrder, payment: PaymentRecord): string | null {
  if (payment.stripeSessionId && order.stripeSessionId && payment.stripeSessionId !== order.stripeSessionId) return 'session_mismatch';
  if (payment.currency.toUpperCase() !== order.currency) return 'currency_mismatch';
  if (payment.amountMinor !== order.totalMinor) return 'amount_mismatch';
  return null;
}

/** Steps 1–3 of paying an order (see the header); the sends are left to `deliver`. */
export async function applyPayment(orderId: string, payment: PaymentRecord): Promise<Settlement> {
  const order = await loadOrder(orderId);
  if (!order) {
    log.error('payment.unknown_order', { method: payment.method });
    return {
      ...ignored('unknown_order'),
      deliver: alert({ key: `payment-unknown-order:${payment.reference}`, kind: 'payment_unknown_order', details: { method: payment.method, reference: payment.reference } }),
    };
  }
  if (order.paymentStatus === 'paid') return { outcome: { status: 'already_paid', orderId }, summary: 'already_paid', deliver: sendPending(orderId) };
  if (order.paymentStatus === 'refunded') {
    if (!order.refundedAt && order.stripePaymentIntent) return finishRefund(order, order.stripePaymentIntent);
    return { outcome: { status: 'refunded', orderId }, summary: 'already_refunded', deliver: sendPending(orderId) };
  }

  const mismatch = mismatchOf(order, payment);
  if (mismatch) {
    log.error('payment.mismatch', {
      orderId,
      reason: mismatch,
      expected: { amountMinor: order.totalMinor, currency: order.currency },
      got: { amountMinor: payment.amountMinor, currency: payment.currency.toUpperCase() },
    });
    await recordOrderEvent(orderId, 'payment_mismatch', {
      reason: mismatch,
      method: payment.method,
      reference: payment.reference,
      sessionId: payment.stripeSessionId ?? null,
      amountMinor: payment.amountMinor,
      currency: payment.currency.toUpperCase(),
    });
    return {
      ...ignored(mismatch),
      deliver: alert({
        key: `payment-mismatch:${orderId}:${payment.reference}`,
        kind: 'payment_mismatch',
        orderId,
        details: { reason: mismatch, method: payment.method, expectedMinor: order.totalMinor, gotMinor: payment.amountMinor, gotCurrency: payment.currency.toUpperCase() },
      }),
    };
  }

  const hold = await commitHold(orderId, order.items.map((i) => ({ sku: i.sku, quantity: i.quantity })));
  if (hold.status === 'short') {
    if (payment.method === 'stripe' && payment.stripePaymentIntent) return refundLatePayment(order, payment, hold.shortages);
    log.error('payment.stock_gone', { orderId, method: payment.method, shortages: hold.shortages });
    await recordOrderEvent(orderId, 'payment_unfulfillable', { method: payment.method, reference: payment.reference, shortages: hold.shortages });
    return {
      ...ignored('out_of_stock'),
      deliver: alert({ key: `payment-unfulfillable:${orderId}:${payment.reference}`, kind: 'payment_unfulfillable', orderId, details: { method: payment.method, shortages: hold.shortages } }),
    };
  }

  const token = newInviteToken();
  const notices = [confirmationNotice(order), inviteLinkNotice(order, token, order.insideWindow)];
  const eventData = {
    method: payment.method,
    reference: payment.reference,
    amountMinor: payment.amountMinor,
    currency: order.currency,
    sessionId: payment.stripeSessionId ?? null,
    paymentIntent: payment.stripePaymentIntent ?? null,
    hold: hold.status,
  };
  const rows = await db().query(
    `WITH updated AS (
       UPDATE orders SET payment_status = 'paid', paid_at = COALESCE($5::timestamptz, now()),
              stripe_session_id = COALESCE(stripe_session_id, $3), stripe_payment_intent = COALESCE($4, stripe_payment_intent), updated_at = now()
       WHERE id = $1 AND payment_status = ANY($2::text[])
         AND ($3::text IS NULL OR stripe_session_id IS NULL OR stripe_session_id = $3)
       RETURNING id, items
     ), lines AS (
       SELECT i.sku, sum(i.quantity)::int AS quantity
       FROM updated, jsonb_to_recordset(updated.items) AS i(sku text, quantity int) GROUP BY i.sku
     ), stock AS (
       UPDATE variants v SET stock = GREATEST(v.stock - lines.quantity, 0), updated_at = now()
       FROM lines WHERE v.sku = lines.sku
       RETURNING v.sku
     ), event AS (
       INSERT INTO order_events (order_id, type, data)
       SELECT id, 'paid', $6::jsonb || jsonb_build_object('stockShortfall',
         COALESCE((SELECT jsonb_agg(v.sku) FROM variants v JOIN lines ON lines.sku = v.sku WHERE v.stock < lines.quantity), '[]'::jsonb))
       FROM updated
     ), invite AS (
       INSERT INTO invite_tokens (order_id, token, expires_at)
       SELECT id, $7, $8 FROM updated
       ON CONFLICT (order_id) DO NOTHING
       RETURNING id
     ), outbox AS (
       ${outboxInsertSql('$9', "WHERE m.kind <> 'invite_link' OR EXISTS (SELECT 1 FROM invite)")}
     )
     SELECT id, (SELECT count(*) FROM stock)::int AS skus FROM updated`,
    [
      orderId,
      PAYABLE,
      payment.stripeSessionId ?? null,
      payment.stripePaymentIntent ?? null,
      payment.paidAt?.toISOString() ?? null,
      JSON.stringify(eventData),
      token,
      inviteExpiry().toISOString(),
      outboxRows(notices),
    ],
  );
  if (rows[0]) {
    log.info('order.paid', { orderId, method: payment.method, hold: hold.status, from: order.paymentStatus });
    return { outcome: { status: 'paid', orderId }, summary: 'paid', deliver: sendNotices(orderId, notices) };
  }

  const now = await loadOrder(orderId);
  if (now?.paymentStatus === 'paid') return { outcome: { status: 'already_paid', orderId }, summary: 'already_paid', deliver: sendPending(orderId) };
  // Only a race with another state change lands here (the checks above passed).
  log.error('payment.not_applied', { orderId, status: now?.paymentStatus, hold: hold.status });
  return ignored(`not_payable_in_status_${now?.paymentStatus ?? 'unknown'}`);
}

/** The hold lapsed and the units sold meanwhile: the order can't be fulfilled, so the money goes back. */
async function refundLatePayment(order: SettleOrder, payment: PaymentRecord, shortages: Shortage[]): Promise<Settlement> {
  const paymentIntent = payment.stripePaymentIntent!;
  const decided = await db().query(
    `WITH updated AS (
       UPDATE orders SET payment_status = 'refunded', stripe_session_id = COALESCE(stripe_session_id, $3),
              stripe_payment_intent = $4, updated_at = now()
       WHERE id = $1 AND payment_status = ANY($2::text[])
         AND ($3::text IS NULL OR stripe_session_id IS NULL OR stripe_session_id = $3)
       RETURNING id
     ), event AS (
       INSERT INTO order_events (order_id, type, data) SELECT id, 'refund_required', $5::jsonb FROM updated
     )
     SELECT id FROM updated`,
    [order.id, PAYABLE, payment.stripeSessionId ?? null, paymentIntent, JSON.stringify({ reason: 'out_of_stock', shortages, from: order.paymentStatus })],
  );
  if (!decided[0]) {
    const now = await loadOrder(order.id);
    if (now?.paymentStatus === 'paid') return { outcome: { status: 'already_paid', orderId: order.id }, summary: 'already_paid', deliver: sendPending(order.id) };
    if (now?.paymentStatus !== 'refunded') {
      log.error('payment.refund_not_decided', { orderId: order.id, status: now?.paymentStatus });
      return ignored(`not_refundable_in_status_${now?.paymentStatus ?? 'unknown'}`);
    }
    if (now.refundedAt) return { outcome: { status: 'refunded', orderId: order.id }, summary: 'already_refunded', deliver: sendPending(order.id) };
  }
  log.warn('order.refund_required', { orderId: order.id, shortages });
  return finishRefund(order, paymentIntent);
}

/** Refunds through Stripe (idempotent per order), then records it with the customer's notice in one statement. */
async function finishRefund(order: SettleOrder, paymentIntent: string): Promise<Settlement> {
  let refundId: string | null = null;
  try {
    const refund = await stripe().refunds.create(
      { payment_intent: paymentIntent, metadata: { order_id: order.id, order_reference: order.reference } },
      { idempotencyKey: `refund:${order.id}` },
    );
    refundId = refund.id;
  } catch (error) {
    // Past Stripe's 24-hour idempotency window a retry may find the charge refunded already.
    if ((error as { code?: string }).code !== 'charge_already_refunded') throw error;
  }
  const notice = refundNotice(order, order.insideWindow);
  const rows = await db().query(
    `WITH updated AS (
       UPDATE orders SET refunded_at = now(), updated_at = now()
       WHERE id = $1 AND payment_status = 'refunded' AND refunded_at IS NULL
       RETURNING id
     ), event AS (
       INSERT INTO order_events (order_id, type, data) SELECT id, 'refunded', $2::jsonb FROM updated
     ), outbox AS (
       ${outboxInsertSql('$3')}
     )
     SELECT id FROM updated`,
    [order.id, JSON.stringify({ refundId, paymentIntent, amountMinor: order.totalMinor, currency: order.currency }), outboxRows([notice])],
  );
  if (rows[0]) log.warn('order.refunded', { orderId: order.id, refundId });
  return {
    outcome: { status: 'refunded', orderId: order.id },
    summary: rows[0] ? 'refunded' : 'already_refunded',
    deliver: rows[0]
      ? both(
          sendNotices(order.id, [notice]),
          alert({ key: `late-payment-refunded:${order.id}`, kind: 'late_payment_refunded', orderId: order.id, details: { refundId, amountMinor: order.totalMinor, currency: order.currency } }),
        )
      : sendPending(order.id),
  };
}

/** The facts of a Checkout Session this module relies on. */
export type CheckoutSessionFacts = {
  id: string;
  status: string | null;
  paymentStatus: string;
  orderId: string | null;
  amountTotal: number | null;
  currency: string | null;
  paymentIntent: string | null;
};

export function sessionFacts(session: Stripe.Checkout.Session): CheckoutSessionFacts {
  const pi = session.payment_intent;
  return {
    id: session.id,
    status: session.status,
    paymentStatus: session.payment_status,
    orderId: session.client_reference_id ?? session.metadata?.order_id ?? null,
    amountTotal: session.amount_total,
    currency: session.currency,
    paymentIntent: typeof pi === 'string' ? pi : (pi?.id ?? null),
  };
}

/** A Checkout Session as Stripe reports it → the order's new state. */
export async function applyCheckoutSession(session: Stripe.Checkout.Session): Promise<Settlement> {
  const s = sessionFacts(session);
  if (!s.orderId) {
    log.warn('checkout.session_without_order', { sessionId: s.id });
    return ignored('no_order_reference');
  }
  if (s.status === 'complete' && (s.paymentStatus === 'paid' || s.paymentStatus === 'no_payment_required')) {
    return applyPayment(s.orderId, {
      method: 'stripe',
      amountMinor: s.amountTotal ?? -1,
      currency: s.currency ?? '',
      reference: s.id,
      stripeSessionId: s.id,
      stripePaymentIntent: s.paymentIntent,
    });
  }
  if (s.status === 'complete') return applyAwaitingPayment(s.orderId, s);
  if (s.status === 'expired') {
    const closed = await applyClose(s.orderId, 'expired', 'checkout_session_expired', s.id);
    return { ...closed, outcome: { status: 'ignored', reason: closed.outcome.closed ? 'closed_expired' : 'not_open' } };
  }
  return ignored('session_open');
}

/** A delayed payment method (SEPA, bank transfer) was submitted: the order waits for it, keeping its hold. */
async function applyAwaitingPayment(orderId: string, s: CheckoutSessionFacts): Promise<Settlement> {
  const order = await loadOrder(orderId);
  if (!order) return ignored('unknown_order');
  if (order.paymentStatus === 'paid') return { outcome: { status: 'already_paid', orderId }, summary: 'already_paid', deliver: sendPending(orderId) };
  const mismatch = mismatchOf(order, { method: 'stripe', amountMinor: s.amountTotal ?? -1, currency: s.currency ?? '', reference: s.id, stripeSessionId: s.id });
  if (mismatch) {
    log.error('payment.mismatch', { orderId, reason: mismatch, sessionId: s.id });
    await recordOrderEvent(orderId, 'payment_mismatch', { reason: mismatch, sessionId: s.id, amountMinor: s.amountTotal, currency: s.currency?.toUpperCase() });
    return {
      ...ignored(mismatch),
      deliver: alert({ key: `payment-mismatch:${orderId}:${s.id}`, kind: 'payment_mismatch', orderId, details: { reason: mismatch, method: 'stripe', gotMinor: s.amountTotal } }),
    };
  }
  const rows = await db().query(
    `WITH updated AS (
       UPDATE orders SET payment_status = 'awaiting_payment', stripe_session_id = COALESCE(stripe_session_id, $2),
              stripe_payment_intent = COALESCE($3, stripe_payment_intent), updated_at = now()
       WHERE id = $1 AND payment_status = 'pending' AND (stripe_session_id IS NULL OR stripe_session_id = $2)
       RETURNING id
     ), event AS (
       INSERT INTO order_events (order_id, type, data) SELECT id, 'awaiting_payment', jsonb_build_object('sessionId', $2::text) FROM updated
     )
     SELECT id FROM updated`,
    [orderId, s.id, s.paymentIntent],
  );
  if (rows[0]) {
    log.info('order.awaiting_payment', { orderId });
    return { outcome: { status: 'awaiting_payment', orderId }, summary: 'awaiting_payment', deliver: nothing };
  }
  const now = await loadOrder(orderId);
  if (now?.paymentStatus === 'awaiting_payment') return { outcome: { status: 'awaiting_payment', orderId }, summary: 'already_awaiting_payment', deliver: nothing };
  return ignored(`not_pending_${now?.paymentStatus ?? 'unknown'}`);
}

/**
 * Closes an unpaid order in one statement (status, order_events row, the customer's notice in the
 * outbox), then releases its hold. Only pending/awaiting_payment orders close; a paid one never
 * does. When `sessionId` is given it must be the order's session (a stale session closes nothing).
 */
/** `notice: false` when the caller answers the customer itself (their own "cancel" gets the conversation's reply). */
export type CloseOptions = { notice?: boolean };

export async function applyClose(orderId: string, status: ClosedStatus, reason: string, sessionId?: string, opts: CloseOptions = {}): Promise<Settlement<{ closed: boolean }>> {
  const notClosed = (why: string, deliver = nothing): Settlement<{ closed: boolean }> => ({ outcome: { closed: false }, summary: `not closed: ${why}`, deliver });
  const order = await loadOrder(orderId);
  if (!order) return notClosed('unknown_order');
  if (sessionId && order.stripeSessionId && order.stripeSessionId !== sessionId) {
    log.warn('order.close_session_mismatch', { orderId });
    return notClosed('session_mismatch');
  }
  if (!CLOSABLE.includes(order.paymentStatus)) {
    // Already closed (a replay, or a crash before the release): releasing again is a no-op.
    if (CLOSED.includes(order.paymentStatus)) await releaseHold(orderId);
    return notClosed(order.paymentStatus, CLOSED.includes(order.paymentStatus) ? sendPending(orderId) : nothing);
  }
  const notices = opts.notice === false ? [] : [closedNotice(order, status, order.insideWindow)];
  const rows = await db().query(
    `WITH updated AS (
       UPDATE orders SET payment_status = $2, updated_at = now()
       WHERE id = $1 AND payment_status = ANY($3::text[])
       RETURNING id
     ), event AS (
       INSERT INTO order_events (order_id, type, data) SELECT id, $2, jsonb_build_object('reason', $4::text) FROM updated
     ), outbox AS (
       ${outboxInsertSql('$5')}
     )
     SELECT id FROM updated`,
    [orderId, status, CLOSABLE, reason, outboxRows(notices)],
  );
  if (!rows[0]) {
    const now = await loadOrder(orderId);
    if (now && CLOSED.includes(now.paymentStatus)) await releaseHold(orderId);
    return notClosed(now?.paymentStatus ?? 'unknown', now && CLOSED.includes(now.paymentStatus) ? sendPending(orderId) : nothing);
  }
  const released = await releaseHold(orderId);
  log.info('order.closed', { orderId, status, reason, hold: released });
  return { outcome: { closed: true }, summary: `closed: ${status}`, deliver: sendNotices(orderId, notices) };
}
