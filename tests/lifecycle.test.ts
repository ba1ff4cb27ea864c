/**
 * The order lifecycle table (lib/orders/lifecycle.ts), walked pair by pair against real Postgres,
 * Redis and the Stripe stand-in: every (payment status, event) is applied through the named step
 * its callers use (Stripe events, the admin API, cleanup, the conversation). An allowed pair reaches
 * the table's status with each of its effects; any other pair changes nothing (status, fulfilment,
 * refund, outbox rows, hold, stock on hand) and the table says why.
 */
import { randomUUID } from 'node:crypto';
import Stripe from 'stripe';
import { describe, expect, it } from 'vitest';
import { DomainError, statusOf } from '../lib/http/errors.js';
import { cancelOrder } from '../lib/admin/cancel.js';
import { markShipped } from '../lib/admin/shipped.js';
import { markDelivered } from '../lib/admin/fulfilment.js';
import { upsertCatalogProduct } from '../lib/catalog/index.js';
import { cleanupLapsedOrder } from '../lib/flows/cleanup.js';
import { db } from '../lib/db.js';
import { messageKeys, outboxKey } from '../lib/messaging/keys.js';
import { closeOrder } from '../lib/orders/close.js';
import { LIFECYCLE, ORDER_EVENTS, PAYMENT_STATUSES, refusal, transition, type Effect, type OrderEvent, type PaymentStatus } from '../lib/orders/lifecycle.js';
import { getOrder, type Order } from '../lib/orders/order.js';
import { awaitPayment, markOrderPaid } from '../lib/orders/pay.js';
import { placeOrder } from '../lib/orders/place.js';
import { ensureCheckoutSession } from '../lib/orders/payment-link.js';
import { applyRefund } from '../lib/orders/stripe-refunds.js';
import { holdState, releaseHold, setAvailableStock } from '../lib/stock/index.js';
import { eventually, newCustomer, useStack } from './support/stack.js';
import { Work } from '../lib/work.js';

/** A step over its own Work, then what it left for after the commit (the flows do the same). */
async function applied(step: (work: Work) => Promise<unknown>): Promise<void> {
  const work = new Work('test');
  await step(work);
  await work.runAfter();
}

const stack = useStack({ functions: 'in-process' });
const PRICE = 500;
const QTY = 2;
const TOTAL = PRICE * QTY;

type Case = { order: Order; sku: string; refundId?: string; duplicate?: string };
let seq = 0;

const standin = async (path: string, body: unknown = {}, method = 'POST') => {
  const r = await fetch(`${stack().stripe.url}/_standin/${path}`, { method, headers: { 'content-type': 'application/json' }, body: method === 'GET' ? undefined : JSON.stringify(body) });
  return (await r.json()) as Record<string, unknown> & { session?: Record<string, unknown> };
};
const dashboard = () => {
  const u = new URL(stack().env.STRIPE_API_BASE!);
  return new Stripe(stack().env.STRIPE_SECRET_KEY!, { host: u.hostname, port: Number(u.port), protocol: 'http' });
};
const reload = async (c: Case) => (c.order = (await getOrder(c.order.id))!);
const syntheticRefund = (c: Case, id: string, status: string) => ({
  id,
  amount: TOTAL,
  currency: 'eur',
  status,
  payment_intent: c.order.stripePaymentIntent,
  metadata: {},
});

/** A pending order with an open Checkout Session, its customer inside the 24-hour window. */
async function pendingOrder(): Promise<Case> {
  const sku = `LC-${process.pid}-${++seq}`;
  await upsertCatalogProduct({ sku, name: `Tea ${seq}`, priceMinor: PRICE, currency: 'EUR', stock: 10 });
  const placed = await placeOrder({ customer: { waId: newCustomer(), userId: null, profileName: 'Ada Lovelace' }, source: 'api', sourceKey: `lifecycle:${sku}`, lines: [{ sku, quantity: QTY }] });
  if (!('order' in placed)) throw new Error(`not placed: ${placed.status}`);
  await db()`UPDATE customers SET last_inbound_at = now() WHERE id = ${placed.order.customerId}`;
  await ensureCheckoutSession(placed.order);
  const c = { order: placed.order, sku };
  await reload(c);
  return c;
}

