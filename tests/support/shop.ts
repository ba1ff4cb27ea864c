/**
 * Test support for flows that start with a paid order: a customer orders over WhatsApp (the Graph
 * stand-in delivers the message), pays on the Stripe stand-in, and Stripe events are POSTed to
 * payment-callback signed as Stripe signs them.
 */
import Stripe from 'stripe';
import { expect } from 'vitest';
import { buildEntry, buildInboundMessageValue, buildWebhookPayload, makeWamid, signMetaPayload, type InboundInput } from '../../dev/standins/graph.js';
import { loadFunctions, type InProcessFunctions } from '../../dev/invoke.js';
import { db } from '../../lib/db.js';
import { pgSafe } from '../../lib/safe-text.js';
import { bodyOf, eventually, newCustomer, sentTo, type TestStack } from './stack.js';

export type PlacedOrder = { waId: string; orderId: string; reference: string; sessionId: string; totalMinor: number };
export type PaidOrder = PlacedOrder & { paymentIntent: string; charge: string };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `inProcess`: setup requests call the function handlers in this process instead of going through the local runtime. */
export function shop(stack: () => TestStack, options: { inProcess?: boolean } = {}) {
  const callbackUrl = () => `${stack().url}/.netlify/functions/payment-callback`;
  const signature = (payload: string, secret = stack().env.STRIPE_WEBHOOK_SECRET!) =>
    new Stripe('sk_test_x').webhooks.generateTestHeaderString({ payload, secret });
  /** The stripe library pointed at the stand-in, as the shop's own code is: plays "the Stripe dashboard". */
  const dashboard = () => {
    const u = new URL(stack().env.STRIPE_API_BASE!);
    return new Stripe(stack().env.STRIPE_SECRET_KEY!, { host: u.hostname, port: Number(u.port), protocol: 'http' });
  };
  const control = async (path: string, body: unknown = {}) => {
    const r = await fetch(`${stack().stripe.url}/_standin/${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return (await r.json()) as { eventId: string; session?: Record<string, unknown> };
  };
  const stripeEvents = async () => (await (await fetch(`${stack().stripe.url}/_standin/events`)).json()) as { id: string; payload: string }[];
  /** A customer's WhatsApp message: through the Graph stand-in's webhook delivery, or signed and handed to the handler in process. */
  const inbound = async (input: InboundInput) => {
    if (!options.inProcess) return void (await stack().graph.sendInbound(input));
    const biz = { wabaId: '102290129340398', phoneNumberId: stack().env.WHATSAPP_PHONE_NUMBER_ID!, displayPhoneNumber: stack().env.WHATSAPP_BUSINESS_NUMBER_E164!.replace(/\D/g, '') };
    const raw = JSON.stringify(buildWebhookPayload([buildEntry(biz.wabaId, [buildInboundMessageValue(biz, input)])]));
    const headers = { 'content-type': 'application/json', 'x-hub-signature-256': signMetaPayload(raw, stack().env.WHATSAPP_APP_SECRET!) };
    const r = await invokeInProcess('webhook', `${stack().url}/.netlify/functions/webhook`, { method: 'POST', headers, body: raw });
    expect(r.status).toBe(200);
  };
  /**
   * POSTs exact bytes with a valid Stripe-Signature, as Stripe does. The webhook answers once the event is recorded
   * and applies it after the answer: this waits until it was applied, and adds the outcome its row recorded.
   */
  const postStripe = async (payload: string) => {
    const init = { method: 'POST', headers: { 'content-type': 'application/json; charset=utf-8', 'stripe-signature': signature(payload) }, body: payload };
    const r = options.inProcess ? await invokeInProcess('payment-callback', callbackUrl(), init) : await fetch(callbackUrl(), init);
    const text = typeof r.text === 'string' ? r.text : await r.text();
    let body: Record<string, unknown> = {};
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      /* not JSON: the status tells */
    }
    if (r.status === 200 && body.recorded === true) {
      // Stored as the webhook stores it (NULs and lone surrogates replaced: lib/safe-text.ts).
      const id = (pgSafe(JSON.parse(payload)) as { id: string }).id;
      const row = async () => (await db()`SELECT processed_at, attempts, outcome FROM inbound_events WHERE source = 'stripe' AND external_id = ${id}`)[0];
      await eventually(async () => {
        const x = await row();
        return !!x && (x.processed_at !== null || Number(x.attempts) > 0);
      }, 60_000);
      body.outcome = (await row())?.outcome ?? null;
    }
    return { status: r.status, body, text };
  };
  /** An event wrapped as Stripe sends one (pretty-printed, api_version, request). */
  const eventOf = (type: string, object: unknown, id = `evt_${Math.random().toString(36).slice(2, 14)}`) =>
    JSON.stringify(
      { id, object: 'event', api_version: '2025-09-30.clover', created: Math.floor(Date.now() / 1000), data: { object }, livemode: false, pending_webhooks: 1, request: { id: null, idempotency_key: null }, type },
      null,
      2,
    );

  async function orderOverWhatsApp(sku: string, quantity: number, waId = newCustomer()): Promise<PlacedOrder> {
    const before = sentTo(stack(), waId).length;
    await inbound({ from: waId, name: 'Ada', text: `buy ${sku} ${quantity}`, wamid: makeWamid(waId) });
    await eventually(() => sentTo(stack(), waId).length >= before + 1, 60_000);
    expect(bodyOf(sentTo(stack(), waId)[before]!).interactive?.type).toBe('cta_url');
    const [row] = await db()`
      SELECT o.id, o.reference, o.stripe_session_id, o.total_minor FROM orders o JOIN customers c ON c.id = o.customer_id
      WHERE c.wa_id = ${waId} ORDER BY o.created_at DESC LIMIT 1`;
    return { waId, orderId: row!.id as string, reference: row!.reference as string, sessionId: row!.stripe_session_id as string, totalMinor: Number(row!.total_minor) };
  }

  /** Ordered and paid (checkout.session.completed delivered); waits for the confirmation and the invite link. */
  async function paidOrder(sku: string, quantity: number, waId?: string): Promise<PaidOrder> {
    const o = await orderOverWhatsApp(sku, quantity, waId);
    const completed = await control(`sessions/${o.sessionId}/complete`);
    const payload = (await stripeEvents()).find((e) => e.id === completed.eventId)!.payload;
    expect((await postStripe(payload)).status).toBe(200);
    await eventually(() => sentTo(stack(), o.waId).length >= 3, 60_000);
    const paymentIntent = (completed.session as { payment_intent: string }).payment_intent;
    const pi = await dashboard().paymentIntents.retrieve(paymentIntent);
    return { ...o, paymentIntent, charge: pi.latest_charge as string };
  }

  /** Waits until waId got `count` messages, then a quiet period to catch a duplicate. */
  async function messagesTo(waId: string, count: number, quietMs = 500) {
    await eventually(() => sentTo(stack(), waId).length >= count, 60_000);
    await sleep(quietMs);
    return sentTo(stack(), waId);
  }

  const orderRow = async (orderId: string) =>
    (await db()`SELECT payment_status, refunded_minor, refunded_at, total_minor FROM orders WHERE id = ${orderId}`)[0]!;
  const eventsOf = async (orderId: string) =>
    (await db()`SELECT type, data FROM order_events WHERE order_id = ${orderId} ORDER BY id`).map((r) => ({ type: r.type as string, data: r.data as Record<string, unknown> }));
  const alertsOf = async (orderId: string) =>
    (await db()`SELECT kind, alert_key FROM ops_alerts WHERE order_id = ${orderId} ORDER BY id`).map((r) => r.kind as string);

  return { signature, dashboard, control, inbound, stripeEvents, postStripe, eventOf, orderOverWhatsApp, paidOrder, messagesTo, orderRow, eventsOf, alertsOf };
}

let functions: Promise<InProcessFunctions> | undefined;

/**
 * Calls a function's handler in this process, as Netlify's runtime does (dev/invoke.ts), without the
 * local runtime's per-request cost; the work handed to `waitUntil` is awaited before returning, so
 * effects are as complete as after an HTTP answer plus its tail.
 */
export async function invokeInProcess(name: string, url: string, init: RequestInit): Promise<{ status: number; text: string }> {
  functions ??= loadFunctions();
  const { response, background } = await (await functions).invoke(name, new Request(url, init));
  const text = await response.text();
  await background;
  return { status: response.status, text };
}
