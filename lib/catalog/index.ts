/**
 * lib/catalog: products and variants. store.ts is the only SQL that writes them; schema.ts and
 * csv.ts validate imports; import.ts upserts them and syncs Redis through lib/stock; push.ts tells
 * Meta's catalog about prices and availability; listing.ts is the admin listing;
 * cache.ts the per-instance cache of the sellable catalog for the conversation.
 */
export { cachedSellableVariants, catalogVersionKey, currentCachedVariants, observeCatalogVersion } from './cache.js';
export { CSV_COLUMNS, CsvFormatError, parseCsv } from './csv.js';
export { importCatalogCsv, importCatalogJson, upsertCatalogProduct, type ImportResult, type ReleasedOrder, type StockCut, type StockShortfall } from './import.js';
export { listCatalog } from './listing.js';
export { catalogChangedQuery, metaPrice, pendingCatalogChanges, pushCatalogChanges, BATCH_SIZE, type PushResult } from './push.js';
export { importRequest, type Rejection } from './schema.js';
export { listSellableVariants, type CatalogProductInput, type CatalogRow, type Variant } from './store.js';
