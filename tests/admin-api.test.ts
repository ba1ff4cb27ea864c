import { beforeAll, describe, expect, it } from 'vitest';
import { upsertCatalogProduct } from '../lib/catalog/index.js';
import { db } from '../lib/db.js';
import { placeOrder, type Order } from '../lib/orders/place.js';
import { ensureCheckoutSession } from '../lib/orders/payment-link.js';
import { availableStock } from '../lib/stock/index.js';
import { bodyOf, eventually, newCustomer, sentTo, useStack, waitForMessages, type Body } from './support/stack.js';

const stack = useStack();
const api = (path: string) => `${stack().url}/api${path}`;
const auth = () => ({ authorization: `Bearer ${stack().env.ADMIN_API_KEY}` });

async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const r = await fetch(api(path), {
    method,
    headers: { ...auth(), ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await r.text();
  let parsed: (Body & Record<string, any>) | null = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    throw new Error(`${method} ${path}: HTTP ${r.status}, not JSON: ${text.slice(0, 300)}`);
  }
  return { status: r.status, headers: r.headers, text, body: parsed };
}

let seq = 0;
/** An order placed through the order path (stock held in Redis); `paid` marks it paid directly in Postgres (setup only). */
async function newOrder(opts: { name?: string | null; paid?: boolean; quantity?: number } = {}): Promise<{ waId: string; order: Order }> {
  const waId = newCustomer();
  const r = await placeOrder({
    customer: { waId, userId: null, profileName: opts.name === undefined ? 'Ada Lovelace' : opts.name },
    source: 'api',
    sourceKey: `admin-test:${waId}:${seq++}`,
    lines: [{ sku: 'TEA-1', quantity: opts.quantity ?? 2 }],
  });
  if (r.status !== 'created') throw new Error(`order not created: ${r.status}`);
  if (opts.paid) await db()`UPDATE orders SET payment_status = 'paid', paid_at = now() WHERE id = ${r.order.id}`;
  return { waId, order: r.order };
}

const template = (m: { body: unknown }) => bodyOf(m as never).template as { name: string; language: { code: string }; components: Body[] };

beforeAll(async () => {
  await upsertCatalogProduct({ sku: 'TEA-1', name: 'Green tea', priceMinor: 1299, currency: 'EUR', stock: 500 });
});

describe('authentication', () => {
  it.each([
    ['GET', '/orders/00000000-0000-4000-8000-000000000000'],
    ['POST', '/orders/00000000-0000-4000-8000-000000000000/shipped'],
    ['POST', '/orders/00000000-0000-4000-8000-000000000000/cancel'],
    ['POST', '/offline-payments'],
    ['GET', '/catalog'],
    ['PUT', '/catalog'],
    ['POST', '/catalog/sync'],
  ])('%s %s answers 401 JSON without the right bearer key', async (method, path) => {
    for (const headers of [{}, { authorization: 'Bearer nope' }, { authorization: `Basic ${stack().env.ADMIN_API_KEY}` }] as Record<string, string>[]) {
      const r = await fetch(api(path), { method, headers });
      expect(r.status).toBe(401);
      expect(await r.json()).toMatchObject({ error: 'unauthorized' });
    }
  });
});

describe('GET /api/orders/:id', () => {
  it('404 for an unknown or malformed id', async () => {
    expect((await call('GET', '/orders/00000000-0000-4000-8000-000000000000')).status).toBe(404);
    const bad = await call('GET', '/orders/not-a-uuid');
    expect(bad.status).toBe(404);
    expect(bad.body).toMatchObject({ error: 'not_found' });
  });

  it('shows items, statuses, the hold, messages with delivery history; phones masked unless ?full=1', async () => {
    const { waId, order } = await newOrder({ paid: true });
    await call('POST', `/orders/${order.id}/shipped`, { trackingSlug: 'VIEW-1' });
    const [sent] = await waitForMessages(stack(), waId, 1);
    await stack().graph.sendStatus({ wamid: sent!.wamid!, status: 'delivered', recipient_id: waId });
    await eventually(async () => (await db()`SELECT delivery_status FROM outbound_messages WHERE wamid = ${sent!.wamid}`)[0]?.delivery_status === 'delivered');

    const r = await call('GET', `/orders/${order.id}`);
    expect(r.status).toBe(200);
    const v = r.body!;
    expect(v.order).toMatchObject({ id: order.id, reference: order.reference, paymentStatus: 'paid', fulfillmentStatus: 'shipped', totalMinor: 2598, currency: 'EUR', total: '€25.98' });
    expect(v.order.shipping).toMatchObject({ trackingSlug: 'VIEW-1' });
    expect(v.items).toEqual([{ sku: 'TEA-1', name: 'Green tea', quantity: 2, unitPriceMinor: 1299, lineTotalMinor: 2598 }]);
    expect(v.statuses.map((s: { type: string }) => s.type)).toEqual(['created', 'shipped']);
    expect(v.holds).toMatchObject({ state: 'held', lines: [{ sku: 'TEA-1', quantity: 2 }] });
    expect(v.messages).toHaveLength(1);
    expect(v.messages[0]).toMatchObject({ kind: 'order_shipped', template: 'order_shipped', status: 'sent', deliveryStatus: 'delivered' });
    expect(v.messages[0].deliveryStatuses.map((s: { status: string }) => s.status)).toEqual(['delivered']);
    expect(v.invite).toBeNull();
    expect(r.text).not.toContain(waId);
    expect(v.customer.phone).toMatch(/^\+\d\d\*+\d{4}$/);
    expect(v.messages[0].to).toBe(v.customer.phone);

    const full = await call('GET', `/orders/${order.id}?full=1`);
    expect(full.body!.customer.phone).toBe(`+${waId}`);
    expect(full.body!.messages[0].to).toBe(`+${waId}`);
  });

  it('shows invite clicks and contacts', async () => {
    const { order } = await newOrder({ paid: true });
    const contact = newCustomer('4477');
    await db()`
      WITH t AS (INSERT INTO invite_tokens (order_id, token, expires_at, clicks, last_clicked_at)
                 VALUES (${order.id}, ${`tok-${order.id}`}, now() + interval '90 days', 3, now()) RETURNING id),
           c AS (INSERT INTO customers (wa_id, phone_e164) VALUES (${contact}, ${`+${contact}`}) RETURNING id)
      INSERT INTO invite_contacts (invite_id, customer_id, wa_id, profile_name) SELECT t.id, c.id, ${contact}, 'Grandma' FROM t, c`;
    const v = (await call('GET', `/orders/${order.id}`)).body!;
    expect(v.invite).toMatchObject({ clicks: 3, contacts: [{ name: 'Grandma' }] });
    expect(v.invite.contacts[0].phone).not.toContain(contact);
    expect((await call('GET', `/orders/${order.id}?full=1`)).body!.invite.contacts[0].phone).toBe(`+${contact}`);
    expect(JSON.stringify(v)).not.toContain(`tok-${order.id}`);
  });
});

describe('POST /api/orders/:id/shipped', () => {
  it('10 calls → one order_shipped template with header/body/button parameters; the same answer each time, replays flagged', async () => {
    const { waId, order } = await newOrder({ paid: true, name: 'Ada Lovelace' });
    const body = { trackingSlug: 'JJD0099887766', carrier: 'DHL' };
    const concurrent = await Promise.all(Array.from({ length: 5 }, () => call('POST', `/orders/${order.id}/shipped`, body)));
    const sequential = [];
    for (let i = 0; i < 5; i++) sequential.push(await call('POST', `/orders/${order.id}/shipped`, body));
    const all = [...concurrent, ...sequential];
    expect(all.map((r) => r.status)).toEqual(Array(10).fill(200));
    expect(new Set(all.map((r) => r.text)).size).toBe(1);
    expect(all.filter((r) => r.headers.get('idempotent-replayed') === 'true')).toHaveLength(9);
    expect(all[0]!.body).toMatchObject({ orderId: order.id, reference: order.reference, fulfillmentStatus: 'shipped', carrier: 'DHL', trackingSlug: 'JJD0099887766' });

    const messages = await waitForMessages(stack(), waId, 1, 800);
    expect(messages).toHaveLength(1);
    const t = template(messages[0]!);
    expect(t.name).toBe('order_shipped');
    expect(t.language.code).toBe('en');
    expect(t.components).toEqual([
      { type: 'header', parameters: [{ type: 'text', text: order.reference }] },
      { type: 'body', parameters: [{ type: 'text', text: 'Ada' }] },
      { type: 'button', sub_type: 'url', index: 0, parameters: [{ type: 'text', text: 'JJD0099887766' }] },
    ]);
    const [row] = await db()`SELECT fulfillment_status, carrier, tracking_slug, shipped_at FROM orders WHERE id = ${order.id}`;
    expect(row).toMatchObject({ fulfillment_status: 'shipped', carrier: 'DHL', tracking_slug: 'JJD0099887766' });
    expect((await db()`SELECT count(*)::int AS n FROM order_events WHERE order_id = ${order.id} AND type = 'shipped'`)[0]!.n).toBe(1);
    expect((await db()`SELECT count(*)::int AS n FROM outbound_messages WHERE order_id = ${order.id}`)[0]!.n).toBe(1);

    // The same event with other details is a conflict, not a second shipment.
    const other = await call('POST', `/orders/${order.id}/shipped`, { trackingSlug: 'OTHER' });
    expect(other.status).toBe(409);
    expect(other.body).toMatchObject({ error: 'idempotency_conflict' });
    expect(sentTo(stack(), waId)).toHaveLength(1);
  });

  it('trackingUrl: the button parameter is its path + query; no profile name → "there"', async () => {
    const { waId, order } = await newOrder({ paid: true, name: null });
    const r = await call('POST', `/orders/${order.id}/shipped`, { trackingUrl: 'https://track.example.com/parcels/XYZ-1?lang=en' });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ trackingUrl: 'https://track.example.com/parcels/XYZ-1?lang=en', trackingSlug: 'parcels/XYZ-1?lang=en' });
    const [m] = await waitForMessages(stack(), waId, 1);
    const t = template(m!);
    expect(t.components[1]).toEqual({ type: 'body', parameters: [{ type: 'text', text: 'there' }] });
    expect(t.components[2]).toMatchObject({ sub_type: 'url', index: 0, parameters: [{ type: 'text', text: 'parcels/XYZ-1?lang=en' }] });
  });

  it('422 with field paths for a bad body; 409 for an unpaid order; 404 for an unknown one', async () => {
    const { waId, order } = await newOrder({ paid: true });
    for (const [body, path] of [
      [{}, 'trackingSlug'],
      [{ trackingSlug: 'A', trackingUrl: 'https://x.example/a' }, 'trackingSlug'],
      [{ trackingUrl: 'not a url' }, 'trackingUrl'],
      [{ trackingSlug: 'has space' }, 'trackingSlug'],
      [{ trackingSlug: 'A', carrier: 7 }, 'carrier'],
    ] as const) {
      const r = await call('POST', `/orders/${order.id}/shipped`, body);
      expect(r.status, JSON.stringify(body)).toBe(422);
      expect(r.body).toMatchObject({ error: 'invalid_request' });
      expect(r.body!.fields.map((f: { path: string }) => f.path)).toContain(path);
    }
    expect((await call('POST', `/orders/${order.id}/shipped`, '{not json')).status).toBe(422);
    const unpaid = await newOrder();
    const r = await call('POST', `/orders/${unpaid.order.id}/shipped`, { trackingSlug: 'A1' });
    expect(r.status).toBe(409);
    expect(r.body).toMatchObject({ error: 'order_not_paid' });
    expect((await call('POST', '/orders/00000000-0000-4000-8000-000000000000/shipped', { trackingSlug: 'A1' })).status).toBe(404);
    expect((await call('GET', `/orders/${order.id}/shipped`)).status).toBe(405);
    await new Promise((res) => setTimeout(res, 300));
    expect(sentTo(stack(), waId)).toHaveLength(0);
    expect(sentTo(stack(), unpaid.waId)).toHaveLength(0);
  });
});

