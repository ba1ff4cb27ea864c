import { z } from './zod.js';
import { upsertCatalogProduct, type CatalogProductInput } from './catalog.js';
import { db } from './db.js';
import { log } from './log.js';
import { redis } from './redis.js';
import { setAvailableStock } from './reservations.js';

/**
 * Catalog import (PUT /api/catalog, `npm run catalog:import -- <file.json|file.csv>`).
 *
 * JSON: { "products": [ { sku, name, description?, priceMinor, currency, imageUrl?, stock?, variants?: [ { sku, name, priceDeltaMinor?, stock } ] } ] }
 * CSV: one row per variant, the same fields flattened, header row required:
 *   sku,name,description,priceMinor,currency,imageUrl,stock,variantSku,variantName,priceDeltaMinor,variantStock
 * Rows with the same product `sku` form one product; a row without variantSku is the product's
 * default variant (SKU = the product's, `stock` its stock). Product fields come from its first row.
 *
 * Every row is checked on its own (zod): a bad row is rejected with its reason and the others are
 * still imported. Products are upserted like `upsertCatalogProduct` does, but CHUNK products per
 * statement (a 1 000-row import must fit a function's time limit; a chunk whose statement fails
 * falls back to upsertCatalogProduct product by product); then each SKU's Redis available counter
 * is set from its stock on hand minus active holds (setAvailableStock). A product imported with
 * variants stops selling its other variants (e.g. its earlier default variant) unless they were
 * in this import as rejected rows. Result: { created, updated, variants, rejected: [{ index, sku, reason }] }
 * (JSON: index of the product; CSV: index of the data row, 0-based, and its file line).
 */

export type Rejection = { index: number; sku: string | null; reason: string; line?: number };
export type ImportResult = { created: number; updated: number; variants: number; rejected: Rejection[] };

const MAX_ROWS = 20_000;
/** Products per upsert statement: a 1 000-row import is a few Postgres round trips, not a thousand. */
const CHUNK = 250;
/** Redis counter updates in flight at once (one small Lua script per SKU). */
const REDIS_CONCURRENCY = 32;

const sku = z.string().trim().min(1).max(100).regex(/^[A-Za-z0-9][A-Za-z0-9._\-/]*$/, 'may contain letters, digits and . _ - / only');
const money = z.number({ error: 'must be a whole number' }).int('must be a whole number (minor units)');
const count = z.number({ error: 'must be a whole number' }).int('must be a whole number').min(0, 'must not be negative').max(1_000_000);

const productFields = z.object({
  sku,
  name: z.string().trim().min(1).max(200),
  description: z.string().max(5000).optional().default(''),
  priceMinor: money.min(0, 'must not be negative').max(100_000_000),
  currency: z.string().regex(/^[A-Za-z]{3}$/, 'must be an ISO 4217 code, e.g. EUR').transform((c) => c.toUpperCase()),
  imageUrl: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).max(2000).nullable().optional(),
  stock: count.optional(),
  variants: z.array(z.unknown()).max(500).optional(),
});

const variantFields = z.object({
  sku,
  name: z.string().trim().min(1).max(200),
  priceDeltaMinor: money.min(-100_000_000).max(100_000_000).optional().default(0),
  stock: count,
});

type Product = z.infer<typeof productFields>;
type VariantIn = z.infer<typeof variantFields>;

const describe = (e: z.ZodError, prefix = '') =>
  e.issues
    .map((i) => {
      const path = [prefix, ...i.path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p)))].filter(Boolean).join('.').replace(/\.\[/g, '[');
      return `${path || 'row'}: ${i.message}`;
    })
    .join('; ');

/** A product ready to upsert, with the rows it came from (for rejections). */
type Candidate = { index: number; line?: number; input: CatalogProductInput; rejectedSkus: string[] };

export const importRequest = z.object({ products: z.array(z.unknown()).max(MAX_ROWS, `at most ${MAX_ROWS} products per import`) });

