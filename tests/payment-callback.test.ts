import { createHash } from 'node:crypto';
import Stripe from 'stripe';
import { beforeAll, describe, expect, it } from 'vitest';
import { makeWamid, type InboundInput, type RecordedMessage } from '../dev/standins/graph.js';
import { upsertCatalogProduct } from '../lib/catalog/index.js';
import { db } from '../lib/db.js';
import { closeOrder } from '../lib/orders/close.js';
import { redis } from '../lib/redis.js';
import { releaseHold } from '../lib/stock/index.js';
import { bodyOf, eventually, newCustomer, sentTo, useStack } from './support/stack.js';

const stack = useStack();
const INVITE_PREFIX = 'Please forward this link to your elder for direct chat: ';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const callbackUrl = () => `${stack().url}/.netlify/functions/payment-callback`;

type Delivery = { eventId: string; status: number; body: string; session?: Record<string, unknown> };

/**
 * The Stripe stand-in plays Stripe's API and builds the events; in this file its own webhook
 * delivery is switched off (beforeAll) and `deliver` posts each event to payment-callback the way
 * Stripe does: the identical bytes under a fresh Stripe-Signature. Unlike the stand-in's delivery
 * it has no 15 s client timeout, so a loaded machine makes the tests slow, never wrong.
 */
