import { chunks } from '../chunks.js';
import { getConfig } from '../config.js';
import { log } from '../log.js';
import { heldUnits, syncAvailableStock } from '../stock/index.js';
import { bumpCatalogVersion } from './cache.js';
import { candidatesFromCsv } from './csv.js';
import { candidatesFromJson, importRequest, type Candidate, type Parsed, type Rejection } from './schema.js';
import { retireUnlistedVariants, upsertProducts, variantsOf, type CatalogProductInput } from './store.js';

/**
 * Catalog import (PUT /api/catalog, `npm run catalog:import -- <file.json|file.csv>`).
 *
 * JSON: { "products": [ { sku, name, description?, priceMinor, currency, imageUrl?, stock?, variants?: [ { sku, name, priceDeltaMinor?, stock } ] } ] }
 * CSV: one row per variant (csv.ts). Every row is checked on its own (schema.ts): a bad row is
 * rejected with its reason and the others are still imported. Products are upserted CHUNK per
 * statement (a 10 000-row import must fit a function's time limit; a chunk whose statement fails
 * is split in halves until the bad product is alone, so only it is rejected); then each SKU's
 * Redis available counter is set from its stock on hand minus active holds (lib/stock: one script
 * per batch of SKUs, docs/scale.md "Catalog import in batches"). A product
 * imported with variants stops selling its other variants (e.g. its earlier default variant)
 * unless they were in this import as rejected rows. Result: { created, updated, variants,
 * rejected: [{ index, sku, reason }] } (JSON: index of the product; CSV: index of the data row,
 * 0-based, and its file line).
 *
 * Stock below what open orders hold (docs/reliability.md "Stock shortfall rule"): a SKU whose new stock is
 * below the units in active holds is, by STOCK_BELOW_HELD, refused (`refuse`, the default: its stock and the
 * rest of its row stay as they were, and `rejected` names the held units) or applied (`release`: the newest
 * holding orders are cancelled, their customers told, until the holds fit; listed in `released`).
 */

export type ImportResult = { created: number; updated: number; variants: number; rejected: Rejection[]; released?: ReleasedOrder[] };

/** A SKU's new stock below the units its active holds take. */
export type StockCut = { sku: string; stock: number; held: number };
export type ReleasedOrder = { orderId: string; reference: string; skus: string[] };
/**
 * The import's stock-shortfall step, the orders' (lib/orders/stock-shortfall.ts), handed in by the import's flow
 * (lib/admin/catalog-import.ts): the catalog knows no orders.
 */
export type StockShortfall = {
  releaseHoldsAbove: (cuts: StockCut[]) => Promise<ReleasedOrder[]>;
  alertStockBelowHeld: (cuts: StockCut[], context: string) => Promise<void>;
};

/**
 * Products per upsert statement, and their JSON's bytes (a statement's request stays far below the Neon
 * HTTP driver's request size limit): a 10 000-row import is 4 Postgres round trips, not a thousand.
 */
const CHUNK = 2_500;
const CHUNK_BYTES = 2_000_000;

/**
 * Upserts the products in one statement; if it fails, each half in its own (recursively), so a bad row
 * costs about 2·log2(chunk) statements and only it is rejected. Returns the saved candidates; `created`
 * gets the SKUs of products new to the catalog.
 */
async function upsertIsolating(chunk: Candidate[], created: Set<string>, rejected: Rejection[], split = false): Promise<Candidate[]> {
  try {
    for (const sku of await upsertProducts(chunk.map((c) => c.input))) created.add(sku);
    return chunk;
  } catch (error) {
    if (chunk.length === 1) {
      const c = chunk[0]!;
      log.error('catalog.import_row_failed', { sku: c.input.sku, error });
      rejected.push({ index: c.index, ...(c.line ? { line: c.line } : {}), sku: c.input.sku, reason: 'could not be saved' });
      return [];
    }
    // One statement for the chunk failed: split it until the bad row is alone.
    if (!split) log.warn('catalog.import_chunk_failed', { products: chunk.length, error });
    const half = Math.ceil(chunk.length / 2);
    return [...(await upsertIsolating(chunk.slice(0, half), created, rejected, true)), ...(await upsertIsolating(chunk.slice(half), created, rejected, true))];
  }
}

/**
 * Upserts one product and its variants, then sets each SKU's available counter in Redis from its
 * stock on hand minus active holds.
 */
export async function upsertCatalogProduct(p: CatalogProductInput): Promise<{ created: boolean }> {
  const created = await upsertProducts([p]);
  await bumpCatalogVersion();
  await syncAvailableStock(variantsOf(p));
  return { created: created.has(p.sku) };
}

