/**
 * The flows `npm run bench` measures and tests/round-trips.test.ts counts, with the floor
 * (the fewest round trips per system the flow must make) and today's ceiling where the code is
 * above the floor (adding a trip fails the test; docs/benchmarks.md "Round trips" says why each gap remains).
 */
import { newPhone, type ShopDriver, type Trips } from './driver.js';

export const SKUS = ['BENCH-1', 'BENCH-2', 'BENCH-3'] as const;

/** Seeds the SKUs the flows order (plenty of stock, so the flows never run out). */
export async function seedBenchCatalog(stock = 1_000_000): Promise<void> {
  const { upsertCatalogProduct } = await import('../lib/catalog/index.js');
  for (const [i, sku] of SKUS.entries()) await upsertCatalogProduct({ sku, name: `Bench tea ${i + 1}`, priceMinor: 1000 + i * 250, currency: 'EUR', stock });
}

type Request = [string, RequestInit];
type Limit = Partial<Trips>;

export type Flow<C = unknown> = {
  key: string;
  name: string;
  /** Not counted nor timed: what must exist before the request (a paid order, a recorded message). */
  setup?: (d: ShopDriver) => Promise<C>;
  request: (d: ShopDriver, ctx: C) => Request;
  /** Checks the answer (and effects) of one run; throws when the flow did not do its job. */
  check?: (d: ShopDriver, ctx: C, status: number, body: string) => Promise<void> | void;
  /** Latency runs, when not BENCH_RUNS (a batch of 20 is 20 conversations per run). */
  runs?: number;
  /** false: no throughput runs (a batch is its own load; concurrent cleanups share each other's work). */
  throughput?: false;
  /** Variables set while this flow runs (e.g. BACKEND_MODE=proxy). */
  env?: (d: ShopDriver) => Record<string, string>;
  /** The floor, before the 200 and in total (absent system: no target). */
  floor: { before200?: Limit; total?: Limit };
  /** Today's counts where they are above the floor, or where the issue sets none: a test fails above them. */
  ceiling: { before200?: Limit; total?: Limit };
};

/** Issue 30: every webhook answers after ONE round trip that makes the event durable (the Postgres insert, its unique key the dedupe). */
const INBOUND_ACK: Limit = { postgres: 1, redis: 0, stripe: 0, graph: 0 };
const ok = (expected: number) => (_d: ShopDriver, _c: unknown, status: number, body: string) => {
  if (status !== expected) throw new Error(`answered ${status}, expected ${expected}: ${body.slice(0, 200)}`);
};
const lastMessageTo = (d: ShopDriver, to: string) => d.stack.graph!.messages({ to, status: 'accepted' }).at(-1)?.body as { type?: string; interactive?: { type?: string } } | undefined;
const expectMessage = (kind: string) => (d: ShopDriver, c: { from: string }, status: number, body: string) => {
  ok(200)(d, c, status, body);
  const m = lastMessageTo(d, c.from);
  const got = m?.interactive?.type ?? m?.type;
  if (got !== kind) throw new Error(`${c.from} got ${got ?? 'nothing'}, expected ${kind}`);
};
const fresh = async () => ({ from: newPhone() });

function def<C>(f: Flow<C>): Flow {
  return f as unknown as Flow;
}