async function control(path: string, body: unknown = {}): Promise<{ eventId: string; session?: Record<string, unknown> }> {
  const r = await fetch(`${stack().stripe.url}/_standin/${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return (await r.json()) as { eventId: string; session?: Record<string, unknown> };
}
const stripeEvents = async () => (await (await fetch(`${stack().stripe.url}/_standin/events`)).json()) as { id: string; payload: string }[];
const signature = (payload: string, opts: { secret?: string; timestamp?: number } = {}) =>
  new Stripe('sk_test_x').webhooks.generateTestHeaderString({ payload, secret: opts.secret ?? stack().env.STRIPE_WEBHOOK_SECRET!, ...(opts.timestamp ? { timestamp: opts.timestamp } : {}) });
const invoke = (url: string, init: RequestInit = {}): Promise<Response> => fetch(url, init);
/** A customer's WhatsApp message, delivered by the Graph stand-in. */
const inbound = (input: InboundInput) => stack().graph.sendInbound({ ...input, wamid: input.wamid ?? makeWamid(input.from) });
const post = (payload: string, stripeSignature: string | null) =>
  invoke(callbackUrl(), {
    method: 'POST',
    headers: { 'content-type': 'application/json; charset=utf-8', ...(stripeSignature ? { 'stripe-signature': stripeSignature } : {}) },
    body: payload,
  });
/** POSTs exact bytes to payment-callback with a valid Stripe-Signature, as Stripe does. */
const postSigned = (payload: string) => post(payload, signature(payload));
/**
 * The webhook answers once the event is recorded and applies it after the answer (waitUntil): a delivery returns once
 * its event was applied (processed, or its failure recorded for the re-drive).
 */
async function deliver(eventId: string): Promise<Delivery> {
  const event = (await stripeEvents()).find((e) => e.id === eventId)!;
  const r = await postSigned(event.payload);
  const body = await r.text();
  if (r.status === 200) await applied(eventId);
  return { eventId, status: r.status, body };
}
const applied = (eventId: string) =>
  until(async () => {
    const row = (await db()`SELECT processed_at, attempts FROM inbound_events WHERE source = 'stripe' AND external_id = ${eventId}`)[0];
    return !!row && (row.processed_at !== null || Number(row.attempts) > 0);
  });
async function trigger(path: string, body: unknown = {}): Promise<Delivery> {
  const c = await control(path, body);
  return { ...(await deliver(c.eventId)), session: c.session };
}
const complete = (sessionId: string, body: Record<string, unknown> = {}) => trigger(`sessions/${sessionId}/complete`, body);
const replay = (eventId: string) => deliver(eventId);
const sendEvent = (type: string, object: unknown) => trigger('events', { type, object });
const sessionOf = async (id: string) => (await (await fetch(`${stack().stripe.url}/_standin/sessions/${id}`)).json()) as Record<string, unknown>;
/** eventually(), patient: the machine running the tests may be busy. */
const until = <T>(check: () => T | Promise<T>) => eventually(check, 60_000);
/** Waits (patiently: the machine may be busy) until waId got `count` messages, then a quiet period to catch a duplicate. */
async function waitFor(waId: string, count: number, quietMs = 400) {
  await until(() => sentTo(stack(), waId).length >= count);
  await sleep(quietMs);
  return sentTo(stack(), waId);
}
const graphFail = async (body: Record<string, unknown>) =>
  fetch(`${stack().graph.url}/_standin/fail`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

type PlacedOrder = { waId: string; orderId: string; reference: string; sessionId: string; totalMinor: number };

/** A customer orders over WhatsApp exactly as in production; returns the pending order and its Checkout Session. */
async function orderOverWhatsApp(sku: string, quantity: number, waId = newCustomer()): Promise<PlacedOrder> {
  const before = sentTo(stack(), waId).length;
  await inbound({ from: waId, name: 'Ada', text: `buy ${sku} ${quantity}` });
  const messages = await waitFor(waId, before + 1, 0);
  expect(bodyOf(messages[before]!).interactive?.type).toBe('cta_url');
  const [row] = await db()`
    SELECT o.id, o.reference, o.stripe_session_id, o.total_minor FROM orders o JOIN customers c ON c.id = o.customer_id
    WHERE c.wa_id = ${waId} ORDER BY o.created_at DESC LIMIT 1`;
  expect(row!.stripe_session_id).toBeTruthy();
  return { waId, orderId: row!.id as string, reference: row!.reference as string, sessionId: row!.stripe_session_id as string, totalMinor: Number(row!.total_minor) };
}

const templateName = (m: RecordedMessage) => (bodyOf(m).template as { name?: string } | undefined)?.name;
const confirmations = (waId: string) => sentTo(stack(), waId).filter((m) => templateName(m) === 'order_confirmed');
const inviteLinks = (waId: string) =>
  sentTo(stack(), waId).filter((m) => bodyOf(m).text?.body.startsWith(INVITE_PREFIX) || templateName(m) === 'order_invite_link');
// A text's body, or an interactive message's (the released notice carries an "Order again" button: docs/second-chances.md).
const textsTo = (waId: string) => sentTo(stack(), waId).map((m) => bodyOf(m).text?.body ?? (bodyOf(m).interactive as { body?: { text?: string } } | undefined)?.body?.text ?? '');

async function orderRow(orderId: string) {
  const [row] = await db()`SELECT payment_status, paid_at, refunded_at, last_confirmation_sent_at, stripe_payment_intent FROM orders WHERE id = ${orderId}`;
  return row!;
}
const eventTypes = async (orderId: string) =>
  (await db()`SELECT type FROM order_events WHERE order_id = ${orderId} ORDER BY id`).map((r) => r.type as string);
const pgStock = async (sku: string) => Number((await db()`SELECT stock FROM variants WHERE sku = ${sku}`)[0]!.stock);
const available = async (sku: string) => Number(await redis().get(`stock:${sku}`));
const holdState = async (orderId: string) => redis().hget<string>(`hold:${orderId}`, 'state');
const tokensOf = async (orderId: string) => db()`SELECT token, expires_at, clicks FROM invite_tokens WHERE order_id = ${orderId}`;
const inboundRow = async (eventId: string) =>
  (await db()`SELECT processed_at, outcome, attempts FROM inbound_events WHERE source = 'stripe' AND external_id = ${eventId}`)[0];
const countStripeEvents = async () => Number((await db()`SELECT count(*)::int AS n FROM inbound_events WHERE source = 'stripe'`)[0]!.n);

beforeAll(async () => {
  await control('webhook-url', { url: '' });
  await upsertCatalogProduct({ sku: 'TEA-1', name: 'Green tea', priceMinor: 1299, currency: 'EUR', stock: 500 });
});

describe('checkout.session.completed (paid)', () => {
  it('pays the order durably before answering, then sends one confirmation and one invite link; the link redirects to wa.me', async () => {
    await upsertCatalogProduct({ sku: 'PAY-1', name: 'Oolong', priceMinor: 1299, currency: 'EUR', stock: 10 });
    const o = await orderOverWhatsApp('PAY-1', 2);
    expect(await available('PAY-1')).toBe(8);

    const d = await complete(o.sessionId);
    expect(d.status).toBe(200);
    // 2xx once the event is durable; deliver() waited until it was applied (after the answer).
    expect(JSON.parse(d.body)).toMatchObject({ received: true, recorded: true });
    const order = await orderRow(o.orderId);
    expect(order.payment_status).toBe('paid');
    expect(order.paid_at).toBeInstanceOf(Date);
    expect(order.stripe_payment_intent).toBe((d.session as { payment_intent: string }).payment_intent);
    expect(await eventTypes(o.orderId)).toEqual(['created', 'paid']);
    expect(await pgStock('PAY-1')).toBe(8);
    expect(await available('PAY-1')).toBe(8);
    expect(await holdState(o.orderId)).toBe('committed');
    expect(await inboundRow(d.eventId)).toMatchObject({ outcome: 'paid' });

    const messages = await waitFor(o.waId, 3);
    expect(messages).toHaveLength(3);
    const [confirmation] = confirmations(o.waId);
    const template = bodyOf(confirmation!).template as { name: string; language: { code: string }; components: { type: string; parameters: { text: string }[] }[] };
    expect(template.language.code).toBe('en');
    expect(template.components[0]!.parameters.map((p) => p.text)).toEqual([o.reference, '€25.98', expect.any(String)]);
    expect(bodyOf(confirmation!).biz_opaque_callback_data).toBe(sha256(`confirmation:${o.orderId}`));

    const tokens = await tokensOf(o.orderId);
    expect(tokens).toHaveLength(1);
    const token = tokens[0]!.token as string;
    expect(token).toMatch(/^[A-Za-z0-9_-]{32}$/);
    const ttlDays = ((tokens[0]!.expires_at as Date).getTime() - Date.now()) / 86_400_000;
    expect(ttlDays).toBeGreaterThan(89.9);
    expect(ttlDays).toBeLessThanOrEqual(90);

    const [link] = inviteLinks(o.waId);
    const text = bodyOf(link!).text!.body;
    const inviteUrl = `${stack().env.APP_BASE_URL}/w/invite/${token}`;
    expect(text.startsWith(`${INVITE_PREFIX}${inviteUrl}`)).toBe(true);
    const prefill = `Hi, I'm contacting on behalf of order ${o.reference}. Token: ${token}`;
    expect(text).toContain(`https://wa.me/15550100001?text=${encodeURIComponent(prefill)}`);
    expect(bodyOf(link!).biz_opaque_callback_data).toBe(sha256(`invite-link:${o.orderId}`));
    // Should the window close before Meta sees the text (131047), the outbox sends the template instead.
    const [linkRow] = await db()`SELECT fallback_payload FROM outbound_messages WHERE idempotency_key = ${sha256(`invite-link:${o.orderId}`)}`;
    expect(linkRow!.fallback_payload).toMatchObject({ type: 'template', name: 'order_invite_link' });

    await until(async () => (await orderRow(o.orderId)).last_confirmation_sent_at instanceof Date);

    const r = await invoke(inviteUrl, { redirect: 'manual' });
    expect(r.status).toBe(302);
    const location = new URL(r.headers.get('location')!);
    expect(location.origin).toBe('https://wa.me');
    expect(location.pathname).toBe('/15550100001');
    expect(location.searchParams.get('text')).toBe(prefill);
    expect((await tokensOf(o.orderId))[0]!.clicks).toBe(1);
  });

  it('is paid once when the event is delivered 10× concurrently and the session completes again under another event id', async () => {
    await upsertCatalogProduct({ sku: 'DUP-1', name: 'Sencha', priceMinor: 700, currency: 'EUR', stock: 10 });
    const o = await orderOverWhatsApp('DUP-1', 3);
    // The session completes; its event is then delivered 10× at once (Stripe's retries: the identical
    // bytes under fresh signatures) together with a second event for the same session.
    const first = await control(`sessions/${o.sessionId}/complete`);
    expect((await orderRow(o.orderId)).payment_status).toBe('pending');
    const payload = (await stripeEvents()).find((e) => e.id === first.eventId)!.payload;
    const other = JSON.stringify({ ...JSON.parse(payload), id: `evt_other_${o.orderId.slice(0, 8)}` });
    const responses = await Promise.all([...Array.from({ length: 10 }, () => postSigned(payload)), postSigned(other)]);
    expect(responses.map((r) => r.status)).toEqual(Array(11).fill(200));
    const answers = await Promise.all(responses.map(async (r) => (await r.json()) as { received?: boolean }));
    expect(answers.every((b) => b.received === true)).toBe(true);
    await applied(first.eventId);
    await applied(JSON.parse(other).id as string);
    const recorded = await db()`SELECT processed_at FROM inbound_events WHERE source = 'stripe' AND external_id IN (${first.eventId}, ${JSON.parse(other).id as string})`;
    expect(recorded).toHaveLength(2);
    expect(recorded.every((r) => r.processed_at instanceof Date)).toBe(true);

    await waitFor(o.waId, 3, 1000);
    expect(confirmations(o.waId)).toHaveLength(1);
    expect(inviteLinks(o.waId)).toHaveLength(1);
    expect(sentTo(stack(), o.waId)).toHaveLength(3);
    expect(await tokensOf(o.orderId)).toHaveLength(1);
    expect((await eventTypes(o.orderId)).filter((t) => t === 'paid')).toHaveLength(1);
    expect(await pgStock('DUP-1')).toBe(7);
    expect(await available('DUP-1')).toBe(7);
    const [outbox] = await db()`SELECT count(*)::int AS n FROM outbound_messages WHERE order_id = ${o.orderId} AND kind IN ('order_confirmed', 'invite_link')`;
    expect(outbox!.n).toBe(2);

    // A later redelivery: inbound_events (Postgres) dedupes it, nothing is sent or taken again.
    expect((await replay(first.eventId)).status).toBe(200);
    await sleep(500);
    expect(sentTo(stack(), o.waId)).toHaveLength(3);
    expect(await pgStock('DUP-1')).toBe(7);
  });

  it('sends the invite link as the order_invite_link template outside the 24-hour window', async () => {
    const o = await orderOverWhatsApp('TEA-1', 1);
    await db()`UPDATE customers SET last_inbound_at = now() - interval '25 hours' WHERE wa_id = ${o.waId}`;
    expect((await complete(o.sessionId)).status).toBe(200);
    await waitFor(o.waId, 3);
    const [link] = inviteLinks(o.waId);
    expect(templateName(link!)).toBe('order_invite_link');
    const [token] = await tokensOf(o.orderId);
    const params = (bodyOf(link!).template as { components: { parameters: { text: string }[] }[] }).components[0]!.parameters.map((p) => p.text);
    expect(params).toEqual([o.reference, `${stack().env.APP_BASE_URL}/w/invite/${token!.token}`]);
    expect(confirmations(o.waId)).toHaveLength(1);
  });
});

