import { z } from '../zod.js';
import type { CatalogProductInput } from './store.js';

/**
 * What a catalog import may contain, checked row by row (zod): a bad row is rejected with its
 * reason, the others still import. JSON and CSV (csv.ts) share these rules.
 */

export type Rejection = { index: number; sku: string | null; reason: string; line?: number };
/** A product ready to upsert, with the rows it came from (for rejections) and the variant SKUs rejected in this import. */
export type Candidate = { index: number; line?: number; input: CatalogProductInput; rejectedSkus: string[] };
export type Parsed = { candidates: Candidate[]; rejected: Rejection[] };

export const MAX_ROWS = 20_000;

const sku = z.string().trim().min(1).max(100).regex(/^[A-Za-z0-9][A-Za-z0-9._\-/]*$/, 'may contain letters, digits and . _ - / only');
const money = z.number({ error: 'must be a whole number' }).int('must be a whole number (minor units)');
const count = z.number({ error: 'must be a whole number' }).int('must be a whole number').min(0, 'must not be negative').max(1_000_000);

export const productFields = z.object({
  sku,
  name: z.string().trim().min(1).max(200),
  description: z.string().max(5000).optional().default(''),
  priceMinor: money.min(0, 'must not be negative').max(100_000_000),
  currency: z.string().regex(/^[A-Za-z]{3}$/, 'must be an ISO 4217 code, e.g. EUR').transform((c) => c.toUpperCase()),
  imageUrl: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).max(2000).nullable().optional(),
  /** The product's category: a menu section (shown clipped to Meta's 24-character section title). */
  category: z.string().trim().max(100).optional().default(''),
  stock: count.optional(),
  variants: z.array(z.unknown()).max(500).optional(),
  /** false: a digital good or a service (Checkout asks no address for it). */
  requiresShipping: z.boolean({ error: 'must be true or false' }).optional(),
  weightGrams: count.nullable().optional(),
});

export const variantFields = z.object({
  sku,
  name: z.string().trim().min(1).max(200),
  priceDeltaMinor: money.min(-100_000_000).max(100_000_000).optional().default(0),
  stock: count,
});

export type Product = z.infer<typeof productFields>;
export type VariantIn = z.infer<typeof variantFields>;

/** "variants[1].stock: must not be negative; …" */
export const describe = (e: z.ZodError, prefix = '') =>
  e.issues
    .map((i) => {
      const path = [prefix, ...i.path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p)))].filter(Boolean).join('.').replace(/\.\[/g, '[');
      return `${path || 'row'}: ${i.message}`;
    })
    .join('; ');

export const importRequest = z.object({ products: z.array(z.unknown()).max(MAX_ROWS, `at most ${MAX_ROWS} products per import`) });

/** Rules a valid variant must still pass against the rest of the import. */
export function variantProblem(product: Product, v: VariantIn, seen: Map<string, number>): string | null {
  const dup = seen.get(v.sku);
  if (dup !== undefined) return `sku: duplicate SKU in this import (first at index ${dup})`;
  if (product.priceMinor + v.priceDeltaMinor < 0) return 'priceDeltaMinor: makes the price negative';
  return null;
}

export function toInput(p: Product, variants: VariantIn[]): CatalogProductInput {
  return {
    sku: p.sku,
    name: p.name,
    description: p.description,
    priceMinor: p.priceMinor,
    currency: p.currency,
    imageUrl: p.imageUrl ?? null,
    category: p.category,
    stock: p.stock,
    ...(p.requiresShipping !== undefined ? { requiresShipping: p.requiresShipping } : {}),
    ...(p.weightGrams !== undefined ? { weightGrams: p.weightGrams } : {}),
    variants: variants.length ? variants.map((v) => ({ sku: v.sku, name: v.name, priceDeltaMinor: v.priceDeltaMinor, stock: v.stock })) : undefined,
  };
}

const rawSku = (raw: unknown) => (typeof (raw as { sku?: unknown })?.sku === 'string' ? (raw as { sku: string }).sku.trim() : null);

/** Validates a JSON import; rows are checked one by one (the envelope itself must be { products: [...] }). */
export function candidatesFromJson(body: z.infer<typeof importRequest>): Parsed {
  const rejected: Rejection[] = [];
  const candidates: Candidate[] = [];
  const seen = new Map<string, number>();
  const products = new Map<string, number>();
  body.products.forEach((raw, index) => {
    const p = productFields.safeParse(raw);
    if (!p.success) return rejected.push({ index, sku: rawSku(raw) || null, reason: describe(p.error) });
    const product = p.data;
    const earlier = products.get(product.sku);
    if (earlier !== undefined) return rejected.push({ index, sku: product.sku, reason: `sku: duplicate product in this import (first at index ${earlier})` });
    products.set(product.sku, index);
    const variants: VariantIn[] = [];
    const rejectedSkus: string[] = [];
    for (const [vi, rawVariant] of (product.variants ?? []).entries()) {
      const vSku = rawSku(rawVariant);
      const v = variantFields.safeParse(rawVariant);
      const problem = !v.success ? describe(v.error, `variants[${vi}]`) : variantProblem(product, v.data, seen);
      if (problem) {
        rejected.push({ index, sku: vSku, reason: problem });
        if (vSku) rejectedSkus.push(vSku);
        continue;
      }
      variants.push(v.data!);
      seen.set(v.data!.sku, index);
    }
    if (product.variants?.length) {
      if (variants.length === 0) return; // every variant was rejected (and reported)
    } else {
      if (product.stock === undefined) return rejected.push({ index, sku: product.sku, reason: 'stock: required for a product without variants' });
      const dup = seen.get(product.sku);
      if (dup !== undefined) return rejected.push({ index, sku: product.sku, reason: `sku: duplicate SKU in this import (first at index ${dup})` });
      seen.set(product.sku, index);
    }
    candidates.push({ index, input: toInput(product, variants), rejectedSkus });
  });
  return { candidates, rejected };
}
