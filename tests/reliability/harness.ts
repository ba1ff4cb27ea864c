/**
 * Shared machinery of the replay-storm and fault suites: the requests Meta and Stripe send (signed as they
 * sign them), handed to the function handlers in process (dev/invoke.ts) against the real Postgres, Redis,
 * bridges and stand-ins, and the checks every scenario ends with (nothing lost, nothing sent twice, no
 * stuck hold or order, stock conserved). Only the HTTP edges and the database are touched: the suites
 * stay true while lib/ is refactored underneath.
 */
import Stripe from 'stripe';
import { expect } from 'vitest';
import { buildEntry, buildInboundMessageValue, buildStatusValue, buildWebhookPayload, makeWamid, signMetaPayload, type InboundInput, type RecordedMessage, type StatusInput } from '../../dev/standins/graph.js';
import { db } from '../../lib/db.js';
import { redis } from '../../lib/redis.js';
import type { TestStack } from '../support/stack.js';

export type Delivery = { fn: string; url: string; init: () => RequestInit };
export type Answer = { status: number; text: string };

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function harness(stack: () => TestStack) {
  const biz = () => ({ wabaId: '102290129340398', phoneNumberId: stack().env.WHATSAPP_PHONE_NUMBER_ID!, displayPhoneNumber: stack().env.WHATSAPP_BUSINESS_NUMBER_E164!.replace(/\D/g, '') });
  const fnUrl = (name: string) => `${stack().url}/.netlify/functions/${name}`;

  /** A Meta webhook POST carrying `values` (messages and/or statuses), signed over its exact bytes. */
  const metaDelivery = (values: ReturnType<typeof buildInboundMessageValue>[]): Delivery => {
    const raw = JSON.stringify(buildWebhookPayload([buildEntry(biz().wabaId, values)]));
    const headers = { 'content-type': 'application/json', 'x-hub-signature-256': signMetaPayload(raw, stack().env.WHATSAPP_APP_SECRET!) };
    return { fn: 'webhook', url: fnUrl('webhook'), init: () => ({ method: 'POST', headers, body: raw }) };
  };
  const inbound = (input: InboundInput) => metaDelivery([buildInboundMessageValue(biz(), { wamid: makeWamid(input.from), ...input })]);
  const status = (input: StatusInput) => metaDelivery([buildStatusValue(biz(), input)]);

  /** A Stripe event POST: the same bytes on every delivery, signed anew each time (as Stripe does). */
  const stripeDelivery = (payload: string): Delivery => ({
    fn: 'payment-callback',
    url: fnUrl('payment-callback'),
    init: () => ({
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=utf-8', 'stripe-signature': new Stripe('sk_test_x').webhooks.generateTestHeaderString({ payload, secret: stack().env.STRIPE_WEBHOOK_SECRET! }) },
      body: payload,
    }),
  });
  const cleanupRun = (): Delivery => ({ fn: 'reservation-cleanup', url: fnUrl('reservation-cleanup'), init: () => ({ method: 'POST' }) });

  /** Invokes the function as Netlify would and waits for the answer and the work after it. */
  const send = async (d: Delivery): Promise<Answer> => {
    const { response, background } = await stack().inProcess!.invoke(d.fn, new Request(d.url, d.init()));
    const text = await response.text();
    await background;
    return { status: response.status, text };
  };

  /** A Stripe stand-in control action (the customer pays, the session expires, …) and the event it produced. */
  const stripeControl = async (path: string, body: unknown = {}): Promise<{ eventId: string; payload: string; session?: Record<string, unknown> }> => {
    const r = await fetch(`${stack().stripe.url}/_standin/${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const j = (await r.json()) as { eventId: string; session?: Record<string, unknown> };
    const events = (await (await fetch(`${stack().stripe.url}/_standin/events`)).json()) as { id: string; payload: string }[];
    return { ...j, payload: events.find((e) => e.id === j.eventId)!.payload };
  };
  /** A signed Stripe event about `object`, created by the stand-in (e.g. charge.refunded for a charge id). */
  const stripeEvent = async (type: string, object: string): Promise<string> => {
    const r = await fetch(`${stack().stripe.url}/_standin/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ type, object }) });
    const { eventId } = (await r.json()) as { eventId: string };
    const events = (await (await fetch(`${stack().stripe.url}/_standin/events`)).json()) as { id: string; payload: string }[];
    return events.find((e) => e.id === eventId)!.payload;
  };

  /** The catalog, through the admin API (stock on hand in Postgres, counters in Redis). */
  const loadCatalog = async (products: { sku: string; priceMinor: number; stock: number }[]) => {
    const init = {
      method: 'PUT',
      headers: { authorization: `Bearer ${stack().env.ADMIN_API_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ products: products.map((p) => ({ ...p, name: `Reliability ${p.sku}`, currency: 'EUR' })) }),
    };
    const a = await send({ fn: 'admin-api', url: `${stack().url}/api/catalog`, init: () => init });
    expect(a.status, a.text).toBe(200);
  };

  /** Messages Meta accepted for a recipient. */
  const accepted = (waId: string): RecordedMessage[] => stack().graph.messages({ to: waId, status: 'accepted' });

  /** Meta's `sent` status for every accepted message of `waId` that has none yet (Meta reports every send it accepted). */
  const reportSent = async (waId: string) => {
    for (const m of accepted(waId)) {
      if (sentReported.has(m.wamid!) || m.statuses.some((s) => s.status === 'sent')) continue;
      const cb = (m.body as { biz_opaque_callback_data?: string }).biz_opaque_callback_data;
      const a = await send(status({ wamid: m.wamid!, status: 'sent', recipient_id: waId, biz_opaque_callback_data: cb, template: m.type === 'template' }));
      expect(a.status).toBe(200);
      sentReported.add(m.wamid!);
    }
  };
  const sentReported = new Set<string>();

  const latestOrder = async (waId: string) =>
    (await db()`
      SELECT o.id, o.reference, o.payment_status, o.stripe_session_id, o.items, o.total_minor FROM orders o JOIN customers c ON c.id = o.customer_id
      WHERE c.wa_id = ${waId} ORDER BY o.created_at DESC LIMIT 1`)[0] as { id: string; reference: string; payment_status: string; stripe_session_id: string | null; items: { sku: string; quantity: number }[] } | undefined;

  return { biz, inbound, status, metaDelivery, stripeDelivery, cleanupRun, send, stripeControl, stripeEvent, loadCatalog, accepted, reportSent, latestOrder };
}

/** "Time passes": backoffs, claims and the redrive delay run out, as a minute or two later. */
export async function letTimePass(): Promise<void> {
  await db()`UPDATE outbound_messages SET next_attempt_at = now() - interval '1 second', locked_until = CASE WHEN locked_until IS NULL THEN NULL ELSE now() - interval '1 second' END WHERE status IN ('pending', 'sending')`;
  await db()`UPDATE inbound_events SET received_at = now() - interval '10 minutes' WHERE processed_at IS NULL`;
  // Short locks (cleanup's per-order lock, 30 s) a dead or confused run left behind have run out.
  const locks = await redis().keys('lock:*');
  if (locks.length) await redis().del(...locks);
}

/** Moves an order's hold expiry a minute into the past (Redis indexes and hash, and Postgres), as if it had run out. */
export async function lapse(orderId: string, skus: string[]): Promise<void> {
  const past = Date.now() - 60_000;
  await db()`UPDATE orders SET hold_expires_at = ${new Date(past).toISOString()} WHERE id = ${orderId}`;
  await redis().zadd('holds:exp', { xx: true }, { score: past, member: orderId });
  for (const sku of skus) await redis().zadd(`holds:sku:${sku}`, { xx: true }, { score: past, member: orderId });
  await redis().hset(`hold:${orderId}`, { exp: past });
}

export type Loaded = Map<string, number>;

/**
 * Stock is conserved for every SKU: available (Redis) + held (live holds in Redis) = on hand (Postgres), and
 * on hand + sold (committed holds) = loaded. Returns the problems found (empty when conserved).
 */
export async function stockProblems(loaded: Loaded): Promise<string[]> {
  const problems: string[] = [];
  const skus = [...loaded.keys()];
  const onHand = new Map((await db()`SELECT sku, stock FROM variants WHERE sku = ANY(${skus}::text[])`).map((r) => [r.sku as string, Number(r.stock)]));
  const holdIds = (await db()`SELECT DISTINCT o.id FROM orders o, jsonb_array_elements(o.items) i WHERE i->>'sku' = ANY(${skus}::text[])`).map((r) => r.id as string);
  const held = new Map<string, number>();
  const sold = new Map<string, number>();
  for (const id of holdIds) {
    const h = (await redis().hgetall<Record<string, string>>(`hold:${id}`)) ?? {};
    const into = h.state === 'held' ? held : h.state === 'committed' ? sold : null;
    if (!into) continue;
    for (const [k, v] of Object.entries(h)) if (k.startsWith('sku:')) into.set(k.slice(4), (into.get(k.slice(4)) ?? 0) + Number(v));
  }
  for (const [sku, total] of loaded) {
    const available = Number((await redis().get(`stock:${sku}`)) ?? NaN);
    const h = held.get(sku) ?? 0;
    const s = sold.get(sku) ?? 0;
    if (available + h !== onHand.get(sku)) problems.push(`${sku}: available ${available} + held ${h} ≠ on hand ${onHand.get(sku)}`);
    if (onHand.get(sku)! + s !== total) problems.push(`${sku}: on hand ${onHand.get(sku)} + sold ${s} ≠ loaded ${total}`);
  }
  return problems;
}

/**
 * What must hold once a scenario settled: no paid Checkout Session without a paid (or refunded) order, no
 * outbound message sent twice (by its outbox key, which every send carries in biz_opaque_callback_data), no
 * message left unsent, no event left unprocessed, no hold left held on an order that is not open, no open
 * order without a live hold and a Checkout Session.
 */
export async function settledProblems(stack: TestStack, scope: { waIds: string[] }): Promise<string[]> {
  const problems: string[] = [];
  const orders = await db()`
    SELECT o.id, o.payment_status, o.stripe_session_id, o.refunded_at FROM orders o JOIN customers c ON c.id = o.customer_id
    WHERE c.wa_id = ANY(${scope.waIds}::text[])`;
  const byId = new Map(orders.map((o) => [o.id as string, o]));
  for (const s of stack.stripe.sessions()) {
    const o = byId.get(String(s.client_reference_id));
    if (!o) continue;
    if (s.payment_status === 'paid' && !['paid', 'refunded'].includes(String(o.payment_status))) problems.push(`lost paid order: session paid, order ${o.payment_status}`);
  }
  const keys = new Map<string, number>();
  for (const waId of scope.waIds)
    for (const m of stack.graph.messages({ to: waId, status: 'accepted' })) {
      const key = (m.body as { biz_opaque_callback_data?: string }).biz_opaque_callback_data ?? `no-key:${m.wamid}`;
      keys.set(key, (keys.get(key) ?? 0) + 1);
    }
  for (const [key, n] of keys) if (n > 1) problems.push(`duplicate send: ${n}× one outbox key`);
  const unsent = await db()`
    SELECT m.kind, m.status, m.error_title FROM outbound_messages m JOIN customers c ON c.id = m.customer_id
    WHERE m.status IN ('pending', 'sending') AND c.wa_id = ANY(${scope.waIds}::text[])`;
  for (const u of unsent) problems.push(`message ${u.kind} stuck ${u.status}${u.error_title ? ` (${u.error_title})` : ''}`);
  problems.push(...(await unprocessedEvents()));
  for (const o of orders) {
    const h = (await redis().hgetall<Record<string, string>>(`hold:${o.id}`)) ?? {};
    const open = ['pending', 'awaiting_payment'].includes(o.payment_status as string);
    if (h.state === 'held' && !open) problems.push(`stuck hold: order ${o.payment_status}, hold held`);
    if (open && (h.state !== 'held' || !o.stripe_session_id)) problems.push(`order stuck ${o.payment_status}: hold ${h.state ?? 'missing'}, session ${o.stripe_session_id ? 'set' : 'none'}`);
    if (o.payment_status === 'refunded' && !o.refunded_at) problems.push('refund decided but never made');
  }
  return problems;
}

/** Events recorded but never processed (Meta's are re-driven by the cleanup; Stripe's are redelivered by Stripe until acknowledged). */
export async function unprocessedEvents(): Promise<string[]> {
  const rows = await db()`SELECT source, kind, last_error FROM inbound_events WHERE processed_at IS NULL`;
  return rows.map((u) => `${u.source} ${u.kind} event never processed${u.last_error ? ` (${String(u.last_error).slice(0, 80)})` : ''}`);
}

/** Every message of every customer, after the whole file: none left pending or sending. */
export async function unsentAnywhere(): Promise<string[]> {
  const rows = await db()`
    SELECT m.kind, m.status, m.error_title, m.attempts, c.wa_id FROM outbound_messages m LEFT JOIN customers c ON c.id = m.customer_id
    WHERE m.status IN ('pending', 'sending')`;
  return rows.map((u) => `message ${u.kind} to …${String(u.wa_id).slice(-4)} stuck ${u.status} after ${u.attempts} attempts${u.error_title ? ` (${u.error_title})` : ''}`);
}
