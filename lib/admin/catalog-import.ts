import { importCatalogCsv as importCsv, importCatalogJson as importJson, type ImportResult } from '../catalog/index.js';
import { stockShortfall } from '../orders/stock-shortfall.js';

/**
 * PUT /api/catalog and `npm run catalog:import`: the catalog's import (lib/catalog/import.ts) with the orders'
 * stock-shortfall step (lib/orders/stock-shortfall.ts: holds that no longer fit the new stock released, or the
 * operators told). The flow wires the two: the catalog knows no orders.
 */
export const importCatalogJson = (body: unknown): Promise<ImportResult> => importJson(body, stockShortfall);
export const importCatalogCsv = (text: string): Promise<ImportResult> => importCsv(text, stockShortfall);