describe('WhatsApp send failures', () => {
  it('retries 500 and 429 with backoff in process: each message still goes out exactly once', async () => {
    const o = await orderOverWhatsApp('TEA-1', 1);
    await graphFail({ count: 1, status: 500 });
    await graphFail({ count: 1, status: 429, code: 130429 });
    expect((await complete(o.sessionId)).status).toBe(200);
    await waitFor(o.waId, 3, 800);
    expect(confirmations(o.waId)).toHaveLength(1);
    expect(inviteLinks(o.waId)).toHaveLength(1);
    const rejected = stack().graph.messages({ to: o.waId, status: 'rejected' });
    expect(rejected.map((m) => m.injected)).toEqual([true, true]);
    const rows = await db()`SELECT kind, status, attempts FROM outbound_messages WHERE order_id = ${o.orderId} AND kind <> 'payment_link' ORDER BY kind`;
    expect(rows).toEqual([
      { kind: 'invite_link', status: 'sent', attempts: 1 },
      { kind: 'order_confirmed', status: 'sent', attempts: 1 },
    ]);
  });

  it('leaves a message Meta keeps refusing for later (the invite link waits behind it); the next delivery of the event sends both, once, in order', async () => {
    const o = await orderOverWhatsApp('TEA-1', 1);
    await graphFail({ count: 3, status: 503, code: 131000 });
    const d = await complete(o.sessionId);
    expect(d.status).toBe(200);
    const [pending] = await until(async () => {
      const rows = await db()`SELECT status, error_code FROM outbound_messages WHERE idempotency_key = ${sha256(`confirmation:${o.orderId}`)}`;
      return rows[0]?.error_code === 131000 ? rows : null;
    });
    expect(pending).toMatchObject({ status: 'pending', error_code: 131000 });
    await sleep(500);
    // The invite link refers to the confirmation: it is recorded but does not go out ahead of it.
    expect(confirmations(o.waId)).toHaveLength(0);
    expect(inviteLinks(o.waId)).toHaveLength(0);
    expect((await orderRow(o.orderId)).last_confirmation_sent_at).toBeNull();

    await sleep(1100); // the backoff before the next attempt (≤ 1 s)
    await Promise.all([replay(d.eventId), replay(d.eventId), replay(d.eventId)]);
    await until(() => inviteLinks(o.waId).length === 1);
    await sleep(500);
    expect(confirmations(o.waId)).toHaveLength(1);
    expect(inviteLinks(o.waId)).toHaveLength(1);
    const accepted = sentTo(stack(), o.waId).map((m) => m.wamid);
    expect(accepted.indexOf(confirmations(o.waId)[0]!.wamid)).toBeLessThan(accepted.indexOf(inviteLinks(o.waId)[0]!.wamid));
    await until(async () => (await orderRow(o.orderId)).last_confirmation_sent_at instanceof Date);
  });

  it('does not retry a 4xx: the send is recorded as failed with Meta’s error', async () => {
    const o = await orderOverWhatsApp('TEA-1', 1);
    await graphFail({ count: 1, status: 400, code: 132001, message: 'Template name does not exist in the translation' });
    const d = await complete(o.sessionId);
    expect(d.status).toBe(200);
    await until(() => inviteLinks(o.waId).length === 1);
    await sleep(400);
    const rejected = stack().graph.messages({ to: o.waId, status: 'rejected' });
    expect(rejected).toHaveLength(1);
    expect(confirmations(o.waId)).toHaveLength(0);
    const [row] = await db()`SELECT status, attempts, error_code, error_title FROM outbound_messages WHERE idempotency_key = ${sha256(`confirmation:${o.orderId}`)}`;
    expect(row).toMatchObject({ status: 'failed', attempts: 1, error_code: 132001 });
    expect(row!.error_title).toContain('Template name does not exist');
    await replay(d.eventId);
    await sleep(500);
    expect(stack().graph.messages({ to: o.waId })).toHaveLength(3); // payment link, failed confirmation, invite link
  });
});