/** Validates a JSON import; rows are checked one by one (the envelope itself must be { products: [...] }). */
export function candidatesFromJson(body: z.infer<typeof importRequest>): { candidates: Candidate[]; rejected: Rejection[] } {
  const rejected: Rejection[] = [];
  const candidates: Candidate[] = [];
  const seen = new Map<string, number>();
  const products = new Map<string, number>();
  body.products.forEach((raw, index) => {
    const rawSku = typeof (raw as { sku?: unknown })?.sku === 'string' ? ((raw as { sku: string }).sku.trim() || null) : null;
    const p = productFields.safeParse(raw);
    if (!p.success) return rejected.push({ index, sku: rawSku, reason: describe(p.error) });
    const product = p.data;
    const earlier = products.get(product.sku);
    if (earlier !== undefined) return rejected.push({ index, sku: product.sku, reason: `sku: duplicate product in this import (first at index ${earlier})` });
    products.set(product.sku, index);
    const variants: VariantIn[] = [];
    const rejectedSkus: string[] = [];
    for (const [vi, rawVariant] of (product.variants ?? []).entries()) {
      const vSku = typeof (rawVariant as { sku?: unknown })?.sku === 'string' ? (rawVariant as { sku: string }).sku.trim() : null;
      const v = variantFields.safeParse(rawVariant);
      const problem = !v.success ? describe(v.error, `variants[${vi}]`) : variantProblem(product, v.data, seen, index);
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

function variantProblem(product: Product, v: VariantIn, seen: Map<string, number>, _index: number): string | null {
  const dup = seen.get(v.sku);
  if (dup !== undefined) return `sku: duplicate SKU in this import (first at index ${dup})`;
  if (product.priceMinor + v.priceDeltaMinor < 0) return 'priceDeltaMinor: makes the price negative';
  return null;
}

function toInput(p: Product, variants: VariantIn[]): CatalogProductInput {
  return {
    sku: p.sku,
    name: p.name,
    description: p.description,
    priceMinor: p.priceMinor,
    currency: p.currency,
    imageUrl: p.imageUrl ?? null,
    stock: p.stock,
    variants: variants.length ? variants.map((v) => ({ sku: v.sku, name: v.name, priceDeltaMinor: v.priceDeltaMinor, stock: v.stock })) : undefined,
  };
}

// ---------------------------------------------------------------------------------------------
// CSV

export const CSV_COLUMNS = ['sku', 'name', 'description', 'priceMinor', 'currency', 'imageUrl', 'stock', 'variantSku', 'variantName', 'priceDeltaMinor', 'variantStock'] as const;
const REQUIRED_COLUMNS = ['sku', 'name', 'priceMinor', 'currency'];

export class CsvFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CsvFormatError';
  }
}

/** RFC 4180 CSV: quoted fields may hold commas, quotes ("") and line breaks; CRLF or LF; a BOM is skipped. */
export function parseCsv(text: string): { rows: string[][]; lines: number[] } {
  const rows: string[][] = [];
  const lines: number[] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  let line = 1;
  let rowLine = 1;
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  const endRow = () => {
    row.push(field);
    field = '';
    if (!(row.length === 1 && row[0] === '')) {
      rows.push(row);
      lines.push(rowLine);
    }
    row = [];
  };
  for (; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else {
        if (c === '\n') line++;
        field += c;
      }
      continue;
    }
    if (c === '"' && field === '') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      endRow();
      line++;
      rowLine = line;
    } else field += c;
  }
  if (quoted) throw new CsvFormatError(`unterminated quoted field starting on line ${rowLine}`);
  if (field !== '' || row.length) endRow();
  return { rows, lines };
}

const cell = (v: string | undefined) => (v === undefined || v.trim() === '' ? undefined : v.trim());
const num = (v: string | undefined): unknown => {
  const c = cell(v);
  if (c === undefined) return undefined;
  return /^-?\d+$/.test(c) ? Number(c) : c; // a non-integer stays a string and fails validation with a clear message
};

