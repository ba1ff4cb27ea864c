/**
 * Fuzz (issue 14, item 3): every entry point gets generated requests (fast-check, fixed seed printed),
 * authorised (signed by Meta/Stripe, the right API key) and not (missing, forged, truncated, stale
 * signatures; wrong keys). Bodies: real Meta/Stripe/API shapes with mutated fields, random and hostile
 * JSON, invalid JSON, deep nesting, bodies over 1 MB and near Netlify's 6 MB limit, wrong content types.
 *
 *   every answer < 500; Meta and Stripe get 200 for anything signed (logged, acknowledged, nothing lost);
 *   every API 4xx is JSON with an `error` and a reason; the invite answers only 302 to https://wa.me/…,
 *   404, 405 or 410; unsigned and forged requests write nothing (Postgres, Redis, Graph, Stripe);
 *   no unhandled rejection (tests/reliability/support/log-leaks.ts counts them, and scans the logs).
 *
 * RUNS generated requests per entry point and per phase (signed, unsigned): 10 000 under
 * RELIABILITY_SCALE=full (npm run test:reliability), a sample in CI; FUZZ_RUNS overrides both.
 */
import fc from 'fast-check';
import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildEntry, buildInboundMessageValue, buildStatusValue, buildWebhookPayload, signMetaPayload, type InboundInput } from '../../dev/standins/graph.js';
import { upsertCatalogProduct } from '../../lib/catalog/index.js';
import { rebuildRedisStock } from '../../lib/orders/stock-resync.js';
import { shop } from '../support/shop.js';
import { newCustomer, useStack } from '../support/stack.js';
import { bigBodies, bodyText, contentType, FULL, hostileString, NASTY_STRINGS, SEED } from './support/hostile.js';
import { markSensitive, scanOnlyMarkedIdentities } from './support/log-leaks.js';
import { describeReq, histogram, send, writeProbe, type Answer, type Req } from './support/probe.js';

// Fuzzed bodies turn hostile strings into customers: the leak scan looks for this file's real customers (below).
scanOnlyMarkedIdentities();

const RUNS = Number(process.env.FUZZ_RUNS ?? (FULL ? 10_000 : 120));
const stack = useStack({ functions: 'in-process', env: { LOG_LEVEL: 'info' } });
const s = () => stack();
const helpers = shop(stack, { inProcess: true });

type Ctx = {
  orderId: string;
  reference: string;
  inviteToken: string;
  phones: string[];
  stripeEvents: Record<string, unknown>[];
  wamids: string[];
};
let ctx: Ctx;