describe('verification and cross-checks', () => {
  it('answers 400 and writes nothing for a bad or missing signature', async () => {
    const o = await orderOverWhatsApp('TEA-1', 1);
    const session = await sessionOf(o.sessionId);
    const payload = JSON.stringify({
      id: 'evt_forged_1',
      object: 'event',
      type: 'checkout.session.completed',
      data: { object: { ...session, status: 'complete', payment_status: 'paid', payment_intent: 'pi_forged' } },
    });
    const before = await countStripeEvents();
    const redisBefore = stack().upstashBridge!.stats.requests;
    const tampered = signature(payload.replace('pi_forged', 'pi_other'));
    const responses = await Promise.all([
      post(payload, signature(payload, { secret: 'whsec_not_ours' })),
      post(payload, signature(payload, { timestamp: Math.floor(Date.now() / 1000) - 3600 })),
      post(payload, tampered),
      post(payload, 't=1,v1=00'),
      post(payload, null),
    ]);
    expect(responses.map((r) => r.status)).toEqual([400, 400, 400, 400, 400]);
    await sleep(300);
    expect(await countStripeEvents()).toBe(before);
    expect(stack().upstashBridge!.stats.requests).toBe(redisBefore);
    expect((await orderRow(o.orderId)).payment_status).toBe('pending');
    expect(sentTo(stack(), o.waId)).toHaveLength(1);
  });

  it('records but does not pay when the amount does not match the order', async () => {
    await upsertCatalogProduct({ sku: 'AMT-1', name: 'Matcha', priceMinor: 2500, currency: 'EUR', stock: 5 });
    const o = await orderOverWhatsApp('AMT-1', 1);
    const session = await sessionOf(o.sessionId);
    const d = await sendEvent('checkout.session.completed', {
      ...session,
      line_items: undefined,
      status: 'complete',
      payment_status: 'paid',
      amount_total: 1,
      payment_intent: 'pi_tampered',
    });
    expect(d.status).toBe(200);
    expect(await inboundRow(d.eventId)).toMatchObject({ outcome: 'ignored: amount_mismatch' });
    expect((await orderRow(o.orderId)).payment_status).toBe('pending');
    const [mismatch] = await db()`SELECT data FROM order_events WHERE order_id = ${o.orderId} AND type = 'payment_mismatch'`;
    expect(mismatch!.data).toMatchObject({ reason: 'amount_mismatch', amountMinor: 1, sessionId: o.sessionId });
    expect(await holdState(o.orderId)).toBe('held');
    expect(await available('AMT-1')).toBe(4);
    expect(await pgStock('AMT-1')).toBe(5);
    expect(await tokensOf(o.orderId)).toHaveLength(0);
    await sleep(300);
    expect(sentTo(stack(), o.waId)).toHaveLength(1);
    await until(async () => (await db()`SELECT 1 FROM ops_alerts WHERE kind = 'payment_mismatch' AND order_id = ${o.orderId}`).length === 1);
  });

  it('acknowledges a completed session whose client_reference_id is not a string (found by the full fuzz: it answered 503)', async () => {
    await upsertCatalogProduct({ sku: 'REF-1', name: 'Sencha', priceMinor: 900, currency: 'EUR', stock: 5 });
    const o = await orderOverWhatsApp('REF-1', 1);
    const session = await sessionOf(o.sessionId);
    const d = await sendEvent('checkout.session.completed', { ...session, line_items: undefined, status: 'complete', payment_status: 'paid', client_reference_id: [o.orderId] });
    expect(d.status).toBe(200);
    expect(await inboundRow(d.eventId)).toMatchObject({ outcome: 'ignored: malformed session' });
    expect((await orderRow(o.orderId)).payment_status).toBe('pending');
  });

  it('acknowledges and ignores event types it does not handle', async () => {
    const d = await sendEvent('customer.created', { id: 'cus_123', object: 'customer' });
    expect(d.status).toBe(200);
    expect(await inboundRow(d.eventId)).toMatchObject({ outcome: 'ignored: unhandled type customer.created' });
  });
});