/** Groups CSV rows (one per variant) into products and validates each row. */
export function candidatesFromCsv(text: string): { candidates: Candidate[]; rejected: Rejection[] } {
  const { rows, lines } = parseCsv(text);
  if (rows.length === 0) throw new CsvFormatError('the file is empty');
  const header = rows[0]!.map((h) => h.trim());
  const missing = REQUIRED_COLUMNS.filter((c) => !header.includes(c));
  if (missing.length) throw new CsvFormatError(`missing column(s): ${missing.join(', ')} (expected ${CSV_COLUMNS.join(',')})`);
  if (rows.length - 1 > MAX_ROWS) throw new CsvFormatError(`at most ${MAX_ROWS} rows per import`);
  const col = (r: string[], name: string) => {
    const i = header.indexOf(name);
    return i < 0 ? undefined : r[i];
  };

  const rejected: Rejection[] = [];
  const seen = new Map<string, number>();
  type Group = { index: number; line: number; product: Product; variants: VariantIn[]; defaultRow: boolean };
  const rejectedSkus = new Map<string, string[]>();
  const groups = new Map<string, Group>();
  const order: Group[] = [];

  rows.slice(1).forEach((r, index) => {
    const line = lines[index + 1]!;
    const rowSku = cell(col(r, 'sku')) ?? null;
    const variantSku = cell(col(r, 'variantSku')) ?? null;
    const reject = (sku: string | null, reason: string) => {
      rejected.push({ index, line, sku, reason });
      // A rejected variant row keeps its existing variant selling (see retireUnlistedVariants).
      if (rowSku && variantSku) rejectedSkus.set(rowSku, [...(rejectedSkus.get(rowSku) ?? []), variantSku]);
    };
    if (r.length !== header.length) return reject(variantSku ?? rowSku, `row has ${r.length} fields, the header has ${header.length}`);
    const p = productFields.safeParse({
      sku: cell(col(r, 'sku')),
      name: cell(col(r, 'name')),
      description: col(r, 'description') ?? '',
      priceMinor: num(col(r, 'priceMinor')),
      currency: cell(col(r, 'currency')),
      imageUrl: cell(col(r, 'imageUrl')) ?? null,
      stock: num(col(r, 'stock')),
    });
    if (!p.success) return reject(variantSku ?? rowSku, describe(p.error));
    const product = p.data;
    let group = groups.get(product.sku);
    if (group && (group.product.priceMinor !== product.priceMinor || group.product.currency !== product.currency || group.product.name !== product.name))
      return reject(variantSku ?? product.sku, `name/priceMinor/currency differ from the product's first row (line ${group.line})`);

    let variant: VariantIn | null = null;
    if (variantSku) {
      const v = variantFields.safeParse({
        sku: variantSku,
        name: cell(col(r, 'variantName')),
        priceDeltaMinor: num(col(r, 'priceDeltaMinor')),
        stock: num(col(r, 'variantStock')),
      });
      if (!v.success) {
        return reject(variantSku, describe(v.error).replace(/^sku:/, 'variantSku:').replace(/^name:/, 'variantName:').replace(/(^|; )stock:/g, '$1variantStock:'));
      }
      variant = v.data;
      const problem = variantProblem(product, variant, seen, index);
      if (problem) return reject(variantSku, problem);
    } else {
      if (product.stock === undefined) return reject(product.sku, 'stock: required for a row without variantSku');
      const dup = seen.get(product.sku);
      if (dup !== undefined) return reject(product.sku, `sku: duplicate SKU in this import (first at row ${dup})`);
    }
    if (!group) {
      group = { index, line, product, variants: [], defaultRow: false };
      groups.set(product.sku, group);
      order.push(group);
    }
    if (variant) {
      if (group.defaultRow) return reject(variant.sku, `product ${product.sku} has a row without variantSku (line ${group.line}); give every row a variantSku`);
      group.variants.push(variant);
      seen.set(variant.sku, index);
    } else {
      if (group.variants.length) return reject(product.sku, `product ${product.sku} has variant rows; give this row a variantSku`);
      group.defaultRow = true;
      seen.set(product.sku, index);
    }
  });
  const candidates = order
    .filter((g) => g.defaultRow || g.variants.length)
    .map((g) => ({ index: g.index, line: g.line, input: toInput(g.product, g.variants), rejectedSkus: rejectedSkus.get(g.product.sku) ?? [] }));
  return { candidates, rejected };
}

