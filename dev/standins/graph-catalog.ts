import { z } from 'zod';

/**
 * The Graph stand-in's reading of Meta's catalog messages (docs/storefront.md lists the sources):
 *  - catalog message (`catalog_message`): body ≤ 1024 (required), footer ≤ 60, no header;
 *    action.name "catalog_message" and action.parameters.thumbnail_product_retailer_id. Meta's
 *    guide lists the thumbnail as required; whatsapp-api-js notes the API errors without it.
 *  - single-product message (`product`): body ≤ 1024 and footer ≤ 60 optional, no header;
 *    action.catalog_id and action.product_retailer_id.
 *  - multi-product message (`product_list`): text header ≤ 60 required, body ≤ 1024 required,
 *    footer ≤ 60; action.catalog_id; 1–10 sections, a title ≤ 24 (required when there is more
 *    than one section); at most 30 products in total.
 *  - interactive product carousel (`carousel` of `product` cards): body ≤ 1024 required; no header,
 *    footer or buttons; 2–10 cards, card_index 0–9 unique, every card the same catalog_id.
 * Shape errors answer like every other invalid send (#100 Invalid parameter); a catalog or
 * product Meta would not find (catalog not pushed to / not connected, retailer id not in it)
 * answers (#131009) Parameter value is not valid, naming it.
 */

const str = (max: number) => z.string().min(1).max(max);
const Footer = z.looseObject({ text: str(60) });
const Body = z.looseObject({ text: str(1024) });
const noField = (name: string) => z.undefined({ error: `${name} is not allowed in this message type` }).optional();

const CatalogMessage = z.looseObject({
  type: z.literal('catalog_message'),
  header: noField('header'),
  body: Body,
  footer: Footer.optional(),
  action: z.looseObject({
    name: z.literal('catalog_message'),
    parameters: z.looseObject({ thumbnail_product_retailer_id: z.string({ error: 'thumbnail_product_retailer_id is required' }).min(1) }, { error: 'parameters.thumbnail_product_retailer_id is required' }),
  }),
});

const Product = z.looseObject({
  type: z.literal('product'),
  header: noField('header'),
  body: Body.optional(),
  footer: Footer.optional(),
  action: z.looseObject({ catalog_id: z.string().min(1), product_retailer_id: z.string().min(1) }),
});

const ProductList = z
  .looseObject({
    type: z.literal('product_list'),
    header: z.looseObject({ type: z.literal('text'), text: str(60) }, { error: 'a text header is required' }),
    body: Body,
    footer: Footer.optional(),
    action: z.looseObject({
      catalog_id: z.string().min(1),
      sections: z
        .array(z.looseObject({ title: str(24).optional(), product_items: z.array(z.looseObject({ product_retailer_id: z.string().min(1) })).min(1) }))
        .min(1)
        .max(10, 'at most 10 sections'),
    }),
  })
  .superRefine((v, ctx) => {
    const n = v.action.sections.reduce((a, s) => a + s.product_items.length, 0);
    if (n > 30) ctx.addIssue({ code: 'custom', path: ['action', 'sections'], message: `at most 30 products in total (got ${n})` });
    if (v.action.sections.length > 1)
      v.action.sections.forEach((s, i) => {
        if (!s.title) ctx.addIssue({ code: 'custom', path: ['action', 'sections', i, 'title'], message: 'section title is required when there is more than one section' });
      });
  });

const Carousel = z
  .looseObject({
    type: z.literal('carousel'),
    header: noField('header'),
    footer: noField('footer'),
    body: Body,
    action: z.looseObject({
      buttons: noField('buttons'),
      cards: z
        .array(
          z.looseObject({
            card_index: z.number().int().min(0).max(9),
            type: z.literal('product'),
            action: z.looseObject({ product_retailer_id: z.string().min(1), catalog_id: z.string().min(1) }),
          }),
        )
        .min(2, 'at least 2 cards')
        .max(10, 'at most 10 cards'),
    }),
  })
  .superRefine((v, ctx) => {
    const seen = new Set<number>();
    v.action.cards.forEach((c, i) => {
      if (seen.has(c.card_index)) ctx.addIssue({ code: 'custom', path: ['action', 'cards', i, 'card_index'], message: `duplicate card_index ${c.card_index}` });
      seen.add(c.card_index);
      if (c.action.catalog_id !== v.action.cards[0]!.action.catalog_id)
        ctx.addIssue({ code: 'custom', path: ['action', 'cards', i, 'action', 'catalog_id'], message: 'every card must reference the same catalog_id' });
    });
  });

/** The catalog interactive types, for the stand-in's discriminated union of interactive messages. */
export const catalogInteractives = [CatalogMessage, Product, ProductList, Carousel] as const;
export const catalogInteractiveTypes = ['catalog_message', 'product', 'product_list', 'carousel'] as const;

type Items = Map<string, Map<string, Record<string, unknown>>>;

/**
 * What Meta would not find for a schema-valid message: null when fine, else the details of a
 * 131009. `connected`: the catalog connected to the number (for catalog messages, which name none);
 * by default the one catalog items were pushed to.
 */
export function catalogMessageProblem(body: unknown, catalogs: Items, connected?: string): string | null {
  const i = (body as { type?: string; interactive?: { type?: string; action?: Record<string, unknown> } }).interactive;
  if ((body as { type?: string }).type !== 'interactive' || !i || !catalogInteractiveTypes.includes(i.type as never)) return null;
  const a = i.action ?? {};
  const known = (id: string) => catalogs.has(id) || id === connected;
  const inCatalog = (catalogId: string, sku: string) => catalogs.get(catalogId)?.has(sku) ?? false;
  const check = (catalogId: string, skus: string[]): string | null => {
    if (!known(catalogId)) return `catalog_id ${catalogId} does not exist or is not connected to this phone number`;
    const missing = skus.filter((s) => !inCatalog(catalogId, s));
    return missing.length ? `product_retailer_id ${missing.map((m) => `"${m}"`).join(', ')} not found in catalog ${catalogId}` : null;
  };
  switch (i.type) {
    case 'catalog_message': {
      const catalogId = connected ?? (catalogs.size === 1 ? [...catalogs.keys()][0] : undefined);
      if (!catalogId) return 'no catalog is connected to this phone number';
      return check(catalogId, [String((a.parameters as { thumbnail_product_retailer_id: string }).thumbnail_product_retailer_id)]);
    }
    case 'product':
      return check(String(a.catalog_id), [String(a.product_retailer_id)]);
    case 'product_list':
      return check(String(a.catalog_id), (a.sections as { product_items: { product_retailer_id: string }[] }[]).flatMap((s) => s.product_items.map((p) => p.product_retailer_id)));
    case 'carousel': {
      const cards = a.cards as { action: { catalog_id: string; product_retailer_id: string } }[];
      return check(cards[0]!.action.catalog_id, cards.map((c) => c.action.product_retailer_id));
    }
  }
  return null;
}