export async function importCandidates(parsed: Parsed, shortfall: StockShortfall): Promise<ImportResult> {
  try {
    return await importAll(parsed, shortfall);
  } finally {
    // Whatever was written (also by a failed import), instances reload their cached catalog.
    await bumpCatalogVersion();
  }
}

/** Each SKU's new stock against the units its active holds take. */
async function stockCuts(variants: { sku: string; stock: number }[]): Promise<StockCut[]> {
  const held = await heldUnits(variants.map((v) => v.sku));
  return variants.map((v) => ({ sku: v.sku, stock: v.stock, held: held.get(v.sku) ?? 0 })).filter((c) => c.held > c.stock);
}

/** STOCK_BELOW_HELD=refuse: the candidates without the SKUs set below their holds (each rejected with the held units). */
function refuseBelowHeld(candidates: Candidate[], cuts: StockCut[], rejected: Rejection[]): Candidate[] {
  const below = new Map(cuts.map((c) => [c.sku, c]));
  const reason = (c: StockCut) => `stock: ${c.stock} is below the ${c.held} unit${c.held === 1 ? '' : 's'} held by open orders (STOCK_BELOW_HELD=refuse); stock unchanged`;
  return candidates.flatMap((c) => {
    const refused = variantsOf(c.input).filter((v) => below.has(v.sku));
    if (refused.length === 0) return [c];
    const where = { index: c.index, ...(c.line ? { line: c.line } : {}) };
    for (const v of refused) rejected.push({ ...where, sku: v.sku, reason: reason(below.get(v.sku)!) });
    const variants = c.input.variants?.filter((v) => !below.has(v.sku));
    // A product without variants, or with none left: the whole row stays as it was.
    if (!variants?.length) return [];
    return [{ ...c, input: { ...c.input, variants }, rejectedSkus: [...c.rejectedSkus, ...refused.map((v) => v.sku)] }];
  });
}

async function importAll(parsed: Parsed, { releaseHoldsAbove, alertStockBelowHeld }: StockShortfall): Promise<ImportResult> {
  const result: ImportResult = { created: 0, updated: 0, variants: 0, rejected: [...parsed.rejected] };
  const done: Candidate[] = [];
  const mode = getConfig().STOCK_BELOW_HELD;
  const cuts = await stockCuts(parsed.candidates.flatMap((c) => variantsOf(c.input)));
  let candidates = parsed.candidates;
  if (mode === 'refuse') candidates = refuseBelowHeld(candidates, cuts, result.rejected);
  // release: the holds that will not fit are given back first, so the counters never show units that are not there.
  else if (cuts.length) result.released = await releaseHoldsAbove(cuts);
  for (const chunk of chunks(candidates, CHUNK, CHUNK_BYTES, (c) => JSON.stringify(c.input).length)) {
    const created = new Set<string>();
    const saved = await upsertIsolating(chunk, created, result.rejected);
    for (const c of saved) {
      if (created.has(c.input.sku)) result.created++;
      else result.updated++;
      result.variants += variantsOf(c.input).length;
      done.push(c);
    }
  }
  // Redis follows Postgres for every imported SKU: available = stock on hand − active holds (one script per
  // batch of SKUs, which answers each SKU's held units).
  const written = done.flatMap((c) => variantsOf(c.input));
  const held = await syncAvailableStock(written);
  // Holds taken between the check and the write (or not tied to an order yet) may still exceed the new stock.
  const late: StockCut[] = written.map((v) => ({ sku: v.sku, stock: v.stock, held: held.get(v.sku) ?? 0 })).filter((c) => c.held > c.stock);
  const lateSkus = new Set(late.map((c) => c.sku));
  if (late.length && mode === 'release') {
    result.released = [...(result.released ?? []), ...(await releaseHoldsAbove(late))];
    await syncAvailableStock(written.filter((v) => lateSkus.has(v.sku)));
  }
  await alertStockBelowHeld(late.length ? await stockCuts(written.filter((v) => lateSkus.has(v.sku))) : [], 'catalog-import');
  await retireUnlistedVariants(
    done.map((c) => ({ productSku: c.input.sku, keep: [...(c.input.variants?.map((v) => v.sku) ?? [c.input.sku]), ...c.rejectedSkus] })),
  );
  result.rejected.sort((a, b) => a.index - b.index);
  log.info('catalog.imported', { created: result.created, updated: result.updated, variants: result.variants, rejected: result.rejected.length, released: result.released?.length ?? 0 });
  return result;
}

export async function importCatalogJson(body: unknown, shortfall: StockShortfall): Promise<ImportResult> {
  return importCandidates(candidatesFromJson(importRequest.parse(body)), shortfall);
}

export async function importCatalogCsv(text: string, shortfall: StockShortfall): Promise<ImportResult> {
  return importCandidates(candidatesFromCsv(text), shortfall);
}
