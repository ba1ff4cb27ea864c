import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { pushCatalogChanges } from '../lib/catalog/index.js';
import { db } from '../lib/db.js';
import { placeOrder } from '../lib/orders/place.js';
import { availableStock } from '../lib/stock/index.js';
import { newCustomer, useStack, type Body } from './support/stack.js';

const stack = useStack();
const api = (p: string) => `${stack().url}/api${p}`;
const auth = () => ({ authorization: `Bearer ${stack().env.ADMIN_API_KEY}` });

async function call(method: string, p: string, body?: string, contentType = 'application/json') {
  const r = await fetch(api(p), { method, headers: { ...auth(), ...(body !== undefined ? { 'content-type': contentType } : {}) }, body });
  const text = await r.text();
  try {
    return { status: r.status, body: JSON.parse(text) as Body & Record<string, any> };
  } catch {
    throw new Error(`${method} ${p}: HTTP ${r.status}, not JSON: ${text.slice(0, 300)}`);
  }
}
const putJson = (products: unknown) => call('PUT', '/catalog', JSON.stringify({ products }));

type Row = { sku: string; productSku: string; name: string; priceMinor: number; currency: string; stock: number; available: number | null; active: boolean };
const catalog = async () => (await call('GET', '/catalog')).body!.variants as Row[];
const catalogId = () => stack().env.WHATSAPP_CATALOG_ID!;
type Batch = { catalogId: string; requests: { method: string; retailerId: string; data: Record<string, unknown> }[] };
const batches = () => stack().graph.catalogBatches() as unknown as Batch[];
const metaCatalog = async () => (await (await fetch(`${stack().graph.url}/_standin/catalog/${catalogId()}`)).json()) as Record<string, { availability: string; price: string }>;

let orderSeq = 0;
async function hold(sku: string, quantity: number) {
  const waId = newCustomer();
  const r = await placeOrder({ customer: { waId, userId: null, profileName: null }, source: 'api', sourceKey: `cat-test:${orderSeq++}`, lines: [{ sku, quantity }] });
  if (r.status !== 'created') throw new Error(r.status);
  return r.order;
}

