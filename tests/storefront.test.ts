import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { db } from '../lib/db.js';
import { expectWithinMetaLimits } from './support/meta-limits.js';
import { bodyOf, eventually, newCustomer, sentTo, useStack, type Body } from './support/stack.js';
import { ask, importStorefrontCatalog, numbered, sellOnly } from './support/storefront.js';

/**
 * The storefront without a Meta catalog (the default): the interactive list with categories as
 * sections, paged so every product is reachable, and text search by name and SKU
 * (docs/storefront.md). Every message sent is checked against Meta's limits twice: by the Graph
 * stand-in (nothing rejected) and by expectWithinMetaLimits.
 */
const stack = useStack();

beforeAll(async () => {
  await importStorefrontCatalog();
}, 120_000);

afterAll(async () => {
  await sellOnly([...numbered, 'TEA-GREEN', 'TEA-JASMINE', 'HONEY-250', 'HONEY-500']);
  expect(stack().graph.messages({ status: 'rejected' })).toEqual([]);
  for (const m of stack().graph.messages({ status: 'accepted' })) expectWithinMetaLimits(m.body);
});

type Row = { id: string; title: string; description?: string };
const sectionsOf = (m: { body: unknown }) => (bodyOf(m as never).interactive!.action as { sections: { title: string; rows: Row[] }[] }).sections;
const rowsOf = (m: { body: unknown }) => sectionsOf(m).flatMap((s) => s.rows);

/** "menu", then every "More" row until the list comes back to the start: the SKUs seen, page by page. */
async function walkMenu(waId: string): Promise<string[][]> {
  const pages: string[][] = [];
  let m = await ask(stack, waId, { text: 'menu' });
  for (;;) {
    expect(m.status).toBe('accepted');
    const rows = rowsOf(m);
    pages.push(rows.filter((r) => r.id.startsWith('variant:')).map((r) => r.id.slice('variant:'.length)));
    const more = rows.find((r) => r.id.startsWith('page:'));
    if (!more || more.id === 'page:1') return pages;
    m = await ask(stack, waId, { interactive: { type: 'list_reply', id: more.id, title: more.title } });
  }
}

describe('the menu as an interactive list, for catalogs of 1, 10, 30 and 500 products', () => {
  it.each([1, 10, 30, 500])('%i products: every page within Meta limits, every product reachable, none twice, sold-out left out', async (n) => {
    const skus = numbered.slice(0, n);
    await sellOnly(skus);
    const pages = await walkMenu(newCustomer());
    const seen = pages.flat();
    expect(seen.sort()).toEqual([...skus].sort());
    expect(pages.length).toBe(n <= 10 ? 1 : Math.ceil(n / 9));
    for (const page of pages) expect(page.length).toBeLessThanOrEqual(n <= 10 ? 10 : 9);
  }, 120_000);

  it('categories are the sections; the "More" row has its own', async () => {
    await sellOnly(numbered.slice(0, 30));
    const m = await ask(stack, newCustomer(), { text: 'hi' });
    const sections = sectionsOf(m);
    expect(sections.length).toBeGreaterThan(2);
    expect(sections.at(-1)).toMatchObject({ title: 'More', rows: [{ id: 'page:2' }] });
    // Coffee items are grouped under "Coffee" (S-002, S-014, S-026 are Coffee in the fixture).
    expect(sections.find((s) => s.title === 'Coffee')?.rows.map((r) => r.id)).toEqual(expect.arrayContaining(['variant:S-002']));
    // A long category is clipped to Meta's 24 characters.
    const titles = sections.map((s) => s.title);
    expect(titles.every((t) => [...t].length <= 24)).toBe(true);
  });
});

