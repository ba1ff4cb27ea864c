import type { Variant } from '../catalog/index.js';
import { normalizeText } from './intents.js';

/** Finds the variant a customer meant: exact SKU first, else the best name match (every word present). */
export function findVariant(variants: Variant[], query: string): Variant | null {
  const q = normalizeText(query);
  const bySku = variants.find((v) => normalizeText(v.sku) === q || v.sku.toLowerCase() === query.trim().toLowerCase());
  if (bySku) return bySku;
  const words = q.split(' ').filter(Boolean);
  const candidates = variants
    .map((v) => ({ v, name: normalizeText(`${v.displayName} ${v.sku}`) }))
    .filter(({ name }) => words.every((w) => name.includes(w) || name.includes(w.replace(/s$/, ''))));
  if (candidates.length === 0) return null;
  // The shortest matching name is the least specific match ("tea" → "Green tea" over "Green tea (Large)").
  candidates.sort((a, b) => a.name.length - b.name.length);
  return candidates[0]!.v;
}
