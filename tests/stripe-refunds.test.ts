import pg from 'pg';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { upsertCatalogProduct } from '../lib/catalog/index.js';
import { db } from '../lib/db.js';
import { invokeInProcess, shop } from './support/shop.js';
import { bodyOf, eventually, sentTo, useStack } from './support/stack.js';

/** Stripe beyond Checkout: refunds made in the Stripe dashboard, disputes, and signed bodies of unexpected shape. */
const stack = useStack();
const s = shop(stack);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const texts = (waId: string) => sentTo(stack(), waId).map((m) => bodyOf(m).text?.body ?? '');
const inboundOutcome = async (eventId: string) =>
  (await db()`SELECT outcome FROM inbound_events WHERE source = 'stripe' AND external_id = ${eventId}`)[0]?.outcome as string | undefined;
/** A charge as Stripe reports it in charge.refunded (API versions since 2022-11-15 leave `refunds` out). */
const chargeObject = (o: { charge: string; paymentIntent: string; totalMinor: number }, refunded: number) => ({
  id: o.charge,
  object: 'charge',
  amount: o.totalMinor,
  amount_captured: o.totalMinor,
  amount_refunded: refunded,
  currency: 'eur',
  paid: true,
  payment_intent: o.paymentIntent,
  refunded: refunded >= o.totalMinor,
  status: 'succeeded',
  metadata: {},
});

/** A session of its own on the test Postgres that holds the order row locked, as a concurrent refund's transaction would. */
async function lockOrderRow(orderId: string) {
  const [where] = await db()`SELECT inet_server_port() AS port, current_user AS usr, current_database() AS name`;
  const client = new pg.Client({ connectionString: `postgresql://${where!.usr}@127.0.0.1:${where!.port}/${where!.name}` });
  await client.connect();
  await client.query('BEGIN');
  await client.query('SELECT id FROM orders WHERE id = $1 FOR UPDATE', [orderId]);
  return { release: async () => void (await client.query('COMMIT'), await client.end()) };
}
const sessionsWaitingOnALock = async () =>
  Number((await db()`SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid()`)[0]!.n);
const alertPayload = async (orderId: string, kind: string) =>
  (await db()`SELECT payload FROM ops_alerts WHERE order_id = ${orderId} AND kind = ${kind}`)[0]?.payload as Record<string, unknown> | undefined;

beforeAll(async () => {
  await s.control('webhook-url', { url: '' });
  await upsertCatalogProduct({ sku: 'REF-1', name: 'Hojicha', priceMinor: 1500, currency: 'EUR', stock: 100 });
});