/** Drives a fresh order to `status` the way it gets there in production (the stand-in delivers its events to payment-callback). */
async function orderIn(status: PaymentStatus): Promise<Case> {
  const c = await pendingOrder();
  const session = c.order.stripeSessionId!;
  const reach = async (s: PaymentStatus) => eventually(async () => (await reload(c)).paymentStatus === s);
  switch (status) {
    case 'pending':
      break;
    case 'awaiting_payment':
      await standin(`sessions/${session}/complete`, { paid: false });
      await reach('awaiting_payment');
      break;
    case 'paid':
      await standin(`sessions/${session}/complete`);
      await reach('paid');
      break;
    case 'expired':
      await standin(`sessions/${session}/expire`);
      await reach('expired');
      break;
    case 'cancelled':
      await closeOrder(c.order.id, 'cancelled_by_customer');
      break;
    case 'payment_failed':
      await standin(`sessions/${session}/complete`, { paid: false });
      await reach('awaiting_payment');
      await standin(`sessions/${session}/async-failed`);
      await reach('payment_failed');
      break;
    case 'refunded':
      // Refunded in full in the Stripe dashboard (so a failed refund can reopen it).
      await standin(`sessions/${session}/complete`);
      await reach('paid');
      const refundId = (c.refundId = `re_setup_${seq}`);
      await applied((work) => applyRefund(work, syntheticRefund(c, refundId, 'succeeded')));
      break;
  }
  await reload(c);
  expect(c.order.paymentStatus).toBe(status);
  return c;
}

/** A successful Stripe payment of TOTAL that no order of ours recorded: the money of a late payment. */
async function strayPaymentIntent(): Promise<string> {
  const s = await dashboard().checkout.sessions.create({
    mode: 'payment',
    client_reference_id: randomUUID(),
    line_items: [{ quantity: QTY, price_data: { currency: 'eur', unit_amount: PRICE, product_data: { name: 'late' } } }],
    success_url: 'https://shop.example/ok',
    cancel_url: 'https://shop.example/cancel',
  });
  const done = await standin(`sessions/${s.id}/complete`);
  return done.session!.payment_intent as string;
}

/** Applies `event` through the step its callers use; an admin refusal (409) is an answer, not a failure. */
async function apply(event: OrderEvent, c: Case): Promise<string | null> {
  const o = c.order;
  const stripePayment = { method: 'stripe' as const, amountMinor: TOTAL, currency: 'EUR', reference: `lc-${o.id}` };
  try {
    switch (event) {
      case 'payment_submitted':
        {
          const work = new Work('test');
          await awaitPayment(work, o.id, { ...stripePayment, stripeSessionId: o.stripeSessionId!, stripePaymentIntent: null });
          await work.runAfter();
        }
        break;
      case 'paid':
        await markOrderPaid(o.id, { method: 'offline', amountMinor: TOTAL, currency: 'EUR', reference: `offline-${o.id}` });
        break;
      case 'late_payment': {
        // The hold lapsed and the units sold meanwhile.
        await releaseHold(o.id);
        await setAvailableStock(c.sku, 0);
        const pi = await strayPaymentIntent();
        await markOrderPaid(o.id, { ...stripePayment, stripePaymentIntent: pi });
        break;
      }
      case 'payment_failed':
      case 'session_expired':
        await closeOrder(o.id, event, { sessionId: o.stripeSessionId! });
        break;
      case 'expired_by_cleanup':
        if (o.paymentStatus === 'awaiting_payment') await standin(`sessions/${o.stripeSessionId}`, {}, 'DELETE'); // see the table's note
        await cleanupLapsedOrder(o.id);
        break;
      case 'cancelled_by_customer':
        await closeOrder(o.id, 'cancelled_by_customer');
        break;
      case 'cancelled_by_shop':
        await cancelOrder(o.id);
        break;
      case 'refunded_in_stripe':
        await applied((work) => applyRefund(work, syntheticRefund(c, `re_full_${o.id}`, 'succeeded')));
        break;
      case 'refund_reverted':
        await applied((work) => applyRefund(work, syntheticRefund(c, c.refundId ?? `re_failed_${o.id}`, 'failed')));
        break;
      case 'shipped':
        await (await markShipped(o.id, { trackingSlug: `track-${o.reference}` })).after?.();
        break;
      case 'duplicate_payment': {
        // A second Stripe payment of the order (another payment intent); before the order is paid it would be its first.
        if (o.paymentStatus !== 'paid' && o.paymentStatus !== 'refunded') break;
        const pi = await strayPaymentIntent();
        c.duplicate = pi;
        await markOrderPaid(o.id, { ...stripePayment, stripePaymentIntent: pi });
        break;
      }
      case 'delivered':
        await markDelivered(o.id, { by: 'staff' });
        break;
    }
  } catch (error) {
    if (error instanceof DomainError) return `${statusOf(error)} ${error.code}`;
    throw error;
  }
  return null;
}

