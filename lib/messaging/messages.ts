import type { SendAddress } from '../identity.js';

/**
 * The messages the shop sends, and their translation into Graph API bodies.
 * Meta's limits are enforced here (text is shortened, never rejected at Meta).
 */
export const LIMITS = {
  textBody: 4096,
  interactiveBody: 1024,
  headerText: 60,
  footerText: 60,
  listButton: 20,
  listRows: 10,
  rowTitle: 24,
  rowDescription: 72,
  sectionTitle: 24,
  replyButtons: 3,
  buttonTitle: 20,
  ctaDisplayText: 20,
  /** Multi-product message: products in total, sections (docs/storefront.md cites Meta's reference). */
  productListItems: 30,
  productListSections: 10,
  /** Interactive product carousel: 2 to 10 product cards. */
  carouselMinCards: 2,
  carouselMaxCards: 10,
} as const;

export type TemplateParameter = { type: 'text'; text: string };
export type TemplateComponent =
  | { type: 'header' | 'body'; parameters: TemplateParameter[] }
  | { type: 'button'; sub_type: 'url' | 'quick_reply'; index: number; parameters: TemplateParameter[] };

export type OutgoingMessage =
  | { type: 'text'; body: string; previewUrl?: boolean }
  | {
      type: 'list';
      body: string;
      button: string;
      header?: string;
      footer?: string;
      sections: { title: string; rows: { id: string; title: string; description?: string }[] }[];
    }
  | { type: 'buttons'; body: string; buttons: { id: string; title: string }[]; footer?: string }
  | { type: 'cta_url'; body: string; displayText: string; url: string; header?: string; footer?: string }
  | { type: 'template'; name: string; language: string; components: TemplateComponent[] }
  /** Meta catalog message: a thumbnail product and a "View catalog" button (the catalog connected to the number). */
  | { type: 'catalog'; body: string; footer?: string; thumbnailSku: string }
  /** Multi-product message: up to 30 products of the catalog in up to 10 sections. */
  | { type: 'product_list'; catalogId: string; header: string; body: string; footer?: string; sections: { title: string; skus: string[] }[] }
  /** Single-product message. */
  | { type: 'product'; catalogId: string; sku: string; body?: string; footer?: string }
  /** Interactive product carousel: 2–10 product cards, a body and nothing else. */
  | { type: 'carousel'; catalogId: string; body: string; skus: string[] };

export function clip(text: string, max: number): string {
  const chars = [...text];
  return chars.length <= max ? text : chars.slice(0, max - 1).join('') + '…';
}

/**
 * Graph API body for POST /{phone-number-id}/messages, addressed by phone (`to`) or, for a customer
 * known only by their business-scoped user ID, by `recipient` (Meta: when both are present `to` wins).
 */
export function toGraphBody(address: SendAddress, message: OutgoingMessage, callbackKey?: string): Record<string, unknown> {
  const base: Record<string, unknown> = { messaging_product: 'whatsapp', recipient_type: 'individual', ...address };
  if (callbackKey) base.biz_opaque_callback_data = callbackKey;
  const footer = (t?: string) => (t ? { footer: { text: clip(t, LIMITS.footerText) } } : {});
  const header = (t?: string) => (t ? { header: { type: 'text', text: clip(t, LIMITS.headerText) } } : {});
  /** An interactive message: its optional header, body and footer around a type-specific action. */
  const interactive = (type: string, m: { header?: string; body: string; footer?: string }, action: Record<string, unknown>) => ({
    ...base,
    type: 'interactive',
    interactive: { type, ...header(m.header), body: { text: clip(m.body, LIMITS.interactiveBody) }, ...footer(m.footer), action },
  });
  switch (message.type) {
    case 'text':
      return { ...base, type: 'text', text: { body: clip(message.body, LIMITS.textBody), preview_url: message.previewUrl ?? false } };
    case 'list': {
      let budget: number = LIMITS.listRows;
      const sections = message.sections
        .map((s) => {
          const rows = s.rows.slice(0, Math.max(0, budget));
          budget -= rows.length;
          return {
            title: clip(s.title, LIMITS.sectionTitle),
            rows: rows.map((r) => ({
              id: r.id,
              title: clip(r.title, LIMITS.rowTitle),
              ...(r.description ? { description: clip(r.description, LIMITS.rowDescription) } : {}),
            })),
          };
        })
        .filter((s) => s.rows.length > 0);
      return interactive('list', message, { button: clip(message.button, LIMITS.listButton), sections });
    }
    case 'buttons':
      return interactive('button', message, {
        buttons: message.buttons.slice(0, LIMITS.replyButtons).map((b) => ({ type: 'reply', reply: { id: b.id, title: clip(b.title, LIMITS.buttonTitle) } })),
      });
    case 'cta_url':
      return interactive('cta_url', message, { name: 'cta_url', parameters: { display_text: clip(message.displayText, LIMITS.ctaDisplayText), url: message.url } });
    case 'catalog':
      return interactive('catalog_message', { body: message.body, footer: message.footer }, { name: 'catalog_message', parameters: { thumbnail_product_retailer_id: message.thumbnailSku } });
    case 'product_list': {
      let budget: number = LIMITS.productListItems;
      const sections = message.sections
        .slice(0, LIMITS.productListSections)
        .map((s) => {
          const skus = s.skus.slice(0, Math.max(0, budget));
          budget -= skus.length;
          return { title: clip(s.title, LIMITS.sectionTitle), product_items: skus.map((sku) => ({ product_retailer_id: sku })) };
        })
        .filter((s) => s.product_items.length > 0);
      return interactive('product_list', message, { catalog_id: message.catalogId, sections });
    }
    case 'product':
      return {
        ...base,
        type: 'interactive',
        interactive: {
          type: 'product',
          ...(message.body ? { body: { text: clip(message.body, LIMITS.interactiveBody) } } : {}),
          ...footer(message.footer),
          action: { catalog_id: message.catalogId, product_retailer_id: message.sku },
        },
      };
    case 'carousel':
      return interactive('carousel', { body: message.body }, {
        cards: message.skus.slice(0, LIMITS.carouselMaxCards).map((sku, i) => ({
          card_index: i,
          type: 'product',
          action: { product_retailer_id: sku, catalog_id: message.catalogId },
        })),
      });
    case 'template':
      return {
        ...base,
        type: 'template',
        template: { name: message.name, language: { code: message.language }, components: message.components },
      };
  }
}