describe('unpaid endings', () => {
  it('checkout.session.expired expires the order, returns the held units and tells the customer once', async () => {
    await upsertCatalogProduct({ sku: 'EXP-1', name: 'Rooibos', priceMinor: 900, currency: 'EUR', stock: 6 });
    const o = await orderOverWhatsApp('EXP-1', 4);
    expect(await available('EXP-1')).toBe(2);
    const d = await trigger(`sessions/${o.sessionId}/expire`);
    expect(d.status).toBe(200);
    expect((await orderRow(o.orderId)).payment_status).toBe('expired');
    expect(await available('EXP-1')).toBe(6);
    expect(await holdState(o.orderId)).toBe('released');
    expect(await pgStock('EXP-1')).toBe(6);
    await waitFor(o.waId, 2);
    expect(textsTo(o.waId)[1]).toContain(`order ${o.reference} wasn't paid in time`);
    await replay(d.eventId);
    await sleep(400);
    expect(sentTo(stack(), o.waId)).toHaveLength(2);
    expect(await available('EXP-1')).toBe(6);
  });

  it('a delayed payment method keeps the hold while awaiting payment, then pays on async_payment_succeeded', async () => {
    await upsertCatalogProduct({ sku: 'ASY-1', name: 'Genmaicha', priceMinor: 1100, currency: 'EUR', stock: 4 });
    const o = await orderOverWhatsApp('ASY-1', 2);
    const d = await complete(o.sessionId, { paid: false });
    expect(d.status).toBe(200);
    expect((await orderRow(o.orderId)).payment_status).toBe('awaiting_payment');
    expect(await holdState(o.orderId)).toBe('held');
    expect(await available('ASY-1')).toBe(2);
    await sleep(300);
    expect(sentTo(stack(), o.waId)).toHaveLength(1);

    expect((await trigger(`sessions/${o.sessionId}/async-succeeded`)).status).toBe(200);
    expect((await orderRow(o.orderId)).payment_status).toBe('paid');
    await waitFor(o.waId, 3);
    expect(confirmations(o.waId)).toHaveLength(1);
    expect(inviteLinks(o.waId)).toHaveLength(1);
    expect(await pgStock('ASY-1')).toBe(2);
    expect(await available('ASY-1')).toBe(2);
  });

  it('async_payment_failed marks the order payment_failed, releases the hold and tells the customer', async () => {
    await upsertCatalogProduct({ sku: 'ASF-1', name: 'Hojicha', priceMinor: 1100, currency: 'EUR', stock: 4 });
    const o = await orderOverWhatsApp('ASF-1', 3);
    await complete(o.sessionId, { paid: false });
    expect(await available('ASF-1')).toBe(1);
    expect((await trigger(`sessions/${o.sessionId}/async-failed`)).status).toBe(200);
    expect((await orderRow(o.orderId)).payment_status).toBe('payment_failed');
    expect(await available('ASF-1')).toBe(4);
    await waitFor(o.waId, 2);
    expect(textsTo(o.waId)[1]).toContain(`the payment for order ${o.reference} didn't go through`);
  });
});

