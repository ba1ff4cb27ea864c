import pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildEntry, buildInboundMessageValue, buildWebhookPayload, makeWamid, signMetaPayload, type InboundInput } from '../dev/standins/graph.js';
import { upsertCatalogProduct } from '../lib/catalog/index.js';
import { db } from '../lib/db.js';
import { eventually, newCustomer, sentTo, useStack } from './support/stack.js';

/**
 * Identity fixes: only Meta-signed data (webhook messages and statuses) links or merges customers;
 * the order and offline-payment APIs find or create, and refuse identities of two customers. A
 * customer merged away under a running order placement, a status naming phone + BSUID, a
 * redelivered identity change, and two batches locking the same people in opposite orders.
 */
const stack = useStack();
const until = <T>(check: () => T | Promise<T>) => eventually(check, 60_000);

let bsuidCounter = 0;
const newBsuid = () => `US.${String(process.pid).padStart(8, '0')}${String(Date.now()).slice(-8)}${String(++bsuidCounter).padStart(4, '0')}`;
const customersOf = (waId: string | null, bsuid: string | null) =>
  db()`SELECT * FROM customers WHERE wa_id = ${waId} OR bsuid = ${bsuid} ORDER BY created_at`;
const auth = () => ({ authorization: `Bearer ${stack().env.ADMIN_API_KEY}`, 'content-type': 'application/json' });
const orderApi = (body: unknown) => fetch(`${stack().url}/.netlify/functions/create-order-proxy`, { method: 'POST', headers: auth(), body: JSON.stringify(body) });
const offlinePayment = (body: unknown) => fetch(`${stack().url}/api/offline-payments`, { method: 'POST', headers: auth(), body: JSON.stringify(body) });
const biz = () => ({ wabaId: '102290129340398', phoneNumberId: stack().env.WHATSAPP_PHONE_NUMBER_ID!, displayPhoneNumber: '15550100001' });
const message = (input: InboundInput) => buildInboundMessageValue(biz(), { ...input, wamid: input.wamid ?? makeWamid(input.from ?? input.userId) });

async function postBatch(values: ReturnType<typeof message>[]): Promise<Response> {
  const first = values[0]!;
  for (const v of values.slice(1)) first.messages!.push(...v.messages!);
  if (values.slice(1).some((v) => v.contacts)) first.contacts = [...(first.contacts ?? []), ...values.slice(1).flatMap((v) => v.contacts ?? [])];
  const raw = JSON.stringify(buildWebhookPayload([buildEntry('1', [first])]));
  return fetch(`${stack().url}/.netlify/functions/webhook`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-hub-signature-256': signMetaPayload(raw, stack().env.WHATSAPP_APP_SECRET!) },
    body: raw,
  });
}

/** A direct connection to the test's Postgres, to hold a lock while the shop works. */
async function directPg(): Promise<pg.Client> {
  const [row] = await db()`SELECT inet_server_port() AS port`;
  const client = new pg.Client({ connectionString: `postgresql://postgres@127.0.0.1:${row!.port}/postgres` });
  await client.connect();
  return client;
}
const waiting = async (client: pg.Client, locktype: string) =>
  Number((await client.query(`SELECT count(*)::int AS n FROM pg_locks WHERE NOT granted AND locktype = $1`, [locktype])).rows[0].n);

beforeAll(async () => {
  await fetch(`${stack().stripe.url}/_standin/webhook-url`, { method: 'POST', body: JSON.stringify({ url: '' }) });
  await upsertCatalogProduct({ sku: 'TEA-1', name: 'Green tea', priceMinor: 1299, currency: 'EUR', stock: 500 });
});

