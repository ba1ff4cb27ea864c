import { readFileSync } from 'node:fs';
import { randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeWamid, signMetaPayload } from '../dev/standins/graph.js';
import { pushCatalogChanges, upsertCatalogProduct } from '../lib/catalog/index.js';
import { db } from '../lib/db.js';
import { rewriteMeta } from './conformance/rewrite.js';
import { expectWithinMetaLimits } from './support/meta-limits.js';
import { bodyOf, eventually, newCustomer, sentTo, useStack } from './support/stack.js';
import { ask, importStorefrontCatalog, numbered, sellOnly } from './support/storefront.js';

/**
 * The storefront with a Meta catalog (WHATSAPP_CATALOG_MESSAGES=on; CATALOG_PUSH_ITEMS=on: the
 * push creates the items): catalog, multi-product, single-product and carousel messages, checked
 * against Meta's limits by the Graph stand-in (which also knows the pushed catalog: an unknown
 * catalog or product is refused as Meta refuses it) and by expectWithinMetaLimits.
 */
const stack = useStack({ env: { WHATSAPP_CATALOG_MESSAGES: 'on', CATALOG_PUSH_ITEMS: 'on' } });
const catalogId = () => stack().env.WHATSAPP_CATALOG_ID!;
/** Sends made directly to the stand-in to see it refuse them go to this number. */
const PROBE = '4900000000001';
const PYWA_SKUS = ['HAMBURGER', 'FRENCH_FRIES', 'SODA'];

beforeAll(async () => {
  await importStorefrontCatalog();
  for (const [i, sku] of PYWA_SKUS.entries())
    await upsertCatalogProduct({ sku, name: sku.replace('_', ' ').toLowerCase(), priceMinor: 2000 + i * 500, currency: 'ILS', imageUrl: `https://images.example.com/${sku}.jpg`, category: 'Diner', stock: 100 });
  const pushed = await pushCatalogChanges();
  expect(pushed).toMatchObject({ status: 'pushed', pushed: 500 + 5 + 3 });
}, 120_000);

afterAll(async () => {
  expect(stack().graph.messages({ status: 'rejected' }).filter((m) => m.to !== PROBE)).toEqual([]);
  for (const m of stack().graph.messages({ status: 'accepted' })) expectWithinMetaLimits(m.body);
});

type Items = Record<string, Record<string, unknown>>;
const standinCatalog = async () => (await (await fetch(`${stack().graph.url}/_standin/catalog/${catalogId()}`)).json()) as Items | { items: Items };
const itemsOf = async (): Promise<Items> => {
  const c = await standinCatalog();
  return ('items' in c && typeof c.items === 'object' ? c.items : c) as Items;
};

describe('the push creates the items, so a shop can start from our CSV', () => {
  it('CREATE with title, description, image_link, link, category; then UPDATE only what changed', async () => {
    const first = stack().graph.catalogBatches();
    const requests = first.flatMap((b) => b.requests);
    expect(new Set(requests.map((r) => r.method))).toEqual(new Set(['CREATE']));
    const green = requests.find((r) => r.retailerId === 'TEA-GREEN')!.data;
    expect(green).toMatchObject({
      id: 'TEA-GREEN', title: 'Green tea', description: 'Sencha', image_link: 'https://images.example.com/green.jpg', product_type: 'Tea',
      price: '12.99 EUR', availability: 'in stock', condition: 'new',
    });
    expect(String(green.link)).toMatch(/^https:\/\/wa\.me\/\d+\?text=show%20TEA-GREEN$/);
    expect((await itemsOf())['SOLD-OUT']).toMatchObject({ availability: 'out of stock' });

    await upsertCatalogProduct({ sku: 'TEA-GREEN', name: 'Green tea', description: 'Sencha, first flush', priceMinor: 1399, currency: 'EUR', category: 'Tea', imageUrl: 'https://images.example.com/green.jpg', stock: 40 });
    expect(await pushCatalogChanges()).toMatchObject({ status: 'pushed', pushed: 1 });
    const last = stack().graph.catalogBatches().at(-1)!;
    expect(last.requests).toEqual([expect.objectContaining({ method: 'UPDATE', retailerId: 'TEA-GREEN', data: expect.objectContaining({ price: '13.99 EUR', description: 'Sencha, first flush' }) })]);
  });
});

