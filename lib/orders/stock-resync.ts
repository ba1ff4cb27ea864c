import { rebuildRedisStockFrom, stockDriftFrom, type StockDrift } from '../stock/index.js';
import { liveHoldsAndStock, stockSnapshot } from './store-jobs.js';

export type { StockDrift };

/** Rebuilds Redis's stock from Postgres (`npm run stock:sync`, the dev stack): the orders store's rows, lib/stock's writes. */
export async function rebuildRedisStock(): Promise<{ skus: number; holdsRestored: number }> {
  return rebuildRedisStockFrom(await liveHoldsAndStock());
}

/** The rebuild's dry run (`npm run doctor`): Redis's counters against Postgres's snapshot. Writes nothing. */
export async function stockDrift(): Promise<{ skus: number; missing: string[]; off: StockDrift[] }> {
  return stockDriftFrom(await stockSnapshot());
}