describe('order API and offline payments never link caller-supplied identities', () => {
  const items = [{ sku: 'TEA-1', quantity: 1 }];

  it('a phone and a BSUID of two different customers are refused (422), nothing merged or overwritten', async () => {
    const phone = newCustomer();
    const bsuid = newBsuid();
    expect((await orderApi({ customerPhone: `+${phone}`, items })).status).toBe(201);
    expect((await orderApi({ customerUserId: bsuid, items })).status).toBe(201);

    const r = await orderApi({ customerPhone: `+${phone}`, customerUserId: bsuid, items, idempotencyKey: `mix-${bsuid}` });
    expect(r.status).toBe(422);
    expect(JSON.stringify(await r.json())).toContain('customerUserId');
    const p = await offlinePayment({ customerPhone: `+${phone}`, customerUserId: bsuid, amountMinor: 1299, currency: 'EUR', paidAt: '2026-11-25', reference: `mix-${bsuid}` });
    expect(p.status).toBe(422);
    expect(JSON.stringify(await p.json())).toContain('customerUserId');

    const rows = await customersOf(phone, bsuid);
    expect(rows).toHaveLength(2);
    expect(rows.find((c) => c.wa_id === phone)).toMatchObject({ bsuid: null });
    expect(rows.find((c) => c.bsuid === bsuid)).toMatchObject({ wa_id: null });
    expect(await db()`SELECT 1 FROM orders WHERE id::text IN (SELECT o.id::text FROM orders o JOIN customers c ON c.id = o.customer_id WHERE c.wa_id = ${phone})`).toHaveLength(1);
  }, 120_000);

  it('an identity whose customer holds a different other identity is refused; unknown ones make one row; none is attached', async () => {
    const phone = newCustomer();
    const bsuid = newBsuid();
    // Meta links them (a signed message naming both).
    await stack().graph.sendInbound({ from: phone, userId: bsuid, text: 'help', wamid: makeWamid(phone) });
    await until(async () => (await customersOf(phone, bsuid)).length === 1 && (await customersOf(phone, bsuid))[0]!.bsuid === bsuid);

    const otherBsuid = newBsuid();
    const a = await orderApi({ customerPhone: `+${phone}`, customerUserId: otherBsuid, items });
    expect(a.status).toBe(422);
    expect(JSON.stringify(await a.json())).toContain('customerUserId');
    const otherPhone = newCustomer();
    const b = await orderApi({ customerPhone: `+${otherPhone}`, customerUserId: bsuid, items });
    expect(b.status).toBe(422);
    expect(JSON.stringify(await b.json())).toContain('customerPhone');
    expect(await customersOf(phone, bsuid)).toEqual([expect.objectContaining({ wa_id: phone, bsuid })]);
    expect(await customersOf(otherPhone, otherBsuid)).toHaveLength(0);

    // Both unknown: one customer with both.
    const freshPhone = newCustomer();
    const freshBsuid = newBsuid();
    expect((await orderApi({ customerPhone: `+${freshPhone}`, customerUserId: freshBsuid, items })).status).toBe(201);
    expect(await customersOf(freshPhone, freshBsuid)).toEqual([expect.objectContaining({ wa_id: freshPhone, bsuid: freshBsuid })]);

    // A phone-only customer and an unknown BSUID: the order goes to the phone's row, the BSUID is not attached.
    const phoneOnly = newCustomer();
    expect((await orderApi({ customerPhone: `+${phoneOnly}`, items })).status).toBe(201);
    const unknownBsuid = newBsuid();
    const key = `attach-${unknownBsuid}`;
    const c = await orderApi({ customerPhone: `+${phoneOnly}`, customerUserId: unknownBsuid, items, idempotencyKey: key });
    expect(c.status).toBe(201);
    expect(await customersOf(phoneOnly, unknownBsuid)).toEqual([expect.objectContaining({ wa_id: phoneOnly, bsuid: null })]);
    // Its replay is the same request.
    const replay = await orderApi({ customerPhone: `+${phoneOnly}`, customerUserId: unknownBsuid, items, idempotencyKey: key });
    expect(replay.status).toBe(201);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
  }, 120_000);
});

describe('a customer merged away while their order is being placed', () => {
  it('the order is recorded for the surviving customer (no null order, no 500)', async () => {
    const phone = newCustomer();
    const bsuid = newBsuid();
    expect((await orderApi({ customerPhone: `+${phone}`, items: [{ sku: 'TEA-1', quantity: 1 }] })).status).toBe(201);
    expect((await orderApi({ customerUserId: bsuid, items: [{ sku: 'TEA-1', quantity: 1 }] })).status).toBe(201);
    const [bsuidRow] = await customersOf(null, bsuid);

    const client = await directPg();
    try {
      await client.query('BEGIN');
      await client.query('LOCK TABLE orders IN EXCLUSIVE MODE'); // reads go on, the order insert waits
      const pending = orderApi({ customerUserId: bsuid, items: [{ sku: 'TEA-1', quantity: 2 }], idempotencyKey: `merged-${bsuid}` });
      await until(async () => (await waiting(client, 'relation')) > 0);
      await client.query('SELECT link_customer($1, $2, NULL, NULL, NULL, NULL)', [phone, bsuid]); // Meta linked them meanwhile
      await client.query('COMMIT');
      const r = await pending;
      expect(r.status).toBe(201);
      const { orderId } = (await r.json()) as { orderId: string };
      const [order] = await db()`SELECT c.wa_id, c.bsuid FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.id = ${orderId}`;
      expect(order).toMatchObject({ wa_id: phone, bsuid });
      expect(await db()`SELECT 1 FROM customers WHERE id = ${bsuidRow!.id}`).toHaveLength(0);
    } finally {
      await client.query('ROLLBACK').catch(() => {});
      await client.end();
    }
  }, 120_000);
});

