import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Stripe from 'stripe';
import { db } from '../../lib/db.js';
import { newCustomer, useStack } from '../support/stack.js';
import { redis } from '../../lib/redis.js';
import { harness, lapse, settledProblems, type Answer, type Loaded } from './harness.js';

/**
 * Staff actions against each other and against the money Stripe moves (issue 23): every pair of {ship, cancel,
 * refund (the cancel of a paid order), offline payment, card payment (signed checkout.session.completed from the
 * Stripe stand-in), async payment succeeded, cleanup expiry, Stripe dashboard refund (refund.created)} runs on one
 * order at once, N times each, in process against the real Postgres, Redis, bridges and stand-ins. After every
 * trial (and after Stripe reported every refund it made, as it does):
 *   - no 5xx anywhere; admin answers are 200 or 409 (a lost race), Stripe's events are acknowledged with 200; a 200
 *     only for what happened (the order shipped, the cancel closed or refunded it, the offline payment is recorded);
 *   - the order ends in a state the lifecycle allows: shipped only if paid (or refunded in Stripe afterwards);
 *   - money: what Stripe took = what it kept + what it refunded, and what it kept is the order's: the total
 *     (less refunds made in Stripe) for an order paid by card, nothing for one paid offline, refunded or unpaid;
 *     every refund at Stripe is explained by an order event;
 *   - a shipped order is never refunded by the shop (no refund decided for it);
 *   - the customer got exactly the notices of the order's history, each once: the confirmation and invite link iff
 *     it was paid, the closed notice iff it was closed, the cancel/refund notice iff it was refunded by the shop /
 *     in Stripe, the shipped notice iff it shipped, a receipt per offline payment recorded; the final state's notice
 *     is among them;
 *   - stock is conserved, nothing is stuck or left unsent (harness: settledProblems, stockProblems).
 * RELIABILITY_SCALE=full: every pair N_FULL times; the CI sample: every pair once, with the seed's jitter.
 */

const FULL = process.env.RELIABILITY_SCALE === 'full';
const N = FULL ? 6 : 1;
const SEED = Number(process.env.RELIABILITY_SEED ?? 23);

const stack = useStack({ functions: 'in-process', env: { LOG_LEVEL: 'silent' } });
const h = harness(stack);

let seed = SEED;
const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);

const ACTIONS = ['ship', 'cancel', 'refund', 'offline', 'card', 'async', 'cleanup', 'dashboard'] as const;
type Action = (typeof ACTIONS)[number];
const PAIRS: [Action, Action][] = ACTIONS.flatMap((a, i) => ACTIONS.slice(i).map((b) => [a, b] as [Action, Action]));
const PRICE = 700;

type Start = 'pending' | 'awaiting' | 'paid';
/** The state both actions of the pair make sense in: a delayed payment waits; a payment, close or cancel races from pending; the rest need a paid order. */
function startOf(pair: [Action, Action]): Start {
  if (pair.includes('async')) return 'awaiting';
  if (pair.some((a) => ['cancel', 'offline', 'card', 'cleanup'].includes(a))) return 'pending';
  return 'paid';
}

type Trial = { waId: string; sku: string; orderId: string; sessionId: string; reference: string; answers: { action: string; answer: Answer }[] };

