import { availableStockIfKnown } from '../stock/index.js';
import { listAllVariants, type CatalogRow } from './store.js';

/** GET /api/catalog: every variant, its Postgres stock (on hand) and its Redis available counter (null when Redis lost it). */
export async function listCatalog(): Promise<CatalogRow[]> {
  const rows = await listAllVariants();
  const available = await availableStockIfKnown(rows.map((r) => r.sku));
  return rows.map(({ active, ...r }) => ({ ...r, available: available.get(r.sku) ?? null, active }));
}
