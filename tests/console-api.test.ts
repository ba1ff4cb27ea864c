import { beforeAll, describe, expect, it, vi } from 'vitest';
import { getOrderView } from '../lib/admin/order-view.js';
import { seededStatus, seededTotalMinor, seedOrders } from '../dev/seed-orders.js';
import { upsertCatalogProduct } from '../lib/catalog/index.js';
import { db } from '../lib/db.js';
import { placeOrder } from '../lib/orders/place.js';
import { availableStock } from '../lib/stock/index.js';
import { newCustomer, useStack } from './support/stack.js';

/**
 * The console's API: GET /api/orders (filters, cursor pages, totals, one Postgres round trip),
 * GET /api/orders.csv (streamed, escaped), GET /api/alerts, POST /api/orders/:id/cleanup.
 * Orders are seeded in bulk straight into Postgres (dev/seed-orders.ts), each test in its own
 * window of creation times, so the tests' expectations are computed, never copied.
 */

const stack = useStack();
const api = (path: string) => `${stack().url}/api${path}`;
const auth = () => ({ authorization: `Bearer ${stack().env.ADMIN_API_KEY}` });

async function get(path: string, headers: Record<string, string> = auth()) {
  const r = await fetch(api(path), { headers });
  const text = await r.text();
  return { status: r.status, headers: r.headers, text, body: r.headers.get('content-type')?.includes('json') ? JSON.parse(text) : null };
}
const post = async (path: string) => {
  const r = await fetch(api(path), { method: 'POST', headers: auth() });
  return { status: r.status, body: await r.json() };
};

const qs = (q: Record<string, string | number | undefined>) =>
  '?' + new URLSearchParams(Object.entries(q).filter(([, v]) => v !== undefined).map(([k, v]) => [k, String(v)])).toString();

/** 70 orders, one a minute back from `newest`, over 3 customers (the first with a formula-like name). */
const N = 70;
const NEWEST = new Date('2024-03-10T12:00:00.000Z');
const WINDOW = { createdFrom: '2024-03-10T10:00:00Z', createdTo: '2024-03-10T12:00:01Z' };
const customers = [
  { waId: newCustomer('4930'), name: '=HYPERLINK("http://x","pay")' },
  { waId: newCustomer('4930'), name: 'Müller, "Hans"' },
  { waId: newCustomer('4930'), name: null },
];
const seeded = Array.from({ length: N }, (_, g) => ({
  g,
  reference: `LIST${String(g).padStart(6, '0')}`,
  customer: customers[g % 3]!,
  payment: seededStatus(g)[0],
  fulfillment: seededStatus(g)[1],
  totalMinor: seededTotalMinor(g),
}));
/** The three orders created at the same instant as LIST000030 (each is its seed's g = 0: paid, 10.00, customers[0]). */
const ties = ['TIEA', 'TIEB', 'TIEC'].map((p) => ({ g: 30, reference: `${p}000000`, customer: customers[0]!, payment: 'paid', fulfillment: 'unfulfilled', totalMinor: 1000 }));
const all = [...seeded, ...ties];

beforeAll(async () => {
  await seedOrders({ count: N, prefix: 'LIST', customers, newest: NEWEST, stepMs: 60_000 });
  // Three more orders at the very same instant: pages must neither skip nor repeat ties.
  await seedOrders({ count: 1, prefix: 'TIEA', customers, newest: new Date('2024-03-10T11:30:00.000Z') });
  await seedOrders({ count: 1, prefix: 'TIEB', customers, newest: new Date('2024-03-10T11:30:00.000Z') });
  await seedOrders({ count: 1, prefix: 'TIEC', customers, newest: new Date('2024-03-10T11:30:00.000Z') });
  await upsertCatalogProduct({ sku: 'CON-1', name: 'Console tea', priceMinor: 500, currency: 'EUR', stock: 50 });
});

