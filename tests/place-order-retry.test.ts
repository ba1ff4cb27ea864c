import { beforeAll, describe, expect, it } from 'vitest';
import { upsertCatalogProduct } from '../lib/catalog/index.js';
import { db } from '../lib/db.js';
import { orderIdFor } from '../lib/orders/order.js';
import { checkoutExpiresAt } from '../lib/payments/checkout.js';
import { availableStock, readHold, releaseHold, reserveStock } from '../lib/stock/index.js';
import { newCustomer, useStack } from './support/stack.js';

/**
 * placeOrder writes the order only once its Checkout Session exists (lib/orders/place.ts), so what an
 * earlier attempt for the same event leaves behind is a hold (and maybe a session): a retry must
 * converge on one order, one session and the units held once, whatever state that hold is in.
 * The "earlier attempt" is played by taking the hold directly, as placeOrder's step 2 does.
 */
const stack = useStack({ functions: 'in-process', env: { LOG_LEVEL: 'error' } });
const SKU = 'RETRY-TEA';
const LINES = [{ sku: SKU, quantity: 2 }];

beforeAll(async () => {
  await upsertCatalogProduct({ sku: SKU, name: 'Retry tea', priceMinor: 900, currency: 'EUR', stock: 100 });
});

let n = 0;
const nextKey = (what: string) => `retry-${what}-${Date.now()}-${n++}`;
const available = async () => (await availableStock([SKU])).get(SKU)!;

/** The order API, as a storefront calls it (in process, through the function's handler). */
async function createOrder(key: string, phone = `+${newCustomer('4933')}`) {
  const init = {
    method: 'POST',
    headers: { authorization: `Bearer ${stack().env.ADMIN_API_KEY}`, 'content-type': 'application/json', 'idempotency-key': key },
    body: JSON.stringify({ customerPhone: phone, items: LINES }),
  };
  const { response, background } = await stack().inProcess!.invoke('create-order-proxy', new Request(`${stack().url}/.netlify/functions/create-order-proxy`, init));
  await background;
  return { status: response.status, body: (await response.json()) as Record<string, string> };
}

const sessionsOf = (orderId: string) => stack().stripe.sessions().filter((s) => s.client_reference_id === orderId);

describe('a retry of the same event after an attempt that held but wrote no order', () => {
  it('reuses the live hold with its expiry, so the Checkout Session gets the same parameters', async () => {
    const key = nextKey('live');
    const orderId = orderIdFor(`api:${key}`);
    const before = await available();
    const exp = new Date(Date.now() + 300_000);
    expect((await reserveStock(orderId, LINES, exp)).status).toBe('held');

    const r = await createOrder(key);
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(r.body.orderId).toBe(orderId);
    expect(r.body.holdExpiresAt).toBe(exp.toISOString());
    expect(await available()).toBe(before - 2);
    const sessions = sessionsOf(orderId);
    expect(sessions).toHaveLength(1);
    expect(sessions[0]!.expires_at).toBe(checkoutExpiresAt({ holdExpiresAt: exp }));
    const [row] = await db()`SELECT stripe_session_id, checkout_url FROM orders WHERE id = ${orderId}`;
    expect(row).toMatchObject({ stripe_session_id: sessions[0]!.id, checkout_url: r.body.checkoutUrl });
  });

  it('holds again from now when that hold lapsed (its units counted once)', async () => {
    const key = nextKey('lapsed');
    const orderId = orderIdFor(`api:${key}`);
    const before = await available();
    expect((await reserveStock(orderId, LINES, new Date(Date.now() - 1000))).status).toBe('held');

    const r = await createOrder(key);
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(new Date(r.body.holdExpiresAt!).getTime()).toBeGreaterThan(Date.now() + 60_000);
    expect(await available()).toBe(before - 2);
    const hold = await readHold(orderId);
    expect(hold).toMatchObject({ state: 'held', expiresAt: r.body.holdExpiresAt, lines: LINES });
  });

  it('holds again when the cleanup released it as an orphan', async () => {
    const key = nextKey('released');
    const orderId = orderIdFor(`api:${key}`);
    const before = await available();
    await reserveStock(orderId, LINES, new Date(Date.now() + 300_000));
    expect(await releaseHold(orderId)).toBe('released');
    expect(await available()).toBe(before);

    const r = await createOrder(key);
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(await available()).toBe(before - 2);
    expect((await readHold(orderId))?.state).toBe('held');
    expect(sessionsOf(orderId)).toHaveLength(1);
  });

  it('concurrent requests with one key make one order, one session, one hold', async () => {
    const key = nextKey('concurrent');
    const orderId = orderIdFor(`api:${key}`);
    const phone = `+${newCustomer('4933')}`;
    const before = await available();
    const answers = await Promise.all([createOrder(key, phone), createOrder(key, phone), createOrder(key, phone)]);
    for (const a of answers) {
      expect(a.status, JSON.stringify(a.body)).toBe(201);
      expect(a.body.orderId).toBe(orderId);
    }
    expect(new Set(answers.map((a) => a.body.checkoutUrl)).size).toBe(1);
    expect(sessionsOf(orderId)).toHaveLength(1);
    expect(await available()).toBe(before - 2);
    expect((await db()`SELECT count(*)::int AS n FROM orders WHERE id = ${orderId}`)[0]!.n).toBe(1);
  });
});
