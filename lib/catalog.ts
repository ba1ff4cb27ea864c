import { db } from './db.js';
import { setAvailableStock } from './reservations.js';

/** The catalog in Postgres: products with sellable variants (one SKU each). */
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
};

type Row = Record<string, unknown>;

function toVariant(r: Row): Variant {
  const productName = r.product_name as string;
  const variantName = r.variant_name as string;
  return {
    id: r.id as string,
    sku: r.sku as string,
    productName,
    variantName,
    displayName: variantName === productName ? productName : `${productName} (${variantName})`,
    description: (r.description as string) ?? '',
    priceMinor: Number(r.price_minor),
    currency: (r.currency as string).trim(),
    stock: Number(r.stock),
  };
}

export async function listSellableVariants(): Promise<Variant[]> {
  const rows = await db()`
    SELECT v.id, v.sku, p.name AS product_name, v.name AS variant_name, p.description, v.price_minor, v.currency, v.stock
    FROM variants v JOIN products p ON p.id = v.product_id
    WHERE v.active ORDER BY p.name, v.position, v.sku`;
  return rows.map(toVariant);
}

export async function findVariantsBySku(skus: string[]): Promise<Map<string, Variant>> {
  if (skus.length === 0) return new Map();
  const rows = await db()`
    SELECT v.id, v.sku, p.name AS product_name, v.name AS variant_name, p.description, v.price_minor, v.currency, v.stock
    FROM variants v JOIN products p ON p.id = v.product_id
    WHERE v.active AND v.sku = ANY(${skus}::text[])`;
  return new Map(rows.map((r) => [r.sku as string, toVariant(r)]));
}

export type CatalogProductInput = {
  sku: string;
  name: string;
  description?: string;
  priceMinor: number;
  currency: string;
  imageUrl?: string | null;
  stock?: number;
  variants?: { sku: string; name: string; priceDeltaMinor?: number; stock: number }[];
};

/**
 * Upserts products and their variants, then sets each SKU's available counter in Redis
 * from its stock on hand minus active holds. A product without variants sells as one
 * default variant whose SKU is the product's.
 */
export async function upsertCatalogProduct(p: CatalogProductInput): Promise<{ created: boolean }> {
  const variants = p.variants?.length
    ? p.variants.map((v, position) => ({ sku: v.sku, name: v.name, priceMinor: p.priceMinor + (v.priceDeltaMinor ?? 0), stock: v.stock, position }))
    : [{ sku: p.sku, name: p.name, priceMinor: p.priceMinor, stock: p.stock ?? 0, position: 0 }];
  const [row] = await db()`
    WITH product AS (
      INSERT INTO products (sku, name, description, image_url) VALUES (${p.sku}, ${p.name}, ${p.description ?? ''}, ${p.imageUrl ?? null})
      ON CONFLICT (sku) DO UPDATE SET name = excluded.name, description = excluded.description, image_url = excluded.image_url, updated_at = now()
      RETURNING id, (xmax = 0) AS inserted
    ), upserted AS (
      INSERT INTO variants (product_id, sku, name, price_minor, currency, stock, position)
      SELECT product.id, v.sku, v.name, v.price_minor, ${p.currency}, v.stock, v.position
      FROM product, jsonb_to_recordset(${JSON.stringify(variants.map((v) => ({ sku: v.sku, name: v.name, price_minor: v.priceMinor, stock: v.stock, position: v.position })))}::jsonb)
        AS v(sku text, name text, price_minor integer, stock integer, position integer)
      ON CONFLICT (sku) DO UPDATE SET product_id = excluded.product_id, name = excluded.name, price_minor = excluded.price_minor,
        currency = excluded.currency, stock = excluded.stock, position = excluded.position, active = true, updated_at = now()
      RETURNING sku
    )
    SELECT (SELECT inserted FROM product) AS inserted, (SELECT count(*) FROM upserted) AS variants`;
  await Promise.all(variants.map((v) => setAvailableStock(v.sku, v.stock)));
  return { created: Boolean(row?.inserted) };
}
