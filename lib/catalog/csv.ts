import { DomainError } from '../errors.js';
import { describe, MAX_ROWS, productFields, toInput, variantFields, variantProblem, type Parsed, type Product, type Rejection, type VariantIn } from './schema.js';

/**
 * CSV catalog import: one row per variant, the same fields as JSON flattened, header row required:
 *   sku,name,description,priceMinor,currency,imageUrl,stock,variantSku,variantName,priceDeltaMinor,variantStock,category
 * (`category` optional, as every column but sku/name/priceMinor/currency).
 * Rows with the same product `sku` form one product; a row without variantSku is the product's
 * default variant (SKU = the product's, `stock` its stock). Product fields come from its first row.
 * Rejections carry the data row's index (0-based) and its file line.
 */

export const CSV_COLUMNS = ['sku', 'name', 'description', 'priceMinor', 'currency', 'imageUrl', 'stock', 'variantSku', 'variantName', 'priceDeltaMinor', 'variantStock', 'category'] as const;
const REQUIRED_COLUMNS = ['sku', 'name', 'priceMinor', 'currency'];

/** A file that is no catalog CSV: the import's refusal (`invalid`, the problem as the body's field). */
export class CsvFormatError extends DomainError {
  constructor(readonly problem: string) {
    super('invalid', 'invalid_request', 'the request is invalid', [{ path: '(body)', message: problem }]);
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
export function candidatesFromCsv(text: string): Parsed {
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
      category: cell(col(r, 'category')) ?? '',
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
      const problem = variantProblem(product, variant, seen);
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