describe('a status naming phone and BSUID', () => {
  it('merges a separate BSUID customer into the phone customer (statuses are Meta-signed)', async () => {
    const phone = newCustomer();
    const bsuid = newBsuid();
    await stack().graph.sendInbound({ from: phone, text: 'help', wamid: makeWamid(phone) });
    await stack().graph.sendInbound({ userId: bsuid, text: 'help', wamid: makeWamid(bsuid) });
    const reply = await until(() => sentTo(stack(), phone)[0]);
    await until(() => sentTo(stack(), bsuid)[0]);
    await until(async () => (await customersOf(phone, bsuid)).length === 2);

    const r = await stack().graph.sendStatus({ wamid: reply.wamid!, status: 'delivered', recipient_id: phone, recipient_user_id: bsuid });
    expect(r.status).toBe(200);
    await until(async () => {
      const rows = await customersOf(phone, bsuid);
      return rows.length === 1 && rows[0]!.wa_id === phone && rows[0]!.bsuid === bsuid;
    });
  }, 120_000);
});

describe('a redelivered batch', () => {
  it('an already recorded user_changed_number links nothing (no row for the old number comes back)', async () => {
    const oldNumber = newCustomer();
    const newNumber = newCustomer('4917');
    await stack().graph.sendInbound({ from: oldNumber, text: 'help', wamid: makeWamid(oldNumber) });
    await until(() => sentTo(stack(), oldNumber)[0]);
    const change = message({
      from: oldNumber,
      raw: { type: 'system', system: { body: `User changed from ${oldNumber} to ${newNumber}`, wa_id: newNumber, type: 'user_changed_number' } },
    });
    const changeWamid = change.messages![0]!.id;
    expect((await postBatch([structuredClone(change)])).status).toBe(200);
    await until(async () => (await db()`SELECT processed_at FROM inbound_events WHERE external_id = ${changeWamid}`)[0]?.processed_at);
    expect(await customersOf(oldNumber, null)).toHaveLength(0);

    // Meta redelivers it (days later) together with a new message.
    const fresh = message({ from: newNumber, text: 'help' });
    expect((await postBatch([structuredClone(change), fresh])).status).toBe(200);
    await until(() => sentTo(stack(), newNumber)[0]);
    expect(await customersOf(oldNumber, null)).toHaveLength(0);
    expect(await customersOf(newNumber, null)).toHaveLength(1);
  }, 120_000);
});

describe('two concurrent batches naming the same people in opposite orders', () => {
  it('take their identity locks in one order: both are recorded (no deadlock, no 503)', async () => {
    const [p1, p2] = [newCustomer(), newCustomer()];
    const [b1, b2] = [newBsuid(), newBsuid()];
    const client = await directPg();
    try {
      await client.query('BEGIN');
      await client.query(`SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, [`customer:${p1}`]);
      const first = postBatch([message({ from: p1, userId: b1, text: 'help' }), message({ from: p2, text: 'help' })]);
      await until(async () => (await waiting(client, 'advisory')) >= 1);
      const second = postBatch([message({ from: p2, userId: b2, text: 'help' }), message({ from: p1, text: 'help' })]);
      await until(async () => (await waiting(client, 'advisory')) >= 2);
      await client.query('COMMIT');
      const [r1, r2] = await Promise.all([first, second]);
      expect([r1.status, r2.status]).toEqual([200, 200]);
    } finally {
      await client.query('ROLLBACK').catch(() => {});
      await client.end();
    }
    expect(await customersOf(p1, b1)).toEqual([expect.objectContaining({ wa_id: p1, bsuid: b1 })]);
    expect(await customersOf(p2, b2)).toEqual([expect.objectContaining({ wa_id: p2, bsuid: b2 })]);
  }, 120_000);
});