// ---------------------------------------------------------------------------------------------
// Upsert

export async function importCandidates(parsed: { candidates: Candidate[]; rejected: Rejection[] }): Promise<ImportResult> {
  const result: ImportResult = { created: 0, updated: 0, variants: 0, rejected: [...parsed.rejected] };
  const done: Candidate[] = [];
  for (let i = 0; i < parsed.candidates.length; i += CHUNK) {
    const chunk = parsed.candidates.slice(i, i + CHUNK);
    let created: Set<string>;
    try {
      created = await upsertChunk(chunk);
    } catch (error) {
      // One statement for the chunk failed: upsert its products one by one so only the bad one is rejected.
      log.warn('catalog.import_chunk_failed', { products: chunk.length, error });
      created = new Set();
      const ok: Candidate[] = [];
      for (const c of chunk) {
        try {
          if ((await upsertCatalogProduct(c.input)).created) created.add(c.input.sku);
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
  const counters = done.flatMap((c) => variantsOf(c.input).map((v) => ({ sku: v.sku, stock: v.stock })));
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(REDIS_CONCURRENCY, counters.length) }, async () => {
      while (next < counters.length) {
        const v = counters[next++]!;
        await setAvailableStock(v.sku, v.stock);
      }
    }),
  );
  await retireUnlistedVariants(done);
  result.rejected.sort((a, b) => a.index - b.index);
  log.info('catalog.imported', { created: result.created, updated: result.updated, variants: result.variants, rejected: result.rejected.length });
  return result;
}

/** The sellable units of a product input, as upsertCatalogProduct defines them (a product without variants is one default variant). */
function variantsOf(p: CatalogProductInput): { sku: string; name: string; priceMinor: number; stock: number; position: number }[] {
  return p.variants?.length
    ? p.variants.map((v, position) => ({ sku: v.sku, name: v.name, priceMinor: p.priceMinor + (v.priceDeltaMinor ?? 0), stock: v.stock, position }))
    : [{ sku: p.sku, name: p.name, priceMinor: p.priceMinor, stock: p.stock ?? 0, position: 0 }];
}

/**
 * upsertCatalogProduct's statement for many products at once (same columns, same conflict rules),
 * so an import costs one Postgres round trip per CHUNK products. Returns the SKUs of new products.
 */
async function upsertChunk(chunk: Candidate[]): Promise<Set<string>> {
  const products = chunk.map((c) => ({ sku: c.input.sku, name: c.input.name, description: c.input.description ?? '', image_url: c.input.imageUrl ?? null }));
  const variants = chunk.flatMap((c) =>
    variantsOf(c.input).map((v) => ({ product_sku: c.input.sku, sku: v.sku, name: v.name, price_minor: v.priceMinor, currency: c.input.currency, stock: v.stock, position: v.position })),
  );
  const rows = await db()`
    WITH product AS (
      INSERT INTO products (sku, name, description, image_url)
      SELECT p.sku, p.name, p.description, p.image_url
      FROM jsonb_to_recordset(${JSON.stringify(products)}::jsonb) AS p(sku text, name text, description text, image_url text)
      ON CONFLICT (sku) DO UPDATE SET name = excluded.name, description = excluded.description, image_url = excluded.image_url, updated_at = now()
      RETURNING id, sku, (xmax = 0) AS inserted
    ), upserted AS (
      INSERT INTO variants (product_id, sku, name, price_minor, currency, stock, position)
      SELECT product.id, v.sku, v.name, v.price_minor, v.currency, v.stock, v.position
      FROM jsonb_to_recordset(${JSON.stringify(variants)}::jsonb)
        AS v(product_sku text, sku text, name text, price_minor integer, currency text, stock integer, position integer)
      JOIN product ON product.sku = v.product_sku
      ON CONFLICT (sku) DO UPDATE SET product_id = excluded.product_id, name = excluded.name, price_minor = excluded.price_minor,
        currency = excluded.currency, stock = excluded.stock, position = excluded.position, active = true, updated_at = now()
      RETURNING sku
    )
    SELECT sku, inserted, (SELECT count(*) FROM upserted)::int AS variants FROM product`;
  if (Number(rows[0]?.variants ?? 0) !== variants.length) throw new Error(`upserted ${rows[0]?.variants ?? 0} of ${variants.length} variants`);
  return new Set(rows.filter((r) => r.inserted).map((r) => r.sku as string));
}

/** A product imported with an explicit variant list stops selling the variants it no longer lists. */
async function retireUnlistedVariants(done: Candidate[]): Promise<void> {
  const lists = done.map((c) => ({
    product_sku: c.input.sku,
    skus: [...(c.input.variants?.map((v) => v.sku) ?? [c.input.sku]), ...c.rejectedSkus],
  }));
  if (lists.length === 0) return;
  const retired = await db()`
    UPDATE variants v SET active = false, updated_at = now()
    FROM products p, jsonb_to_recordset(${JSON.stringify(lists)}::jsonb) AS x(product_sku text, skus jsonb)
    WHERE p.sku = x.product_sku AND v.product_id = p.id AND v.active AND NOT (x.skus ? v.sku)
    RETURNING v.sku`;
  if (retired.length) log.info('catalog.variants_retired', { skus: retired.map((r) => r.sku) });
}

export async function importCatalogJson(body: unknown): Promise<ImportResult> {
  return importCandidates(candidatesFromJson(importRequest.parse(body)));
}

export async function importCatalogCsv(text: string): Promise<ImportResult> {
  return importCandidates(candidatesFromCsv(text));
}

// ---------------------------------------------------------------------------------------------
// Listing

export type CatalogRow = {
  sku: string;
  productSku: string;
  name: string;
  priceMinor: number;
  currency: string;
  stock: number;
  available: number | null;
  active: boolean;
};

/** GET /api/catalog: every variant, its Postgres stock (on hand) and its Redis available counter. */
export async function listCatalog(): Promise<CatalogRow[]> {
  const rows = await db()`
    SELECT v.sku, p.sku AS product_sku, p.name AS product_name, v.name AS variant_name, v.price_minor, v.currency, v.stock, v.active
    FROM variants v JOIN products p ON p.id = v.product_id
    ORDER BY p.name, v.position, v.sku`;
  const available = await readCounters(rows.map((r) => r.sku as string));
  return rows.map((r) => {
    const productName = r.product_name as string;
    const variantName = r.variant_name as string;
    return {
      sku: r.sku as string,
      productSku: r.product_sku as string,
      name: variantName === productName ? productName : `${productName} (${variantName})`,
      priceMinor: Number(r.price_minor),
      currency: String(r.currency).trim(),
      stock: Number(r.stock),
      available: available.get(r.sku as string) ?? null,
      active: Boolean(r.active),
    };
  });
}

/** Redis available counters (null when a counter is missing, e.g. after a Redis loss). */
export async function readCounters(skus: string[]): Promise<Map<string, number | null>> {
  const out = new Map<string, number | null>();
  for (let i = 0; i < skus.length; i += 500) {
    const chunk = skus.slice(i, i + 500);
    if (chunk.length === 0) continue;
    const values = await redis().mget<(string | number | null)[]>(...chunk.map((s) => `stock:${s}`));
    chunk.forEach((s, j) => out.set(s, values[j] === null || values[j] === undefined ? null : Number(values[j])));
  }
  return out;
}
