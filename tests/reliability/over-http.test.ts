import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { faults } from '../../dev/faults.js';
import { buildInboundPayload, makeWamid, signMetaPayload } from '../../dev/standins/graph.js';
import { db } from '../../lib/db.js';
import { eventually, newCustomer, sentTo, useStack } from '../support/stack.js';
import { settledProblems, stockProblems } from './harness.js';

/**
 * A few storms and faults of the reliability suite over HTTP through Netlify's own local runtime (each request
 * in a function worker, `waitUntil` as Netlify runs it), so the in-process suites (replay-storms, faults) are
 * known to describe what the real runtime does. Faults are armed by label (dev/faults.ts `armOn`).
 */

const stack = useStack({ env: { LOG_LEVEL: 'silent' } });
const STOCK = 10;
const biz = () => ({ wabaId: '102290129340398', phoneNumberId: stack().env.WHATSAPP_PHONE_NUMBER_ID!, displayPhoneNumber: stack().env.WHATSAPP_BUSINESS_NUMBER_E164!.replace(/\D/g, '') });

const postMeta = (raw: string) =>
  fetch(`${stack().url}/.netlify/functions/webhook`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-hub-signature-256': signMetaPayload(raw, stack().env.WHATSAPP_APP_SECRET!) }, body: raw });
const postStripe = (payload: string) =>
  fetch(`${stack().url}/.netlify/functions/payment-callback`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'stripe-signature': new Stripe('sk_test_x').webhooks.generateTestHeaderString({ payload, secret: stack().env.STRIPE_WEBHOOK_SECRET! }) },
    body: payload,
  });
const orderOf = async (waId: string) =>
  (await db()`SELECT o.id, o.payment_status, o.stripe_session_id FROM orders o JOIN customers c ON c.id = o.customer_id WHERE c.wa_id = ${waId}`) as { id: string; payment_status: string; stripe_session_id: string | null }[];
const settle = async (waId: string, sku: string) => expect([...(await settledProblems(stack(), { waIds: [waId] })), ...(await stockProblems(new Map([[sku, STOCK]])))]).toEqual([]);

const orderMessage = (waId: string, sku: string) => JSON.stringify(buildInboundPayload(biz(), { from: waId, name: 'Ada', text: `buy ${sku} 2`, wamid: makeWamid(waId) }));

beforeAll(async () => {
  stack().graph.setWebhookUrl(null);
  stack().stripe.setWebhookUrl(null);
  const r = await fetch(`${stack().url}/api/catalog`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${stack().env.ADMIN_API_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ products: ['RH-1', 'RH-2', 'RH-3'].map((sku) => ({ sku, name: sku, priceMinor: 900, currency: 'EUR', stock: STOCK })) }),
  });
  expect(r.status).toBe(200);
}, 120_000);

afterAll(() => faults.reset());

describe('over HTTP through the local runtime', () => {
  it('an order message delivered 10× at once: one order, one hold, one payment link', async () => {
    const waId = newCustomer('4950');
    const raw = orderMessage(waId, 'RH-1');
    const answers = await Promise.all(Array.from({ length: 10 }, () => postMeta(raw)));
    expect(answers.map((a) => a.status)).toEqual(Array(10).fill(200));
    await eventually(async () => sentTo(stack(), waId).length >= 1 && (await orderOf(waId))[0]?.stripe_session_id, 60_000);
    await new Promise((r) => setTimeout(r, 1_500));
    expect(sentTo(stack(), waId)).toHaveLength(1);
    expect((await orderOf(waId)).map((o) => o.payment_status)).toEqual(['pending']);
    await settle(waId, 'RH-1');
  });

  it('Postgres fails the payment write after the answer: Stripe got its 200 (the event was recorded), the re-drive pays the order once', async () => {
    const waId = newCustomer('4951');
    expect((await postMeta(orderMessage(waId, 'RH-2'))).status).toBe(200);
    const [o] = await eventually(async () => ((await orderOf(waId))[0]?.stripe_session_id ? orderOf(waId) : null), 60_000);
    await eventually(() => sentTo(stack(), waId).length === 1, 60_000);
    const r = await fetch(`${stack().stripe.url}/_standin/sessions/${o!.stripe_session_id}/complete`, { method: 'POST', body: '{}' });
    const { eventId } = (await r.json()) as { eventId: string };
    const payload = stack().stripe.events().find((e) => e.id === eventId)!.payload;
    const eventRow = async () => (await db()`SELECT processed_at, attempts FROM inbound_events WHERE source = 'stripe' AND external_id = ${eventId}`)[0];
    faults.armOn('postgres', /^WITH updated AS \( UPDATE orders SET payment_status = 'paid'/, '500');
    // Issue 30: the answer comes once the event is recorded; the payment is applied after it.
    expect((await postStripe(payload)).status).toBe(200);
    await eventually(async () => Number((await eventRow())?.attempts ?? 0) > 0, 60_000);
    expect((await eventRow())!.processed_at).toBeNull();
    expect((await orderOf(waId))[0]!.payment_status).toBe('pending');
    // The cleanup run re-drives events left unprocessed for a minute.
    await db()`UPDATE inbound_events SET received_at = now() - interval '10 minutes' WHERE source = 'stripe' AND external_id = ${eventId}`;
    expect((await fetch(`${stack().url}/.netlify/functions/reservation-cleanup`, { method: 'POST' })).status).toBe(200);
    await eventually(() => sentTo(stack(), waId).length >= 3, 60_000);
    expect((await orderOf(waId))[0]!.payment_status).toBe('paid');
    expect((await eventRow())!.processed_at).toBeInstanceOf(Date);
    // Stripe's redelivery meanwhile changes nothing.
    expect((await postStripe(payload)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 1_000));
    expect(sentTo(stack(), waId)).toHaveLength(3);
    await settle(waId, 'RH-2');
  });

  it("Meta took the payment link but its answer was lost: not sent again; Meta's sent status records it", async () => {
    const waId = newCustomer('4952');
    faults.armOn('meta', /^POST messages interactive cta_url/, 'dropped');
    expect((await postMeta(orderMessage(waId, 'RH-3'))).status).toBe(200);
    await eventually(async () => (await db()`SELECT 1 FROM outbound_messages m JOIN customers c ON c.id = m.customer_id WHERE c.wa_id = ${waId} AND m.status = 'pending'`).length === 1, 60_000);
    const [link] = sentTo(stack(), waId);
    expect(sentTo(stack(), waId)).toHaveLength(1);
    // Meta reports the send it accepted, echoing the outbox key in biz_opaque_callback_data (the stand-in posts it, signed).
    stack().graph.setWebhookUrl(`${stack().url}/.netlify/functions/webhook`);
    const delivery = await stack().graph.sendStatus({ wamid: link!.wamid!, status: 'sent' });
    stack().graph.setWebhookUrl(null);
    expect(delivery.status).toBe(200);
    await eventually(async () => (await db()`SELECT m.status FROM outbound_messages m JOIN customers c ON c.id = m.customer_id WHERE c.wa_id = ${waId}`)[0]?.status === 'sent', 60_000);
    const cleanup = await fetch(`${stack().url}/.netlify/functions/reservation-cleanup`, { method: 'POST' });
    expect(cleanup.status).toBe(200);
    expect(sentTo(stack(), waId)).toHaveLength(1);
    await settle(waId, 'RH-3');
  });
});
