/**
 * A 10 000-row catalog import (PUT /api/catalog, JSON) and the push of all of it to Meta's catalog
 * (POST /api/catalog/sync), in process: round trips per system and time.
 */
import { type ShopDriver, type Trips } from './driver.js';

export type CatalogRow = { step: string; rows: number; status: number; trips: Trips; ms: number; result: string };

/** Issue 30's target for the import of 10 000 products (asserted by tests/round-trips.test.ts; under 3 s at 20 ms is the bench's). */
export const IMPORT_TRIPS = { postgres: 10, redis: 10, stripe: 0, graph: 0 };

export async function catalogScale(d: ShopDriver, rows = 10_000, opts: { push?: boolean } = {}): Promise<CatalogRow[]> {
  const tag = Date.now().toString(36).toUpperCase();
  const products = Array.from({ length: rows }, (_, i) => ({ sku: `CAT-${tag}-${i}`, name: `Catalog tea ${i}`, priceMinor: 500 + (i % 50) * 10, currency: 'EUR', stock: 10 + (i % 7) }));
  const saved = process.env.WHATSAPP_CATALOG_ID;
  process.env.WHATSAPP_CATALOG_ID ??= '100000000000001';
  try {
    const out: CatalogRow[] = [];
    const steps = [
      ['import 10 000 products (PUT /api/catalog)', d.admin('/api/catalog', 'PUT', { products })],
      ['push changes to Meta (POST /api/catalog/sync)', d.admin('/api/catalog/sync', 'POST')],
    ] as const;
    for (const [step, req] of opts.push === false ? steps.slice(0, 1) : steps) {
      const r = await d.counted(...req);
      const summary = r.body.length > 300 ? JSON.stringify(Object.fromEntries(Object.entries(JSON.parse(r.body) as Record<string, unknown>).map(([k, v]) => [k, Array.isArray(v) ? v.length : v]))) : r.body;
      out.push({ step, rows, status: r.status, trips: r.total, ms: Math.round(r.doneMs), result: summary });
      if (r.status !== 200) throw new Error(`${step}: ${r.status} ${r.body.slice(0, 300)}`);
    }
    return out;
  } finally {
    if (saved === undefined) delete process.env.WHATSAPP_CATALOG_ID;
  }
}
