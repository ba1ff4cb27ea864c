import { expect } from 'vitest';

/**
 * Asserts a Graph message body against Meta's documented limits (docs/storefront.md lists the
 * sources): interactive list, multi-product, single-product, catalog and carousel messages.
 * Independent of the stand-in's validation, so a change to one is caught by the other.
 */
type Any = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const len = (s: unknown) => [...String(s ?? '')].length;

export function expectWithinMetaLimits(body: unknown): void {
  const b = body as Any;
  if (b.type === 'text') return void expect(len(b.text.body)).toBeLessThanOrEqual(4096);
  expect(b.type).toBe('interactive');
  const i = b.interactive as Any;
  if (i.header) expect(len(i.header.text)).toBeLessThanOrEqual(60);
  if (i.body) expect(len(i.body.text)).toBeLessThanOrEqual(1024);
  if (i.footer) expect(len(i.footer.text)).toBeLessThanOrEqual(60);
  const a = i.action as Any;
  switch (i.type) {
    case 'list': {
      expect(len(a.button)).toBeLessThanOrEqual(20);
      expect(a.sections.length).toBeGreaterThanOrEqual(1);
      expect(a.sections.length).toBeLessThanOrEqual(10);
      const rows = a.sections.flatMap((s: Any) => s.rows);
      expect(rows.length).toBeLessThanOrEqual(10);
      expect(new Set(rows.map((r: Any) => r.id)).size).toBe(rows.length);
      for (const s of a.sections) {
        if (a.sections.length > 1) expect(len(s.title)).toBeGreaterThan(0);
        expect(len(s.title)).toBeLessThanOrEqual(24);
      }
      for (const r of rows) {
        expect(len(r.id)).toBeLessThanOrEqual(200);
        expect(len(r.title)).toBeLessThanOrEqual(24);
        expect(len(r.description)).toBeLessThanOrEqual(72);
      }
      break;
    }
    case 'product_list': {
      expect(i.header?.type).toBe('text');
      expect(len(i.body?.text)).toBeGreaterThan(0);
      expect(a.catalog_id).toBeTruthy();
      expect(a.sections.length).toBeGreaterThanOrEqual(1);
      expect(a.sections.length).toBeLessThanOrEqual(10);
      const items = a.sections.flatMap((s: Any) => s.product_items);
      expect(items.length).toBeGreaterThanOrEqual(1);
      expect(items.length).toBeLessThanOrEqual(30);
      for (const s of a.sections) expect(len(s.title)).toBeLessThanOrEqual(24);
      break;
    }
    case 'product':
      expect(i.header).toBeUndefined();
      expect(a.catalog_id).toBeTruthy();
      expect(a.product_retailer_id).toBeTruthy();
      break;
    case 'catalog_message':
      expect(i.header).toBeUndefined();
      expect(a.name).toBe('catalog_message');
      expect(a.parameters?.thumbnail_product_retailer_id).toBeTruthy();
      break;
    case 'carousel':
      expect(i.header).toBeUndefined();
      expect(i.footer).toBeUndefined();
      expect(a.cards.length).toBeGreaterThanOrEqual(2);
      expect(a.cards.length).toBeLessThanOrEqual(10);
      expect(new Set(a.cards.map((c: Any) => c.card_index)).size).toBe(a.cards.length);
      for (const c of a.cards) {
        expect(c.type).toBe('product');
        expect(c.action.catalog_id).toBe(a.cards[0].action.catalog_id);
      }
      break;
    default:
      // buttons, cta_url: the common checks above
      break;
  }
}
