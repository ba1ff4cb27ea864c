import { spawn } from 'node:child_process';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../dev/stack.js';
import { upsertCatalogProduct } from '../lib/catalog/index.js';
import { RECONCILE_SQL, runReservationCleanup, type CleanupSummary } from '../lib/flows/cleanup.js';
import { db } from '../lib/db.js';
import { placeOrder, type Order } from '../lib/orders/place.js';
import { ensureCheckoutSession } from '../lib/orders/payment-link.js';
import { redis } from '../lib/redis.js';
import { availableStock } from '../lib/stock/index.js';
import { newCustomer, sentTo, useStack } from './support/stack.js';

/**
 * The scheduled reservation cleanup, invoked over HTTP as the local runtime does
 * (POST /.netlify/functions/reservation-cleanup), against real Postgres + Redis and the Stripe
 * stand-in. Orders are set up through lib/placeOrder (1000 over HTTP would only be slow); a hold
 * "lapses" by moving its expiry into the past in Redis (expiry index, per-SKU index, hash) and
 * in Postgres, exactly where the hold's own expiry would have put it.
 */

const stack = useStack();

async function runCleanup(): Promise<CleanupSummary> {
  for (let attempt = 1; ; attempt++) {
    const r = await fetch(`${stack().url}/.netlify/functions/reservation-cleanup`, { method: 'POST' });
    const text = await r.text();
    // The local runtime's builds live in the shared .netlify/functions-serve; another test process
    // starting its stack rebuilds them, and an invocation in that instant cannot load the function
    // (it never ran). Only that answer is retried.
    if (r.status === 500 && attempt < 30 && /Cannot find (module|package) .*\.netlify\/functions-serve/.test(text)) {
      await new Promise((res) => setTimeout(res, 1_000));
      continue;
    }
    expect(r.status, text).toBe(200);
    return JSON.parse(text) as CleanupSummary;
  }
}

let sourceCounter = 0;
async function order(lines: { sku: string; quantity: number }[]): Promise<Order> {
  const waId = newCustomer('4477');
  const result = await placeOrder({
    customer: { waId, userId: null, profileName: null },
    source: 'api',
    sourceKey: `cleanup-test:${process.pid}:${++sourceCounter}`,
    lines,
  });
  if (result.status !== 'created') throw new Error(`placeOrder: ${result.status}`);
  return result.order;
}

async function ordersInParallel(n: number, lines: (i: number) => { sku: string; quantity: number }[], concurrency = 25): Promise<Order[]> {
  const out: Order[] = new Array(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        const i = next++;
        out[i] = await order(lines(i));
      }
    }),
  );
  return out;
}

/** Moves a hold's expiry (and the order's) a minute into the past, as if its time had run out. */
async function lapse(o: Order): Promise<void> {
  const past = Date.now() - 60_000;
  await db()`UPDATE orders SET hold_expires_at = ${new Date(past).toISOString()} WHERE id = ${o.id}`;
  await redis().zadd('holds:exp', { xx: true }, { score: past, member: o.id });
  for (const item of o.items) await redis().zadd(`holds:sku:${item.sku}`, { xx: true }, { score: past, member: o.id });
  await redis().hset(`hold:${o.id}`, { exp: past });
}

const qtyBySku = (orders: Order[]) => {
  const m = new Map<string, number>();
  for (const o of orders) for (const i of o.items) m.set(i.sku, (m.get(i.sku) ?? 0) + i.quantity);
  return m;
};

function plus(base: Map<string, number>, add: Map<string, number>): Map<string, number> {
  const out = new Map(base);
  for (const [sku, q] of add) out.set(sku, (out.get(sku) ?? 0) + q);
  return out;
}

const statusOf = async (ids: string[]) =>
  Object.fromEntries((await db()`SELECT id, payment_status FROM orders WHERE id = ANY(${ids}::uuid[])`).map((r) => [r.id as string, r.payment_status as string]));
const holdState = (id: string) => redis().hget<string>(`hold:${id}`, 'state');
const sessionOf = (o: Order) => stack().stripe.sessions().find((s) => s.client_reference_id === o.id);
const SKUS = ['CL-A', 'CL-B', 'CL-C'];

