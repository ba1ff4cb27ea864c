import { db, type Query } from '../db.js';
import { log } from '../log.js';

/**
 * The catalog in Postgres: products with sellable variants (one SKU each). The only SQL that writes them;
 * their callers bump the catalog version after writing (./cache.ts).
 */
export type Variant = {
  id: string;
  sku: string;
  productName: string;
  variantName: string;
  displayName: string;
  description: string;
  priceMinor: number;
  currency: string;
  stock: number;
  /** The product's category ('' = none): a section of the menu. */
  category: string;
  imageUrl: string | null;
};

type Row = Record<string, unknown>;

/** "Tea (green)", or just "Tea" for a product's default variant. */
export const displayName = (productName: string, variantName: string) =>
  variantName === productName ? productName : `${productName} (${variantName})`;

function toVariant(r: Row): Variant {
  const productName = r.product_name as string;
  const variantName = r.variant_name as string;
  return {
    id: r.id as string,
    sku: r.sku as string,
    productName,
    variantName,
    displayName: displayName(productName, variantName),
    description: (r.description as string) ?? '',
    priceMinor: Number(r.price_minor),
    currency: (r.currency as string).trim(),
    stock: Number(r.stock),
    category: (r.category as string | null) ?? '',
    imageUrl: (r.image_url as string | null) ?? null,
  };
}

export async function listSellableVariants(): Promise<Variant[]> {
  const rows = await db()`
    SELECT v.id, v.sku, p.name AS product_name, v.name AS variant_name, p.description, v.price_minor, v.currency, v.stock, p.category, p.image_url
    FROM variants v JOIN products p ON p.id = v.product_id
    WHERE v.active ORDER BY p.name, v.position, v.sku`;
  return rows.map(toVariant);
}

export type CatalogProductInput = {
  sku: string;
  name: string;
  description?: string;
  priceMinor: number;
  currency: string;
  imageUrl?: string | null;
  category?: string;
  stock?: number;
  variants?: { sku: string; name: string; priceDeltaMinor?: number; stock: number }[];
  /** Fulfilment (docs/fulfilment.md): false for digital goods and services (no address asked); default true. */
  requiresShipping?: boolean;
  /** Per unit, for the courier CSV (every variant of the product). */
  weightGrams?: number | null;
};

/** The sellable units of a product: its variants, or one default variant whose SKU is the product's. */
export function variantsOf(p: CatalogProductInput): { sku: string; name: string; priceMinor: number; stock: number; position: number }[] {
  return p.variants?.length
    ? p.variants.map((v, position) => ({ sku: v.sku, name: v.name, priceMinor: p.priceMinor + (v.priceDeltaMinor ?? 0), stock: v.stock, position }))
    : [{ sku: p.sku, name: p.name, priceMinor: p.priceMinor, stock: p.stock ?? 0, position: 0 }];
}

/**
 * Upserts products and their variants in one statement (an import costs one round trip per chunk
 * of products); a listed variant sells again (active). Returns the SKUs of products new to the
 * catalog. Redis counters are the caller's to sync (syncAvailableStock).
 */
export async function upsertProducts(inputs: CatalogProductInput[]): Promise<Set<string>> {
  const products = inputs.map((p) => ({ sku: p.sku, name: p.name, description: p.description ?? '', image_url: p.imageUrl ?? null, category: p.category ?? '', requires_shipping: p.requiresShipping ?? true }));
  const variants = inputs.flatMap((p) =>
    variantsOf(p).map((v) => ({ product_sku: p.sku, sku: v.sku, name: v.name, price_minor: v.priceMinor, currency: p.currency, stock: v.stock, position: v.position, weight_grams: p.weightGrams ?? null })),
  );
  const rows = await db()`
    WITH product AS (
      INSERT INTO products (sku, name, description, image_url, category, requires_shipping)
      SELECT p.sku, p.name, p.description, p.image_url, p.category, p.requires_shipping
      FROM jsonb_to_recordset(${JSON.stringify(products)}::jsonb) AS p(sku text, name text, description text, image_url text, category text, requires_shipping boolean)
      ON CONFLICT (sku) DO UPDATE SET name = excluded.name, description = excluded.description, image_url = excluded.image_url,
        category = excluded.category, requires_shipping = excluded.requires_shipping, updated_at = now()
      RETURNING id, sku, (xmax = 0) AS inserted
    ), upserted AS (
      INSERT INTO variants (product_id, sku, name, price_minor, currency, stock, position, weight_grams)
      SELECT product.id, v.sku, v.name, v.price_minor, v.currency, v.stock, v.position, v.weight_grams
      FROM jsonb_to_recordset(${JSON.stringify(variants)}::jsonb)
        AS v(product_sku text, sku text, name text, price_minor integer, currency text, stock integer, position integer, weight_grams integer)
      JOIN product ON product.sku = v.product_sku
      ON CONFLICT (sku) DO UPDATE SET product_id = excluded.product_id, name = excluded.name, price_minor = excluded.price_minor,
        currency = excluded.currency, stock = excluded.stock, position = excluded.position, weight_grams = excluded.weight_grams, active = true, updated_at = now()
      RETURNING sku
    )
    SELECT sku, inserted, (SELECT count(*) FROM upserted)::int AS variants FROM product`;
  if (Number(rows[0]?.variants ?? 0) !== variants.length) throw new Error(`upserted ${rows[0]?.variants ?? 0} of ${variants.length} variants`);
  return new Set(rows.filter((r) => r.inserted).map((r) => r.sku as string));
}