describe('POST /api/offline-payments', () => {
  it('pays a pending order through the payment path: order paid + confirmation + link + offline_payment, each once', async () => {
    const { waId, order } = await newOrder({ name: 'Grace Hopper' });
    const body = { orderId: order.id, amountMinor: 2598, currency: 'eur', paidAt: '2026-11-25T09:30:00Z', reference: `BANK-${order.id}` };
    const first = await call('POST', '/offline-payments', body);
    expect(first.status).toBe(200);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    expect(first.body).toMatchObject({
      payment: { reference: body.reference, method: 'offline', amountMinor: 2598, currency: 'EUR', paidAt: '2026-11-25T09:30:00.000Z' },
      order: { id: order.id, reference: order.reference, outcome: 'paid' },
    });
    const replays = await Promise.all(Array.from({ length: 3 }, () => call('POST', '/offline-payments', body)));
    for (const r of replays) {
      expect(r.status).toBe(200);
      expect(r.text).toBe(first.text);
      expect(r.headers.get('idempotent-replayed')).toBe('true');
    }

    const [o] = await db()`SELECT payment_status, paid_at FROM orders WHERE id = ${order.id}`;
    expect(o!.payment_status).toBe('paid');
    expect((await db()`SELECT count(*)::int AS n FROM payments WHERE reference = ${body.reference}`)[0]!.n).toBe(1);

    const messages = await waitForMessages(stack(), waId, 3, 800);
    expect(messages).toHaveLength(3);
    const kinds = await db()`SELECT kind, count(*)::int AS n FROM outbound_messages WHERE order_id = ${order.id} GROUP BY kind ORDER BY kind`;
    expect(kinds.map((k) => [k.kind, k.n])).toEqual([['invite_link', 1], ['offline_payment', 1], ['order_confirmed', 1]]);
    const offline = messages.map(template).find((t) => t?.name === 'offline_payment')!;
    expect(offline.components).toEqual([
      { type: 'body', parameters: [{ type: 'text', text: 'Grace' }, { type: 'text', text: '€25.98' }, { type: 'text', text: '25 Nov 2026' }] },
    ]);
    expect(messages.map(template).some((t) => t?.name === 'order_confirmed')).toBe(true);
  });

  it("links the customer's latest pending order by phone and uses the given customer name", async () => {
    const { waId, order } = await newOrder({ name: 'Someone Else' });
    const r = await call('POST', '/offline-payments', {
      customerPhone: `+${waId.slice(0, 2)} ${waId.slice(2)}`,
      customerName: 'Mrs Rossi',
      amountMinor: 2598,
      currency: 'EUR',
      paidAt: '2026-01-02',
      reference: `CASH-${order.id}`,
    });
    expect(r.status).toBe(200);
    expect(r.body!.order).toMatchObject({ id: order.id });
    const messages = await waitForMessages(stack(), waId, 3);
    const offline = messages.map(template).find((t) => t?.name === 'offline_payment')!;
    expect(offline.components[0]!.parameters).toEqual([
      { type: 'text', text: 'Mrs Rossi' },
      { type: 'text', text: '€25.98' },
      { type: 'text', text: '2 Jan 2026' },
    ]);
  });

  it('422 with field paths for invalid input; a reused reference with other details is a conflict', async () => {
    const { order } = await newOrder();
    const base = { orderId: order.id, amountMinor: 2598, currency: 'EUR', paidAt: '2026-11-25', reference: `R-${order.id}` };
    for (const [body, path] of [
      [{ ...base, orderId: undefined }, 'orderId'],
      [{ ...base, orderId: undefined, customerPhone: '12' }, 'customerPhone'],
      [{ ...base, amountMinor: 12.5 }, 'amountMinor'],
      [{ ...base, amountMinor: 100 }, 'amountMinor'],
      [{ ...base, currency: 'USD' }, 'currency'],
      [{ ...base, currency: 'EURO' }, 'currency'],
      [{ ...base, paidAt: 'yesterday' }, 'paidAt'],
      [{ ...base, reference: '' }, 'reference'],
    ] as const) {
      const r = await call('POST', '/offline-payments', body);
      expect(r.status, JSON.stringify(body)).toBe(422);
      expect(r.body!.fields.map((f: { path: string }) => f.path), JSON.stringify(body)).toContain(path);
    }
    expect((await call('POST', '/offline-payments', { ...base, orderId: '00000000-0000-4000-8000-000000000000' })).status).toBe(404);
    expect((await call('POST', '/offline-payments', base)).status).toBe(200);
    const again = await call('POST', '/offline-payments', { ...base, paidAt: '2026-11-26' });
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject({ error: 'idempotency_conflict' });
  });
});

