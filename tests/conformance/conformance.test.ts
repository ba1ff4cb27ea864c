import { randomInt } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { makeWamid, signMetaPayload, type RecordedMessage } from '../../dev/standins/graph.js';
import { upsertCatalogProduct } from '../../lib/catalog/index.js';
import { DID_NOT_UNDERSTAND } from '../../lib/conversation/replies.js';
import { db } from '../../lib/db.js';
import { invokeInProcess, shop } from '../support/shop.js';
import { bodyOf, eventually, newCustomer, sentTo, useStack } from '../support/stack.js';
import { cases, fixtureFile, type Case, type MetaCase, type StripeCase } from './manifest.js';
import { rewriteMeta, rewriteStripeObject, stripeEvent } from './rewrite.js';

/**
 * Other people's payloads (Meta's, pywa's, whatsapp-api-js's, Stripe's OpenAPI fixtures), signed as
 * Meta and Stripe sign them and POSTed to the real functions on the local stack. One case per
 * fixture example; see manifest.ts for the expectations and fixtures/ for the sources.
 */
const stack = useStack();
const s = shop(stack, { inProcess: true });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const SKUS = ['CONF-1', 'CONF-2', 'CONF-3'];
const USD_SKU = 'CONF-USD';
const patient = <T>(check: () => T | Promise<T>) => eventually(check, 60_000);

beforeAll(async () => {
  await s.control('webhook-url', { url: '' });
  for (const sku of SKUS) await upsertCatalogProduct({ sku, name: `Conformance ${sku}`, priceMinor: 1200, currency: 'EUR', stock: 10_000 });
  await upsertCatalogProduct({ sku: USD_SKU, name: 'Conformance in dollars', priceMinor: 1000, currency: 'USD', stock: 10_000 });
});

