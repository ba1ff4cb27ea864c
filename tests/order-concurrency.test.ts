import { beforeAll, describe, expect, it } from 'vitest';
import { upsertCatalogProduct } from '../lib/catalog/index.js';
import { db } from '../lib/db.js';
import { availableStock } from '../lib/stock/index.js';
import { newCustomer, useStack } from './support/stack.js';

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
