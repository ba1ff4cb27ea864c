import { log } from '../log.js';
import { syncAvailableStock } from '../stock/index.js';
import { bumpCatalogVersion } from './cache.js';
import { candidatesFromCsv } from './csv.js';
import { candidatesFromJson, importRequest, type Candidate, type Parsed, type Rejection } from './schema.js';
import { retireUnlistedVariants, upsertProducts, variantsOf } from './store.js';

/**
 * Catalog import (PUT /api/catalog, `npm run catalog:import -- <file.json|file.csv>`).
 *
 * JSON: { "products": [ { sku, name, description?, priceMinor, currency, imageUrl?, stock?, variants?: [ { sku, name, priceDeltaMinor?, stock } ] } ] }
 * CSV: one row per variant (csv.ts). Every row is checked on its own (schema.ts): a bad row is
 * rejected with its reason and the others are still imported. Products are upserted CHUNK per
 * statement (a 1 000-row import must fit a function's time limit; a chunk whose statement fails
 * falls back to one product per statement, so only the bad one is rejected); then each SKU's
 * Redis available counter is set from its stock on hand minus active holds (lib/stock). A product
 * imported with variants stops selling its other variants (e.g. its earlier default variant)
 * unless they were in this import as rejected rows. Result: { created, updated, variants,
 * rejected: [{ index, sku, reason }] } (JSON: index of the product; CSV: index of the data row,
 * 0-based, and its file line).
 */

export type ImportResult = { created: number; updated: number; variants: number; rejected: Rejection[] };

/** Products per upsert statement: a 1 000-row import is a few Postgres round trips, not a thousand. */
const CHUNK = 250;

export async function importCandidates(parsed: Parsed): Promise<ImportResult> {
  try {
    return await importAll(parsed);
  } finally {
    // Whatever was written (also by a failed import), instances reload their cached catalog.
    await bumpCatalogVersion();
  }
}

async function importAll(parsed: Parsed): Promise<ImportResult> {
  const result: ImportResult = { created: 0, updated: 0, variants: 0, rejected: [...parsed.rejected] };
  const done: Candidate[] = [];
  for (let i = 0; i < parsed.candidates.length; i += CHUNK) {
    const chunk = parsed.candidates.slice(i, i + CHUNK);
    let created: Set<string>;
    try {
      created = await upsertProducts(chunk.map((c) => c.input));
    } catch (error) {
      // One statement for the chunk failed: upsert its products one by one so only the bad one is rejected.
      log.warn('catalog.import_chunk_failed', { products: chunk.length, error });
      created = new Set();
      const ok: Candidate[] = [];
      for (const c of chunk) {
        try {
          for (const sku of await upsertProducts([c.input])) created.add(sku);
          ok.push(c);
        } catch (e) {
          log.error('catalog.import_row_failed', { sku: c.input.sku, error: e });
          result.rejected.push({ index: c.index, ...(c.line ? { line: c.line } : {}), sku: c.input.sku, reason: 'could not be saved' });
        }
      }
      chunk.splice(0, chunk.length, ...ok);
    }
    for (const c of chunk) {
      if (created.has(c.input.sku)) result.created++;
      else result.updated++;
      result.variants += variantsOf(c.input).length;
      done.push(c);
    }
  }
  // Redis follows Postgres for every imported SKU: available = stock on hand − active holds.
  await syncAvailableStock(done.flatMap((c) => variantsOf(c.input)));
  await retireUnlistedVariants(
    done.map((c) => ({ productSku: c.input.sku, keep: [...(c.input.variants?.map((v) => v.sku) ?? [c.input.sku]), ...c.rejectedSkus] })),
  );
  result.rejected.sort((a, b) => a.index - b.index);
  log.info('catalog.imported', { created: result.created, updated: result.updated, variants: result.variants, rejected: result.rejected.length });
  return result;
}

export async function importCatalogJson(body: unknown): Promise<ImportResult> {
  return importCandidates(candidatesFromJson(importRequest.parse(body)));
}

export async function importCatalogCsv(text: string): Promise<ImportResult> {
  return importCandidates(candidatesFromCsv(text));
}