describe('text search', () => {
  beforeAll(async () => {
    await sellOnly([...numbered, 'TEA-GREEN', 'TEA-JASMINE', 'HONEY-250', 'HONEY-500']);
  });

  it('"tea" lists the teas (by name), within the limits', async () => {
    const m = await ask(stack, newCustomer(), { text: 'tea' });
    const ids = rowsOf(m).map((r) => r.id);
    expect(ids.slice(0, 2).sort()).toEqual(['variant:TEA-GREEN', 'variant:TEA-JASMINE']);
    expect(ids).not.toContain('variant:SOLD-OUT');
  });

  it('searches in a row are answered as searches: a text that finds products is not "not understood" (no person offered)', async () => {
    const who = newCustomer();
    await ask(stack, who, { text: 'tea' });
    const second = await ask(stack, who, { text: 'jasmine tea' });
    expect(JSON.stringify(second.body)).not.toContain('Talk to a person');
    expect(JSON.stringify(second.body)).toContain('TEA-JASMINE');
    // Two texts that find nothing still offer a person (the inbox's handover).
    await ask(stack, who, { text: 'qwxz zzkq' });
    const lost = await ask(stack, who, { text: 'zzkq qwxz' });
    expect(JSON.stringify(lost.body)).toContain('Talk to a person');
  });

  it('"honey 500" finds the one variant: its quantity question', async () => {
    const m = await ask(stack, newCustomer(), { text: 'honey 500' });
    const i = bodyOf(m).interactive!;
    expect(i.type).toBe('button');
    expect((i.action as { buttons: { reply: { id: string } }[] }).buttons[0]!.reply.id).toBe('qty:1:HONEY-500');
  });

  it('finds by SKU ("S-123", "search s-042") and "show <product>" answers one product', async () => {
    const bySku = bodyOf(await ask(stack, newCustomer(), { text: 'S-123' })).interactive!;
    expect((bySku.action as { buttons: { reply: { id: string } }[] }).buttons[0]!.reply.id).toBe('qty:1:S-123');
    const search = bodyOf(await ask(stack, newCustomer(), { text: 'search s-042' })).interactive!;
    expect(JSON.stringify(search)).toContain('S-042');
    const show = bodyOf(await ask(stack, newCustomer(), { text: 'show jasmine tea' })).interactive!;
    expect((show.action as { buttons: { reply: { id: string } }[] }).buttons[0]!.reply.id).toBe('qty:1:TEA-JASMINE');
  });

  it('a search with many matches pages through all of them ("item": 500 matches)', async () => {
    const waId = newCustomer();
    let m = await ask(stack, waId, { text: 'find item' });
    const seen = new Set<string>();
    for (let page = 0; page < 60; page++) {
      for (const r of rowsOf(m)) if (r.id.startsWith('variant:')) seen.add(r.id);
      const more = rowsOf(m).find((r) => r.id.startsWith('find:'));
      if (!more || more.id.startsWith('find:1:')) break;
      m = await ask(stack, waId, { interactive: { type: 'list_reply', id: more.id, title: more.title } });
    }
    expect(seen.size).toBe(500);
  }, 120_000);

  it('nothing found: the menu with a short explanation', async () => {
    const m = await ask(stack, newCustomer(), { text: 'xylophone zebra' });
    expect(JSON.stringify(bodyOf(m))).toContain("didn't quite get that");
  });
});

describe('a cart Meta sends (order message)', () => {
  it('an item we do not sell and a quantity above the limit are answered precisely; nothing is held', async () => {
    await sellOnly(['TEA-GREEN', 'HONEY-500']);
    const a = newCustomer();
    const unknown = await ask(stack, a, {
      order: { catalog_id: stack().env.WHATSAPP_CATALOG_ID, product_items: [{ product_retailer_id: 'TEA-GREEN', quantity: 1, item_price: 12.99, currency: 'EUR' }, { product_retailer_id: 'NOPE-9', quantity: 1, item_price: 1, currency: 'EUR' }] },
    });
    expect((bodyOf(unknown).text as { body: string }).body).toContain('"NOPE-9"');
    const b = newCustomer();
    const tooMany = await ask(stack, b, { order: { catalog_id: stack().env.WHATSAPP_CATALOG_ID, product_items: [{ product_retailer_id: 'HONEY-500', quantity: 11, item_price: 16, currency: 'EUR' }] } });
    const text = (bodyOf(tooMany).text as { body: string }).body;
    expect(text).toContain('11 × Honey (500 g) (HONEY-500)');
    expect(text).toContain('between 1 and 10');
    const orders = await db()`SELECT count(*)::int AS n FROM orders o JOIN customers c ON c.id = o.customer_id WHERE c.wa_id IN (${a}, ${b})`;
    expect(orders[0]!.n).toBe(0);
  });

  it('the menu answers the same message again with nothing new (idempotent by wamid)', async () => {
    await sellOnly(['TEA-GREEN']);
    const waId = newCustomer();
    const wamid = `wamid.storefront-${waId}`;
    await stack().graph.sendInbound({ from: waId, text: 'menu', wamid });
    await eventually(() => sentTo(stack(), waId).length === 1);
    await stack().graph.sendInbound({ from: waId, text: 'menu', wamid });
    await new Promise((r) => setTimeout(r, 500));
    expect(sentTo(stack(), waId)).toHaveLength(1);
    expect((bodyOf(sentTo(stack(), waId)[0]!).interactive!.action as Body).sections).toBeDefined();
  });
});