describe('POST /api/orders/:id/cancel', () => {
  it('an unpaid order: its Checkout Session is expired, the hold released, the customer told; repeating it is a replay', async () => {
    const { waId, order } = await newOrder({ quantity: 3 });
    await ensureCheckoutSession(order);
    const before = (await availableStock(['TEA-1'])).get('TEA-1')!;
    const r = await call('POST', `/orders/${order.id}/cancel`);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ orderId: order.id, paymentStatus: 'cancelled', refund: null });
    expect((await availableStock(['TEA-1'])).get('TEA-1')).toBe(before + 3);
    const session = stack().stripe.sessions().find((s) => (s as { client_reference_id?: string }).client_reference_id === order.id) as { status: string };
    expect(session.status).toBe('expired');
    const messages = await waitForMessages(stack(), waId, 1);
    expect(messages).toHaveLength(1);
    expect(JSON.stringify(messages[0]!.body)).toContain(order.reference);

    const again = await call('POST', `/orders/${order.id}/cancel`);
    expect(again.text).toBe(r.text);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect((await availableStock(['TEA-1'])).get('TEA-1')).toBe(before + 3);
    await new Promise((res) => setTimeout(res, 300));
    expect(sentTo(stack(), waId)).toHaveLength(1);
  });

  it('a paid order is refunded once through Stripe (idempotency key from the order), restocked, and the customer told', async () => {
    const { waId, order } = await newOrder({ quantity: 4 });
    await ensureCheckoutSession(order);
    const sessionId = (await db()`SELECT stripe_session_id FROM orders WHERE id = ${order.id}`)[0]!.stripe_session_id as string;
    // The customer pays on Stripe's page; the payment callback marks the order paid.
    const paid = await fetch(`${stack().stripe.url}/_standin/sessions/${sessionId}/complete`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(paid.status).toBe(200);
    await eventually(async () => (await db()`SELECT payment_status FROM orders WHERE id = ${order.id}`)[0]!.payment_status === 'paid', 20_000);
    await waitForMessages(stack(), waId, 2);
    const [before] = await db()`SELECT stock FROM variants WHERE sku = 'TEA-1'`;
    const availableBefore = (await availableStock(['TEA-1'])).get('TEA-1')!;

    const results = await Promise.all([call('POST', `/orders/${order.id}/cancel`), call('POST', `/orders/${order.id}/cancel`)]);
    const r = results.find((x) => x.status === 200 && !x.headers.get('idempotent-replayed')) ?? results[0]!;
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ paymentStatus: 'refunded', refund: { method: 'stripe', amountMinor: 5196, currency: 'EUR', status: 'refunded' } });
    const refunds = stack().stripe.refunds() as unknown as { payment_intent: string; amount: number }[];
    const pi = (await db()`SELECT stripe_payment_intent FROM orders WHERE id = ${order.id}`)[0]!.stripe_payment_intent;
    expect(refunds.filter((x) => x.payment_intent === pi)).toHaveLength(1);
    const [after] = await db()`SELECT stock FROM variants WHERE sku = 'TEA-1'`;
    expect(Number(after!.stock)).toBe(Number(before!.stock) + 4);
    expect((await availableStock(['TEA-1'])).get('TEA-1')).toBe(availableBefore + 4);
    const [o] = await db()`SELECT payment_status, refunded_at FROM orders WHERE id = ${order.id}`;
    expect(o!.payment_status).toBe('refunded');
    expect(o!.refunded_at).toBeInstanceOf(Date);
    const messages = await waitForMessages(stack(), waId, 3);
    // The customer never wrote to the shop (an API order): outside the 24-hour window the notice is the
    // approved hold_expired template (inside it, the text saying the money was refunded).
    expect(messages.at(-1)!.body).toMatchObject({ type: 'template', template: { name: stack().env.TEMPLATE_HOLD_EXPIRED ?? 'hold_expired' } });

    const again = await call('POST', `/orders/${order.id}/cancel`);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body).toEqual(r.body);
    expect(stack().stripe.refunds().length).toBe(refunds.length);
  });

  it('a shipped order cannot be cancelled (409); an unknown one is 404', async () => {
    const { order } = await newOrder({ paid: true });
    await call('POST', `/orders/${order.id}/shipped`, { trackingSlug: 'S1' });
    const r = await call('POST', `/orders/${order.id}/cancel`);
    expect(r.status).toBe(409);
    expect(r.body).toMatchObject({ error: 'already_shipped' });
    expect((await call('POST', '/orders/00000000-0000-4000-8000-000000000000/cancel')).status).toBe(404);
  });
});