const csvCell = (v: string | number) => (/[",\n]/.test(String(v)) ? `"${String(v).replace(/"/g, '""')}"` : String(v));

/** 1 000 rows: 990 single-SKU products and one product with 10 variants; 3 rows are bad. */
function thousandRowCsv(): string {
  const lines = ['sku,name,description,priceMinor,currency,imageUrl,stock,variantSku,variantName,priceDeltaMinor,variantStock'];
  for (let i = 0; i < 990; i++) {
    const sku = `CAT-${String(i).padStart(4, '0')}`;
    const price = i === 10 ? '12.50' : String(100 + i);
    const currency = i === 500 ? 'EURO' : 'EUR';
    const description = i % 7 === 0 ? `Loose leaf, "first flush"\nline two` : `Tea number ${i}`;
    lines.push([sku, `Tea ${i}`, description, price, currency, `https://img.example.com/${sku}.jpg`, i % 50, '', '', '', ''].map(csvCell).join(','));
  }
  for (let v = 0; v < 10; v++) {
    const stock = v === 5 ? '-1' : String(v + 1);
    lines.push(['SHIRT', 'T-shirt', 'Cotton', 1500, 'EUR', '', '', `SHIRT-${v}`, `Size ${v}`, v * 100, stock].map(csvCell).join(','));
  }
  return lines.join('\r\n') + '\r\n';
}

describe('catalog import', () => {
  it('a 1 000-row CSV with 3 bad rows → 997 upserted, 3 rejected with reasons; Redis counters equal Postgres stock', async () => {
    const r = await call('PUT', '/catalog', thousandRowCsv(), 'text/csv; charset=utf-8');
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ created: 989, updated: 0, variants: 997 }); // 988 single-SKU products + the T-shirt
    const rejected = r.body!.rejected as { index: number; sku: string; reason: string; line: number }[];
    expect(rejected.map((x) => [x.index, x.sku])).toEqual([
      [10, 'CAT-0010'],
      [500, 'CAT-0500'],
      [995, 'SHIRT-5'],
    ]);
    expect(rejected[0]!.reason).toMatch(/^priceMinor: /);
    expect(rejected[1]!.reason).toMatch(/^currency: .*ISO 4217/);
    expect(rejected[2]!.reason).toMatch(/^variantStock: .*negative/);

    const rows = await catalog();
    expect(rows).toHaveLength(997);
    const [pg] = await db()`SELECT count(*)::int AS n, sum(stock)::int AS stock FROM variants`;
    expect(pg).toMatchObject({ n: 997 });
    for (const row of rows) expect(row.available, row.sku).toBe(row.stock);
    const redis = await availableStock(rows.map((x) => x.sku));
    expect(rows.reduce((s, x) => s + (redis.get(x.sku) ?? -1), 0)).toBe(pg!.stock);

    expect(rows.find((x) => x.sku === 'CAT-0007')).toMatchObject({ productSku: 'CAT-0007', name: 'Tea 7', priceMinor: 107, currency: 'EUR', stock: 7 });
    expect(rows.find((x) => x.sku === 'SHIRT-3')).toMatchObject({ productSku: 'SHIRT', name: 'T-shirt (Size 3)', priceMinor: 1800, stock: 4 });
    const [quoted] = await db()`SELECT description FROM products WHERE sku = 'CAT-0014'`;
    expect(quoted!.description).toBe('Loose leaf, "first flush"\nline two');
  });

  it('JSON: bad rows are rejected with field paths, the rest imported; a product without variants sells as one SKU', async () => {
    const r = await putJson([
      {
        sku: 'TEA-1', name: 'Green tea', description: 'Sencha', priceMinor: 1299, currency: 'EUR', imageUrl: 'https://img.example.com/tea.jpg', stock: 25,
        variants: [
          { sku: 'TEA-1-L', name: 'Large', priceDeltaMinor: 300, stock: 10 },
          { sku: 'TEA-1-XL', name: 'Extra large', stock: -4 },
        ],
      },
      { sku: 'NO-NAME', priceMinor: 100, currency: 'EUR', stock: 1 },
      { sku: 'MUG-1', name: 'Mug', priceMinor: 800, currency: 'eur', stock: 3 },
      { sku: 'MUG-1', name: 'Mug again', priceMinor: 800, currency: 'EUR', stock: 3 },
      'not an object',
    ]);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ created: 2, updated: 0, variants: 2 });
    expect(r.body!.rejected).toEqual([
      { index: 0, sku: 'TEA-1-XL', reason: expect.stringMatching(/^variants\[1\]\.stock: /) },
      { index: 1, sku: 'NO-NAME', reason: expect.stringMatching(/^name: /) },
      { index: 3, sku: 'MUG-1', reason: expect.stringContaining('duplicate') },
      { index: 4, sku: null, reason: expect.any(String) },
    ]);
    const rows = await catalog();
    expect(rows.find((x) => x.sku === 'TEA-1-L')).toMatchObject({ productSku: 'TEA-1', priceMinor: 1599, stock: 10, available: 10 });
    expect(rows.find((x) => x.sku === 'MUG-1')).toMatchObject({ productSku: 'MUG-1', name: 'Mug', priceMinor: 800, currency: 'EUR', stock: 3, available: 3 });
    expect(rows.find((x) => x.sku === 'TEA-1-XL')).toBeUndefined();

    // Re-imported with variants, a product's earlier default variant stops selling.
    const again = await putJson([{ sku: 'MUG-1', name: 'Mug', priceMinor: 800, currency: 'EUR', variants: [{ sku: 'MUG-1-BLUE', name: 'Blue', stock: 2 }] }]);
    expect(again.body).toMatchObject({ created: 0, updated: 1, rejected: [] });
    const after = await catalog();
    expect(after.find((x) => x.sku === 'MUG-1')).toMatchObject({ active: false });
    expect(after.find((x) => x.sku === 'MUG-1-BLUE')).toMatchObject({ active: true, stock: 2, available: 2 });
  });

  it('stock set with holds: Redis available = Postgres stock − active holds', async () => {
    await putJson([{ sku: 'HELD-1', name: 'Held tea', priceMinor: 500, currency: 'EUR', stock: 5 }]);
    await hold('HELD-1', 2);
    expect((await availableStock(['HELD-1'])).get('HELD-1')).toBe(3);
    const r = await putJson([{ sku: 'HELD-1', name: 'Held tea', priceMinor: 500, currency: 'EUR', stock: 10 }]);
    expect(r.body).toMatchObject({ created: 0, updated: 1 });
    expect((await catalog()).find((x) => x.sku === 'HELD-1')).toMatchObject({ stock: 10, available: 8 });
  });

  it('a product Postgres refuses is isolated by splitting its chunk: only it is rejected, the others saved and counted', async () => {
    // A row the schema accepts and Postgres refuses (a constraint of this test): the chunk's statement fails.
    await db()`ALTER TABLE variants ADD CONSTRAINT test_refused_name CHECK (name <> 'Refused tea') NOT VALID`;
    const products = Array.from({ length: 300 }, (_, i) => ({ sku: `ISO-${i}`, name: i === 217 ? 'Refused tea' : `Tea ${i}`, priceMinor: 100, currency: 'EUR', stock: 2 }));
    const r = await putJson(products).finally(() => db()`ALTER TABLE variants DROP CONSTRAINT test_refused_name`);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ created: 299, updated: 0, variants: 299, rejected: [{ index: 217, sku: 'ISO-217', reason: 'could not be saved' }] });
    const rows = (await catalog()).filter((x) => x.sku.startsWith('ISO-'));
    expect(rows).toHaveLength(299);
    expect(rows.every((x) => x.stock === 2 && x.available === 2)).toBe(true);
  });

  it('422 with field paths for a malformed request', async () => {
    const a = await call('PUT', '/catalog', JSON.stringify({ products: 'nope' }));
    expect(a.status).toBe(422);
    expect(a.body!.fields.map((f: { path: string }) => f.path)).toEqual(['products']);
    const b = await call('PUT', '/catalog', 'sku,name\nA,B\n', 'text/csv');
    expect(b.status).toBe(422);
    expect(b.body!.fields[0].message).toContain('priceMinor');
    expect((await call('PUT', '/catalog', '{"products": [')).status).toBe(422);
    expect((await call('POST', '/catalog', '{}')).status).toBe(405);
  });

  it('npm run catalog:import -- <file> imports a JSON file and reports rejected rows', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'catalog-'));
    const file = path.join(dir, 'catalog.json');
    await writeFile(file, JSON.stringify({ products: [{ sku: 'FILE-1', name: 'From file', priceMinor: 250, currency: 'EUR', stock: 4 }, { sku: 'FILE-2', name: 'Bad', priceMinor: -1, currency: 'EUR', stock: 1 }] }));
    const run = promisify(execFile);
    const root = path.resolve(import.meta.dirname, '..');
    const result = await run(path.join(root, 'node_modules/.bin/tsx'), ['scripts/catalog-import.ts', file], { cwd: root, env: process.env }).catch((e) => e as { stdout: string; code: number });
    expect(result.stdout).toContain('1 created, 0 updated (1 variants), 1 rejected');
    expect(result.stdout).toContain('FILE-2');
    expect((result as { code?: number }).code).toBe(1);
    expect((await catalog()).find((x) => x.sku === 'FILE-1')).toMatchObject({ stock: 4, available: 4 });
  });
});

