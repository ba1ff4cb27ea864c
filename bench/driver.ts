/**
 * Drives the shop's functions in this process as Netlify's runtime calls them (dev/invoke.ts), and
 * counts the round trips each request makes to every system: Postgres (requests the Neon bridge
 * served), Redis (the Upstash bridge), Stripe and Meta's Graph API (the stand-ins' API calls).
 * Shared by `npm run bench` and tests/round-trips.test.ts. Local-only.
 */
import Stripe from 'stripe';
import { buildEntry, buildInboundMessageValue, buildWebhookPayload, makeWamid, signMetaPayload, type InboundInput } from '../dev/standins/graph.js';
import type { Invocation } from '../dev/invoke.js';
import type { LocalStack } from '../dev/stack.js';

export type Trips = { postgres: number; redis: number; stripe: number; graph: number };
export const SYSTEMS = ['postgres', 'redis', 'stripe', 'graph'] as const;

export function trips(s: LocalStack): Trips {
  return { postgres: s.neonBridge!.stats.requests, redis: s.upstashBridge!.stats.requests, stripe: s.stripe!.stats.requests, graph: s.graph!.stats.requests };
}
export const tripsBetween = (a: Trips, b: Trips): Trips => ({ postgres: b.postgres - a.postgres, redis: b.redis - a.redis, stripe: b.stripe - a.stripe, graph: b.graph - a.graph });
export const sameTrips = (a: Trips, b: Trips) => SYSTEMS.every((k) => a[k] === b[k]);

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One request: its answer, when it came, and when everything it handed to waitUntil had settled. */
export type Timed = { status: number; body: string; ackMs: number; doneMs: number };
/** The same, with its round trips before the answer and in total (counted alone: nothing else may run). */
export type Counted = Timed & { before200: Trips; total: Trips };

let phoneSeq = 0;
/** A fresh customer phone (digits), unique within this process. */
export function newPhone(prefix = '4917'): string {
  return `${prefix}${String(process.pid % 10000).padStart(4, '0')}${String(++phoneSeq).padStart(5, '0')}`;
}

/**
 * All in-process functions share this process's fetch: without a cap, 1 000 concurrent requests
 * open a socket each to the same bridge, which overflows its listen queue (ECONNRESET). Production
 * has one such pool per function instance; here at most `perOrigin` connections per upstream.
 */
export async function capConnections(perOrigin = 128): Promise<void> {
  const key = Symbol.for('undici.globalDispatcher.1');
  const g = globalThis as unknown as Record<symbol, { constructor: new (o: { connections: number }) => unknown } | undefined>;
  if (!g[key]) await fetch('http://127.0.0.1:9/').catch(() => {}); // creates Node's default dispatcher
  const Agent = g[key]!.constructor;
  g[key] = new Agent({ connections: perOrigin }) as never;
}

export class ShopDriver {
  constructor(readonly stack: LocalStack) {
    if (!stack.inProcess) throw new Error('ShopDriver needs a stack with functions: "in-process"');
  }

  get env() {
    return this.stack.env;
  }

  /** Invokes a function by its route, as Netlify would (config.path or /.netlify/functions/<name>). */
  async call(path: string, init: RequestInit = {}): Promise<Invocation> {
    const invocation = await this.stack.inProcess!.handle(new Request(`${this.stack.url}${path}`, init));
    if (!invocation) throw new Error(`no function serves ${path}`);
    return invocation;
  }

  /** Invokes and times: the answer, then the work after it (waitUntil) until settled. */
  async timed(path: string, init: RequestInit = {}): Promise<Timed> {
    const t = performance.now();
    const { response, background } = await this.call(path, init);
    const ackMs = performance.now() - t;
    const body = await response.text();
    await background;
    return { status: response.status, body, ackMs, doneMs: performance.now() - t };
  }

  /**
   * Invokes alone and counts its round trips before the answer and in total. Work the function
   * starts without waitUntil would be missed by `background`, so the count also waits until no
   * counter has moved for `quietMs`.
   */
  async counted(path: string, init: RequestInit = {}, quietMs = 60): Promise<Counted> {
    const c0 = trips(this.stack);
    const t = performance.now();
    const { response, background } = await this.call(path, init);
    const ackMs = performance.now() - t;
    const c1 = trips(this.stack);
    const body = await response.text();
    await background;
    const doneMs = performance.now() - t;
    let last = trips(this.stack);
    for (let quiet = 0; quiet < quietMs; quiet += 10) {
      await sleep(10);
      const now = trips(this.stack);
      if (!sameTrips(now, last)) quiet = 0;
      last = now;
    }
    return { status: response.status, body, ackMs, doneMs, before200: tripsBetween(c0, c1), total: tripsBetween(c0, last) };
  }