describe('"menu" sends the message that fits the catalog (1, 10, 30, 500 products)', () => {
  it.each([
    [1, 'product'],
    [10, 'product_list'],
    [30, 'product_list'],
    [500, 'catalog_message'],
  ])('%i products → %s, accepted by the stand-in, within the limits, only available products', async (n, type) => {
    await sellOnly(numbered.slice(0, n));
    const m = await ask(stack, newCustomer(), { text: 'menu' });
    expect(m.status, JSON.stringify(m.error)).toBe('accepted');
    const i = bodyOf(m).interactive!;
    expect(i.type).toBe(type);
    expectWithinMetaLimits(m.body);
    const a = i.action as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    if (type === 'product') expect(a).toEqual({ catalog_id: catalogId(), product_retailer_id: 'S-001' });
    if (type === 'product_list') {
      const skus = a.sections.flatMap((s: { product_items: { product_retailer_id: string }[] }) => s.product_items.map((p) => p.product_retailer_id));
      expect(skus.sort()).toEqual(numbered.slice(0, n).sort());
      expect(skus).not.toContain('SOLD-OUT');
      expect(a.sections.length).toBe(Math.min(n, 10));
      expect(a.catalog_id).toBe(catalogId());
    }
    // The thumbnail: the first product offered (categories in order) that has an image.
    if (type === 'catalog_message') expect(numbered).toContain(a.parameters.thumbnail_product_retailer_id);
  });
});

describe('search, "show" and list choices with a catalog', () => {
  beforeAll(async () => {
    await sellOnly([...numbered, 'TEA-GREEN', 'TEA-JASMINE', 'HONEY-250', 'HONEY-500', ...PYWA_SKUS]);
  });

  it('"tea" → a product carousel (the teas by name first, then the Tea category); "honey 500" → one product; many matches → a multi-product message', async () => {
    await sellOnly(['TEA-GREEN', 'TEA-JASMINE', 'HONEY-250', 'HONEY-500', 'S-001', 'S-002']);
    const carousel = bodyOf(await ask(stack, newCustomer(), { text: 'tea' })).interactive!;
    expect(carousel.type).toBe('carousel');
    const cards = (carousel.action as { cards: { action: { product_retailer_id: string } }[] }).cards.map((c) => c.action.product_retailer_id);
    expect(cards.slice(0, 2).sort()).toEqual(['TEA-GREEN', 'TEA-JASMINE']);
    expect(cards).toEqual([expect.any(String), expect.any(String), 'S-001']); // S-001 is in the Tea category; S-002 (Coffee) is not
    const one = bodyOf(await ask(stack, newCustomer(), { text: 'honey 500' })).interactive!;
    expect(one).toMatchObject({ type: 'product', action: { product_retailer_id: 'HONEY-500' } });
    await sellOnly([...numbered, 'TEA-GREEN', 'TEA-JASMINE', 'HONEY-250', 'HONEY-500', ...PYWA_SKUS]);
    const many = bodyOf(await ask(stack, newCustomer(), { text: 'find item' })).interactive!;
    expect(many.type).toBe('product_list');
  });

  it('"show green tea" and a list choice send a single-product message', async () => {
    const show = bodyOf(await ask(stack, newCustomer(), { text: 'show green tea' })).interactive!;
    expect(show).toMatchObject({ type: 'product', action: { catalog_id: catalogId(), product_retailer_id: 'TEA-GREEN' } });
    const choice = bodyOf(await ask(stack, newCustomer(), { interactive: { type: 'list_reply', id: 'variant:S-042', title: 'Item 042' } })).interactive!;
    expect(choice).toMatchObject({ type: 'product', action: { product_retailer_id: 'S-042' } });
  });
});