describe('a refund made in the Stripe dashboard', () => {
  it('full: order refunded, one event row, one alert, the customer told once — whichever events arrive, however often', async () => {
    const o = await s.paidOrder('REF-1', 2);
    const refund = await s.dashboard().refunds.create({ payment_intent: o.paymentIntent, reason: 'requested_by_customer' });
    const created = s.eventOf('refund.created', refund);
    const charged = s.eventOf('charge.refunded', chargeObject(o, 3000));
    const updated = s.eventOf('refund.updated', { ...refund, status: 'succeeded' });

    const r = await s.postStripe(created);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ outcome: 'refunded' });
    const row = await s.orderRow(o.orderId);
    expect(row).toMatchObject({ payment_status: 'refunded', refunded_minor: 3000 });
    expect(row.refunded_at).toBeInstanceOf(Date);

    const again = await Promise.all([s.postStripe(charged), s.postStripe(updated), s.postStripe(created), s.postStripe(charged)]);
    expect(again.map((x) => x.status)).toEqual([200, 200, 200, 200]);
    const refundEvents = (await s.eventsOf(o.orderId)).filter((e) => e.type.includes('refund'));
    expect(refundEvents).toEqual([{ type: 'refunded', data: expect.objectContaining({ refundId: refund.id, amountMinor: 3000, refundedMinor: 3000, ours: false, stripeKey: `refund:${refund.id}` }) }]);
    await eventually(async () => (await s.alertsOf(o.orderId)).includes('order_refunded'), 30_000);
    expect((await s.alertsOf(o.orderId)).filter((k) => k.startsWith('order_') || k.startsWith('refund'))).toEqual(['order_refunded']);

    const messages = await s.messagesTo(o.waId, 4);
    expect(messages).toHaveLength(4);
    expect(texts(o.waId)[3]).toBe(`Your payment of €30.00 for order ${o.reference} has been refunded in full. It can take a few days to show on your statement. If you have any questions, just reply here.`);
  });

  it('partial: the order stays paid with the refunded amount recorded; a second refund that completes it refunds the order', async () => {
    const o = await s.paidOrder('REF-1', 2);
    const first = await s.dashboard().refunds.create({ payment_intent: o.paymentIntent, amount: 1000 });
    // charge.refunded without its refunds (current API versions): the shop lists them.
    const r1 = await s.postStripe(s.eventOf('charge.refunded', chargeObject(o, 1000)));
    expect(r1.status).toBe(200);
    expect(await s.orderRow(o.orderId)).toMatchObject({ payment_status: 'paid', refunded_minor: 1000, refunded_at: null });
    expect((await s.postStripe(s.eventOf('refund.created', first))).status).toBe(200);
    expect((await s.eventsOf(o.orderId)).filter((e) => e.type.includes('refund')).map((e) => e.type)).toEqual(['partially_refunded']);
    await eventually(async () => (await s.alertsOf(o.orderId)).includes('order_partially_refunded'), 30_000);
    await sleep(500);
    expect(sentTo(stack(), o.waId)).toHaveLength(3); // no notice for a partial refund

    const second = await s.dashboard().refunds.create({ payment_intent: o.paymentIntent, amount: 2000 });
    expect((await s.postStripe(s.eventOf('refund.created', second))).status).toBe(200);
    expect(await s.orderRow(o.orderId)).toMatchObject({ payment_status: 'refunded', refunded_minor: 3000 });
    expect((await s.eventsOf(o.orderId)).filter((e) => e.type.includes('refund')).map((e) => e.type)).toEqual(['partially_refunded', 'refunded']);
    await s.messagesTo(o.waId, 4);
    expect(sentTo(stack(), o.waId)).toHaveLength(4);
  });

  it('a refund that fails later is taken off the refunded amount and alerted', async () => {
    const o = await s.paidOrder('REF-1', 1);
    const refund = await s.dashboard().refunds.create({ payment_intent: o.paymentIntent, amount: 500 });
    expect((await s.postStripe(s.eventOf('refund.created', { ...refund, status: 'pending' }))).status).toBe(200);
    expect(await s.orderRow(o.orderId)).toMatchObject({ payment_status: 'paid', refunded_minor: 500 });
    expect((await s.postStripe(s.eventOf('refund.failed', { ...refund, status: 'failed' }))).status).toBe(200);
    expect(await s.orderRow(o.orderId)).toMatchObject({ payment_status: 'paid', refunded_minor: 0 });
    expect((await s.eventsOf(o.orderId)).filter((e) => e.type.includes('refund')).map((e) => e.type)).toEqual(['partially_refunded', 'refund_failed']);
    await eventually(async () => (await s.alertsOf(o.orderId)).includes('refund_failed'), 30_000);
  });

  it('two refunds processed at the same time both count: each sees the other, the order is refunded and the customer told once', async () => {
    const o = await s.paidOrder('REF-1', 2);
    const first = await s.dashboard().refunds.create({ payment_intent: o.paymentIntent, amount: 1500 });
    const second = await s.dashboard().refunds.create({ payment_intent: o.paymentIntent, amount: 1500 });
    // Deterministic race: while the row is locked elsewhere both events start and wait for the lock;
    // the one that gets it second must count the refund the first one committed.
    const lock = await lockOrderRow(o.orderId);
    const posted = Promise.all([s.postStripe(s.eventOf('refund.created', first)), s.postStripe(s.eventOf('refund.created', second))]);
    try {
      await eventually(async () => (await sessionsWaitingOnALock()) >= 2, 30_000);
    } finally {
      await lock.release();
    }
    expect((await posted).map((r) => r.status)).toEqual([200, 200]);
    expect(await s.orderRow(o.orderId)).toMatchObject({ payment_status: 'refunded', refunded_minor: 3000 });
    expect((await s.eventsOf(o.orderId)).filter((e) => e.type.includes('refund')).map((e) => e.type)).toEqual(['partially_refunded', 'refunded']);
    await s.messagesTo(o.waId, 4);
    expect(sentTo(stack(), o.waId)).toHaveLength(4);
    expect(texts(o.waId)[3]).toMatch(/has been refunded in full/);
  });

  it('a full refund that fails afterwards makes the order paid again, recorded and alerted; the customer gets no contradicting message', async () => {
    const o = await s.paidOrder('REF-1', 1);
    const refund = await s.dashboard().refunds.create({ payment_intent: o.paymentIntent });
    expect((await s.postStripe(s.eventOf('refund.created', { ...refund, status: 'pending' }))).body).toMatchObject({ outcome: 'refunded' });
    await s.messagesTo(o.waId, 4);

    const failed = s.eventOf('refund.failed', { ...refund, status: 'failed', failure_reason: 'expired_or_canceled_card' });
    expect((await s.postStripe(failed)).status).toBe(200);
    expect(await s.orderRow(o.orderId)).toMatchObject({ payment_status: 'paid', refunded_minor: 0, refunded_at: null });
    expect((await s.postStripe(s.eventOf('refund.updated', { ...refund, status: 'failed' }))).status).toBe(200);
    const refundEvents = (await s.eventsOf(o.orderId)).filter((e) => e.type.includes('refund'));
    expect(refundEvents.map((e) => e.type)).toEqual(['refunded', 'refund_failed', 'refund_reverted']);
    expect(refundEvents[2]!.data).toMatchObject({ refundId: refund.id, orderStatus: 'paid', refundedMinor: 0, refundNotice: 'sent' });
    await eventually(async () => alertPayload(o.orderId, 'refund_failed'), 30_000);
    expect(await alertPayload(o.orderId, 'refund_failed')).toMatchObject({ refundId: refund.id, orderStatus: 'paid', reopened: true, refundNotice: 'sent' });
    await sleep(500);
    expect(sentTo(stack(), o.waId)).toHaveLength(4);

    // The shop refunds again (another way round): refunded once more, and the customer, already told, is not told twice.
    const retry = { ...refund, id: `${refund.id}_retry`, status: 'succeeded' };
    expect((await s.postStripe(s.eventOf('refund.created', retry))).body).toMatchObject({ outcome: 'refunded' });
    expect(await s.orderRow(o.orderId)).toMatchObject({ payment_status: 'refunded', refunded_minor: 1500 });
    await sleep(500);
    expect(sentTo(stack(), o.waId)).toHaveLength(4);
  });

  it('our own refund (admin cancel) that fails leaves the order refunded: the shop decided it, the alert says the money did not go back', async () => {
    const o = await s.paidOrder('REF-1', 1);
    const cancel = await fetch(`${stack().url}/api/orders/${o.orderId}/cancel`, { method: 'POST', headers: { authorization: `Bearer ${stack().env.ADMIN_API_KEY}` } });
    expect(cancel.status).toBe(200);
    await s.messagesTo(o.waId, 4);
    const refundedAt = (await s.orderRow(o.orderId)).refunded_at as Date;
    const [refund] = (await s.dashboard().refunds.list({ payment_intent: o.paymentIntent })).data;
    expect((await s.postStripe(s.eventOf('refund.created', refund))).status).toBe(200);
    expect((await s.postStripe(s.eventOf('refund.failed', { ...refund, status: 'failed' }))).status).toBe(200);
    expect(await s.orderRow(o.orderId)).toMatchObject({ payment_status: 'refunded', refunded_minor: 0, refunded_at: refundedAt });
    expect((await s.eventsOf(o.orderId)).filter((e) => e.type.includes('refund')).map((e) => e.type)).toEqual(['refund_required', 'refunded', 'refund_failed']);
    await eventually(async () => (await s.alertsOf(o.orderId)).includes('refund_failed'), 30_000);
    expect(await alertPayload(o.orderId, 'refund_failed')).not.toHaveProperty('reopened');
  });

  it("our own refund (admin cancel) coming back as charge.refunded / refund.created notifies nobody twice", async () => {
    const o = await s.paidOrder('REF-1', 1);
    const cancel = await fetch(`${stack().url}/api/orders/${o.orderId}/cancel`, { method: 'POST', headers: { authorization: `Bearer ${stack().env.ADMIN_API_KEY}` } });
    expect(cancel.status).toBe(200);
    await s.messagesTo(o.waId, 4);
    const alertsBefore = await s.alertsOf(o.orderId);
    const [refund] = (await s.dashboard().refunds.list({ payment_intent: o.paymentIntent })).data;
    expect(refund!.metadata).toMatchObject({ order_id: o.orderId });
    const results = await Promise.all([s.postStripe(s.eventOf('charge.refunded', chargeObject(o, 1500))), s.postStripe(s.eventOf('refund.created', refund))]);
    expect(results.map((r) => r.status)).toEqual([200, 200]);
    expect(await s.orderRow(o.orderId)).toMatchObject({ payment_status: 'refunded', refunded_minor: 1500 });
    expect((await s.eventsOf(o.orderId)).filter((e) => e.type.includes('refund')).map((e) => e.type)).toEqual(['refund_required', 'refunded']);
    await sleep(800);
    expect(sentTo(stack(), o.waId)).toHaveLength(4);
    expect(await s.alertsOf(o.orderId)).toEqual(alertsBefore);
  });

  it('a refund of a payment that is not one of our orders is acknowledged and ignored', async () => {
    const r = await s.postStripe(s.eventOf('refund.created', { id: 're_elsewhere', object: 'refund', amount: 100, currency: 'usd', status: 'succeeded', charge: 'ch_elsewhere', payment_intent: 'pi_elsewhere', metadata: {} }));
    expect(r.status).toBe(200);
    expect(r.body.outcome).toMatch(/^ignored: refund of a payment that is not an order/);
  });
});