const bsuid = () => `US.${Array.from({ length: 19 }, () => randomInt(10)).join('')}`;
const displayNumber = () => stack().env.WHATSAPP_BUSINESS_NUMBER_E164!.replace(/\D/g, '');
type ValueItems = { entry: { changes: { value: { messages?: { id: string }[]; statuses?: { id: string }[] } }[] }[] };
/** The id Meta gives the first message (or else status) of the payload: the key its inbound_events row is found by. */
const itemIdOf = (body: unknown) => {
  const value = (body as ValueItems).entry[0]!.changes[0]!.value;
  return value.messages?.[0]?.id ?? value.statuses?.[0]?.id;
};
const statusOf = (body: unknown) => (body as { entry: { changes: { value: { statuses?: { status: string }[] } }[] }[] }).entry[0]!.changes[0]!.value.statuses?.[0]?.status;
const didNotUnderstand = (m: RecordedMessage) => JSON.stringify(m.body).includes(DID_NOT_UNDERSTAND.slice(0, 30).replace(/"/g, '\\"'));

/**
 * The first case of each fixture file goes over HTTP through Netlify's local runtime; the others
 * call the same function handler in this process (about a second cheaper per request).
 */
const overHttp = new Set(cases.filter((c, i) => cases.findIndex((d) => d.fixture === c.fixture) === i).map((c) => c.name));
function post(name: 'webhook' | 'payment-callback', c: Case, init: RequestInit): Promise<{ status: number; text: string }> {
  const url = `${stack().url}/.netlify/functions/${name}`;
  if (overHttp.has(c.name)) return fetch(url, init).then(async (r) => ({ status: r.status, text: await r.text() }));
  return invokeInProcess(name, url, init);
}

async function runMeta(c: MetaCase) {
  const source = fixtureFile(c.fixture);
  const example = source.examples![c.example];
  const body = c.wrap === 'complete_payload' ? { object: 'whatsapp_business_account', entry: [{ id: '1', changes: [example] }] } : example;
  const customer = newCustomer('4917');
  let target: string | null = null;
  if (c.warmup) {
    await s.inbound({ from: customer, name: 'Conformance', text: 'menu', wamid: makeWamid(customer) });
    await patient(() => sentTo(stack(), customer).length >= 1);
    await sleep(400);
    target = sentTo(stack(), customer)[0]!.wamid;
  }
  const bsuids = new Map<string, string>();
  const wamids = new Map<string, string>();
  const skus = new Map<string, string>();
  const rewritten = rewriteMeta(body, {
    phoneNumberId: stack().env.WHATSAPP_PHONE_NUMBER_ID!,
    displayNumber: displayNumber(),
    customer,
    newNumber: newCustomer('4917'),
    bsuid: (o) => bsuids.get(o) ?? (bsuids.set(o, bsuid()), bsuids.get(o)!),
    target,
    wamid: (o) => wamids.get(o) ?? (wamids.set(o, makeWamid(customer)), wamids.get(o)!),
    sku: (o) => skus.get(o) ?? (skus.set(o, SKUS[skus.size % SKUS.length]!), skus.get(o)!),
  });
  const before = sentTo(stack(), customer).length;
  const raw = JSON.stringify(rewritten);
  const r = await post('webhook', c, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-hub-signature-256': signMetaPayload(raw, stack().env.WHATSAPP_APP_SECRET!) },
    body: raw,
  });
  expect(r.status, r.text).toBe(c.expect.status);
  const effects = c.expect.effects ?? [];
  const wamid = itemIdOf(rewritten);

  if (effects.includes('recorded')) {
    expect(wamid).toBeTruthy();
    // A status is recorded as status:<wamid>:<status>:<time>, a message by its wamid.
    await patient(async () => (await db()`SELECT processed_at FROM inbound_events WHERE source = 'meta' AND (external_id = ${wamid!} OR external_id LIKE ${`status:${wamid}:%`})`)[0]?.processed_at);
  }
  if (effects.includes('delivery')) {
    const status = statusOf(rewritten)!;
    const row = await patient(async () => {
      const [m] = await db()`SELECT delivery_status, delivery_statuses FROM outbound_messages WHERE wamid = ${target!}`;
      return m && (m.delivery_statuses as { status: string }[]).some((d) => d.status === status) ? m : null;
    });
    expect(row.delivery_status).toBe(status);
  }
  if (effects.includes('order_created')) {
    const [order] = await patient(() => db()`SELECT o.id FROM orders o JOIN customers c ON c.id = o.customer_id WHERE c.wa_id = ${customer}`);
    expect(order).toBeTruthy();
    await patient(() => sentTo(stack(), customer).slice(before).some((m) => bodyOf(m).interactive?.type === 'cta_url'));
  }
  if (effects.includes('nothing_recorded')) {
    await sleep(300);
    expect(await db()`SELECT 1 FROM customers WHERE wa_id = ${customer}`).toHaveLength(0);
    const ids = [...wamids.values()];
    if (ids.length) expect(await db()`SELECT 1 FROM inbound_events WHERE external_id = ANY(${ids}::text[])`).toHaveLength(0);
  }

  const wanted = c.expect.replies;
  if (wanted === 'some' || wanted === 'one') await patient(() => sentTo(stack(), customer).length > before || effects.includes('answered_via_recipient'));
  await sleep(wanted === 'none' ? 700 : 400);
  const replies = sentTo(stack(), customer).slice(before);
  if (wanted === 'none') expect(replies).toHaveLength(0);
  if (wanted === 'one') expect(replies).toHaveLength(1);
  if (effects.includes('not_didnt_understand')) expect(replies.filter(didNotUnderstand)).toHaveLength(0);
  if (effects.includes('answered_via_recipient')) {
    const ids = new Set(bsuids.values());
    const viaRecipient = stack().graph.messages({ status: 'accepted' }).filter((m) => ids.has((m.body as { recipient?: string }).recipient ?? ''));
    expect(viaRecipient.length).toBeGreaterThan(0);
    expect(viaRecipient.every((m) => (m.body as { to?: string }).to === undefined)).toBe(true);
  }
}

async function runStripe(c: StripeCase) {
  const source = fixtureFile(c.fixture);
  const fixture = source.resources![c.resource]!;
  const suffix = `${Date.now().toString(36)}${randomInt(1e6)}`;
  let target = { orderId: '00000000-0000-4000-8000-000000000000', sessionId: `cs_test_${suffix}`, paymentIntent: `pi_${suffix}`, charge: `ch_${suffix}`, refundId: `re_${suffix}`, disputeId: `dp_${suffix}`, amountMinor: 1000, refundedMinor: 0 };
  let waId: string | null = null;
  if (c.setup === 'order') {
    const o = await s.orderOverWhatsApp(USD_SKU, 1);
    waId = o.waId;
    target = { ...target, orderId: o.orderId, sessionId: o.sessionId, amountMinor: o.totalMinor };
  } else if (c.setup !== 'unrelated') {
    const o = await s.paidOrder(USD_SKU, 1);
    waId = o.waId;
    target = { ...target, orderId: o.orderId, sessionId: o.sessionId, paymentIntent: o.paymentIntent, charge: o.charge, amountMinor: o.totalMinor };
    if (c.setup === 'full_refund' || c.setup === 'partial_refund') {
      const amount = c.setup === 'full_refund' ? o.totalMinor : o.totalMinor / 2;
      const refund = await s.dashboard().refunds.create({ payment_intent: o.paymentIntent, amount });
      target = { ...target, refundId: refund.id, refundedMinor: amount };
    }
  }
  const object = c.setup === 'unrelated' ? { ...fixture, created: Math.floor(Date.now() / 1000) } : rewriteStripeObject(fixture, target);
  const before = waId ? sentTo(stack(), waId).length : 0;
  const payload = stripeEvent(c.type, object, `evt_conf_${suffix}`);
  const stripeInit = () => ({ method: 'POST', headers: { 'content-type': 'application/json; charset=utf-8', 'stripe-signature': s.signature(payload) }, body: payload });
  const r = await post('payment-callback', c, stripeInit());
  expect(r.status, r.text).toBe(c.expect.status);
  // A recorded event is applied after the answer (issue 30): its outcome is read from its row once processed.
  const answer = JSON.parse(r.text) as { outcome?: unknown; recorded?: boolean };
  const outcome = answer.recorded
    ? ((await patient(async () => (await db()`SELECT outcome FROM inbound_events WHERE source = 'stripe' AND external_id = ${`evt_conf_${suffix}`} AND processed_at IS NOT NULL`)[0])) as { outcome: unknown }).outcome
    : answer.outcome;
  expect(String(outcome)).toMatch(c.expect.outcome);
  if (!waId) return;

  const order = await s.orderRow(target.orderId);
  if (c.expect.paymentStatus) expect(order.payment_status).toBe(c.expect.paymentStatus);
  if (c.expect.refundedMinor !== undefined) {
    const want = c.expect.refundedMinor === 'total' ? target.amountMinor : c.expect.refundedMinor === 'half' ? target.amountMinor / 2 : 0;
    expect(order.refunded_minor).toBe(want);
  }
  if (c.expect.events) {
    const types = (await s.eventsOf(target.orderId)).map((e) => e.type);
    for (const t of c.expect.events) expect(types.filter((x) => x === t)).toHaveLength(1);
  }
  if (c.expect.alerts) {
    for (const kind of c.expect.alerts) await patient(async () => (await s.alertsOf(target.orderId)).filter((k) => k === kind).length === 1);
  }
  // Redelivery changes nothing and sends nothing more.
  const again = await post('payment-callback', c, stripeInit());
  expect(again.status).toBe(200);
  if (c.expect.replies === 'one') await patient(() => sentTo(stack(), waId!).length > before);
  await sleep(600);
  expect(sentTo(stack(), waId).slice(before)).toHaveLength(c.expect.replies === 'one' ? 1 : 0);
}

// Cases are independent (each its own customer, order and ids), so they run a few at a time.
describe.concurrent('conformance: real payloads through the real functions', () => {
  for (const c of cases) {
    const source = fixtureFile(c.fixture).source;
    const title = `${c.name} [${'repository' in source ? source.repository : new URL(source.url).hostname}]`;
    it(title, () => (c.kind === 'meta' ? runMeta(c) : runStripe(c)), 120_000);
  }
});

it('has at least 60 real fixtures, each naming its source', () => {
  expect(cases.length).toBeGreaterThanOrEqual(60);
  for (const c of cases) {
    const { source } = fixtureFile(c.fixture);
    if ('repository' in source) {
      expect(source.repository).toMatch(/^[\w.-]+\/[\w.-]+$/);
      expect(source.path).toBeTruthy();
      expect(source.commit).toMatch(/^[0-9a-f]{40}$/);
    } else {
      expect(source.url).toMatch(/^https:\/\/developers\.facebook\.com\//);
    }
  }
});
