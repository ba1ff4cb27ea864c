/**
 * Staff actions decided once, in the statement that makes them (issue 23, bugs 1, 2 and 4), over the admin API
 * against the real stack and the Stripe stand-in. The pairwise concurrency suite is
 * tests/reliability/staff-actions.test.ts.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { upsertCatalogProduct } from '../lib/catalog/index.js';
import { db } from '../lib/db.js';
import { shop } from './support/shop.js';
import { eventually, sentTo, useStack, type Body } from './support/stack.js';

const stack = useStack();
const s = shop(stack);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function call(method: string, path: string, body?: unknown) {
  const r = await fetch(`${stack().url}/api${path}`, {
    method,
    headers: { authorization: `Bearer ${stack().env.ADMIN_API_KEY}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  return { status: r.status, replayed: r.headers.get('idempotent-replayed') === 'true', body: (text ? JSON.parse(text) : null) as Body & Record<string, any> };
}
const refundsOf = (pi: string) => stack().stripe.refunds().filter((r) => (r as { payment_intent?: string }).payment_intent === pi) as unknown as { id: string; amount: number; reason: string | null }[];
const sessionOf = (id: string) => stack().stripe.sessions().find((x) => x.id === id)!;
/** What the customer was sent: template names, or the first words of a text. */
const notices = (waId: string) => sentTo(stack(), waId).map((m) => (m.type === 'template' ? (m.body as { template: { name: string } }).template.name : m.type));
const offline = (orderId: string, totalMinor: number, reference: string) => call('POST', '/offline-payments', { orderId, amountMinor: totalMinor, currency: 'EUR', paidAt: '2026-11-25', reference });

beforeAll(async () => {
  await s.control('webhook-url', { url: '' }); // the tests deliver Stripe's events themselves
  await upsertCatalogProduct({ sku: 'STAFF-1', name: 'Sencha', priceMinor: 1500, currency: 'EUR', stock: 1000 });
});

describe('bug 1: "shipped" and "cancel" on the same paid order at once', () => {
  it('ends shipped or refunded, never both: the loser answers 409 with the state that won, Stripe refunds only when the cancel won', async () => {
    const conflicts: { got: unknown; want: Record<string, string> }[] = [];
    for (let trial = 0; trial < 4; trial++) {
      const o = await s.paidOrder('STAFF-1', 1);
      const calls = Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? call('POST', `/orders/${o.orderId}/shipped`, { trackingSlug: `T${trial}` }) : call('POST', `/orders/${o.orderId}/cancel`)));
      const answers = await Promise.all(calls);
      const [row] = await db()`SELECT payment_status, fulfillment_status, refunded_at FROM orders WHERE id = ${o.orderId}`;
      const shipped = row!.fulfillment_status === 'shipped';
      const refunds = refundsOf(o.paymentIntent);
      expect(shipped && row!.payment_status === 'refunded', `trial ${trial}: shipped and refunded`).toBe(false);
      expect(refunds, `trial ${trial}: Stripe refunds`).toHaveLength(shipped ? 0 : 1);
      for (const [i, a] of answers.entries()) {
        const isShip = i % 2 === 0;
        expect([200, 409], JSON.stringify(a.body)).toContain(a.status);
        // A 200 only for what happened.
        if (a.status === 200) expect(isShip ? shipped : !shipped, `trial ${trial}: 200 for a ${isShip ? 'ship' : 'cancel'} that lost`).toBe(true);
        else conflicts.push({ got: a.body.order, want: { orderId: o.orderId, paymentStatus: row!.payment_status, fulfillmentStatus: row!.fulfillment_status } });
      }
      await sleep(300);
      const sent = notices(o.waId);
      expect(sent.filter((k) => k === 'order_shipped')).toHaveLength(shipped ? 1 : 0);
      // The cancelled-and-refunded notice (text inside the window) only when the cancel won.
      expect(sent.length, `trial ${trial}: ${sent.join(', ')}`).toBe(3 + 1);
    }
    // Every refusal carries the state that won.
    for (const c of conflicts) expect(c.got).toMatchObject(c.want);
  });
});