describe('late payments', () => {
  it('a completed session after the order expired re-holds the stock when it is still there, and pays', async () => {
    await upsertCatalogProduct({ sku: 'LATE-1', name: 'Earl Grey', priceMinor: 800, currency: 'EUR', stock: 5 });
    const o = await orderOverWhatsApp('LATE-1', 2);
    // The cleanup run closed the order and released the hold, but the customer was already paying.
    expect((await closeOrder(o.orderId, 'session_expired')).result).toBe('closed');
    expect(await available('LATE-1')).toBe(5);
    await waitFor(o.waId, 2);

    expect((await complete(o.sessionId)).status).toBe(200);
    expect((await orderRow(o.orderId)).payment_status).toBe('paid');
    expect(await available('LATE-1')).toBe(3);
    expect(await pgStock('LATE-1')).toBe(3);
    expect(await holdState(o.orderId)).toBe('committed');
    const [paid] = await db()`SELECT data FROM order_events WHERE order_id = ${o.orderId} AND type = 'paid'`;
    expect(paid!.data).toMatchObject({ hold: 'reheld', method: 'stripe' });
    await waitFor(o.waId, 4);
    expect(confirmations(o.waId)).toHaveLength(1);
    expect(inviteLinks(o.waId)).toHaveLength(1);
  });

  it('a completed session after the hold lapsed and the stock sold is refunded, the order marked refunded, the customer told', async () => {
    await upsertCatalogProduct({ sku: 'RARE-1', name: 'Gyokuro', priceMinor: 4200, currency: 'EUR', stock: 2 });
    const late = await orderOverWhatsApp('RARE-1', 2);
    await releaseHold(late.orderId); // the hold lapsed…
    const other = await orderOverWhatsApp('RARE-1', 2); // …and someone else took the units
    expect(await available('RARE-1')).toBe(0);

    const d = await complete(late.sessionId);
    expect(d.status).toBe(200);
    const pi = (d.session as { payment_intent: string }).payment_intent;
    const order = await orderRow(late.orderId);
    expect(order.payment_status).toBe('refunded');
    expect(order.refunded_at).toBeInstanceOf(Date);
    expect(await eventTypes(late.orderId)).toEqual(['created', 'refund_required', 'refunded']);
    const refunds = (await (await fetch(`${stack().stripe.url}/_standin/refunds`)).json()) as { payment_intent: string; amount: number }[];
    expect(refunds.filter((r) => r.payment_intent === pi)).toEqual([expect.objectContaining({ amount: 8400 })]);
    expect(await available('RARE-1')).toBe(0);
    expect(await pgStock('RARE-1')).toBe(2);
    expect(await holdState(other.orderId)).toBe('held');
    expect(await tokensOf(late.orderId)).toHaveLength(0);

    await waitFor(late.waId, 2);
    expect(textsTo(late.waId)[1]).toContain(`We've refunded the full €84.00`);
    expect(confirmations(late.waId)).toHaveLength(0);
    await until(async () => (await db()`SELECT 1 FROM ops_alerts WHERE kind = 'late_payment_refunded' AND order_id = ${late.orderId}`).length === 1);

    // A replay and a second completed event refund nothing twice and say nothing twice.
    await Promise.all([replay(d.eventId), sendEvent('checkout.session.completed', late.sessionId)]);
    await sleep(500);
    expect(sentTo(stack(), late.waId)).toHaveLength(2);
    const after = (await (await fetch(`${stack().stripe.url}/_standin/refunds`)).json()) as { payment_intent: string }[];
    expect(after.filter((r) => r.payment_intent === pi)).toHaveLength(1);
  });
});