beforeAll(async () => {
  await upsertCatalogProduct({ sku: 'FZ-1', name: 'Fuzz tea', priceMinor: 450, currency: 'EUR', stock: 1_000_000 });
  await upsertCatalogProduct({ sku: 'FZ-2', name: 'Fuzz cup', priceMinor: 1200, currency: 'EUR', stock: 3 });
  await rebuildRedisStock();
  const paid = await helpers.paidOrder('FZ-1', 2);
  const dashboard = helpers.dashboard();
  await dashboard.refunds.create({ payment_intent: paid.paymentIntent, amount: 100 });
  const other = await helpers.orderOverWhatsApp('FZ-1', 1);
  await helpers.control(`sessions/${other.sessionId}/expire`);
  const refunds = (await (await fetch(`${s().stripe.url}/_standin/refunds`)).json()) as { id: string }[];
  for (const r of refunds) await helpers.control('events', { type: 'refund.created', object: r.id });
  const third = await helpers.orderOverWhatsApp('FZ-1', 1);
  await helpers.control(`sessions/${third.sessionId}/async-succeeded`);
  // Charge and dispute events as Stripe documents them (the stand-in sends sessions and refunds only).
  const charge = { id: paid.charge, object: 'charge', amount: paid.totalMinor, amount_refunded: 100, refunded: false, currency: 'eur', payment_intent: paid.paymentIntent, metadata: { order_id: paid.orderId }, refunds: { object: 'list', data: [], has_more: false } };
  const dispute = { id: 'dp_fuzz1', object: 'dispute', amount: paid.totalMinor, currency: 'eur', status: 'needs_response', reason: 'fraudulent', charge: paid.charge, payment_intent: paid.paymentIntent, metadata: {}, evidence_details: { due_by: 1_800_000_000 } };
  const handMade = [helpers.eventOf('charge.refunded', charge), helpers.eventOf('charge.dispute.created', dispute), helpers.eventOf('customer.created', { id: 'cus_1', object: 'customer' })];
  const { db } = await import('../../lib/db.js');
  const [token] = await db()`SELECT token FROM invite_tokens WHERE order_id = ${paid.orderId}`;
  const events = [...(await helpers.stripeEvents()).map((e) => e.payload), ...handMade].map((p) => JSON.parse(p) as Record<string, unknown>);
  ctx = {
    orderId: paid.orderId,
    reference: paid.reference,
    inviteToken: token!.token as string,
    phones: [paid.waId, other.waId, newCustomer(), newCustomer()],
    stripeEvents: events,
    wamids: s().graph.messages().map((m) => m.wamid).filter((w): w is string => !!w),
  };
  for (const p of ctx.phones) markSensitive('phone', p);
  markSensitive('BSUID', 'US.13491208655302741918', 'DE.ENT.1234567890abcdef');
  console.log(`[fuzz] seed ${SEED}, ${RUNS} generated requests per entry point and phase (${FULL ? 'full' : 'CI sample'}); ${events.length} real Stripe event shapes`);
}, 120_000);

// --- request generators --------------------------------------------------------------------------

const biz = () => ({ wabaId: '102290129340398', phoneNumberId: s().env.WHATSAPP_PHONE_NUMBER_ID!, displayPhoneNumber: s().env.WHATSAPP_BUSINESS_NUMBER_E164!.replace(/\D/g, '') });
const hex = (n: number) => fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: n, maxLength: n });
const phone = () => fc.oneof(fc.constantFrom(...ctx.phones), fc.string({ unit: fc.constantFrom(...'0123456789'), minLength: 8, maxLength: 15 }).map((d) => `49${d}`));

function metaShapes(): fc.Arbitrary<unknown> {
  const message: fc.Arbitrary<InboundInput> = fc.oneof(
    fc.record({ from: phone(), name: fc.constantFrom('Ada', 'Bo'), text: fc.oneof(fc.constantFrom('menu', 'hi', 'status', 'cancel', 'help', 'buy FZ-1 1', 'buy FZ-2 5', '2 x fuzz tea', 'buy FZ-1 -1', 'buy FZ-1 0', 'buy FZ-1 99999999999'), hostileString) }),
    fc.record({
      from: phone(),
      order: fc.record({
        catalog_id: fc.constant('cat_1'),
        product_items: fc.array(fc.record({ product_retailer_id: fc.constantFrom('FZ-1', 'FZ-2', 'NOPE'), quantity: fc.integer({ min: -2, max: 5 }), item_price: fc.integer({ min: 0, max: 5000 }), currency: fc.constantFrom('EUR', 'USD') }), { minLength: 1, maxLength: 3 }),
      }),
    }),
    fc.record({ from: phone(), interactive: fc.record({ type: fc.constant('list_reply' as const), id: fc.constantFrom('FZ-1', 'sku:FZ-1', 'variant:FZ-1', 'qty:FZ-1:2'), title: fc.constant('Fuzz tea') }) }),
    fc.record({ from: phone(), raw: fc.constantFrom<Record<string, unknown>>({ type: 'reaction', reaction: { message_id: 'wamid.x', emoji: '👍' } }, { type: 'image', image: { id: '1', mime_type: 'image/jpeg' } }, { type: 'system', system: { body: 'changed', type: 'user_changed_number', new_wa_id: '4915199999999' } }, { type: 'unsupported', errors: [{ code: 131051 }] }) }),
    fc.record({ userId: fc.constantFrom('US.13491208655302741918', 'DE.ENT.1234567890abcdef'), text: fc.constantFrom('menu', 'buy FZ-1 1') }),
  );
  const inbound = fc.tuple(message, hex(24)).map(([input, w]) => buildWebhookPayload([buildEntry(biz().wabaId, [buildInboundMessageValue(biz(), { ...input, wamid: `wamid.${w}` } as InboundInput)])]));
  const status = fc.tuple(fc.constantFrom(...(ctx.wamids.length ? ctx.wamids : ['wamid.x'])), fc.constantFrom('sent', 'delivered', 'read', 'failed', 'played', 'deleted')).map(([wamid, st]) =>
    buildWebhookPayload([buildEntry(biz().wabaId, [buildStatusValue(biz(), { wamid, status: st as 'sent', recipient_id: ctx.phones[0] })])]),
  );
  return fc.oneof({ weight: 4, arbitrary: inbound }, { weight: 1, arbitrary: status });
}