async function snapshot(c: Case) {
  const [o] = await db()`SELECT payment_status, fulfillment_status, refunded_at FROM orders WHERE id = ${c.order.id}`;
  const [m] = await db()`SELECT count(*)::int AS n FROM outbound_messages WHERE order_id = ${c.order.id}`;
  const [v] = await db()`SELECT stock FROM variants WHERE sku = ${c.sku}`;
  const [a] = await db()`SELECT count(*)::int AS n FROM ops_alerts WHERE order_id = ${c.order.id}`;
  return {
    status: o!.payment_status as PaymentStatus,
    fulfillment: o!.fulfillment_status as string,
    refundedAt: o!.refunded_at ? String(o!.refunded_at) : null,
    messages: Number(m!.n),
    hold: await holdState(c.order.id),
    onHand: Number(v!.stock),
    alerts: Number(a!.n),
    outboxKeys: (await db()`SELECT idempotency_key FROM outbound_messages WHERE order_id = ${c.order.id}`).map((r) => r.idempotency_key as string).sort(),
  };
}

const NOTICE_KEYS: Record<string, (orderId: string) => string> = {
  'notice:confirmation': messageKeys.confirmation,
  'notice:invite_link': messageKeys.inviteLink,
  'notice:refund': messageKeys.refund,
  'notice:closed': messageKeys.closed,
  'notice:cancelled_by_shop': messageKeys.cancelledByShop,
  'notice:shipped': messageKeys.shipped,
  'notice:delivered': messageKeys.delivered,
};

async function expectEffect(effect: Effect, c: Case, before: Awaited<ReturnType<typeof snapshot>>, after: Awaited<ReturnType<typeof snapshot>>) {
  const id = c.order.id;
  if (effect in NOTICE_KEYS) {
    const [row] = await db()`SELECT kind FROM outbound_messages WHERE idempotency_key = ${outboxKey(NOTICE_KEYS[effect]!(id))} AND order_id = ${id}`;
    expect(row, `${effect} recorded in the outbox`).toBeTruthy();
    return;
  }
  switch (effect) {
    case 'hold_committed':
      return expect(after.hold).toBe('committed');
    case 'hold_released':
      return expect(after.hold).toBe('released');
    case 'stock_on_hand_decremented':
      return expect(after.onHand).toBe(before.onHand - QTY);
    case 'stock_on_hand_restored':
      return expect(after.onHand).toBe(before.onHand + QTY);
    case 'invite_token':
      return expect((await db()`SELECT 1 FROM invite_tokens WHERE order_id = ${id}`).length).toBe(1);
    case 'session_expired_first': {
      const s = await standin(`sessions/${c.order.stripeSessionId}`, {}, 'GET');
      // A session Stripe forgot (404) can take no payment either.
      return expect(s.status === 'expired' || (s.error !== undefined && c.order.paymentStatus === 'awaiting_payment')).toBe(true);
    }
    case 'stripe_refund': {
      const [e] = await db()`SELECT data FROM order_events WHERE order_id = ${id} AND type = 'refunded' ORDER BY id DESC LIMIT 1`;
      expect(after.refundedAt).not.toBeNull();
      return expect((e?.data as { refundId?: string } | undefined)?.refundId).toMatch(/^re_/);
    }
    case 'ops_alert':
      return expect(after.alerts).toBeGreaterThan(before.alerts);
    case 'duplicate_refund': {
      const [e] = await db()`SELECT data FROM order_events WHERE order_id = ${id} AND type = 'duplicate_payment_refunded'`;
      const refunds = (await dashboard().refunds.list({ payment_intent: c.duplicate! })).data;
      expect(refunds.map((r) => [r.amount, r.reason])).toEqual([[TOTAL, 'duplicate']]);
      expect(after.refundedAt).toBe(before.refundedAt);
      return expect(e?.data).toMatchObject({ paymentIntent: c.duplicate, refundId: refunds[0]!.id });
    }
  }
}

