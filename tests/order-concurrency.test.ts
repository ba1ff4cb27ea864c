import { beforeAll, describe, expect, it } from 'vitest';
import { buildInboundPayload, makeWamid, signMetaPayload } from '../dev/standins/graph.js';
import { upsertCatalogProduct } from '../lib/catalog/index.js';
import { db } from '../lib/db.js';
import { availableStock } from '../lib/stock/index.js';
import { invokeInProcess } from './support/shop.js';
import { eventually, newCustomer, sentTo, useStack } from './support/stack.js';

/**
 * Concurrent order creates (issue 23): one idempotency key under concurrency converges on one answer
 * (bug 7), and the per-customer open-order limit holds under concurrency, over the order API and over
 * WhatsApp (bug 5).
 */
const stack = useStack();
const SKU = 'CONC-TEA';

beforeAll(async () => {
  await upsertCatalogProduct({ sku: SKU, name: 'Concurrent tea', priceMinor: 500, currency: 'EUR', stock: 10_000 });
});

async function create(body: Record<string, unknown>) {
  const r = await fetch(`${stack().url}/.netlify/functions/create-order-proxy`, {
    method: 'POST',
    headers: { authorization: `Bearer ${stack().env.ADMIN_API_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: r.status, body: (await r.json()) as Record<string, any> };
}
const available = async () => (await availableStock([SKU])).get(SKU)!;

describe('one idempotency key, concurrent creates (bug 7)', () => {
  it('the same body at once: every answer is the same order, held once', async () => {
    const before = await available();
    const body = { customerPhone: `+${newCustomer()}`, items: [{ sku: SKU, quantity: 2 }], idempotencyKey: `same-${Date.now()}` };
    const answers = await Promise.all(Array.from({ length: 8 }, () => create(body)));
    expect(answers.map((a) => a.status)).toEqual(answers.map(() => 201));
    expect(new Set(answers.map((a) => a.body.orderId)).size).toBe(1);
    expect(await available()).toBe(before - 2);
  });

  it('different bodies at once: one order (with its own hold), every other body 422 idempotency_key_reused, never 502', async () => {
    for (let trial = 0; trial < 3; trial++) {
      const before = await available();
      const key = `reused-${trial}-${Date.now()}`;
      const phone = `+${newCustomer()}`;
      const bodies = Array.from({ length: 8 }, (_, i) => ({ customerPhone: phone, items: [{ sku: SKU, quantity: 1 + (i % 2) }], idempotencyKey: key }));
      const answers = await Promise.all(bodies.map(create));
      for (const a of answers) expect([201, 422], JSON.stringify(a.body)).toContain(a.status);
      const won = answers.filter((a) => a.status === 201);
      expect(won.length).toBeGreaterThan(0);
      expect(new Set(won.map((a) => a.body.orderId)).size).toBe(1);
      for (const a of answers.filter((x) => x.status === 422)) expect(a.body).toMatchObject({ error: 'idempotency_key_reused', fields: [{ path: 'idempotencyKey' }] });
      const [order] = await db()`SELECT id, items FROM orders WHERE id = ${won[0]!.body.orderId}`;
      const quantity = (order!.items as { quantity: number }[])[0]!.quantity;
      // The same body always wins, the other always loses; the stock held is the winning order's.
      answers.forEach((a, i) => expect(a.status).toBe(bodies[i]!.items[0]!.quantity === quantity ? 201 : 422));
      expect(await available()).toBe(before - quantity);
    }
  });
});

describe('the open-order limit per customer under concurrency (bug 5)', () => {
  const LIMIT = 3; // MAX_ACTIVE_HOLDS_PER_CUSTOMER's default
  const openOrders = async (where: { waId: string }) =>
    (await db()`SELECT o.id FROM orders o JOIN customers c ON c.id = o.customer_id WHERE c.wa_id = ${where.waId} AND o.payment_status IN ('pending', 'awaiting_payment')`).length;

  it('30 order-API creates for one phone at once: at most the limit created, the rest 409, no unit held for a refused one', async () => {
    const before = await available();
    const waId = newCustomer();
    const answers = await Promise.all(
      Array.from({ length: 30 }, (_, i) => create({ customerPhone: `+${waId}`, items: [{ sku: SKU, quantity: 1 }], idempotencyKey: `limit-${waId}-${i}` })),
    );
    for (const a of answers) expect([201, 409], JSON.stringify(a.body)).toContain(a.status);
    const created = answers.filter((a) => a.status === 201).length;
    expect(created).toBe(LIMIT);
    for (const a of answers.filter((x) => x.status === 409)) expect(a.body).toMatchObject({ error: 'too_many_open_orders', max: LIMIT });
    expect(await openOrders({ waId })).toBe(LIMIT);
    expect(await available()).toBe(before - LIMIT);
  });

  it('10 signed webhook POSTs from one WhatsApp sender at once: at most the limit of pending orders, every message answered', async () => {
    const before = await available();
    const waId = newCustomer();
    const biz = { wabaId: '1', phoneNumberId: stack().env.WHATSAPP_PHONE_NUMBER_ID!, displayPhoneNumber: stack().env.WHATSAPP_BUSINESS_NUMBER_E164!.replace(/\D/g, '') };
    const posts = Array.from({ length: 10 }, () => {
      const raw = JSON.stringify(buildInboundPayload(biz, { from: waId, name: 'Ada', text: `buy ${SKU} 1`, wamid: makeWamid(waId) }));
      const headers = { 'content-type': 'application/json', 'x-hub-signature-256': signMetaPayload(raw, stack().env.WHATSAPP_APP_SECRET!) };
      return invokeInProcess('webhook', `${stack().url}/.netlify/functions/webhook`, { method: 'POST', headers, body: raw });
    });
    for (const r of await Promise.all(posts)) expect(r.status).toBe(200);
    await eventually(() => sentTo(stack(), waId).length >= 10, 30_000);
    expect(await openOrders({ waId })).toBe(LIMIT);
    const links = sentTo(stack(), waId).filter((m) => (m.body as { interactive?: { type?: string } }).interactive?.type === 'cta_url');
    expect(links).toHaveLength(LIMIT);
    expect(await available()).toBe(before - LIMIT);
  });
});