describe('authentication', () => {
  it.each([
    ['GET', '/orders'],
    ['GET', '/orders.csv'],
    ['GET', '/alerts'],
    ['POST', '/orders/00000000-0000-4000-8000-000000000000/cleanup'],
  ])('%s %s answers 401 JSON and no data without the right key', async (method, path) => {
    for (const headers of [{}, { authorization: 'Bearer wrong' }] as Record<string, string>[]) {
      const r = await fetch(api(path), { method, headers });
      expect(r.status).toBe(401);
      expect(await r.json()).toEqual({ error: 'unauthorized', message: expect.any(String) });
    }
  });
});

describe('GET /api/orders', () => {
  it('filters by payment status in a range: newest first, totals per status for the whole range, in ONE Postgres round trip', async () => {
    const before = stack().neonBridge!.stats.requests;
    const r = await get(`/orders${qs({ ...WINDOW, paymentStatus: 'paid', limit: 5 })}`);
    expect(stack().neonBridge!.stats.requests - before).toBe(1);
    expect(r.status).toBe(200);

    const paid = all.filter((o) => o.payment === 'paid');
    expect(r.body.orders.map((o: { reference: string }) => o.reference)).toEqual(paid.slice(0, 5).map((o) => o.reference));
    expect(r.body.orders[0]).toMatchObject({
      paymentStatus: 'paid', fulfillmentStatus: 'unfulfilled', totalMinor: 1000, currency: 'EUR', total: '€10.00', items: '1 × Seed tea',
      customer: { name: customers[0]!.name },
    });
    expect(r.body.orders[0].customer.phone).toMatch(/^\+\d\d\*+\d{4}$/);
    expect(r.text).not.toContain(customers[0]!.waId);
    expect(r.body.nextCursor).toEqual(expect.any(String));

    const sum = (xs: typeof all) => xs.reduce((s, o) => s + o.totalMinor, 0);
    expect(r.body.totals.byCurrency).toEqual([{ currency: 'EUR', count: paid.length, sumMinor: sum(paid), sum: expect.stringMatching(/^€/) }]);
    expect(r.body.totals.paymentStatus).toEqual([{ status: 'paid', currency: 'EUR', count: paid.length, sumMinor: sum(paid), sum: expect.any(String) }]);
    const shipped = paid.filter((o) => o.fulfillment === 'shipped');
    expect(r.body.totals.fulfillmentStatus).toEqual([
      { status: 'shipped', currency: 'EUR', count: shipped.length, sumMinor: sum(shipped), sum: expect.any(String) },
      { status: 'unfulfilled', currency: 'EUR', count: paid.length - shipped.length, sumMinor: sum(paid) - sum(shipped), sum: expect.any(String) },
    ]);
  });

  it('totals for a range without a status filter: every status with its count and sum', async () => {
    const r = await get(`/orders${qs({ createdFrom: '2024-03-10T10:00:00Z', createdTo: '2024-03-10T11:00:00Z', limit: 1 })}`);
    // created = NEWEST − g minutes; [10:00, 11:00) holds g = 61..69 and g = 60 is 11:00 itself (excluded).
    const inRange = seeded.filter((o) => o.g > 60);
    const byStatus = new Map<string, { count: number; sumMinor: number }>();
    for (const o of inRange) {
      const t = byStatus.get(o.payment) ?? { count: 0, sumMinor: 0 };
      byStatus.set(o.payment, { count: t.count + 1, sumMinor: t.sumMinor + o.totalMinor });
    }
    expect(r.body.totals.paymentStatus.map((t: { status: string; count: number; sumMinor: number }) => [t.status, t.count, t.sumMinor]))
      .toEqual([...byStatus].sort(([a], [b]) => a.localeCompare(b)).map(([s, t]) => [s, t.count, t.sumMinor]));
    expect(r.body.totals.byCurrency[0].count).toBe(inRange.length);
  });

  it('walks every page by cursor: no row skipped or repeated, ties included, totals the same on every page', async () => {
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    let totals: unknown;
    do {
      const r = await get(`/orders${qs({ ...WINDOW, limit: 7, cursor })}`);
      expect(r.status).toBe(200);
      if (totals) expect(r.body.totals).toEqual(totals);
      totals = r.body.totals;
      seen.push(...r.body.orders.map((o: { reference: string }) => o.reference));
      cursor = r.body.nextCursor ?? undefined;
      pages++;
    } while (cursor && pages < 50);
    expect(seen).toHaveLength(N + 3);
    expect(new Set(seen).size).toBe(N + 3);
    expect(seen.filter((s) => s.startsWith('TIE')).sort()).toEqual(['TIEA000000', 'TIEB000000', 'TIEC000000']);
    expect(pages).toBe(Math.ceil((N + 3) / 7));
  });

  it('filters by fulfilment, by customer phone (as staff type it) and by reference', async () => {
    const shipped = await get(`/orders${qs({ ...WINDOW, paymentStatus: 'paid', fulfillmentStatus: 'shipped', limit: 200 })}`);
    expect(shipped.body.orders.map((o: { reference: string }) => o.reference)).toEqual(
      seeded.filter((o) => o.payment === 'paid' && o.fulfillment === 'shipped').map((o) => o.reference),
    );
    expect(shipped.body.orders[0]).toMatchObject({ carrier: 'DHL', shippedAt: expect.any(String) });

    const c = customers[1]!;
    const spaced = `+${c.waId.slice(0, 2)} ${c.waId.slice(2, 5)} ${c.waId.slice(5)}`;
    const mine = await get(`/orders${qs({ ...WINDOW, customer: spaced, paymentStatus: 'paid,pending', limit: 200 })}`);
    expect(mine.status).toBe(200);
    expect(mine.body.orders.map((o: { reference: string }) => o.reference)).toEqual(
      seeded.filter((o) => o.customer === c && ['paid', 'pending'].includes(o.payment)).map((o) => o.reference),
    );

    const one = await get(`/orders${qs({ reference: 'list000042' })}`);
    expect(one.body.orders.map((o: { reference: string }) => o.reference)).toEqual(['LIST000042']);
    expect(one.body.totals.byCurrency).toEqual([expect.objectContaining({ count: 1, sumMinor: seededTotalMinor(42) })]);

    const none = await get(`/orders${qs({ customer: '+4900000000001' })}`);
    expect(none.body).toEqual({ orders: [], nextCursor: null, totals: { byCurrency: [], paymentStatus: [], fulfillmentStatus: [] } });
  });

  it('bad input → 422 with the fields; wrong method → 405', async () => {
    const cases: [Record<string, string>, string][] = [
      [{ paymentStatus: 'paid,bogus' }, 'paymentStatus[1]'],
      [{ fulfillmentStatus: 'lost' }, 'fulfillmentStatus'],
      [{ createdFrom: 'yesterday' }, 'createdFrom'],
      [{ createdFrom: '2024-03-11', createdTo: '2024-03-10' }, 'createdTo'],
      [{ customer: 'not a phone' }, 'customer'],
      [{ limit: '0' }, 'limit'],
      [{ limit: '201' }, 'limit'],
      [{ cursor: 'garbage' }, 'cursor'],
      [{ cursor: Buffer.from('["2024-01-01", "x"]').toString('base64url') }, 'cursor'],
      [{ sort: 'asc' }, '(body)'],
    ];
    for (const [q, path] of cases) {
      const r = await get(`/orders${qs(q)}`);
      expect(r.status, JSON.stringify(q)).toBe(422);
      expect(r.body).toMatchObject({ error: 'invalid_request' });
      expect(r.body.fields.map((f: { path: string }) => f.path), JSON.stringify(q)).toContain(path);
    }
    const csv = await get(`/orders.csv${qs({ paymentStatus: 'nope' })}`);
    expect(csv.status).toBe(422);
    expect(csv.body.fields[0].path).toBe('paymentStatus[0]');
    const wrong = await fetch(api('/orders'), { method: 'POST', headers: auth() });
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('GET');
  });
});