describe('disputes', () => {
  it('created and closed: one order event and one alert each, however often delivered', async () => {
    const o = await s.paidOrder('REF-1', 1);
    const dispute = { id: `dp_${o.orderId.slice(0, 8)}`, object: 'dispute', amount: 1500, currency: 'eur', charge: o.charge, payment_intent: o.paymentIntent, reason: 'fraudulent', status: 'needs_response', evidence_details: { due_by: 1900000000 }, metadata: {} };
    const created = s.eventOf('charge.dispute.created', dispute);
    const closed = s.eventOf('charge.dispute.closed', { ...dispute, status: 'lost' });
    const results = await Promise.all([s.postStripe(created), s.postStripe(created), s.postStripe(closed)]);
    expect(results.map((r) => r.status)).toEqual([200, 200, 200]);
    expect((await s.postStripe(closed)).status).toBe(200);
    const events = (await s.eventsOf(o.orderId)).filter((e) => e.type.startsWith('dispute'));
    expect(events.map((e) => e.type).sort()).toEqual(['dispute_closed', 'dispute_opened']);
    expect(events.find((e) => e.type === 'dispute_closed')!.data).toMatchObject({ disputeId: dispute.id, status: 'lost', amountMinor: 1500, currency: 'EUR' });
    await eventually(async () => (await s.alertsOf(o.orderId)).filter((k) => k.startsWith('dispute')).length === 2, 30_000);
    expect((await s.orderRow(o.orderId)).payment_status).toBe('paid');
    await sleep(300);
    expect(sentTo(stack(), o.waId)).toHaveLength(3);
  });

  it('an evidence deadline no date can hold is recorded without it (found by the full fuzz: was 500, retried for days)', async () => {
    const o = await s.paidOrder('REF-1', 1);
    const dispute = { id: `dp_far_${o.orderId.slice(0, 8)}`, object: 'dispute', amount: 900, currency: 'eur', charge: o.charge, payment_intent: o.paymentIntent, reason: 'general', status: 'needs_response', evidence_details: { due_by: 1e300 }, metadata: {} };
    expect((await s.postStripe(s.eventOf('charge.dispute.created', dispute))).status).toBe(200);
    const [opened] = (await s.eventsOf(o.orderId)).filter((e) => e.type === 'dispute_opened');
    expect(opened!.data).toMatchObject({ disputeId: dispute.id, evidenceDueBy: null });
  });
});