function stripeShapes(): fc.Arbitrary<unknown> {
  return fc.tuple(fc.constantFrom(...ctx.stripeEvents), hex(24)).map(([event, id]) => ({ ...structuredClone(event), id: `evt_fz${id}` }));
}

function orderApiShapes(): fc.Arbitrary<unknown> {
  return fc.record(
    {
      customerPhone: fc.oneof(fc.constantFrom(...ctx.phones).map((p) => `+${p}`), fc.constantFrom('+49 151 1234 5678', '0049151123456', '+1 (415) 555-0100')),
      customerUserId: fc.constantFrom('US.13491208655302741918', undefined, undefined, undefined),
      customerName: fc.constantFrom('Ada', 'Bo'),
      items: fc.array(fc.record({ sku: fc.oneof({ weight: 8, arbitrary: fc.constant('FZ-1') }, fc.constantFrom('FZ-2', 'NOPE')), quantity: fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 1, max: 3 }) }, fc.constantFrom(-3, 0, 1_000_000, 1_000_001)) }), { minLength: 1, maxLength: 2 }),
      idempotencyKey: hex(16),
      notify: fc.boolean(),
    },
    { requiredKeys: ['items'] },
  );
}

const offlinePaymentShapes = () =>
  fc.record({ orderId: fc.constant(ctx.orderId), customerPhone: fc.constant(`+${ctx.phones[2]}`), customerName: fc.constant('Ada'), amountMinor: fc.integer({ min: -5, max: 5000 }), currency: fc.constantFrom('EUR', 'eur', 'XXX'), paidAt: fc.constantFrom('2026-11-25', '2026-11-25T10:00:00Z'), reference: hex(8) }, { requiredKeys: ['amountMinor', 'currency', 'paidAt', 'reference'] });
const shippedShapes = () => fc.record({ trackingSlug: fc.constantFrom('ABC123', 'x/y'), trackingUrl: fc.constantFrom('https://track.example/1', 'javascript:alert(1)', 'http://[::1]/'), carrier: fc.constantFrom('DHL', 'UPS') }, { requiredKeys: [] });
const catalogShapes = () =>
  fc.record({ products: fc.array(fc.record({ sku: fc.constantFrom('FZ-9', 'FZ-8', 'FZ-1'), name: fc.constantFrom('Imported', 'Fuzz tea'), priceMinor: fc.integer({ min: -1, max: 9000 }), currency: fc.constantFrom('EUR', 'USD'), stock: fc.integer({ min: -1, max: 50 }) }), { maxLength: 3 }) });
const catalogCsv = () =>
  fc.array(fc.tuple(fc.oneof(fc.constantFrom('FZ-7', 'FZ-1'), hostileString.map((x) => x.slice(0, 80))), hostileString.map((x) => x.slice(0, 80)), fc.oneof(fc.integer().map(String), hostileString.map((x) => x.slice(0, 20)))), { maxLength: 4 }).map(
    (rows) => ['sku,name,price_minor,currency,stock', ...rows.map(([sku, name, price]) => `${sku},"${name.replace(/"/g, '""')}",${price},EUR,5`)].join('\n'),
  );