describe('the order lifecycle table, every (status, event) pair against real Postgres', () => {
  it('names a next status or a reason for every pair, and lists of payable/closable statuses come from it', () => {
    for (const s of PAYMENT_STATUSES)
      for (const e of ORDER_EVENTS) expect(transition(s, e) !== null || (refusal(s, e) ?? '').length > 0, `${s} × ${e}`).toBe(true);
    expect(Object.keys(LIFECYCLE).sort()).toEqual([...ORDER_EVENTS].sort());
  });

  for (const status of PAYMENT_STATUSES) {
    describe(`from ${status}`, () => {
      for (const event of ORDER_EVENTS) {
        const t = transition(status, event);
        const title = t ? `${event} → ${t.to} (${t.effects.join(', ') || 'no effect'})` : `${event}: nothing changes (${refusal(status, event)})`;
        it(title, async () => {
          const c = await orderIn(status);
          // Only a shipped order is delivered (fulfilment is the second axis): a paid one ships first.
          if (event === 'delivered' && status === 'paid') await markShipped(c.order.id, { trackingSlug: `track-${c.order.reference}` });
          const before = await snapshot(c);
          const answer = await apply(event, c);
          const after = await snapshot(c);
          if (!t) {
            const unchanged = (s: typeof before) => ({ ...s, hold: event === 'late_payment' ? null : s.hold, alerts: 0 });
            expect(unchanged(after), refusal(status, event)!).toEqual(unchanged(before));
            return;
          }
          expect(answer, 'the step applied').toBeNull();
          expect(after.status).toBe(t.to);
          if (event === 'shipped') expect(after.fulfillment).toBe('shipped');
          if (event === 'delivered') expect(after.fulfillment).toBe('delivered');
          for (const effect of t.effects) await expectEffect(effect, c, before, after);
          // Exactly the notices the table names, nothing more.
          const named = t.effects.filter((e) => e in NOTICE_KEYS).map((e) => outboxKey(NOTICE_KEYS[e]!(c.order.id))).sort();
          expect(after.outboxKeys.filter((k) => !before.outboxKeys.includes(k)).sort()).toEqual(named);
        });
      }
    });
  }

  it('cleanup leaves an order awaiting an async payment with the payment path while Stripe still knows its session', async () => {
    const c = await orderIn('awaiting_payment');
    const before = await snapshot(c);
    await cleanupLapsedOrder(c.order.id);
    expect(await snapshot(c)).toEqual(before);
  });
});

describe('the one close path never releases stock a payment completes on', () => {
  /** The customer paid on Stripe's page; Stripe's webhook has not arrived yet. */
  const paidAtStripeOnly = async (c: Case) => {
    const webhookUrl = `${stack().url}/.netlify/functions/payment-callback`;
    stack().stripe.setWebhookUrl(null);
    await standin(`sessions/${c.order.stripeSessionId}/complete`);
    stack().stripe.setWebhookUrl(webhookUrl);
  };
  const holdOf = async (id: string) => await holdState(id);

  it("the customer's cancel after the payment went through at Stripe (its webhook not arrived yet): the order ends paid, its units stay sold", async () => {
    const c = await pendingOrder();
    await paidAtStripeOnly(c);
    const closed = await closeOrder(c.order.id, 'cancelled_by_customer');
    expect(closed).toMatchObject({ result: 'paid', session: 'complete' });
    expect((await reload(c)).paymentStatus).toBe('paid');
    expect(await holdOf(c.order.id)).toBe('committed');
  });

  it('a payment attempted after the cancel cannot complete: the session was expired before the units went back', async () => {
    const c = await pendingOrder();
    expect(await closeOrder(c.order.id, 'cancelled_by_customer')).toMatchObject({ result: 'closed', session: 'expired' });
    expect(await holdOf(c.order.id)).toBe('released');
    const r = await fetch(`${stack().stripe.url}/_standin/sessions/${c.order.stripeSessionId}/complete`, { method: 'POST', body: '{}' });
    expect(r.status).toBe(409);
    expect((await reload(c)).paymentStatus).toBe('cancelled');
  });

  it("the shop's cancel racing a payment: the payment path takes it (paid, 409 payment_in_progress), nothing is released", async () => {
    const c = await pendingOrder();
    await paidAtStripeOnly(c);
    expect(await apply('cancelled_by_shop', c)).toBe('409 payment_in_progress');
    expect((await reload(c)).paymentStatus).toBe('paid');
    expect(await holdOf(c.order.id)).toBe('committed');
  });

  it('cleanup finding the session paid hands it to the payment path instead of expiring the order', async () => {
    const c = await pendingOrder();
    await paidAtStripeOnly(c);
    expect(await cleanupLapsedOrder(c.order.id)).toMatchObject({ settled: 1, expired: 0, released: 0 });
    expect((await reload(c)).paymentStatus).toBe('paid');
  });
});

