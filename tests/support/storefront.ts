import { bumpCatalogVersion } from '../../lib/catalog/cache.js';
import { importCatalogJson } from '../../lib/admin/catalog-import.js';
import { makeWamid } from '../../dev/standins/graph.js';
import { db } from '../../lib/db.js';
import { eventually, sentTo, type TestStack } from './stack.js';

/** A storefront catalog: 500 numbered products in 12 categories (with images), and a few named ones to search for. */
export const CATEGORIES = ['Tea', 'Coffee', 'Pantry', 'Kitchen', 'Garden', 'Books', 'Toys', 'Sweets', 'Spices', 'Bakery', 'Drinks and more drinks', 'Gifts'];
export const numbered = Array.from({ length: 500 }, (_, i) => `S-${String(i + 1).padStart(3, '0')}`);
export const NAMED = ['TEA-GREEN', 'TEA-JASMINE', 'HONEY-250', 'HONEY-500', 'SOLD-OUT'];

export async function importStorefrontCatalog(): Promise<void> {
  const result = await importCatalogJson({
    products: [
      ...numbered.map((sku, i) => ({
        sku,
        name: `Item ${sku.slice(2)} ${['plain', 'extra long name for the row title', 'x'][i % 3]}`,
        description: `Numbered product ${i + 1}`,
        priceMinor: 100 + i,
        currency: 'EUR',
        category: CATEGORIES[i % CATEGORIES.length],
        imageUrl: `https://images.example.com/${sku}.jpg`,
        stock: 5,
      })),
      { sku: 'TEA-GREEN', name: 'Green tea', description: 'Sencha', priceMinor: 1299, currency: 'EUR', category: 'Tea', imageUrl: 'https://images.example.com/green.jpg', stock: 40 },
      { sku: 'TEA-JASMINE', name: 'Jasmine tea', priceMinor: 1499, currency: 'EUR', category: 'Tea', stock: 40 },
      {
        sku: 'HONEY', name: 'Honey', priceMinor: 900, currency: 'EUR', category: 'Pantry',
        variants: [{ sku: 'HONEY-250', name: '250 g', stock: 20 }, { sku: 'HONEY-500', name: '500 g', priceDeltaMinor: 700, stock: 20 }],
      },
      { sku: 'SOLD-OUT', name: 'Sold out teapot', priceMinor: 3000, currency: 'EUR', category: 'Kitchen', stock: 0 },
    ],
  });
  if (result.rejected.length) throw new Error(JSON.stringify(result.rejected));
}

/** Only these SKUs (and the sold-out one, which must never be offered) stay sellable. */
export async function sellOnly(skus: string[]): Promise<void> {
  const keep = [...skus, 'SOLD-OUT'];
  await db()`UPDATE variants SET active = (sku = ANY(${keep}))`;
  await bumpCatalogVersion();
}

/** Sends an inbound message and waits for the shop's next answer to it. */
export async function ask(stack: () => TestStack, waId: string, input: Record<string, unknown>) {
  const before = sentTo(stack(), waId).length + stack().graph.messages({ to: waId, status: 'rejected' }).length;
  const wamid = makeWamid(waId);
  await stack().graph.sendInbound({ from: waId, wamid, ...input } as never);
  await eventually(() => sentTo(stack(), waId).length + stack().graph.messages({ to: waId, status: 'rejected' }).length > before, 30_000, 20);
  // The answer goes out before the statement finishing the event (with its conversation counters) commits: wait for it,
  // so the next message reads them (the webhook answers after one round trip: the next message may be recorded at once).
  await eventually(async () => (await db()`SELECT processed_at FROM inbound_events WHERE source = 'meta' AND external_id = ${wamid}`)[0]?.processed_at != null, 30_000, 20);
  const all = stack().graph.messages({ to: waId });
  return all[all.length - 1]!;
}