/** A path segment: a real id, a random UUID, a hostile string percent-encoded, or raw bytes a client could send. */
/** The text as it arrives: encoded to UTF-8 by the sender (lone surrogates become U+FFFD). */
const asSent = (text: string) => Buffer.from(text, 'utf8').toString('utf8');
const noSurrogates = (text: string) => text.replace(/[\ud800-\udfff]/g, '\ufffd');

const segment = () =>
  fc.oneof(
    fc.constant(ctx.orderId),
    fc.uuid(),
    hostileString.map((x) => encodeURIComponent(noSurrogates(x.slice(0, 300)))),
    fc.constantFrom('%ED%A0%80', '%zz', '%', '%00', '..', '.', '%2e%2e', '%2F..%2F', 'a%0Ab', '%C0%AF', ' ', '%20', "'%20OR%201=1--"),
  );
const queryString = (names: string[]) =>
  fc.oneof(
    fc.array(fc.tuple(fc.oneof(fc.constantFrom(...names), hostileString.map((x) => x.slice(0, 40))), fc.oneof(hostileString.map((x) => x.slice(0, 3000)), fc.constantFrom('paid', 'pending,paid', 'shipped', '2026-11-01', '2026-13-45', '50', '0', '-1', '201', '1e3', ctx.phones[0]!, 'US.13491208655302741918', 'eyJ4IjoxfQ', '1'))), { maxLength: 5 }).map((pairs) => {
      const q = new URLSearchParams();
      for (const [k, v] of pairs) q.append(k.replace(/[\ud800-\udfff]/g, ''), v.replace(/[\ud800-\udfff]/g, ''));
      return q.size ? `?${q}` : '';
    }),
    fc.constantFrom('?limit=%ED%A0%80', '?cursor=%zz', '?%00=1', '?limit=1&limit=2', '?createdFrom=%00', '?customer=%2B49%00', '?reference=%27%3B--'),
  );

const apiAuth = () => ({ authorization: `Bearer ${s().env.ADMIN_API_KEY}` });
const forgedApiAuth = () =>
  fc.oneof(
    fc.constant({} as Record<string, string>),
    hostileString.map((x) => ({ authorization: `Bearer ${x.slice(0, 200)}` })),
    fc.constantFrom('short', 'long', 'basic', 'nobearer', 'lower', 'space').map((mode) => {
      const key = s().env.ADMIN_API_KEY!;
      const value = { short: `Bearer ${key.slice(0, -1)}`, long: `Bearer ${key}x`, basic: `Basic ${Buffer.from(`admin:${key}`).toString('base64')}`, nobearer: key, lower: `Bearer ${key.toUpperCase() === key ? key.toLowerCase() : key.toUpperCase()}`, space: `Bearer${key}` }[mode];
      return { authorization: value };
    }),
  );

type Entry = {
  name: string;
  /** API: every 4xx must be JSON with an error and a reason. */
  api: boolean;
  signed: () => fc.Arbitrary<Req>;
  unsigned: () => fc.Arbitrary<Req>;
  /** Requests every run includes (the big bodies). */
  examples: () => Req[];
  /** The status a forged request must get. */
  forgedStatus: number[];
};