describe('admin input that validation accepts is one Postgres can hold (issue 23)', () => {
  const cursorAt = (t: string) => Buffer.from(JSON.stringify([t, '00000000-0000-4000-8000-000000000000'])).toString('base64url');
  it('dates out of range, impossible cursor times → 422 naming the field (list, CSV export, alerts, offline payments)', async () => {
    const cases: [Record<string, string>, string][] = [
      [{ createdFrom: '0000-01-01' }, 'createdFrom'],
      [{ createdTo: '9999-12-31' }, 'createdTo'],
      [{ createdFrom: '1999-12-31T23:59:59Z' }, 'createdFrom'],
      [{ createdTo: '+010000-01-01T00:00:00Z' }, 'createdTo'],
      [{ cursor: cursorAt('2026-02-30T10:00:00.000000Z') }, 'cursor'],
      [{ cursor: cursorAt('0000-01-01T00:00:00.000000Z') }, 'cursor'],
    ];
    for (const [q, path] of cases) {
      for (const list of ['/orders', '/orders.csv']) {
        if (list === '/orders.csv' && path === 'cursor') continue; // the export takes no cursor
        const r = await get(`${list}${qs(q)}`);
        expect(r.status, `${list} ${JSON.stringify(q)}: ${r.text.slice(0, 200)}`).toBe(422);
        expect(r.body.fields.map((f: { path: string }) => f.path), JSON.stringify(q)).toContain(path);
      }
    }
    const alerts = await get(`/alerts${qs({ cursor: Buffer.from(JSON.stringify(['2026-02-30T10:00:00.000000Z', 'alert:1'])).toString('base64url') })}`);
    expect(alerts.status).toBe(422);
    expect(alerts.body.fields[0].path).toBe('cursor');
    for (const paidAt of ['0000-01-01', '9999-12-31T00:00:00Z']) {
      const r = await fetch(api('/offline-payments'), {
        method: 'POST',
        headers: { ...auth(), 'content-type': 'application/json', 'idempotency-key': `range-${paidAt}` },
        body: JSON.stringify({ customerPhone: '+4915112345678', amountMinor: 1000, currency: 'EUR', paidAt, reference: `bank-${paidAt}` }),
      });
      const body = (await r.json()) as { fields?: { path: string }[] };
      expect(r.status, JSON.stringify(body)).toBe(422);
      expect(body.fields!.map((f) => f.path)).toContain('paidAt');
    }
    // The edges of the range are fine, and a real cursor time still pages.
    expect((await get(`/orders${qs({ createdFrom: '2000-01-01', createdTo: '2099-12-31' })}`)).status).toBe(200);
    expect((await get(`/orders${qs({ cursor: cursorAt('2024-02-29T10:00:00.000000Z') })}`)).status).toBe(200);
  });
});