  // ---- requests as Meta, Stripe and a shop send them ----

  /** A signed Meta webhook POST carrying these inbound messages (one change per message). */
  inbound(messages: InboundInput[]): [string, RequestInit] {
    const biz = { wabaId: '102290129340398', phoneNumberId: this.env.WHATSAPP_PHONE_NUMBER_ID!, displayPhoneNumber: this.env.WHATSAPP_BUSINESS_NUMBER_E164!.replace(/\D/g, '') };
    const values = messages.map((m) => buildInboundMessageValue(biz, { name: 'Ada', ...m, wamid: m.wamid ?? makeWamid(m.from ?? '0') }));
    const raw = JSON.stringify(buildWebhookPayload([buildEntry(biz.wabaId, values)]));
    return ['/.netlify/functions/webhook', { method: 'POST', headers: { 'content-type': 'application/json', 'x-hub-signature-256': signMetaPayload(raw, this.env.WHATSAPP_APP_SECRET!) }, body: raw }];
  }

  /** A Stripe event POSTed to payment-callback with a valid Stripe-Signature. */
  stripeEvent(payload: string): [string, RequestInit] {
    const signature = new Stripe('sk_test_x').webhooks.generateTestHeaderString({ payload, secret: this.env.STRIPE_WEBHOOK_SECRET! });
    return ['/.netlify/functions/payment-callback', { method: 'POST', headers: { 'content-type': 'application/json; charset=utf-8', 'stripe-signature': signature }, body: payload }];
  }

  /** The order API (create-order-proxy), authenticated as a storefront. */
  orderApi(body: unknown): [string, RequestInit] {
    return ['/.netlify/functions/create-order-proxy', { method: 'POST', headers: { authorization: `Bearer ${this.env.ADMIN_API_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify(body) }];
  }

  /** An admin API request with the shop's key. */
  admin(path: string, method: string, body?: unknown, contentType = 'application/json'): [string, RequestInit] {
    return [path, { method, headers: { authorization: `Bearer ${this.env.ADMIN_API_KEY}`, 'content-type': contentType }, ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }) }];
  }

  /** The customer pays the order's Checkout Session on the Stripe stand-in; returns the checkout.session.completed payload (not delivered). */
  async paySession(sessionId: string): Promise<string> {
    const base = this.stack.stripe!.url;
    const { eventId } = (await (await fetch(`${base}/_standin/sessions/${sessionId}/complete`, { method: 'POST', body: '{}' })).json()) as { eventId: string };
    return this.stack.stripe!.events().find((e) => e.id === eventId)!.payload;
  }

  /** Places an order by a quantity-button reply (answered and settled); returns the order and its customer. */
  async placeOrder(sku: string, quantity = 1, from = newPhone()): Promise<{ orderId: string; sessionId: string; from: string }> {
    const r = await this.timed(...this.inbound([{ from, interactive: { type: 'button_reply', id: `qty:${quantity}:${sku}`, title: String(quantity) } }]));
    if (r.status !== 200) throw new Error(`webhook answered ${r.status}`);
    const { db } = await import('../lib/db.js');
    const [row] = await db()`SELECT o.id, o.stripe_session_id FROM orders o JOIN customers c ON c.id = o.customer_id WHERE c.wa_id = ${from} ORDER BY o.created_at DESC LIMIT 1`;
    if (!row?.stripe_session_id) throw new Error(`no order with a Checkout Session for ${from}`);
    return { orderId: row.id as string, sessionId: row.stripe_session_id as string, from };
  }

  /** An order placed and paid (confirmation and invite sent); returns its id and invite token. */
  async paidOrder(sku: string): Promise<{ orderId: string; from: string; token: string }> {
    const o = await this.placeOrder(sku);
    const r = await this.timed(...this.stripeEvent(await this.paySession(o.sessionId)));
    if (r.status !== 200) throw new Error(`payment-callback answered ${r.status}: ${r.body}`);
    const { db } = await import('../lib/db.js');
    const [row] = await db()`SELECT token FROM invite_tokens WHERE order_id = ${o.orderId}`;
    return { orderId: o.orderId, from: o.from, token: row!.token as string };
  }
}

export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}
