import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { faults } from '../../dev/faults.js';
import { db } from '../../lib/db.js';
import { redis } from '../../lib/redis.js';
import { shop } from '../support/shop.js';
import { newCustomer, useStack } from '../support/stack.js';
import { harness, settledProblems, stockProblems, type Answer, type Delivery } from './harness.js';

/**
 * Replay storms (issue 14, item 1), in process against the real Postgres, Redis, bridges and stand-ins: every
 * Meta and Stripe event the shop handles, delivered 10 times at once and out of order, as Meta and Stripe do
 * when they retry. Each storm must change the state once, send each outbound message once, and leave stock
 * conserved (available + held + sold = loaded). Races that need a flow stopped between two steps (a payment
 * before the order message has finished, statuses before the send is recorded) hold that step with
 * `faults.stall` (dev/faults.ts) while the storm overtakes it.
 */

const stack = useStack({ functions: 'in-process', env: { LOG_LEVEL: 'silent' } });
const h = harness(stack);
const s = shop(stack, { inProcess: true });

const STOCK = 10;
const skus: string[] = [];
let skuCounter = 0;
const nextSku = () => skus[skuCounter++]!;

/** Fisher–Yates with a fixed seed, so a failing order can be replayed. */
let seed = 14;
const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
function shuffled<T>(items: T[]): T[] {
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

/** Every delivery `times` times, all at once, in a shuffled order; every answer must be a 2xx (nothing here is a fault). */
async function storm(deliveries: Delivery[], times = 10): Promise<Answer[]> {
  const answers = await Promise.all(shuffled(deliveries.flatMap((d) => Array.from({ length: times }, () => d))).map((d) => h.send(d)));
  expect(answers.filter((a) => a.status < 200 || a.status >= 300)).toEqual([]);
  return answers;
}

const kinds = (waId: string) =>
  h.accepted(waId).map((m) => (m.type === 'template' ? (m.body as { template: { name: string } }).template.name : m.type === 'interactive' ? (m.body as { interactive: { type: string } }).interactive.type : m.type));
const ordersOf = async (waId: string) =>
  (await db()`SELECT o.id, o.payment_status, o.stripe_session_id FROM orders o JOIN customers c ON c.id = o.customer_id WHERE c.wa_id = ${waId}`) as { id: string; payment_status: string; stripe_session_id: string | null }[];
const eventTypes = async (orderId: string) => (await db()`SELECT type FROM order_events WHERE order_id = ${orderId} ORDER BY id`).map((r) => r.type as string);

/** The checks every storm ends with, for its customer and its SKU. */
async function settled(waId: string, sku: string) {
  await h.reportSent(waId);
  expect([...(await settledProblems(stack(), { waIds: [waId] })), ...(await stockProblems(new Map([[sku, STOCK]])))]).toEqual([]);
}

/** An order over WhatsApp, its payment link sent (no storm). */
async function placed(sku: string, quantity = 2) {
  const waId = newCustomer('4940');
  expect((await h.send(h.inbound({ from: waId, name: 'Ada', text: `buy ${sku} ${quantity}` }))).status).toBe(200);
  const [o] = await ordersOf(waId);
  await h.reportSent(waId);
  return { waId, orderId: o!.id, sessionId: o!.stripe_session_id! };
}

beforeAll(async () => {
  stack().graph.setWebhookUrl(null);
  stack().stripe.setWebhookUrl(null);
  for (let i = 0; i < 20; i++) skus.push(`RS-${String(i).padStart(3, '0')}`);
  await h.loadCatalog(skus.map((sku) => ({ sku, priceMinor: 1500, stock: STOCK })));
});

afterAll(() => faults.reset());

describe('Meta events, 10× at once', () => {
  it('a text order ("buy …"): one order, one hold, one payment link', async () => {
    const sku = nextSku();
    const waId = newCustomer('4941');
    await storm([h.inbound({ from: waId, name: 'Ada', text: `buy ${sku} 3` })]);
    const orders = await ordersOf(waId);
    expect(orders.map((o) => o.payment_status)).toEqual(['pending']);
    expect(kinds(waId)).toEqual(['cta_url']);
    await settled(waId, sku);
    expect(Number(await redis().get(`stock:${sku}`))).toBe(STOCK - 3);
  });

  it('interactive replies (list row, then quantity button): one quantity question, one order, one payment link', async () => {
    const sku = nextSku();
    const waId = newCustomer('4942');
    await storm([h.inbound({ from: waId, name: 'Ada', interactive: { type: 'list_reply', id: `variant:${sku}`, title: sku } })]);
    expect(kinds(waId)).toEqual(['button']);
    await storm([h.inbound({ from: waId, name: 'Ada', interactive: { type: 'button_reply', id: `qty:2:${sku}`, title: '2' } })]);
    expect((await ordersOf(waId)).map((o) => o.payment_status)).toEqual(['pending']);
    expect(kinds(waId)).toEqual(['button', 'cta_url']);
    await settled(waId, sku);
  });

  it('a catalog order message (two lines): one order, both lines held once, one payment link', async () => {
    const [a, b] = [nextSku(), nextSku()];
    const waId = newCustomer('4943');
    const order = { catalog_id: 'catalog', product_items: [a, b].map((sku) => ({ product_retailer_id: sku, quantity: 2, item_price: 15, currency: 'EUR' })) };
    await storm([h.inbound({ from: waId, name: 'Ada', order })]);
    expect((await ordersOf(waId)).map((o) => o.payment_status)).toEqual(['pending']);
    expect(kinds(waId)).toEqual(['cta_url']);
    await settled(waId, a);
    expect(await stockProblems(new Map([[b, STOCK]]))).toEqual([]);
  });

  it('statuses sent, delivered, read, each 10× and shuffled: the message ends read, every status kept once', async () => {
    const sku = nextSku();
    const o = await placed(sku);
    const link = h.accepted(o.waId)[0]!;
    const cb = (link.body as { biz_opaque_callback_data?: string }).biz_opaque_callback_data;
    const at = Math.floor(Date.now() / 1000);
    await storm((['sent', 'delivered', 'read'] as const).map((status, i) => h.status({ wamid: link.wamid!, status, recipient_id: o.waId, biz_opaque_callback_data: cb, timestamp: at + i })));
    const [row] = await db()`SELECT status, delivery_status, delivery_statuses FROM outbound_messages WHERE order_id = ${o.orderId} AND kind = 'payment_link'`;
    expect(row).toMatchObject({ status: 'sent', delivery_status: 'read' });
    expect((row!.delivery_statuses as { status: string }[]).map((x) => x.status).sort()).toEqual(['delivered', 'read', 'sent']);
    await settled(o.waId, sku);
  });

  it('statuses before the send is recorded (its "sent" write held back): reconciled by the outbox key, sent once', async () => {
    const sku = nextSku();
    const waId = newCustomer('4944');
    const markSent = faults.stall('postgres', /^(transaction: )?UPDATE outbound_messages SET status = 'sent'/);
    const ordering = h.send(h.inbound({ from: waId, name: 'Ada', text: `buy ${sku} 1` }));
    await markSent.reached;
    const link = h.accepted(waId)[0]!;
    const cb = (link.body as { biz_opaque_callback_data?: string }).biz_opaque_callback_data;
    expect(cb).toBeTruthy();
    const at = Math.floor(Date.now() / 1000);
    await storm((['sent', 'delivered', 'read'] as const).map((status, i) => h.status({ wamid: link.wamid!, status, recipient_id: waId, biz_opaque_callback_data: cb, timestamp: at + i })));
    markSent.release();
    expect((await ordering).status).toBe(200);
    const [row] = await db()`SELECT m.status, m.delivery_status, m.wamid FROM outbound_messages m JOIN orders o ON o.id = m.order_id JOIN customers c ON c.id = o.customer_id WHERE c.wa_id = ${waId}`;
    expect(row).toMatchObject({ status: 'sent', delivery_status: 'read', wamid: link.wamid });
    expect(kinds(waId)).toEqual(['cta_url']);
    await settled(waId, sku);
  });
});

describe('Stripe events, 10× at once', () => {
  it('checkout.session.completed: paid once, stock committed once, one confirmation and one invite link', async () => {
    const sku = nextSku();
    const o = await placed(sku, 3);
    const { payload } = await h.stripeControl(`sessions/${o.sessionId}/complete`);
    await storm([h.stripeDelivery(payload)]);
    expect((await ordersOf(o.waId))[0]!.payment_status).toBe('paid');
    expect((await eventTypes(o.orderId)).filter((t) => t === 'paid')).toHaveLength(1);
    expect(kinds(o.waId)).toEqual(['cta_url', 'order_confirmed', 'text']);
    expect(Number((await db()`SELECT stock FROM variants WHERE sku = ${sku}`)[0]!.stock)).toBe(STOCK - 3);
    await settled(o.waId, sku);
  });

  it('checkout.session.completed before the order message has finished (the payment link still being sent), with the message replayed too', async () => {
    const sku = nextSku();
    const waId = newCustomer('4945');
    const message = h.inbound({ from: waId, name: 'Ada', text: `buy ${sku} 2` });
    const linkSend = faults.stall('meta', /^POST messages interactive cta_url/);
    const ordering = h.send(message);
    await linkSend.reached;
    const [o] = await ordersOf(waId);
    const { payload } = await h.stripeControl(`sessions/${o!.stripe_session_id}/complete`);
    const answers = storm([h.stripeDelivery(payload), message]);
    await new Promise((r) => setTimeout(r, 300));
    linkSend.release();
    await answers;
    expect((await ordering).status).toBe(200);
    expect((await ordersOf(waId)).map((x) => x.payment_status)).toEqual(['paid']);
    expect([...kinds(waId)].sort()).toEqual(['cta_url', 'order_confirmed', 'text']);
    await settled(waId, sku);
  });

  it('no session is payable before its order exists: the order is written with its session in one statement, and a storm right after pays it once', async () => {
    const sku = nextSku();
    const waId = newCustomer('4946');
    const message = h.inbound({ from: waId, name: 'Ada', text: `buy ${sku} 2` });
    const write = faults.stall('postgres', /^transaction: SELECT pg_advisory_xact_lock/);
    const ordering = h.send(message);
    await write.reached;
    // Stripe made the session, but nobody was given its URL: no order row yet, no link sent.
    const session = stack().stripe.sessions().at(-1)!;
    expect(await ordersOf(waId)).toEqual([]);
    expect(kinds(waId)).toEqual([]);
    write.release();
    expect((await ordering).status).toBe(200);
    expect((await db()`SELECT o.stripe_session_id FROM orders o JOIN customers c ON c.id = o.customer_id WHERE c.wa_id = ${waId}`).map((r) => r.stripe_session_id)).toEqual([session.id]);
    const { payload } = await h.stripeControl(`sessions/${session.id}/complete`);
    const answers = await Promise.all(Array.from({ length: 10 }, () => h.send(h.stripeDelivery(payload))));
    // Stripe redelivers until it gets a 2xx: whatever the first answers were, the storm ends acknowledged.
    for (let i = 0; i < 3 && answers.some((a) => a.status !== 200); i++) answers.push(await h.send(h.stripeDelivery(payload)));
    expect(answers.at(-1)!.status).toBe(200);
    expect((await ordersOf(waId)).map((x) => x.payment_status)).toEqual(['paid']);
    expect([...kinds(waId)].sort()).toEqual(['cta_url', 'order_confirmed', 'text']);
    await settled(waId, sku);
  });

  it('checkout.session.expired after completed (then mixed with its replays): stays paid, nothing released, no "expired" notice', async () => {
    const sku = nextSku();
    const o = await placed(sku);
    const completed = await h.stripeControl(`sessions/${o.sessionId}/complete`);
    // Stripe never expires a completed session; an `expired` for it can only be late or bogus, and must change nothing.
    const expired = s.eventOf('checkout.session.expired', { ...completed.session, status: 'expired' });
    await storm([h.stripeDelivery(completed.payload)]);
    await storm([h.stripeDelivery(completed.payload), h.stripeDelivery(expired)]);
    expect((await ordersOf(o.waId))[0]!.payment_status).toBe('paid');
    expect(kinds(o.waId)).toEqual(['cta_url', 'order_confirmed', 'text']);
    await settled(o.waId, sku);
  });

  it('checkout.session.expired: closed once, hold released once, one notice', async () => {
    const sku = nextSku();
    const o = await placed(sku, 4);
    const { payload } = await h.stripeControl(`sessions/${o.sessionId}/expire`);
    await storm([h.stripeDelivery(payload)]);
    expect((await ordersOf(o.waId))[0]!.payment_status).toBe('expired');
    expect((await eventTypes(o.orderId)).filter((t) => t === 'expired')).toHaveLength(1);
    // The released notice carries "Order again" (docs/second-chances.md): reply buttons.
    expect(kinds(o.waId)).toEqual(['cta_url', 'button']);
    expect(Number(await redis().get(`stock:${sku}`))).toBe(STOCK);
    await settled(o.waId, sku);
  });

  it('delayed payment: completed (unpaid) then async_payment_succeeded, each 10× and mixed: paid once', async () => {
    const sku = nextSku();
    const o = await placed(sku);
    const completed = await h.stripeControl(`sessions/${o.sessionId}/complete`, { paid: false });
    const succeeded = await h.stripeControl(`sessions/${o.sessionId}/async-succeeded`);
    await storm([h.stripeDelivery(completed.payload), h.stripeDelivery(succeeded.payload)]);
    expect((await ordersOf(o.waId))[0]!.payment_status).toBe('paid');
    expect(kinds(o.waId)).toEqual(['cta_url', 'order_confirmed', 'text']);
    await settled(o.waId, sku);
  });

  it('delayed payment: async_payment_failed 10×: closed once, one notice, stock back', async () => {
    const sku = nextSku();
    const o = await placed(sku);
    const completed = await h.stripeControl(`sessions/${o.sessionId}/complete`, { paid: false });
    await storm([h.stripeDelivery(completed.payload)]);
    expect((await ordersOf(o.waId))[0]!.payment_status).toBe('awaiting_payment');
    const failed = await h.stripeControl(`sessions/${o.sessionId}/async-failed`);
    await storm([h.stripeDelivery(failed.payload)]);
    expect((await ordersOf(o.waId))[0]!.payment_status).toBe('payment_failed');
    expect(kinds(o.waId)).toEqual(['cta_url', 'button']);
    await settled(o.waId, sku);
  });

  it('a full refund made in the dashboard (charge.refunded, refund.created, refund.updated), each 10× and shuffled: refunded once, one notice', async () => {
    const sku = nextSku();
    const o = await placed(sku);
    const { payload } = await h.stripeControl(`sessions/${o.sessionId}/complete`);
    await storm([h.stripeDelivery(payload)], 1);
    const pi = (JSON.parse(payload) as { data: { object: { payment_intent: string } } }).data.object.payment_intent;
    const charge = (await s.dashboard().paymentIntents.retrieve(pi)).latest_charge as string;
    const refund = await s.dashboard().refunds.create({ payment_intent: pi });
    const total = Number((await db()`SELECT total_minor FROM orders WHERE id = ${o.orderId}`)[0]!.total_minor);
    const chargeObject = { id: charge, object: 'charge', amount: total, amount_captured: total, amount_refunded: total, currency: 'eur', paid: true, payment_intent: pi, refunded: true, status: 'succeeded', metadata: {} };
    await storm([s.eventOf('refund.created', refund), s.eventOf('charge.refunded', chargeObject), s.eventOf('refund.updated', { ...refund, status: 'succeeded' })].map((e) => h.stripeDelivery(e)));
    expect((await ordersOf(o.waId))[0]!.payment_status).toBe('refunded');
    expect((await eventTypes(o.orderId)).filter((t) => t === 'refunded')).toHaveLength(1);
    expect(kinds(o.waId)).toEqual(['cta_url', 'order_confirmed', 'text', 'text']);
    expect((await db()`SELECT kind FROM ops_alerts WHERE order_id = ${o.orderId}`).map((r) => r.kind)).toEqual(['order_refunded']);
    await settled(o.waId, sku);
  });

  it('a dispute opened and closed, each 10× and shuffled: one order event and one alert per phase, status unchanged', async () => {
    const sku = nextSku();
    const o = await placed(sku);
    const { payload } = await h.stripeControl(`sessions/${o.sessionId}/complete`);
    await storm([h.stripeDelivery(payload)], 1);
    const pi = (JSON.parse(payload) as { data: { object: { payment_intent: string } } }).data.object.payment_intent;
    const charge = (await s.dashboard().paymentIntents.retrieve(pi)).latest_charge as string;
    const dispute = { id: `dp_${o.orderId.slice(0, 8)}`, object: 'dispute', amount: 3000, currency: 'eur', charge, payment_intent: pi, reason: 'fraudulent', status: 'needs_response', evidence_details: { due_by: 1900000000 }, metadata: {} };
    await storm([s.eventOf('charge.dispute.created', dispute), s.eventOf('charge.dispute.closed', { ...dispute, status: 'lost' })].map((e) => h.stripeDelivery(e)));
    expect((await ordersOf(o.waId))[0]!.payment_status).toBe('paid');
    expect((await eventTypes(o.orderId)).filter((t) => t.startsWith('dispute')).sort()).toEqual(['dispute_closed', 'dispute_opened']);
    expect((await db()`SELECT kind FROM ops_alerts WHERE order_id = ${o.orderId}`).map((r) => r.kind as string).sort()).toEqual(['dispute_closed', 'dispute_created']);
    expect(kinds(o.waId)).toEqual(['cta_url', 'order_confirmed', 'text']);
    await settled(o.waId, sku);
  });
});