describe('bug 2: an offline payment closes the card path', () => {
  it('expires the Checkout Session first: the link still open in the chat can no longer be paid', async () => {
    const o = await s.orderOverWhatsApp('STAFF-1', 1);
    const r = await offline(o.orderId, o.totalMinor, `BANK-A-${o.orderId}`);
    expect(r.status).toBe(200);
    expect(r.body.order).toMatchObject({ outcome: 'paid' });
    expect(sessionOf(o.sessionId).status).toBe('expired');
    const pay = await fetch(`${stack().stripe.url}/_standin/sessions/${o.sessionId}/complete`, { method: 'POST', body: '{}' });
    expect(pay.status).toBe(409); // Stripe takes no payment on an expired session
  });

  it('the customer paid by card just before: the card payment stands, the offline one is refused (409, nothing recorded)', async () => {
    const o = await s.orderOverWhatsApp('STAFF-1', 1);
    await s.control(`sessions/${o.sessionId}/complete`); // paid at Stripe, its webhook not arrived yet
    const r = await offline(o.orderId, o.totalMinor, `BANK-B-${o.orderId}`);
    expect(r.status).toBe(409);
    expect(r.body).toMatchObject({ error: 'already_paid', order: { orderId: o.orderId, paymentStatus: 'paid' } });
    expect((await db()`SELECT count(*)::int AS n FROM payments WHERE order_id = ${o.orderId}`)[0]!.n).toBe(0);
    expect(refundsOf(String(sessionOf(o.sessionId).payment_intent))).toHaveLength(0);
  });

  it('a delayed card payment that succeeds after the offline payment goes back, once, with an order event and an alert; the order stays paid', async () => {
    const o = await s.orderOverWhatsApp('STAFF-1', 1);
    const submitted = await s.control(`sessions/${o.sessionId}/complete`, { paid: false });
    expect((await s.postStripe((await s.stripeEvents()).find((e) => e.id === submitted.eventId)!.payload)).status).toBe(200);
    expect((await s.orderRow(o.orderId)).payment_status).toBe('awaiting_payment');
    const r = await offline(o.orderId, o.totalMinor, `BANK-C-${o.orderId}`);
    expect(r.status).toBe(200);
    expect(r.body.order).toMatchObject({ outcome: 'paid' });
    await s.messagesTo(o.waId, 4); // payment link, confirmation, invite link, offline receipt

    const succeeded = await s.control(`sessions/${o.sessionId}/async-succeeded`);
    const payload = (await s.stripeEvents()).find((e) => e.id === succeeded.eventId)!.payload;
    const pi = String(succeeded.session!.payment_intent);
    const answers = await Promise.all([s.postStripe(payload), s.postStripe(payload)]);
    expect(answers.map((a) => a.status)).toEqual([200, 200]);
    const refunds = refundsOf(pi);
    expect(refunds.map((x) => [x.amount, x.reason])).toEqual([[o.totalMinor, 'duplicate']]);
    expect(await s.orderRow(o.orderId)).toMatchObject({ payment_status: 'paid', refunded_minor: 0 });
    const dup = (await s.eventsOf(o.orderId)).filter((e) => e.type === 'duplicate_payment_refunded');
    expect(dup).toEqual([{ type: 'duplicate_payment_refunded', data: expect.objectContaining({ paymentIntent: pi, refundId: refunds[0]!.id, paidBy: 'offline' }) }]);
    await eventually(async () => (await s.alertsOf(o.orderId)).includes('duplicate_payment_refunded'));

    // Stripe reports that refund back: not counted toward the order, nobody told.
    const back = await s.postStripe(s.eventOf('refund.created', { ...refunds[0], object: 'refund', status: 'succeeded', metadata: { order_id: o.orderId } }));
    expect(back.status).toBe(200);
    expect(await s.orderRow(o.orderId)).toMatchObject({ payment_status: 'paid', refunded_minor: 0 });
    await sleep(300);
    expect(notices(o.waId)).toHaveLength(4);
  });

  it('a second Checkout payment of an order already paid goes back the same way', async () => {
    const o = await s.paidOrder('STAFF-1', 1);
    const second = await s.dashboard().checkout.sessions.create({
      mode: 'payment',
      client_reference_id: o.orderId,
      line_items: [{ quantity: 1, price_data: { currency: 'eur', unit_amount: 1500, product_data: { name: 'again' } } }],
      success_url: 'https://shop.example/ok',
    });
    const done = await s.control(`sessions/${second.id}/complete`);
    const r = await s.postStripe((await s.stripeEvents()).find((e) => e.id === done.eventId)!.payload);
    expect(r.status).toBe(200);
    expect(refundsOf(String(done.session!.payment_intent))).toHaveLength(1);
    expect(refundsOf(o.paymentIntent)).toHaveLength(0);
    expect((await s.orderRow(o.orderId)).payment_status).toBe('paid');
  });
});

describe('bug 4: a stored cancel answer is bound to the state it answered', () => {
  it('cancel, then the order is paid late (offline): the next cancel runs anew and refunds it, never replays "cancelled"', async () => {
    const o = await s.orderOverWhatsApp('STAFF-1', 1);
    const first = await call('POST', `/orders/${o.orderId}/cancel`);
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ paymentStatus: 'cancelled', refund: null });
    expect((await call('POST', `/orders/${o.orderId}/cancel`)).replayed).toBe(true);

    expect((await offline(o.orderId, o.totalMinor, `LATE-${o.orderId}`)).body.order).toMatchObject({ outcome: 'paid' });
    const again = await call('POST', `/orders/${o.orderId}/cancel`);
    expect(again.status).toBe(200);
    expect(again.replayed).toBe(false);
    expect(again.body).toMatchObject({ paymentStatus: 'refunded', refund: { method: 'offline', status: 'manual' } });
    expect((await s.orderRow(o.orderId)).payment_status).toBe('refunded');
    const replay = await call('POST', `/orders/${o.orderId}/cancel`);
    expect(replay.replayed).toBe(true);
    expect(replay.body).toEqual(again.body);
  });
});