describe('the stand-in refuses what Meta refuses', () => {
  const send = async (interactive: unknown) => {
    const r = await fetch(`${stack().graph.baseUrl}/${stack().env.WHATSAPP_PHONE_NUMBER_ID}/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack().env.WHATSAPP_ACCESS_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ messaging_product: 'whatsapp', to: PROBE, type: 'interactive', interactive }),
    });
    return { status: r.status, error: ((await r.json()) as { error?: { code: number; message: string; error_data?: { details: string } } }).error };
  };
  const items = (n: number) => Array.from({ length: n }, (_, i) => ({ product_retailer_id: numbered[i]! }));
  const list = (sections: unknown[], header = 'Shop') => ({ type: 'product_list', header: { type: 'text', text: header }, body: { text: 'Pick' }, action: { catalog_id: catalogId(), sections } });

  it.each([
    ['an unknown catalog id', () => ({ type: 'product', action: { catalog_id: '999', product_retailer_id: 'S-001' } }), 131009, /catalog_id 999/],
    ['a product not in the catalog', () => ({ type: 'product', action: { catalog_id: catalogId(), product_retailer_id: 'NOPE' } }), 131009, /"NOPE" not found/],
    ['a catalog message without a thumbnail', () => ({ type: 'catalog_message', body: { text: 'Hi' }, action: { name: 'catalog_message' } }), 100, /thumbnail_product_retailer_id/],
    ['31 products', () => list([{ title: 'A', product_items: items(16) }, { title: 'B', product_items: items(31).slice(16) }]), 100, /at most 30 products/],
    ['11 sections', () => list(Array.from({ length: 11 }, (_, i) => ({ title: `S${i}`, product_items: [items(11)[i]] }))), 100, /sections/],
    ['a multi-product message without a header', () => ({ type: 'product_list', body: { text: 'Pick' }, action: { catalog_id: catalogId(), sections: [{ title: 'A', product_items: items(2) }] } }), 100, /header/],
    ['a 61-character header', () => list([{ title: 'A', product_items: items(2) }], 'h'.repeat(61)), 100, /header/],
    ['a 25-character section title', () => list([{ title: 't'.repeat(25), product_items: items(2) }]), 100, /title/],
    ['a 1025-character body', () => ({ type: 'product', body: { text: 'b'.repeat(1025) }, action: { catalog_id: catalogId(), product_retailer_id: 'S-001' } }), 100, /body/],
    ['a carousel of one card', () => ({ type: 'carousel', body: { text: 'x' }, action: { cards: [{ card_index: 0, type: 'product', action: { catalog_id: catalogId(), product_retailer_id: 'S-001' } }] } }), 100, /at least 2 cards/],
    ['a carousel of 11 cards', () => ({ type: 'carousel', body: { text: 'x' }, action: { cards: items(11).map((p, i) => ({ card_index: i, type: 'product', action: { catalog_id: catalogId(), ...p } })) } }), 100, /cards/],
    ['a carousel with a header', () => ({ type: 'carousel', header: { type: 'text', text: 'x' }, body: { text: 'x' }, action: { cards: items(2).map((p, i) => ({ card_index: i, type: 'product', action: { catalog_id: catalogId(), ...p } })) } }), 100, /header/],
  ])('%s', async (_name, interactive, code, details) => {
    const r = await send(interactive());
    expect(r.status).toBe(400);
    expect(r.error!.code).toBe(code);
    expect(`${r.error!.message} ${r.error!.error_data?.details}`).toMatch(details);
  });
});

describe('conformance: real order payloads (pywa, whatsapp-api-js) against the catalog the test pushed', () => {
  const fixture = (path: string) => JSON.parse(readFileSync(new URL(`./conformance/fixtures/${path}`, import.meta.url), 'utf8')) as { examples: Record<string, unknown> };
  const bsuid = () => `US.${Array.from({ length: 19 }, () => randomInt(10)).join('')}`;
  const post = async (body: unknown) => {
    const raw = JSON.stringify(body);
    const r = await fetch(`${stack().url}/.netlify/functions/webhook`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-hub-signature-256': signMetaPayload(raw, stack().env.WHATSAPP_APP_SECRET!) },
      body: raw,
    });
    expect(r.status).toBe(200);
  };
  const rewrite = (body: unknown, customer: string, userId = bsuid()) => {
    const out = rewriteMeta(body, {
      phoneNumberId: stack().env.WHATSAPP_PHONE_NUMBER_ID!,
      displayNumber: stack().env.WHATSAPP_BUSINESS_NUMBER_E164!.replace(/\D/g, ''),
      customer,
      newNumber: newCustomer('4917'),
      bsuid: () => userId,
      target: null,
      wamid: () => makeWamid(customer),
      sku: (s) => s, // the fixture's own retailer ids: the test pushed them
    });
    // The cart comes from the catalog connected to the number.
    return JSON.parse(JSON.stringify(out).replaceAll('"catalog_id":"354160437058781"', `"catalog_id":"${catalogId()}"`));
  };
  const pywaOrder = () => fixture('pywa/message.json').examples.order;
  const ordersOf = (where: { waId?: string; userId?: string }) =>
    db()`SELECT o.id, o.items, o.total_minor, o.currency, o.checkout_url, o.payment_status FROM orders o JOIN customers c ON c.id = o.customer_id
         WHERE c.wa_id = ${where.waId ?? null} OR c.bsuid = ${where.userId ?? null}`;

  it("pywa's order (3 lines in ILS): one order at our prices, held, one payment link", async () => {
    const waId = newCustomer();
    const body = rewrite(pywaOrder(), waId);
    // The fixture is what Meta's cart sends: the pushed retailer ids, its own (stale) prices.
    expect(JSON.stringify(body)).toContain('"product_retailer_id":"HAMBURGER"');
    await post(body);
    const [order] = await eventually(async () => {
      const rows = await ordersOf({ waId });
      return rows.length && rows[0]!.checkout_url ? rows : null;
    });
    expect(order!.currency).toBe('ILS');
    expect((order!.items as { sku: string; quantity: number; unitPriceMinor: number }[]).map((i) => [i.sku, i.quantity, i.unitPriceMinor])).toEqual([
      ['HAMBURGER', 3, 2000],
      ['FRENCH_FRIES', 2, 2500],
      ['SODA', 2, 3000],
    ]);
    expect(order!.total_minor).toBe(3 * 2000 + 2 * 2500 + 2 * 3000);
    const holds = await db()`SELECT count(*)::int AS n FROM orders WHERE id = ${order!.id} AND hold_expires_at > now()`;
    expect(holds[0]!.n).toBe(1);
    await eventually(() => sentTo(stack(), waId).some((m) => bodyOf(m).interactive?.type === 'cta_url'));
  });

  it("whatsapp-api-js's username-only envelope (BSUID, no phone) carrying pywa's order: the order is the BSUID's", async () => {
    const envelope = fixture('whatsapp-api-js/payloads.test.json').examples['L225: Payload Examples > v25 > Incoming message > With username > doesn\'t have parent bsuid'] as {
      value: { messages: Record<string, unknown>[] };
    };
    const order = (pywaOrder() as { entry: { changes: { value: { messages: { order: unknown }[] } }[] }[] }).entry[0]!.changes[0]!.value.messages[0]!.order;
    const change = structuredClone(envelope);
    const { text: _text, ...message } = change.value.messages[0]!;
    change.value.messages[0] = { ...message, type: 'order', order };
    const userId = bsuid();
    await post(rewrite({ object: 'whatsapp_business_account', entry: [{ id: '1', changes: [change] }] }, 'unused', userId));
    const [row] = await eventually(async () => {
      const rows = await ordersOf({ userId });
      return rows.length && rows[0]!.checkout_url ? rows : null;
    });
    expect(row!.total_minor).toBe(17_000);
  });

  it('the same fixture with an item we never pushed and one above the limit: answered precisely, nothing held', async () => {
    const waId = newCustomer();
    const body = rewrite(pywaOrder(), waId);
    const text = JSON.stringify(body).replace('"product_retailer_id":"SODA"', '"product_retailer_id":"MILKSHAKE"');
    await post(JSON.parse(text));
    await eventually(() => sentTo(stack(), waId).length === 1);
    expect((bodyOf(sentTo(stack(), waId)[0]!).text as { body: string }).body).toContain('"MILKSHAKE"');
    const other = newCustomer();
    await post(JSON.parse(JSON.stringify(rewrite(pywaOrder(), other)).replace('"quantity":3', '"quantity":11')));
    await eventually(() => sentTo(stack(), other).length === 1);
    expect((bodyOf(sentTo(stack(), other)[0]!).text as { body: string }).body).toMatch(/11 × hamburger \(HAMBURGER\).*between 1 and 10/);
    expect(await ordersOf({ waId })).toEqual([]);
    expect(await ordersOf({ waId: other })).toEqual([]);
  });
});