const method = (right: string) => fc.oneof({ weight: 12, arbitrary: fc.constant(right) }, { weight: 1, arbitrary: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD') });

/** An admin route: method, path (with :id segments) and body; signed = the right key. */
function adminEntry(name: string, right: string, path: () => fc.Arbitrary<string>, body?: () => fc.Arbitrary<string>, bigShape?: unknown): Entry {
  const req = (auth: fc.Arbitrary<Record<string, string>>) =>
    fc.record({ method: method(right), path: path(), body: body ? body() : fc.option(bodyText(fc.jsonValue({ maxDepth: 2 })), { nil: undefined }), type: contentType, auth }).map(
      (r): Req => ({ method: r.method, path: r.path, body: r.body, headers: { ...r.auth, 'content-type': r.type } }),
    );
  return {
    name: `admin ${right} ${name}`,
    api: true,
    signed: () => req(fc.constant(apiAuth())),
    unsigned: () => req(forgedApiAuth()),
    examples: () => (bigShape ? bigBodies(bigShape).map((b) => ({ method: right, path: name.replace(':id', ctx.orderId), body: b, headers: { ...apiAuth(), 'content-type': 'application/json' } })) : []),
    forgedStatus: [401],
  };
}

const ORDER_QUERY = ['paymentStatus', 'fulfillmentStatus', 'createdFrom', 'createdTo', 'customer', 'reference', 'limit', 'cursor'];

function entries(): Entry[] {
  // Meta and Stripe sign the bytes they send: UTF-8, so a lone surrogate goes out as U+FFFD.
  const metaSig = (body: string) => signMetaPayload(body, s().env.WHATSAPP_APP_SECRET!);
  const stripeSig = (payload: string, secret = s().env.STRIPE_WEBHOOK_SECRET!, timestamp?: number) => new Stripe('sk_test_x').webhooks.generateTestHeaderString({ payload, secret, timestamp });
  const webhookBody = () => bodyText(metaShapes()).map(asSent);
  const stripeBody = () => bodyText(stripeShapes()).map(asSent);
  return [
    {
      name: 'webhook POST',
      api: false,
      signed: () => fc.tuple(webhookBody(), contentType).map(([body, type]) => ({ method: 'POST', path: '/.netlify/functions/webhook', body, headers: { 'content-type': type, 'x-hub-signature-256': metaSig(body) } })),
      unsigned: () =>
        fc.tuple(webhookBody(), fc.constantFrom('none', 'random', 'wrong-secret', 'truncated', 'other-body', 'no-prefix', 'sha1'), hex(64)).map(([body, mode, random]) => {
          const valid = metaSig(body);
          const header = { none: undefined, random: `sha256=${random}`, 'wrong-secret': signMetaPayload(body, 'not-the-app-secret'), truncated: valid.slice(0, -2), 'other-body': metaSig(`${body} `), 'no-prefix': valid.slice('sha256='.length), sha1: valid.replace('sha256=', 'sha1=') }[mode];
          return { method: 'POST', path: '/.netlify/functions/webhook', body, headers: { 'content-type': 'application/json', 'x-hub-signature-256': header } };
        }),
      examples: () => bigBodies(buildWebhookPayload([buildEntry(biz().wabaId, [buildInboundMessageValue(biz(), { from: ctx.phones[0]!, text: 'menu' })])])).map((body) => ({ method: 'POST', path: '/.netlify/functions/webhook', body, headers: { 'content-type': 'application/json', 'x-hub-signature-256': metaSig(body) } })),
      forgedStatus: [401],
    },
    {
      name: 'payment-callback POST',
      api: false,
      signed: () => fc.tuple(stripeBody(), contentType).map(([body, type]) => ({ method: 'POST', path: '/.netlify/functions/payment-callback', body, headers: { 'content-type': type, 'stripe-signature': stripeSig(body) } })),
      unsigned: () =>
        fc.tuple(stripeBody(), fc.constantFrom('none', 'random', 'wrong-secret', 'truncated', 'stale', 'other-body', 'no-v1', 'v0'), hex(64), fc.integer({ min: 301, max: 10_000_000 })).map(([body, mode, random, age]) => {
          const valid = stripeSig(body);
          const now = Math.floor(Date.now() / 1000);
          const header = {
            none: undefined,
            random: `t=${now},v1=${random}`,
            'wrong-secret': stripeSig(body, 'whsec_not_the_secret'),
            truncated: valid.slice(0, -3),
            stale: stripeSig(body, undefined, now - age),
            'other-body': stripeSig(`${body}\n`),
            'no-v1': `t=${now}`,
            v0: valid.replace('v1=', 'v0='),
          }[mode];
          return { method: 'POST', path: '/.netlify/functions/payment-callback', body, headers: { 'content-type': 'application/json', 'stripe-signature': header } };
        }),
      examples: () => bigBodies(ctx.stripeEvents[0]).map((body) => ({ method: 'POST', path: '/.netlify/functions/payment-callback', body, headers: { 'content-type': 'application/json', 'stripe-signature': stripeSig(body) } })),
      forgedStatus: [400],
    },
    {
      name: 'create-order-proxy POST',
      api: true,
      signed: () =>
        fc.tuple(bodyText(orderApiShapes()), contentType, fc.option(fc.oneof(hex(12), hostileString.map((x) => x.slice(0, 300))), { nil: undefined })).map(([body, type, key]) => ({
          method: 'POST',
          path: '/.netlify/functions/create-order-proxy',
          body,
          headers: { ...apiAuth(), 'content-type': type, 'idempotency-key': key },
        })),
      unsigned: () => fc.tuple(bodyText(orderApiShapes()), forgedApiAuth()).map(([body, auth]) => ({ method: 'POST', path: '/.netlify/functions/create-order-proxy', body, headers: { ...auth, 'content-type': 'application/json' } })),
      examples: () => bigBodies({ customerPhone: `+${ctx.phones[0]}`, items: [{ sku: 'FZ-1', quantity: 1 }] }).map((body) => ({ method: 'POST', path: '/.netlify/functions/create-order-proxy', body, headers: { ...apiAuth(), 'content-type': 'application/json' } })),
      forgedStatus: [401],
    },
    adminEntry('/api/orders', 'GET', () => queryString(ORDER_QUERY).map((q) => `/api/orders${q}`)),
    adminEntry('/api/orders.csv', 'GET', () => queryString(ORDER_QUERY).map((q) => `/api/orders.csv${q}`)),
    adminEntry('/api/alerts', 'GET', () => queryString(['limit', 'cursor']).map((q) => `/api/alerts${q}`)),
    adminEntry('/api/orders/:id', 'GET', () => fc.tuple(segment(), fc.constantFrom('', '?full=1', '?full=%00', '?full=true')).map(([id, q]) => `/api/orders/${id}${q}`)),
    adminEntry('/api/orders/:id/cleanup', 'POST', () => segment().map((id) => `/api/orders/${id}/cleanup`)),
    adminEntry('/api/orders/:id/shipped', 'POST', () => segment().map((id) => `/api/orders/${id}/shipped`), () => bodyText(shippedShapes()), { trackingSlug: 'ABC' }),
    adminEntry('/api/orders/:id/cancel', 'POST', () => segment().map((id) => `/api/orders/${id}/cancel`)),
    adminEntry('/api/offline-payments', 'POST', () => fc.constant('/api/offline-payments'), () => bodyText(offlinePaymentShapes()), { orderId: '00000000-0000-0000-0000-000000000000', amountMinor: 1, currency: 'EUR', paidAt: '2026-11-25', reference: 'x' }),
    adminEntry('/api/catalog', 'GET', () => queryString(['limit']).map((q) => `/api/catalog${q}`)),
    adminEntry('/api/catalog', 'PUT', () => fc.constant('/api/catalog'), () => fc.oneof(bodyText(catalogShapes()), catalogCsv()), { products: [] }),
    adminEntry('/api/catalog/sync', 'POST', () => fc.constant('/api/catalog/sync')),
    {
      name: 'invite GET /w/invite/:token',
      api: false,
      signed: () =>
        fc
          .record({
            method: method('GET'),
            token: fc.oneof(fc.constant(ctx.inviteToken), fc.constant(ctx.inviteToken).map((t) => encodeURIComponent(t)), hex(32), segment(), fc.constantFrom(...NASTY_STRINGS).map((x) => encodeURIComponent(noSurrogates(x))), fc.nat(31).map((n) => ctx.inviteToken.slice(0, n) + 'x'.repeat(32 - n))),
            suffix: fc.constantFrom('', '/', '?next=https://evil.example', '#frag', '/..%2F..%2Fapi'),
            host: fc.option(fc.constantFrom('evil.example', 'wa.me.evil.example', 'localhost:1@evil.example'), { nil: undefined }),
          })
          .map((r) => ({ method: r.method, path: `/w/invite/${r.token}${r.suffix}`, headers: { 'x-forwarded-host': r.host, referer: r.host && `https://${r.host}/` } })),
      unsigned: () => fc.tuple(hex(32), segment()).chain(([t, seg]) => fc.constantFrom(`/w/invite/${t}`, `/w/invite/${seg}`)).map((path) => ({ method: 'GET', path })),
      examples: () => [],
      forgedStatus: [404],
    },
  ];
}

// --- checks ---------------------------------------------------------------------------------------

type Figures = { name: string; phase: string; runs: number; unbuildable: number; unrouted: number; statuses: Record<string, number>; failures: string[]; ms: number };
const figures: Figures[] = [];

/** The reasons an answer breaks the rules (empty: fine). */
function problems(entry: Entry, phase: 'signed' | 'unsigned', req: Req, a: Answer): string[] {
  const out: string[] = [];
  if (!a.routed) return out;
  if (a.status >= 500) out.push(`${a.status}: ${a.text.slice(0, 200)}`);
  if (phase === 'unsigned' && !entry.forgedStatus.includes(a.status) && !(entry.api && a.status === 405 && req.method !== 'POST')) out.push(`forged request answered ${a.status}`);
  // An empty body is no delivery (Stripe's verifier refuses to verify nothing): any 4xx will do.
  if (phase === 'signed' && !entry.api && entry.name !== 'invite GET /w/invite/:token' && a.status !== 200 && req.body !== '') out.push(`signed ${entry.name} answered ${a.status}, not 200: ${a.text.slice(0, 200)}`);
  if (entry.api && a.status >= 400 && a.status < 500) {
    let body: { error?: unknown; message?: unknown; fields?: unknown } | undefined;
    try {
      body = JSON.parse(a.text) as typeof body;
    } catch {
      out.push(`${a.status} without a JSON body: ${a.text.slice(0, 100)}`);
    }
    if (body && (typeof body.error !== 'string' || !body.error)) out.push(`${a.status} without an error: ${a.text.slice(0, 200)}`);
    if (body && a.status === 422 && !(Array.isArray(body.fields) && body.fields.length) && typeof body.message !== 'string') out.push(`422 without fields or message: ${a.text.slice(0, 200)}`);
  }
  if (entry.name.startsWith('invite')) {
    if (![302, 404, 405, 410].includes(a.status)) out.push(`invite answered ${a.status}`);
    const location = a.headers.get('location');
    if (a.status === 302 && !location?.startsWith(`https://wa.me/${biz().displayPhoneNumber}?text=`)) out.push(`invite redirected to ${location}`);
    if (a.status !== 302 && location) out.push(`invite ${a.status} with a location ${location}`);
  }
  return out;
}

async function fuzz(entry: Entry, phase: 'signed' | 'unsigned'): Promise<Figures> {
  const f: Figures = { name: entry.name, phase, runs: 0, unbuildable: 0, unrouted: 0, statuses: {}, failures: [], ms: 0 };
  const statuses: number[] = [];
  const started = performance.now();
  const check = async (req: Req) => {
    f.runs++;
    const a = await send(s(), req);
    if (!a) return void f.unbuildable++;
    if (!a.routed) f.unrouted++;
    else statuses.push(a.status);
    for (const p of problems(entry, phase, req, a)) if (f.failures.length < 10) f.failures.push(`${p}\n      ← ${describeReq(req)}`);
  };
  const arb = phase === 'signed' ? entry.signed() : entry.unsigned();
  await fc.assert(fc.asyncProperty(arb, async (req) => void (await check(req))), { seed: SEED, numRuns: RUNS, endOnFailure: true });
  if (phase === 'signed') for (const req of entry.examples()) await check(req);
  f.ms = Math.round(performance.now() - started);
  f.statuses = histogram(statuses);
  figures.push(f);
  return f;
}

afterAll(() => {
  if (!figures.length) return;
  const rows = figures.map((f) => `  ${f.name.padEnd(36)} ${f.phase.padEnd(8)} ${String(f.runs).padStart(6)} runs ${String(f.ms).padStart(7)} ms  5xx ${figures.length && Object.entries(f.statuses).filter(([k]) => Number(k) >= 500).reduce((n, [, v]) => n + v, 0)}  failures ${f.failures.length}  ${JSON.stringify(f.statuses)}`);
  console.log(`[fuzz] seed ${SEED}, ${RUNS} per entry point and phase\n${rows.join('\n')}`);
});

describe(`fuzz (seed ${SEED})`, () => {
  it('unsigned and forged requests to every entry point are refused and write nothing', async () => {
    const before = await writeProbe(s());
    const results: Figures[] = [];
    for (const entry of entries()) results.push(await fuzz(entry, 'unsigned'));
    const after = await writeProbe(s());
    expect(results.flatMap((r) => r.failures.map((x) => `${r.name}: ${x}`))).toEqual([]);
    expect(after).toEqual(before);
  });

  for (const name of ['webhook POST', 'payment-callback POST', 'create-order-proxy POST', 'admin GET /api/orders', 'admin GET /api/orders.csv', 'admin GET /api/alerts', 'admin GET /api/orders/:id', 'admin POST /api/orders/:id/cleanup', 'admin POST /api/orders/:id/shipped', 'admin POST /api/orders/:id/cancel', 'admin POST /api/offline-payments', 'admin GET /api/catalog', 'admin PUT /api/catalog', 'admin POST /api/catalog/sync', 'invite GET /w/invite/:token']) {
    it(`${name}: authorised hostile requests → no 5xx, clear 4xx`, async () => {
      const entry = entries().find((e) => e.name === name)!;
      const f = await fuzz(entry, 'signed');
      expect(f.failures).toEqual([]);
      expect(f.runs).toBeGreaterThanOrEqual(RUNS);
    });
  }

  it('the webhook handshake (GET) answers the challenge only for the verify token', async () => {
    const statuses: number[] = [];
    await fc.assert(
      fc.asyncProperty(fc.record({ mode: fc.oneof(fc.constant('subscribe'), hostileString), token: fc.oneof(fc.constant(s().env.WHATSAPP_VERIFY_TOKEN!), hostileString), challenge: hostileString.map((x) => x.slice(0, 500)) }), async (q) => {
        const params = new URLSearchParams({ 'hub.mode': q.mode.replace(/[\ud800-\udfff]/g, ''), 'hub.verify_token': q.token.replace(/[\ud800-\udfff]/g, ''), 'hub.challenge': q.challenge.replace(/[\ud800-\udfff]/g, '') });
        const a = (await send(s(), { method: 'GET', path: `/.netlify/functions/webhook?${params}` }))!;
        statuses.push(a.status);
        const right = params.get('hub.mode') === 'subscribe' && params.get('hub.verify_token') === s().env.WHATSAPP_VERIFY_TOKEN;
        expect(a.status).toBe(right ? 200 : 403);
        if (right) expect(a.text).toBe(params.get('hub.challenge')!.replace(/^\ufeff/, '')); // Response.text() drops a leading BOM
      }),
      { seed: SEED, numRuns: Math.max(50, Math.floor(RUNS / 10)) },
    );
    console.log(`[fuzz] webhook handshake: ${statuses.length} runs ${JSON.stringify(histogram(statuses))}`);
  });
});