beforeAll(async () => {
  for (const sku of SKUS) await upsertCatalogProduct({ sku, name: `Cleanup ${sku}`, priceMinor: 500, currency: 'EUR', stock: 5000 });
  await upsertCatalogProduct({ sku: 'FL-A', name: 'Flush A', priceMinor: 700, currency: 'EUR', stock: 100 });
  await upsertCatalogProduct({ sku: 'FL-B', name: 'Flush B', priceMinor: 900, currency: 'EUR', stock: 60 });
  // Warm-up (the local runtime's first invocation waits for the build); nothing to clean yet.
  expect(await runCleanup()).toMatchObject({ expired: 0, released: 0, reconciled: 0, failed: 0 });
}, 120_000);

describe('reservation-cleanup', () => {
  let live: Order[] = [];

  it('expires exactly the 5 lapsed holds among 1000: their stock returns, their sessions expire, the rest stays', async () => {
    const all = await ordersInParallel(1000, (i) => [{ sku: SKUS[i % 3]!, quantity: 1 + (i % 3) }]);
    const lapsing = [all[17]!, all[230]!, all[501]!, all[777]!, all[998]!];
    live = all.filter((o) => !lapsing.includes(o));
    const liveWithSession = live.slice(0, 5);
    for (const o of [...lapsing, ...liveWithSession]) await ensureCheckoutSession(o);
    for (const o of lapsing) await lapse(o);
    const before = await availableStock(SKUS);
    const eventsBefore = Number((await db()`SELECT count(*)::int AS n FROM order_events WHERE order_id = ANY(${lapsing.map((o) => o.id)}::uuid[])`)[0]!.n);

    const summary = await runCleanup();
    expect(summary).toMatchObject({ expired: 5, released: 5, stripeExpired: 5, settled: 0, reconciled: 0, skipped: 0, failed: 0, truncated: false });
    expect(summary.durationMs).toBeGreaterThanOrEqual(0);

    // Exactly the lapsed units came back.
    expect(await availableStock(SKUS)).toEqual(plus(before, qtyBySku(lapsing)));
    const statuses = await statusOf(all.map((o) => o.id));
    for (const o of lapsing) {
      expect(statuses[o.id]).toBe('expired');
      expect(await holdState(o.id)).toBe('released');
      expect(sessionOf(o)!.status).toBe('expired');
      expect(await redis().zscore('holds:exp', o.id)).toBeNull();
    }
    const events = await db()`SELECT order_id, type FROM order_events WHERE order_id = ANY(${lapsing.map((o) => o.id)}::uuid[]) ORDER BY id`;
    expect(events.length).toBe(eventsBefore + 5);
    expect(events.filter((e) => e.type === 'expired').map((e) => e.order_id).sort()).toEqual(lapsing.map((o) => o.id).sort());
    // The other 995 are untouched: pending, held, still indexed with a future expiry, sessions open.
    expect(live.filter((o) => statuses[o.id] !== 'pending')).toEqual([]);
    const states = await Promise.all(live.map((o) => holdState(o.id)));
    expect(states.filter((s) => s !== 'held')).toEqual([]);
    const scores = (await redis().zmscore('holds:exp', live.map((o) => o.id))) as (number | null)[];
    expect(scores.filter((s) => s === null || s < Date.now())).toEqual([]);
    for (const o of liveWithSession) expect(sessionOf(o)!.status).toBe('open');

    // Each customer is told once, and a second run finds nothing to do.
    await new Promise((r) => setTimeout(r, 300));
    for (const o of lapsing) expect(sentTo(stack(), o.customerWaId!)).toHaveLength(1);
    const again = await runCleanup();
    expect(again).toMatchObject({ expired: 0, released: 0, stripeExpired: 0, reconciled: 0 });
    expect(await availableStock(SKUS)).toEqual(plus(before, qtyBySku(lapsing)));
    for (const o of lapsing) expect(sentTo(stack(), o.customerWaId!)).toHaveLength(1);
  }, 180_000);

  it('more lapsed orders than a batch: one run closes them a batch at a time, each released and told once (issue 30)', async () => {
    const lapsing = await ordersInParallel(7, (i) => [{ sku: SKUS[i % 3]!, quantity: 1 }], 7);
    for (const o of lapsing) await ensureCheckoutSession(o);
    for (const o of lapsing) await lapse(o);
    const before = await availableStock(SKUS);
    const summary = await runReservationCleanup({ batchSize: 3 });
    expect(summary).toMatchObject({ expired: 7, released: 7, stripeExpired: 7, failed: 0, truncated: false });
    expect(await availableStock(SKUS)).toEqual(plus(before, qtyBySku(lapsing)));
    expect(Object.values(await statusOf(lapsing.map((o) => o.id)))).toEqual(Array(7).fill('expired'));
    for (const o of lapsing) expect(sentTo(stack(), o.customerWaId!)).toHaveLength(1);
  }, 60_000);

  it('two cleanups racing each other and payments arriving mid-run: nothing released twice, no paid order released', async () => {
    const batch = await ordersInParallel(6, (i) => [{ sku: SKUS[i % 3]!, quantity: 2 }], 6);
    for (const o of batch) await ensureCheckoutSession(o);
    const [paidEarly, payingNow, ...plain] = batch as [Order, Order, ...Order[]];
    // paidEarly: the customer paid at Stripe, but the webhook has not reached us yet.
    const webhookUrl = `${stack().url}/.netlify/functions/payment-callback`;
    stack().stripe.setWebhookUrl(null);
    const held = await fetch(`${stack().stripe.url}/_standin/sessions/${sessionOf(paidEarly)!.id}/complete`, { method: 'POST', body: '{}' });
    const { eventId } = (await held.json()) as { eventId: string };
    stack().stripe.setWebhookUrl(webhookUrl);
    for (const o of batch) await lapse(o);
    const before = await availableStock(SKUS);

    // Two cleanup runs, the delayed webhook for paidEarly, and payingNow paying at this very moment.
    const [a, b, redelivery, paying] = await Promise.all([
      runCleanup(),
      runCleanup(),
      fetch(`${stack().stripe.url}/_standin/events`, { method: 'POST', body: JSON.stringify({ id: eventId }) }),
      fetch(`${stack().stripe.url}/_standin/sessions/${sessionOf(payingNow)!.id}/complete`, { method: 'POST', body: '{}' }),
    ]);
    expect(redelivery.status).toBe(200);
    const statuses = await statusOf(batch.map((o) => o.id));
    // payingNow either paid first (Stripe then refuses to expire it) or its session expired first (Stripe refused the payment).
    const payingNowPaid = paying.status === 200;
    expect(statuses[paidEarly.id]).toBe('paid');
    expect(statuses[payingNow.id]).toBe(payingNowPaid ? 'paid' : 'expired');
    for (const o of plain) expect(statuses[o.id]).toBe('expired');

    // The paid orders' units stay sold; every other lapsed unit came back exactly once.
    const released = payingNowPaid ? plain : [...plain, payingNow];
    expect(await availableStock(SKUS)).toEqual(plus(before, qtyBySku(released)));
    expect(await holdState(paidEarly.id)).toBe('committed');
    expect(await holdState(payingNow.id)).toBe(payingNowPaid ? 'committed' : 'released');
    expect(a.expired + b.expired).toBe(released.length);
    expect(a.released + b.released).toBe(released.length);
    expect(a.failed + b.failed).toBe(0);
    expect(sessionOf(paidEarly)!.status).toBe('complete');
    for (const o of released) expect(sessionOf(o)!.status).toBe('expired');
    // Nobody whose order was paid is told their hold lapsed (the paid ones get their confirmation instead).
    const expiryNotices = await db()`
      SELECT order_id FROM outbound_messages WHERE order_id = ANY(${batch.map((o) => o.id)}::uuid[]) AND kind = 'order_closed'`;
    expect(expiryNotices.map((r) => r.order_id).sort()).toEqual(released.map((o) => o.id).sort());
  }, 120_000);

  it('a session Stripe reports paid whose webhook never came: the cleanup takes the payment path, not the release', async () => {
    const [paid, unpaid] = await ordersInParallel(2, () => [{ sku: 'CL-C', quantity: 3 }], 2);
    for (const o of [paid!, unpaid!]) await ensureCheckoutSession(o);
    const webhookUrl = `${stack().url}/.netlify/functions/payment-callback`;
    stack().stripe.setWebhookUrl(null); // the customer pays; Stripe's webhook gets lost
    try {
      const r = await fetch(`${stack().stripe.url}/_standin/sessions/${sessionOf(paid!)!.id}/complete`, { method: 'POST', body: '{}' });
      expect(r.status).toBe(409); // completed at Stripe, delivery impossible
    } finally {
      stack().stripe.setWebhookUrl(webhookUrl);
    }
    for (const o of [paid!, unpaid!]) await lapse(o);
    const before = await availableStock(['CL-C']);

    const summary = await runCleanup();
    expect(summary).toMatchObject({ settled: 1, expired: 1, released: 1, stripeExpired: 1, failed: 0 });
    expect(await statusOf([paid!.id, unpaid!.id])).toEqual({ [paid!.id]: 'paid', [unpaid!.id]: 'expired' });
    expect(await holdState(paid!.id)).toBe('committed');
    expect(await availableStock(['CL-C'])).toEqual(new Map([['CL-C', before.get('CL-C')! + 3]]));
    const kinds = await db()`SELECT kind FROM outbound_messages WHERE order_id = ${paid!.id}`;
    expect(kinds.map((k) => k.kind)).not.toContain('order_closed');
  });

  it('after a Redis flush, stock:sync + cleanup restore the exact available counts', async () => {
    const flushLive = await ordersInParallel(8, (i) => [{ sku: i % 2 ? 'FL-A' : 'FL-B', quantity: 1 + (i % 4) }], 8);
    const flushLapsed = await ordersInParallel(4, (i) => [{ sku: 'FL-A', quantity: 2 }, { sku: 'FL-B', quantity: i + 1 }], 4);
    for (const o of flushLapsed) await lapse(o);
    const onHand = { 'FL-A': 100, 'FL-B': 60 };
    const liveQty = qtyBySku(flushLive);
    const expected = new Map(Object.entries(onHand).map(([sku, n]) => [sku, n - (liveQty.get(sku) ?? 0)]));

    await redis().flushall();
    // A lost counter reads as "unknown": the first read rebuilds it (and the live holds) from Postgres.
    expect(await availableStock(['FL-A', 'FL-B'])).toEqual(expected);

    // npm run stock:sync, as an operator would run it.
    const sync = spawn(path.join(projectRoot, 'node_modules/.bin/tsx'), ['scripts/stock-sync.ts'], {
      cwd: projectRoot,
      env: { ...process.env, ...stack().env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    sync.stdout!.on('data', (d) => (output += d));
    sync.stderr!.on('data', (d) => (output += d));
    expect(await new Promise((resolve) => sync.once('exit', resolve))).toBe(0);
    expect(output).toContain('stock synced');
    // Live holds are back; the lapsed ones were not restored, so their units already count as available.
    expect(await availableStock(['FL-A', 'FL-B'])).toEqual(expected);
    for (const o of flushLive) expect(await holdState(o.id)).toBe('held');
    for (const o of flushLapsed) expect(await holdState(o.id)).toBeNull();

    const summary = await runCleanup();
    expect(summary.reconciled).toBe(flushLapsed.length);
    expect(summary.expired).toBe(0);
    expect(summary.released).toBe(0);
    // Every placed order has its Checkout Session (placeOrder writes the order with it): each lapsed one is expired.
    expect(summary.stripeExpired).toBe(flushLapsed.length);
    expect(await availableStock(['FL-A', 'FL-B'])).toEqual(expected);
    const statuses = await statusOf([...flushLive, ...flushLapsed].map((o) => o.id));
    for (const o of flushLapsed) expect(statuses[o.id]).toBe('expired');
    for (const o of flushLive) expect(statuses[o.id]).toBe('pending');
    for (const o of flushLapsed) expect(sessionOf(o)!.status).toBe('expired');

    // Idempotent: another run changes nothing.
    expect(await runCleanup()).toMatchObject({ reconciled: 0, expired: 0, released: 0 });
    expect(await availableStock(['FL-A', 'FL-B'])).toEqual(expected);
  }, 120_000);

  it('a Stripe event recorded but never processed is re-driven through the Stripe flow (lib/flows/stripe-event.ts)', async () => {
    const id = `evt_redrive_${process.pid}_${Date.now()}`;
    const event = { id, object: 'event', type: 'customer.created', data: { object: { id: 'cus_1', object: 'customer' } } };
    await db()`
      INSERT INTO inbound_events (source, external_id, kind, payload, received_at)
      VALUES ('stripe', ${id}, ${event.type}, ${JSON.stringify(event)}::jsonb, now() - interval '5 minutes')`;
    const summary = await runCleanup();
    expect(summary.redriven).toBeGreaterThanOrEqual(1);
    const [row] = await db()`SELECT processed_at, outcome FROM inbound_events WHERE source = 'stripe' AND external_id = ${id}`;
    expect(row!.processed_at).not.toBeNull();
    expect(row!.outcome).toBe('ignored: unhandled type customer.created');
  });

  it('the reconcile query uses the partial index orders_open_by_expiry', async () => {
    await db()`ANALYZE orders`;
    const plan = await db().query(`EXPLAIN ${RECONCILE_SQL}`, [100]);
    expect(plan.map((r) => r['QUERY PLAN']).join('\n')).toContain('orders_open_by_expiry');
  });
});