describe('catalog push to Meta', () => {
  it('pushes every row once, in batches within the limit; then exactly the changed rows; a sold-out SKU goes out of stock', async () => {
    const all = await catalog();
    const sellable = all.length;
    const first = await pushCatalogChanges({ batchSize: 400 });
    expect(first).toMatchObject({ status: 'pushed', pushed: sellable, batches: Math.ceil(sellable / 400) });
    const initial = batches();
    expect(initial.map((b) => b.requests.length)).toEqual(Array.from({ length: Math.ceil(sellable / 400) }, (_, i) => Math.min(400, sellable - i * 400)));
    expect(initial.every((b) => b.catalogId === catalogId())).toBe(true);
    const sent = new Map(initial.flatMap((b) => b.requests).map((q) => [q.retailerId, q]));
    expect(sent.size).toBe(sellable);
    expect(sent.get('CAT-0007')).toEqual({ method: 'UPDATE', retailerId: 'CAT-0007', data: { id: 'CAT-0007', price: '1.07 EUR', availability: 'in stock' } });
    expect(sent.get('CAT-0050')!.data.availability).toBe('out of stock'); // stock 0
    expect(sent.get('MUG-1')!.data.availability).toBe('out of stock'); // retired variant

    // Nothing changed: nothing is sent.
    const none = await call('POST', '/catalog/sync');
    expect(none).toMatchObject({ status: 200, body: { status: 'pushed', pushed: 0, batches: 0, unchanged: sellable } });
    expect(batches()).toHaveLength(initial.length);

    // Two prices change (and one row is re-imported unchanged): exactly those two.
    await putJson([
      { sku: 'CAT-0002', name: 'Tea 2', priceMinor: 999, currency: 'EUR', stock: 2 },
      { sku: 'CAT-0003', name: 'Tea 3', priceMinor: 103, currency: 'USD', stock: 3 },
      { sku: 'CAT-0004', name: 'Tea 4', priceMinor: 104, currency: 'EUR', stock: 4 },
    ]);
    const changed = await call('POST', '/catalog/sync');
    expect(changed.body).toMatchObject({ status: 'pushed', pushed: 2, batches: 1 });
    expect(batches().at(-1)!.requests.map((q) => [q.retailerId, q.data.price, q.data.availability])).toEqual([
      ['CAT-0002', '9.99 EUR', 'in stock'],
      ['CAT-0003', '1.03 USD', 'in stock'],
    ]);

    // Selling out a SKU (the last unit held by an order) marks it out of stock at the next push.
    await putJson([{ sku: 'LAST-1', name: 'Last one', priceMinor: 700, currency: 'EUR', stock: 1 }]);
    await call('POST', '/catalog/sync');
    expect((await metaCatalog())['LAST-1']).toMatchObject({ availability: 'in stock', price: '7.00 EUR' });
    const order = await hold('LAST-1', 1);
    const soldOut = await call('POST', '/catalog/sync');
    expect(soldOut.body).toMatchObject({ pushed: 1 });
    expect(batches().at(-1)!.requests).toEqual([{ method: 'UPDATE', retailerId: 'LAST-1', data: { id: 'LAST-1', price: '7.00 EUR', availability: 'out of stock' } }]);
    expect((await metaCatalog())['LAST-1']).toMatchObject({ availability: 'out of stock' });

    // Back in stock when the order is cancelled and its hold released.
    expect((await call('POST', `/orders/${order.id}/cancel`)).status).toBe(200);
    expect((await call('POST', '/catalog/sync')).body).toMatchObject({ pushed: 1 });
    expect((await metaCatalog())['LAST-1']).toMatchObject({ availability: 'in stock' });
  });

  it('a batch Meta refuses is not recorded: the next push sends it again', async () => {
    await putJson([{ sku: 'CAT-0005', name: 'Tea 5', priceMinor: 555, currency: 'EUR', stock: 5 }]);
    await fetch(`${stack().graph.url}/_standin/fail`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ status: 500, scope: 'catalog' }) });
    const failed = await call('POST', '/catalog/sync');
    expect(failed.status).toBe(502);
    expect(failed.body).toMatchObject({ status: 'failed', pushed: 0 });
    const retried = await call('POST', '/catalog/sync');
    expect(retried.body).toMatchObject({ status: 'pushed', pushed: 1 });
    expect(batches().at(-1)!.requests.map((q) => q.retailerId)).toEqual(['CAT-0005']);
  });
});