export const flows: Flow[] = [
  def({
    key: 'menu', name: 'inbound text "menu" → catalog list',
    setup: fresh,
    request: (d, c) => d.inbound([{ from: c.from, text: 'menu' }]),
    check: expectMessage('list'),
    floor: { before200: INBOUND_ACK, total: { postgres: 2, redis: 1, stripe: 0, graph: 1 } },
    ceiling: {},
  }),
  def({
    key: 'list-reply', name: 'list reply (a product) → quantity buttons',
    setup: fresh,
    request: (d, c) => d.inbound([{ from: c.from, interactive: { type: 'list_reply', id: `variant:${SKUS[0]}`, title: 'Bench tea 1' } }]),
    check: expectMessage('button'),
    floor: { before200: INBOUND_ACK, total: { postgres: 2, redis: 1, stripe: 0, graph: 1 } },
    ceiling: {},
  }),
  def({
    key: 'button-reply', name: 'button reply (quantity) → hold + Checkout + payment link',
    setup: fresh,
    request: (d, c) => d.inbound([{ from: c.from, interactive: { type: 'button_reply', id: `qty:2:${SKUS[0]}`, title: '2' } }]),
    check: expectMessage('cta_url'),
    floor: { before200: INBOUND_ACK, total: { postgres: 3, redis: 1, stripe: 1, graph: 1 } },
    ceiling: {},
  }),
  def({
    key: 'buy-text', name: 'inbound text "buy …" → hold + Checkout + payment link',
    setup: fresh,
    request: (d, c) => d.inbound([{ from: c.from, text: 'buy bench tea 2' }]),
    check: expectMessage('cta_url'),
    floor: { before200: INBOUND_ACK, total: { postgres: 3, redis: 1, stripe: 1, graph: 1 } },
    ceiling: {},
  }),
  def({
    key: 'catalog-order', name: '3-line catalog order → hold + Checkout + payment link',
    setup: fresh,
    request: (d, c) =>
      d.inbound([{ from: c.from, order: { catalog_id: '1', product_items: SKUS.map((sku, i) => ({ product_retailer_id: sku, quantity: i + 1, item_price: 10 + i * 2.5, currency: 'EUR' })) } }]),
    check: expectMessage('cta_url'),
    floor: { before200: INBOUND_ACK, total: { postgres: 3, redis: 1, stripe: 1, graph: 1 } },
    ceiling: {},
  }),
  def({
    key: 'replay', name: 'replayed wamid (already recorded), whole request',
    setup: async (d) => {
      const req = d.inbound([{ from: newPhone(), text: 'help' }]);
      const first = await d.timed(...req);
      if (first.status !== 200) throw new Error(`first delivery answered ${first.status}`);
      return { req };
    },
    request: (_d, c) => c.req,
    check: (_d, _c, status, body) => {
      ok(200)(_d, _c, status, body);
      if (!body.includes('"new":0')) throw new Error(`a replay was recorded again: ${body}`);
    },
    floor: { before200: INBOUND_ACK, total: { postgres: 1, redis: 0, stripe: 0, graph: 0 } },
    ceiling: {},
  }),
  def({
    key: 'batch-20', name: 'a batch of 20 messages (20 customers, "menu") in one POST',
    setup: async () => ({ froms: Array.from({ length: 20 }, () => newPhone()) }),
    request: (d, c) => d.inbound(c.froms.map((from) => ({ from, text: 'menu' }))),
    check: (d, c, status, body) => {
      ok(200)(d, c, status, body);
      const missing = c.froms.filter((f) => lastMessageTo(d, f)?.interactive?.type !== 'list');
      if (missing.length) throw new Error(`${missing.length} of 20 got no list`);
    },
    runs: 3,
    throughput: false,
    floor: { before200: INBOUND_ACK },
    ceiling: { total: { postgres: 21, redis: 1, stripe: 0, graph: 20 } },
  }),
  def({
    key: 'paid', name: 'Stripe paid → confirmation + invite link',
    setup: async (d) => {
      const o = await d.placeOrder(SKUS[1]);
      return { ...o, payload: await d.paySession(o.sessionId) };
    },
    request: (d, c) => d.stripeEvent(c.payload),
    check: async (d, c, status, body) => {
      ok(200)(d, c, status, body);
      const sent = d.stack.graph!.messages({ to: c.from, status: 'accepted' });
      if (sent.length < 3) throw new Error(`${c.from} got ${sent.length} messages, expected link + confirmation + invite`);
    },
    floor: { before200: INBOUND_ACK, total: { postgres: 3, redis: 2, stripe: 0, graph: 2 } },
    ceiling: {},
  }),
  def({
    key: 'invite', name: 'invite redirect (GET /w/invite/:token)',
    setup: (d) => d.paidOrder(SKUS[2]),
    request: (_d, c) => [`/w/invite/${c.token}`, { method: 'GET', redirect: 'manual' }],
    check: ok(302),
    floor: { total: { postgres: 1, redis: 0, stripe: 0, graph: 0 } },
    ceiling: {},
  }),
  def({
    key: 'order-api-inline', name: 'order API create (BACKEND_MODE=inline)',
    request: (d) => d.orderApi({ customerPhone: `+${newPhone('4916')}`, customerName: 'Ada', items: [{ sku: SKUS[0], quantity: 1 }] }),
    check: ok(201),
    env: () => ({ BACKEND_MODE: 'inline' }),
    floor: { total: { postgres: 2, redis: 1, stripe: 1, graph: 0 } },
    ceiling: { before200: { postgres: 2, redis: 1, stripe: 1, graph: 0 } },
  }),
  def({
    key: 'order-api-proxy', name: 'order API create (BACKEND_MODE=proxy → dedicated backend)',
    request: (d) => d.orderApi({ customerPhone: `+${newPhone('4916')}`, customerName: 'Ada', items: [{ sku: SKUS[0], quantity: 1 }] }),
    check: ok(201),
    env: () => ({ BACKEND_MODE: 'proxy' }),
    floor: { total: { postgres: 2, redis: 1, stripe: 1, graph: 0 } },
    ceiling: { before200: { postgres: 2, redis: 2, stripe: 1, graph: 0 }, total: { redis: 2 } },
  }),
  def({
    key: 'shipped', name: 'admin: order shipped (notice to the customer)',
    setup: (d) => d.paidOrder(SKUS[2]),
    request: (d, c) => d.admin(`/api/orders/${c.orderId}/shipped`, 'POST', { trackingSlug: 'T-12345', carrier: 'DHL' }),
    check: ok(200),
    // Issue 30: ≤ 2 Postgres trips before the answer (the stored answer and the order; the shipping statement); the notice after it.
    floor: { before200: { postgres: 2, redis: 0, stripe: 0, graph: 0 } },
    ceiling: { total: { postgres: 3, redis: 0, stripe: 0, graph: 1 } },
  }),
  def({
    key: 'cancel-pending', name: 'admin: cancel an unpaid order (expire Session, release, tell)',
    setup: (d) => d.placeOrder(SKUS[2]),
    request: (d, c) => d.admin(`/api/orders/${c.orderId}/cancel`, 'POST'),
    check: ok(200),
    // Issue 30: ≤ 2 Postgres trips before the answer (the stored answer and the order; the close with the answer).
    floor: { before200: { postgres: 2, redis: 1, stripe: 1, graph: 0 } },
    ceiling: { total: { postgres: 4, redis: 1, stripe: 1, graph: 1 } },
  }),
  def({
    key: 'cancel-paid', name: 'admin: cancel a paid order (refund, tell)',
    setup: (d) => d.paidOrder(SKUS[2]),
    request: (d, c) => d.admin(`/api/orders/${c.orderId}/cancel`, 'POST'),
    check: ok(200),
    // Issue 30: ≤ 2 Postgres trips before the answer (the stored answer and the order read by the statement deciding the
    // refund; the refund recorded with the answer and the notice after Stripe's refund); the notice after it.
    floor: { before200: { postgres: 2, stripe: 1, graph: 0 } },
    ceiling: { before200: { redis: 1 }, total: { postgres: 4, redis: 1, stripe: 1, graph: 1 } },
  }),
  def({
    key: 'offline-payment', name: 'admin: offline payment of an unpaid order (confirm, tell)',
    setup: async (d) => {
      const o = await d.placeOrder(SKUS[2]);
      const { db } = await import('../lib/db.js');
      const [row] = await db()`SELECT total_minor, currency FROM orders WHERE id = ${o.orderId}`;
      return { ...o, amountMinor: Number(row!.total_minor), currency: String(row!.currency).trim() };
    },
    request: (d, c) => d.admin('/api/offline-payments', 'POST', { orderId: c.orderId, amountMinor: c.amountMinor, currency: c.currency, paidAt: new Date().toISOString(), reference: `BANK-${c.orderId}` }),
    check: ok(200),
    // Issue 30: ≤ 2 Postgres trips before the answer (the stored answer, the payment of the reference and the order; the
    // order paid with the payment row, its notice and the answer); the notices after it.
    floor: { before200: { postgres: 2, stripe: 1, graph: 0 } },
    ceiling: { before200: { redis: 1 }, total: { postgres: 6, redis: 1, stripe: 1, graph: 3 } },
  }),
  def({
    key: 'cleanup-idle', name: 'scheduled cleanup, nothing lapsed',
    request: () => ['/.netlify/functions/reservation-cleanup', { method: 'POST' }],
    check: ok(200),
    throughput: false,
    // Issue 30: the run's checks share one Postgres statement and one Redis request (lib/flows/cleanup.ts).
    floor: { total: { postgres: 1, redis: 1, stripe: 0, graph: 0 } },
    ceiling: { total: { postgres: 1, redis: 1, stripe: 0, graph: 0 } },
  }),
  def({
    key: 'cleanup-one', name: 'scheduled cleanup, one lapsed hold (expire Session, release, tell)',
    setup: async (d) => {
      const o = await d.placeOrder(SKUS[0]);
      await lapse([o.orderId]);
      return o;
    },
    request: () => ['/.netlify/functions/reservation-cleanup', { method: 'POST' }],
    check: (d, c, status, body) => {
      ok(200)(d, c, status, body);
      if (!body.includes('"expired":1')) throw new Error(`expected one order expired: ${body}`);
    },
    throughput: false,
    floor: {},
    // A batch (lib/orders/close-lapsed.ts): read, closing statement, send outcomes + the run's one statement;
    // the index + the release script. The same for 50 lapsed orders (tests/round-trips.test.ts "at scale").
    ceiling: { total: { postgres: 4, redis: 2, stripe: 1, graph: 1 } },
  }),
];

/** Makes these orders' holds lapse now (Postgres and Redis), as if their time ran out. */
export async function lapse(orderIds: string[], at = Date.now() - 1000): Promise<void> {
  const { db } = await import('../lib/db.js');
  const { redis } = await import('../lib/redis.js');
  await db()`UPDATE orders SET hold_expires_at = ${new Date(at).toISOString()} WHERE id = ANY(${orderIds}::uuid[])`;
  const p = redis().pipeline();
  for (const id of orderIds) {
    p.hset(`hold:${id}`, { exp: String(at) });
    p.zadd('holds:exp', { score: at, member: id });
  }
  await p.exec();
  const skus = await db()`SELECT DISTINCT i->>'sku' AS sku FROM orders, jsonb_array_elements(items) i WHERE id = ANY(${orderIds}::uuid[])`;
  const q = redis().pipeline();
  for (const { sku } of skus) for (const id of orderIds) q.zadd(`holds:sku:${sku}`, { xx: true }, { score: at, member: id });
  await q.exec();
}