describe('signed bodies of unexpected shape never answer 5xx', () => {
  const o = () => ({ id: 'cs_test_x', object: 'checkout.session' });
  it.each([
    ['no data', { id: 'evt_nodata', object: 'event', type: 'checkout.session.completed' }],
    ['no id', { object: 'event', type: 'checkout.session.completed', data: { object: o() } }],
    ['no type', { id: 'evt_notype', object: 'event', data: { object: o() } }],
    ['data without object', { id: 'evt_noobj', object: 'event', type: 'checkout.session.completed', data: {} }],
    ['id of the wrong type', { id: 42, object: 'event', type: 'checkout.session.completed', data: { object: o() } }],
    ['a 100 KB id', { id: `evt_${'x'.repeat(100_000)}`, object: 'event', type: 'checkout.session.completed', data: { object: o() } }],
    ['an array', [1, 2, 3]],
    ['null', null],
    ['a string', 'hello'],
    ['a charge under a checkout.session type', { id: 'evt_charge_as_session', object: 'event', type: 'checkout.session.completed', data: { object: { id: 'ch_1', object: 'charge' } } }],
    ['a session under charge.refunded', { id: 'evt_session_as_charge', object: 'event', type: 'charge.refunded', data: { object: o() } }],
    ['a refund without amount', { id: 'evt_refund_noamount', object: 'event', type: 'refund.created', data: { object: { id: 're_1', object: 'refund' } } }],
    ['an unknown type', { id: 'evt_unknown_type', object: 'event', type: 'something.new', data: { object: { id: 'x_1', object: 'x' } } }],
  ])('%s → 200, ignored with a reason, recorded', async (_name, body) => {
    const before = Number((await db()`SELECT count(*)::int AS n FROM inbound_events WHERE source = 'stripe'`)[0]!.n);
    const r = await s.postStripe(JSON.stringify(body));
    expect(r.status).toBe(200);
    expect(JSON.stringify(r.body)).toMatch(/ignored/);
    expect(Number((await db()`SELECT count(*)::int AS n FROM inbound_events WHERE source = 'stripe'`)[0]!.n)).toBe(before + 1);
    const again = await s.postStripe(JSON.stringify(body));
    expect(again.status).toBe(200);
  });
});

