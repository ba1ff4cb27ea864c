import { db } from '../db.js';
import { log } from '../log.js';
import { formatMoney } from '../money.js';
import { getOrder, type Order } from '../orders.js';
import { outboxKey, sendOnce } from '../outbox.js';
import { expireCheckoutSession } from '../payments/checkout.js';
import { closeUnpaidOrder } from '../payments/settle.js';
import { stripe } from '../payments/stripe-client.js';
import { releaseHold, setAvailableStock } from '../stock/index.js';
import { conflict, notFound, type AdminResult } from './errors.js';
import { requestHash, sha256, storeAnswer, storedAnswer } from './idempotency.js';
import { isUuid } from './order-view.js';

/**
 * POST /api/orders/:id/cancel — the shop cancels an order that has not shipped.
 *
 *  - unpaid (pending): its Checkout Session is expired first, so it can no longer be paid, then
 *    the payment path closes it (closeUnpaidOrder: status `cancelled`, hold released, the
 *    customer told once). If Stripe says the session was completed meanwhile (or the order
 *    awaits an async payment), nothing changes: 409 payment_in_progress — once the payment
 *    lands, cancelling again refunds it.
 *  - paid: one statement decides the refund (status `refunded`, `refund_required` event, the
 *    units go back to stock); then Stripe refunds the payment intent (idempotency key
 *    refund:<orderId>, as the payment path uses); then refunded_at, the `refunded` event and the
 *    customer's notice (outbox key "cancelled:<orderId>"). A retry resumes where it stopped. An
 *    order paid offline has no Stripe payment: it is recorded refunded and the refund is the shop's.
 *  - already closed (expired, cancelled, refunded): nothing to do; the hold release is repeated.
 * Every answer is stored under sha256("cancel:<orderId>"): a repeated cancel answers the same.
 */

export const cancelEventKey = (orderId: string) => `cancel:${orderId}`;

type CancelOrder = Order & { stripePaymentIntent: string | null; refundedAt: Date | null };

async function loadOrder(orderId: string): Promise<CancelOrder | null> {
  const order = await getOrder(orderId);
  if (!order) return null;
  const [row] = await db()`SELECT stripe_payment_intent, refunded_at FROM orders WHERE id = ${orderId}`;
  return {
    ...order,
    stripePaymentIntent: (row?.stripe_payment_intent as string | null) ?? null,
    refundedAt: row?.refunded_at ? new Date(row.refunded_at as string) : null,
  };
}

export async function cancelOrder(orderId: string): Promise<AdminResult> {
  if (!isUuid(orderId)) throw notFound('order');
  const key = sha256(cancelEventKey(orderId));
  const hash = requestHash({});
  const stored = await storedAnswer(key, hash);
  if (stored) return stored;

  let order = await loadOrder(orderId);
  if (!order) throw notFound('order');
  if (order.fulfillmentStatus === 'shipped') throw conflict('already_shipped', 'a shipped order cannot be cancelled here');

  let refund: Record<string, unknown> | null = null;
  if (order.paymentStatus === 'pending' || order.paymentStatus === 'awaiting_payment') {
    if (order.paymentStatus === 'awaiting_payment') throw paymentInProgress();
    if (order.stripeSessionId && (await expireCheckoutSession(order.stripeSessionId)) === 'complete') throw paymentInProgress();
    await closeUnpaidOrder(orderId, 'cancelled', 'cancelled_by_shop');
    order = (await loadOrder(orderId))!;
    if (order.paymentStatus === 'paid') throw paymentInProgress();
  } else if (order.paymentStatus === 'paid' || (order.paymentStatus === 'refunded' && !order.refundedAt)) {
    refund = await refundPaidOrder(order);
    order = (await loadOrder(orderId))!;
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

async function refundPaidOrder(order: CancelOrder): Promise<Record<string, unknown>> {
  // 1. Decide, once: refunded + event + units back on hand (the gate: only from paid).
  const restocked = await db()`
    WITH decided AS (
      UPDATE orders SET payment_status = 'refunded', updated_at = now()
      WHERE id = ${order.id} AND payment_status = 'paid' AND fulfillment_status = 'unfulfilled'
      RETURNING id, items
    ), lines AS (
      SELECT i.sku, sum(i.quantity)::int AS quantity FROM decided, jsonb_to_recordset(decided.items) AS i(sku text, quantity int) GROUP BY i.sku
    ), stock AS (
      UPDATE variants v SET stock = v.stock + lines.quantity, updated_at = now() FROM lines WHERE v.sku = lines.sku
      RETURNING v.sku, v.stock
    ), event AS (
      INSERT INTO order_events (order_id, type, data)
      SELECT id, 'refund_required', jsonb_build_object('reason', 'cancelled_by_shop', 'restocked', (SELECT count(*) FROM stock)) FROM decided
    )
    SELECT sku, stock FROM stock`;
  // Redis follows Postgres: available = on hand − active holds.
  await Promise.all(restocked.map((r) => setAvailableStock(r.sku as string, Number(r.stock))));

  // 2. The money goes back (Stripe dedupes by the key; an offline payment is the shop's to return).
  let refundId: string | null = null;
  if (order.stripePaymentIntent) {
    try {
      const r = await stripe().refunds.create(
        { payment_intent: order.stripePaymentIntent, metadata: { order_id: order.id, order_reference: order.reference } },
        { idempotencyKey: `refund:${order.id}` },
      );
      refundId = r.id;
    } catch (error) {
      if ((error as { code?: string }).code !== 'charge_already_refunded') throw error;
    }
  }
  const method = order.stripePaymentIntent ? 'stripe' : 'offline';
  const amount = formatMoney(order.totalMinor, order.currency);

  // 3. Recorded with the customer's notice in the outbox.
  const noticeKey = `cancelled:${order.id}`;
  const text =
    method === 'stripe'
      ? `Your order ${order.reference} has been cancelled by us. We've refunded the full ${amount} to your payment method (it can take a few days to show). Sorry for the trouble!`
      : `Your order ${order.reference} has been cancelled by us. We'll return your payment of ${amount} to you directly. Sorry for the trouble!`;
  const message = { type: 'text' as const, body: text };
  await db()`
    WITH done AS (
      UPDATE orders SET refunded_at = now(), updated_at = now()
      WHERE id = ${order.id} AND payment_status = 'refunded' AND refunded_at IS NULL
      RETURNING id
    ), event AS (
      INSERT INTO order_events (order_id, type, data)
      SELECT id, 'refunded', ${JSON.stringify({ reason: 'cancelled_by_shop', method, refundId, amountMinor: order.totalMinor, currency: order.currency })}::jsonb
      FROM done
    )
    INSERT INTO outbound_messages (idempotency_key, kind, order_id, customer_id, payload)
    SELECT ${outboxKey(noticeKey)}, 'order_cancelled', id, ${order.customerId}::uuid, ${JSON.stringify(message)}::jsonb FROM done
    ON CONFLICT (idempotency_key) DO NOTHING`;
  log.warn('order.cancelled_refunded', { orderId: order.id, method, refundId });
  // Sent now; if this process dies first, the cleanup run's outbox retry sends the pending row.
  await sendOnce({ eventKey: noticeKey, kind: 'order_cancelled', customerId: order.customerId, orderId: order.id, message });
  return { method, id: refundId, amountMinor: order.totalMinor, currency: order.currency, status: method === 'stripe' ? 'refunded' : 'manual' };
}
