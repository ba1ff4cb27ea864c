/**
 * Splits items into consecutive chunks of at most `maxItems` items and about `maxBytes` (by `bytes`
 * of each item; an item larger than maxBytes alone is a chunk of its own). Batched requests use it to
 * stay within a request size limit (Upstash: 10 MB per request) whatever the items are.
 */
export function chunks<T>(items: T[], maxItems: number, maxBytes: number, bytes: (item: T) => number): T[][] {
  const out: T[][] = [];
  let current: T[] = [];
  let size = 0;
  for (const item of items) {
    const b = bytes(item);
    if (current.length > 0 && (current.length >= maxItems || size + b > maxBytes)) {
      out.push(current);
      current = [];
      size = 0;
    }
    current.push(item);
    size += b;
  }
  if (current.length) out.push(current);
  return out;
}