describe('logging a signed event (issue 14)', () => {
  it('caps a 100 KB event id and type in every log line', async () => {
    // The handler is called in this process so that its log lines pass through this console.
    const lines: string[] = [];
    const capture = (...args: unknown[]) => void lines.push(args.map(String).join(' '));
    const spies = [vi.spyOn(console, 'error').mockImplementation(capture), vi.spyOn(console, 'log').mockImplementation(capture), vi.spyOn(console, 'warn').mockImplementation(capture)];
    try {
      const huge = 'y'.repeat(100_000);
      for (const body of [
        { id: `evt_${huge}`, object: 'event', type: `checkout.session.${huge}`, data: { object: { id: 'cs_1', object: 'checkout.session' } } },
        { id: `evt_ok_${Date.now()}`, object: 'event', type: `x.${huge.slice(0, 200)}`, data: { object: { id: 'x_1', object: 'x' } } },
      ]) {
        const payload = JSON.stringify(body);
        const init = { method: 'POST', headers: { 'content-type': 'application/json', 'stripe-signature': s.signature(payload) }, body: payload };
        expect((await invokeInProcess('payment-callback', `${stack().url}/.netlify/functions/payment-callback`, init)).status).toBe(200);
      }
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
    expect(lines.some((l) => l.includes('stripe.'))).toBe(true);
    expect(Math.max(...lines.map((l) => l.length))).toBeLessThan(2_000);
  });
});

describe('characters Postgres refuses (issue 14)', () => {
  it.each([
    ['a NUL', 'Ada\u0000Lovelace'],
    ['a lone high surrogate', 'Ada \ud83d'],
    ['a lone low surrogate', '\udc00Ada'],
  ])('a completed session whose payer name holds %s still pays the order, once', async (_name, name) => {
    const o = await s.orderOverWhatsApp('REF-1', 1);
    const completed = await s.control(`sessions/${o.sessionId}/complete`);
    const original = JSON.parse((await s.stripeEvents()).find((e) => e.id === completed.eventId)!.payload) as { data: { object: Record<string, unknown> } };
    original.data.object.customer_details = { ...(original.data.object.customer_details as object), name };
    original.data.object.metadata = { ...(original.data.object.metadata as object), ['note\u0000']: name };
    const payload = JSON.stringify(original, null, 2);
    expect(payload).toMatch(/\\u0000|\\ud83d|\\udc00/);
    const r = await s.postStripe(payload);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ outcome: 'paid' });
    expect((await s.orderRow(o.orderId)).payment_status).toBe('paid');
    const [stored] = await db()`SELECT payload FROM inbound_events WHERE source = 'stripe' AND external_id = ${completed.eventId}`;
    expect((stored!.payload as { data: { object: { customer_details: { name: string } } } }).data.object.customer_details.name).toContain('\ufffd');
    expect((await s.postStripe(payload)).body).toMatchObject({ duplicate: true });
    expect(await inboundOutcome(completed.eventId)).toBe('paid');
  });

  it('an event id with a NUL is stored and deduped, not refused', async () => {
    const payload = JSON.stringify({ id: 'evt_nul\u0000id', object: 'event', type: 'customer.created', data: { object: { id: 'cus_1', object: 'customer', name: '\u0000' } } });
    expect((await s.postStripe(payload)).status).toBe(200);
    expect((await s.postStripe(payload)).body).toMatchObject({ duplicate: true });
  });
});