const dashboard = () => {
  const u = new URL(stack().env.STRIPE_API_BASE!);
  return new Stripe(stack().env.STRIPE_SECRET_KEY!, { host: u.hostname, port: Number(u.port), protocol: 'http', maxNetworkRetries: 0 });
};
const admin = (path: string, body?: unknown) =>
  h.send({
    fn: 'admin-api',
    url: `${stack().url}/api${path}`,
    init: () => ({ method: 'POST', headers: { authorization: `Bearer ${stack().env.ADMIN_API_KEY}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) }),
  });
const standin = async (path: string, body: unknown = {}) => {
  const r = await fetch(`${stack().stripe.url}/_standin/${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: r.status, body: (await r.json()) as { eventId?: string; session?: Record<string, unknown> } };
};
/** The stand-in made a change and its event; the test delivers the event to payment-callback, signed. */
async function deliverEvent(t: Trial, action: string, eventId: string | undefined) {
  if (!eventId) return;
  const events = (await (await fetch(`${stack().stripe.url}/_standin/events`)).json()) as { id: string; payload: string }[];
  t.answers.push({ action, answer: await h.send(h.stripeDelivery(events.find((e) => e.id === eventId)!.payload)) });
}
const sessionOf = (id: string) => stack().stripe.sessions().find((s) => s.id === id);
/** Every payment intent Stripe holds for the order (its Checkout Sessions). */
const paymentIntentsOf = (orderId: string) =>
  stack().stripe.sessions().filter((s) => s.client_reference_id === orderId && s.payment_intent).map((s) => String(s.payment_intent));

const run: Record<Action, (t: Trial) => Promise<void>> = {
  ship: async (t) => void t.answers.push({ action: 'ship', answer: await admin(`/orders/${t.orderId}/shipped`, { trackingSlug: `T-${t.reference}` }) }),
  cancel: async (t) => void t.answers.push({ action: 'cancel', answer: await admin(`/orders/${t.orderId}/cancel`) }),
  refund: async (t) => void t.answers.push({ action: 'refund', answer: await admin(`/orders/${t.orderId}/cancel`) }),
  offline: async (t) =>
    void t.answers.push({
      action: 'offline',
      answer: await admin('/offline-payments', { orderId: t.orderId, amountMinor: PRICE, currency: 'EUR', paidAt: new Date().toISOString().slice(0, 10), reference: `CASH-${t.reference}` }),
    }),
  // The customer pays the link in the chat: Stripe takes it only while the session is open.
  card: async (t) => {
    const r = await standin(`sessions/${t.sessionId}/complete`);
    await deliverEvent(t, 'card', r.body.eventId); // none when Stripe refused (the session is no longer open)
  },
  async: async (t) => {
    const r = await standin(`sessions/${t.sessionId}/async-succeeded`);
    await deliverEvent(t, 'async', r.body.eventId);
  },
  cleanup: async (t) => void t.answers.push({ action: 'cleanup', answer: await admin(`/orders/${t.orderId}/cleanup`) }),
  // Someone refunds the payment in the Stripe dashboard (refused by Stripe when nothing is left to refund).
  dashboard: async (t) => {
    const pi = String(sessionOf(t.sessionId)?.payment_intent ?? '');
    if (!pi) return;
    let refund: Stripe.Refund;
    try {
      refund = await dashboard().refunds.create({ payment_intent: pi });
    } catch {
      return;
    }
    const r = await standin('events', { type: 'refund.created', object: refund.id });
    await deliverEvent(t, 'dashboard', r.body.eventId);
  },
};

const loaded: Loaded = new Map();
const skuOf = (pair: [Action, Action]) => `SA-${process.pid}-${pair.join('-')}`;

beforeAll(async () => {
  await fetch(`${stack().stripe.url}/_standin/webhook-url`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ url: '' }) });
  const products = PAIRS.map((p) => ({ sku: skuOf(p), priceMinor: PRICE, stock: 100 }));
  await h.loadCatalog(products);
  for (const p of products) loaded.set(p.sku, p.stock);
});

/** A customer's order over WhatsApp, brought to `start` the way Stripe brings it there. */
async function prepare(pair: [Action, Action], start: Start): Promise<Trial> {
  const waId = newCustomer('4950');
  const sku = skuOf(pair);
  expect((await h.send(h.inbound({ from: waId, name: 'Ada', text: `buy ${sku} 1` }))).status).toBe(200);
  const o = (await h.latestOrder(waId))!;
  const t: Trial = { waId, sku, orderId: o.id, sessionId: o.stripe_session_id!, reference: o.reference, answers: [] };
  if (start !== 'pending') {
    const r = await standin(`sessions/${t.sessionId}/complete`, { paid: start === 'paid' });
    await deliverEvent(t, 'setup', r.body.eventId);
  }
  const [row] = await db()`SELECT payment_status FROM orders WHERE id = ${t.orderId}`;
  expect(row!.payment_status).toBe({ pending: 'pending', awaiting: 'awaiting_payment', paid: 'paid' }[start]);
  if (pair.includes('cleanup')) await lapse(t.orderId, [sku]);
  t.answers = [];
  return t;
}

/** What the customer should have been told, from the order's history; problems found. */
async function trialProblems(t: Trial, pair: [Action, Action]): Promise<string[]> {
  const problems: string[] = [];
  const [o] = await db()`SELECT payment_status, fulfillment_status, stripe_payment_intent, refunded_minor, total_minor FROM orders WHERE id = ${t.orderId}`;
  const status = o!.payment_status as string;
  const shipped = o!.fulfillment_status === 'shipped';
  const events = await db()`SELECT type, data FROM order_events WHERE order_id = ${t.orderId} ORDER BY id`;
  const has = (type: string, where: (d: Record<string, unknown>) => boolean = () => true) => events.some((e) => e.type === type && where(e.data as Record<string, unknown>));

  // Answers: no 5xx; admin 200 or 409; Stripe's events 200.
  for (const { action, answer } of t.answers) {
    const ok = ['card', 'async', 'dashboard', 'setup'].includes(action) ? [200] : [200, 409];
    if (!ok.includes(answer.status)) problems.push(`${action} answered ${answer.status}: ${answer.text.slice(0, 160)}`);
    if (answer.status !== 200) continue;
    // A 200 only for what happened.
    const body = JSON.parse(answer.text) as { paymentStatus?: string; payment?: { reference: string } };
    if (action === 'ship' && !shipped) problems.push('ship answered 200, the order did not ship');
    if ((action === 'cancel' || action === 'refund') && !(body.paymentStatus === 'cancelled' ? has('cancelled') : body.paymentStatus === 'refunded' && has('refund_required', (d) => d.reason === 'cancelled_by_shop')))
      problems.push(`${action} answered 200 (${body.paymentStatus}), no cancel happened`);
    if (action === 'offline' && Number((await db()`SELECT count(*)::int AS n FROM payments WHERE reference = ${body.payment?.reference ?? ''}`)[0]!.n) !== 1)
      problems.push('offline payment answered 200, none recorded');
  }
  // A state the lifecycle allows.
  if (shipped && !['paid', 'refunded'].includes(status)) problems.push(`shipped but ${status}`);
  if (shipped && has('refund_required')) problems.push('shipped and refunded by the shop');
  if (status === 'refunded' && !has('refund_required') && !has('refunded', (d) => 'stripeKey' in d)) problems.push('refunded without a refund decided or made in Stripe');

  // Money, as the Stripe stand-in has it.
  const pis = paymentIntentsOf(t.orderId);
  const refunds = stack().stripe.refunds().filter((r) => pis.includes(String((r as { payment_intent?: string }).payment_intent))) as unknown as { id: string; amount: number }[];
  // Taken: every session of the order Stripe reports paid (one price each: no partial captures here).
  const taken = pis.filter((pi) => stack().stripe.sessions().some((s) => s.payment_intent === pi && s.payment_status === 'paid')).length * PRICE;
  const refunded = refunds.reduce((a, r) => a + r.amount, 0);
  const kept = taken - refunded;
  const paidByCard = status === 'paid' && o!.stripe_payment_intent !== null;
  const expected = paidByCard ? Number(o!.total_minor) - Number(o!.refunded_minor) : 0;
  if (kept !== expected) problems.push(`Stripe kept ${kept} of ${taken} taken (${refunded} refunded); the order (${status}, ${paidByCard ? 'card' : 'no card'}) should have ${expected}`);
  for (const r of refunds) if (!events.some((e) => (e.data as { refundId?: string }).refundId === r.id)) problems.push(`refund ${r.id} of ${r.amount} explained by no order event`);

  // Notices: exactly those of the order's history, each once.
  const kinds = (await db()`SELECT kind FROM outbound_messages WHERE order_id = ${t.orderId}`).map((r) => r.kind as string);
  const payments = Number((await db()`SELECT count(*)::int AS n FROM payments WHERE order_id = ${t.orderId}`)[0]!.n);
  const want = ['payment_link'];
  if (has('paid')) want.push('order_confirmed', 'invite_link');
  if (has('cancelled') || has('expired') || has('payment_failed')) want.push('order_closed');
  if (has('refunded', (d) => d.reason === 'cancelled_by_shop')) want.push('order_cancelled');
  if (has('refunded', (d) => 'stripeKey' in d || d.reason === 'out_of_stock')) want.push('refund_notice');
  if (shipped) want.push('order_shipped');
  for (let i = 0; i < payments; i++) want.push('offline_payment');
  const got = [...kinds].sort();
  if (JSON.stringify(got) !== JSON.stringify([...want].sort())) problems.push(`notices ${got.join(', ')} (want ${[...want].sort().join(', ')})`);
  const finalNotice: Record<string, string | null> = { paid: 'order_confirmed', refunded: null, expired: 'order_closed', cancelled: 'order_closed', payment_failed: 'order_closed', pending: null, awaiting_payment: null };
  if (finalNotice[status] && !got.includes(finalNotice[status]!)) problems.push(`${status} without its notice`);
  if (status === 'refunded' && !got.includes('order_cancelled') && !got.includes('refund_notice')) problems.push('refunded without a refund notice');
  const accepted = h.accepted(t.waId).length;
  if (accepted !== got.length) problems.push(`${accepted} messages reached the customer for ${got.length} notices`);

  problems.push(...(await settledProblems(stack(), { waIds: [t.waId] })));
  return problems.map((p) => `[${pair.join(' × ')}] ${p}`);
}

/** Stripe reports every refund it made for the order (refund.created), as it does after any refund. */
async function stripeReportsRefunds(t: Trial) {
  const pis = paymentIntentsOf(t.orderId);
  for (const r of stack().stripe.refunds().filter((x) => pis.includes(String((x as { payment_intent?: string }).payment_intent)))) {
    const e = await standin('events', { type: 'refund.created', object: (r as { id: string }).id });
    await deliverEvent(t, 'dashboard', e.body.eventId);
  }
}

/**
 * Stock is conserved for every SKU: on hand (Postgres) = loaded − the units of orders sold (paid, and not refunded by
 * the shop's cancel, which puts them back on hand), and available (Redis) + held (live holds) = on hand.
 */
async function stockConserved(): Promise<string[]> {
  const problems: string[] = [];
  for (const [sku, total] of loaded) {
    const [v] = await db()`SELECT stock FROM variants WHERE sku = ${sku}`;
    const orders = await db()`
      SELECT o.id, (i->>'quantity')::int AS qty,
             EXISTS (SELECT 1 FROM order_events e WHERE e.order_id = o.id AND e.type = 'paid') AS paid,
             EXISTS (SELECT 1 FROM order_events e WHERE e.order_id = o.id AND e.type = 'refund_required' AND e.data->>'reason' = 'cancelled_by_shop') AS restocked
      FROM orders o, jsonb_array_elements(o.items) i WHERE i->>'sku' = ${sku}`;
    const sold = orders.filter((o) => o.paid && !o.restocked).reduce((a, o) => a + Number(o.qty), 0);
    let held = 0;
    for (const o of orders) if ((await redis().hget(`hold:${o.id}`, 'state')) === 'held') held += Number(o.qty);
    const available = Number(await redis().get(`stock:${sku}`));
    if (Number(v!.stock) !== total - sold) problems.push(`${sku}: on hand ${v!.stock} ≠ loaded ${total} − sold ${sold}`);
    if (available + held !== Number(v!.stock)) problems.push(`${sku}: available ${available} + held ${held} ≠ on hand ${v!.stock}`);
  }
  return problems;
}

const summary = new Map<string, Map<string, number>>();
afterAll(() => {
  const rows = [...summary].map(([pair, ends]) => `${pair.padEnd(22)} ${[...ends].map(([k, n]) => `${k}×${n}`).join(', ')}`);
  console.log(`[staff-actions] seed ${SEED}, ${N} trial(s) per pair (${FULL ? 'full' : 'CI sample'})\n${rows.join('\n')}`);
});

describe(`staff actions, every pair at once on one order (${FULL ? 'full' : `sample, RELIABILITY_SEED=${SEED}`})`, () => {
  it(`${PAIRS.length} pairs × ${N}: one allowed end state, money kept = taken − refunded and explained, no shipped order refunded by the shop, the notices of its history, no 5xx`, async () => {
    const problems: string[] = [];
    for (const pair of PAIRS) {
      for (let n = 0; n < N; n++) {
        const t = await prepare(pair, startOf(pair));
        const [first, second] = random() < 0.5 ? pair : ([pair[1], pair[0]] as [Action, Action]);
        const jitter = Math.floor(random() * 8);
        await Promise.all([run[first](t), (async () => {
          if (jitter) await new Promise((r) => setTimeout(r, jitter));
          await run[second](t);
        })()]);
        await stripeReportsRefunds(t);
        problems.push(...(await trialProblems(t, pair)));
        const [o] = await db()`SELECT payment_status, fulfillment_status FROM orders WHERE id = ${t.orderId}`;
        const end = `${o!.payment_status}${o!.fulfillment_status === 'shipped' ? '+shipped' : ''}`;
        const ends = summary.get(pair.join(' × ')) ?? new Map<string, number>();
        ends.set(end, (ends.get(end) ?? 0) + 1);
        summary.set(pair.join(' × '), ends);
      }
    }
    problems.push(...(await stockConserved()));
    expect(problems).toEqual([]);
  });
});