/** Each listed product stops selling its variants not in `keep` (an import with an explicit variant list). */
export async function retireUnlistedVariants(lists: { productSku: string; keep: string[] }[]): Promise<void> {
  if (lists.length === 0) return;
  const retired = await db()`
    UPDATE variants v SET active = false, updated_at = now()
    FROM products p, jsonb_to_recordset(${JSON.stringify(lists.map((l) => ({ product_sku: l.productSku, skus: l.keep })))}::jsonb) AS x(product_sku text, skus jsonb)
    WHERE p.sku = x.product_sku AND v.product_id = p.id AND v.active AND NOT (x.skus ? v.sku)
    RETURNING v.sku`;
  if (retired.length) log.info('catalog.variants_retired', { skus: retired.map((r) => r.sku) });
}

export type CatalogRow = {
  sku: string;
  productSku: string;
  name: string;
  priceMinor: number;
  currency: string;
  stock: number;
  available: number | null;
  active: boolean;
  category: string;
  imageUrl: string | null;
};

/** Every variant (sellable or retired) with its stock on hand, for the admin listing. */
export async function listAllVariants(): Promise<Omit<CatalogRow, 'available'>[]> {
  const rows = await db()`
    SELECT v.sku, p.sku AS product_sku, p.name AS product_name, v.name AS variant_name, v.price_minor, v.currency, v.stock, v.active, p.category, p.image_url
    FROM variants v JOIN products p ON p.id = v.product_id
    ORDER BY p.name, v.position, v.sku`;
  return rows.map((r) => ({
    sku: r.sku as string,
    productSku: r.product_sku as string,
    name: displayName(r.product_name as string, r.variant_name as string),
    priceMinor: Number(r.price_minor),
    currency: String(r.currency).trim(),
    stock: Number(r.stock),
    active: Boolean(r.active),
    category: (r.category as string | null) ?? '',
    imageUrl: (r.image_url as string | null) ?? null,
  }));
}

/** Every variant with its product's fields and the fingerprint last pushed to Meta's catalog (lib/catalog/push.ts). */
export const variantsWithPushState = () => db()`
  SELECT v.sku, v.price_minor, v.currency, v.stock, v.active, s.fingerprint AS pushed, GREATEST(v.updated_at, p.updated_at)::text AS seen_at, (s.pushed_at < GREATEST(v.updated_at, p.updated_at)) AS stale,
    p.name AS product_name, v.name AS variant_name, p.description, p.image_url, p.category
  FROM variants v JOIN products p ON p.id = v.product_id LEFT JOIN catalog_push_state s ON s.sku = v.sku
  ORDER BY v.sku`;

/**
 * Whether a push may have something to send, as a statement not run yet (the cleanup run sends it with its other
 * reads): a variant never pushed, or changed (it or its product) since its last push.
 */
export const catalogChangedQuery = (): Query => db()`
  SELECT EXISTS (
    SELECT 1 FROM variants v JOIN products p ON p.id = v.product_id LEFT JOIN catalog_push_state s ON s.sku = v.sku
    WHERE s.sku IS NULL OR v.updated_at > s.pushed_at OR p.updated_at > s.pushed_at) AS changed`;

/** What Meta was told, per SKU (catalog_push_state), after a push it accepted; `seen_at`: the version the push read. */
export async function recordPushState(items: { sku: string; fingerprint: string; availability: string; seen_at: string | null }[]): Promise<void> {
  await db()`
    INSERT INTO catalog_push_state (sku, fingerprint, availability, pushed_at)
    SELECT x.sku, x.fingerprint, x.availability, COALESCE(x.seen_at, now())
    FROM jsonb_to_recordset(${JSON.stringify(items)}::jsonb)
      AS x(sku text, fingerprint text, availability text, seen_at timestamptz)
    ON CONFLICT (sku) DO UPDATE SET fingerprint = excluded.fingerprint, availability = excluded.availability, pushed_at = excluded.pushed_at`;
}

/** Rows a push read unchanged: checked at the version it saw (catalogChangedQuery no longer finds them due). */
export async function markPushChecked(stale: { sku: string; seen_at: string }[]): Promise<void> {
  await db()`
    UPDATE catalog_push_state s SET pushed_at = x.seen_at
    FROM jsonb_to_recordset(${JSON.stringify(stale)}::jsonb) AS x(sku text, seen_at timestamptz)
    WHERE s.sku = x.sku AND s.pushed_at < x.seen_at`;
}

/** A paid order's units leave the shelf (never below 0; a shortfall is flagged by the payment): a part of lib/orders/store.ts's statement, over its `lines` (sku, quantity). */
export const STOCK_TAKEN_SQL = `UPDATE variants v SET stock = GREATEST(v.stock - lines.quantity, 0), updated_at = now()
       FROM lines WHERE v.sku = lines.sku
       RETURNING v.sku`;
/** A refunded order's units come back on hand (a part as STOCK_TAKEN_SQL). */
export const STOCK_RETURNED_SQL = `UPDATE variants v SET stock = v.stock + lines.quantity, updated_at = now() FROM lines WHERE v.sku = lines.sku
       RETURNING v.sku, v.stock`;

/**
 * Statement part (a scalar subquery): the active variants of the SKUs `skus` (an SQL text[] expression) with their
 * product's name and shipping, as one jsonb array (an order's step 1, lib/orders/store-place.ts).
 */
export const SELLABLE_LINES_SQL = (skus: string) => `(SELECT COALESCE(jsonb_agg(jsonb_build_object('sku', v.sku, 'product_name', p.name, 'variant_name', v.name, 'price_minor', v.price_minor, 'currency', v.currency,
                 'requires_shipping', p.requires_shipping, 'weight_grams', v.weight_grams)), '[]'::jsonb)
          FROM variants v JOIN products p ON p.id = v.product_id WHERE v.active AND v.sku = ANY(${skus}))`;