describe('GET /api/orders.csv', () => {
  it('streams every filtered order (several pages) with escaped cells and no formula injection', async () => {
    const many = 1_150; // more than two CSV pages of 500
    await seedOrders({ count: many, prefix: 'CSV', customers, newest: new Date('2023-06-01T00:00:00Z'), stepMs: 1_000 });
    const r = await fetch(api(`/orders.csv${qs({ createdFrom: '2023-05-01', createdTo: '2023-06-01' })}`), { headers: auth() });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(r.headers.get('content-disposition')).toMatch(/^attachment; filename="orders-\d{4}-\d{2}-\d{2}\.csv"$/);
    const text = await r.text();
    const lines = text.split('\r\n');
    expect(lines.at(-1)).toBe('');
    expect(lines[0]).toBe(
      'reference,order_id,created_at,payment_status,fulfillment_status,currency,total_minor,total,items,customer_name,customer_phone,customer_user_id,paid_at,shipped_at,carrier,tracking,' +
        // The courier's columns (docs/fulfilment.md): empty for these seeded orders, which ship nothing.
        'shipping_mode,ship_name,ship_line1,ship_line2,ship_postcode,ship_city,ship_state,ship_country,ship_phone,shipping_method,shipping_minor,tax_minor,weight_grams,ship_problem,delivered_at',
    );
    expect(lines).toHaveLength(many + 2);
    expect(lines[1]).toMatch(/^CSV000000,[0-9a-f-]{36},2023-06-01T00:00:00\.000Z,paid,unfulfilled,EUR,1000,10\.00,1 × Seed tea,"'=HYPERLINK\(""http:\/\/x"",""pay""\)",'\+\d\d\*+\d{4},/);
    expect(lines[2]).toContain(',"Müller, ""Hans""",');
    expect(lines[2]).toMatch(/^CSV000001,.*,paid,shipped,EUR,2000,20\.00,2 × Seed tea,.*,DHL,T1,none,{9},0,0,,,$/);
    // A masked phone starts with + : defused like any cell a spreadsheet would evaluate.
    expect(lines[1]).toMatch(/,'\+\d\d\*+\d{4},/);
    expect(new Set(lines.slice(1, -1).map((l) => l.split(',')[0])).size).toBe(many);
    expect(text).not.toContain(customers[0]!.waId);
  });
});

describe('GET /api/alerts', () => {
  it('ops alerts and failed messages without an alert, newest first, with their order and what to do; cursor pages', async () => {
    const [order] = await db()`SELECT id, reference FROM orders WHERE reference = 'LIST000003'`;
    const waId = customers[0]!.waId;
    await db()`
      WITH m1 AS (
        INSERT INTO outbound_messages (idempotency_key, kind, order_id, to_wa_id, template, payload, status, error_code, error_title, updated_at)
        VALUES ('alerts-test-1', 'order_confirmed', ${order!.id}::uuid, ${waId}, 'order_confirmed', '{}', 'failed', 131026, 'Message undeliverable', now() - interval '3 minutes')
        RETURNING id
      ), m2 AS (
        INSERT INTO outbound_messages (idempotency_key, kind, order_id, to_wa_id, payload, status, error_code, error_title, updated_at)
        VALUES ('alerts-test-2', 'order_shipped', ${order!.id}::uuid, ${waId}, '{}', 'failed', 132001, 'Template name does not exist', now() - interval '1 minute')
        RETURNING id
      )
      INSERT INTO ops_alerts (alert_key, kind, order_id, message_id, payload, created_at)
      SELECT 'failed:' || m1.id, 'message_failed', ${order!.id}::uuid, m1.id,
             jsonb_build_object('alert', 'message_failed', 'to', '+49******0001', 'error', jsonb_build_object('code', 131026)), now() - interval '3 minutes' FROM m1
      UNION ALL
      SELECT 'payment-mismatch:x', 'payment_mismatch', ${order!.id}::uuid, NULL::uuid, '{"reason":"amount","gotMinor":1}'::jsonb, now() - interval '2 minutes'`;

    const r = await get('/alerts');
    expect(r.status).toBe(200);
    expect(r.body.alerts.map((a: { kind: string }) => a.kind)).toEqual(['message_failed', 'payment_mismatch', 'message_failed']);
    const [unalerted, mismatch, failed] = r.body.alerts;
    expect(unalerted).toMatchObject({
      key: expect.stringMatching(/^message:/), order: { id: order!.id, reference: 'LIST000003' },
      message: { kind: 'order_shipped', status: 'failed', error: { code: 132001, title: 'Template name does not exist' } }, delivery: null,
      advice: expect.stringContaining('template'),
    });
    expect(mismatch).toMatchObject({ details: { reason: 'amount', gotMinor: 1 }, advice: expect.stringContaining('Stripe'), delivery: { deliveredAt: null } });
    expect(failed).toMatchObject({ message: { kind: 'order_confirmed', error: { code: 131026 } }, advice: expect.stringContaining('not on WhatsApp') });
    expect(r.text).not.toContain(waId);

    const first = await get('/alerts?limit=2');
    expect(first.body.alerts).toHaveLength(2);
    const rest = await get(`/alerts${qs({ limit: 2, cursor: first.body.nextCursor })}`);
    expect(rest.body.alerts.map((a: { key: string }) => a.key)).toEqual([failed.key]);
    expect(rest.body.nextCursor).toBeNull();
    expect((await get('/alerts?limit=abc')).body.fields[0].path).toBe('limit');
    expect((await get('/alerts?cursor=zz')).status).toBe(422);
  });
});

describe('POST /api/orders/:id/cleanup', () => {
  it('refuses an order whose hold still runs; once lapsed, expires it and returns its units; a repeat does nothing', async () => {
    const waId = newCustomer('4931');
    const placed = await placeOrder({ customer: { waId, userId: null, profileName: 'Cleo' }, source: 'api', sourceKey: `console-cleanup:${waId}`, lines: [{ sku: 'CON-1', quantity: 3 }] });
    if (placed.status !== 'created') throw new Error(placed.status);
    const id = placed.order.id;
    expect((await availableStock(['CON-1'])).get('CON-1')).toBe(47);

    const early = await post(`/orders/${id}/cleanup`);
    expect(early.status).toBe(409);
    expect(early.body).toMatchObject({ error: 'hold_active' });

    await db()`UPDATE orders SET hold_expires_at = now() - interval '1 minute' WHERE id = ${id}`;
    const [a, b] = await Promise.all([post(`/orders/${id}/cleanup`), post(`/orders/${id}/cleanup`)]);
    const outcomes = [a, b].map((r) => (r.status === 200 ? r.body.outcome : r.body.error)).sort();
    // A double click: the closing statement lets one of them expire the order; the other found it done, or (no lock:
    // the release script decides) returned the hold's units itself: never twice (the stock below is exact).
    expect(outcomes.filter((o) => o === 'expired')).toHaveLength(1);
    expect(['cleanup_in_progress', 'nothing_to_do', 'released']).toContain(outcomes.find((o) => o !== 'expired'));
    const [row] = await db()`SELECT payment_status FROM orders WHERE id = ${id}`;
    expect(row!.payment_status).toBe('expired');
    expect((await availableStock(['CON-1'])).get('CON-1')).toBe(50);
    const events = await db()`SELECT type FROM order_events WHERE order_id = ${id} ORDER BY id`;
    expect(events.map((e) => e.type).filter((t) => t === 'expired')).toHaveLength(1);

    const again = await post(`/orders/${id}/cleanup`);
    expect(again).toEqual({ status: 200, body: expect.objectContaining({ outcome: 'nothing_to_do', paymentStatus: 'expired' }) });
    expect((await post('/orders/00000000-0000-4000-8000-000000000000/cleanup')).status).toBe(404);
  });
});

describe('revealing phones', () => {
  it('is logged with the order and the masked number, never the number; a masked view logs nothing', async () => {
    const [order] = await db()`SELECT id, reference FROM orders WHERE reference = 'LIST000004'`;
    const waId = customers[1]!.waId;
    const level = process.env.LOG_LEVEL;
    process.env.LOG_LEVEL = 'info';
    const lines: string[] = [];
    const spy = vi.spyOn(console, 'log').mockImplementation((line: unknown) => void lines.push(String(line)));
    try {
      await getOrderView(order!.id as string);
      expect(lines.filter((l) => l.includes('admin.phones_revealed'))).toEqual([]);
      const view = await getOrderView(order!.id as string, { full: true });
      expect(view.customer.phone).toBe(`+${waId}`);
    } finally {
      spy.mockRestore();
      process.env.LOG_LEVEL = level;
    }
    const reveals = lines.filter((l) => l.includes('admin.phones_revealed')).map((l) => JSON.parse(l));
    expect(reveals).toEqual([expect.objectContaining({ level: 'info', event: 'admin.phones_revealed', orderId: order!.id, reference: 'LIST000004', customer: expect.stringMatching(/^\+\d\d\*+\d{4}$/) })]);
    expect(lines.join('\n')).not.toContain(waId);
  });
});
