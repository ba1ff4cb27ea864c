import { templateRegistry, type TemplateKey } from './templates.js';

/**
 * The message templates as they are submitted to Meta (`npm run setup`) and checked (`npm run doctor`):
 * category, components and a sample value for every parameter (Meta refuses a template whose
 * variables lack examples). The parameter counts are the ones the code fills (templates.ts
 * `templateRegistry`); tests/setup-doctor.test.ts keeps both in step. Typed by TemplateKey, so a
 * template added to the registry without a definition here does not compile.
 */
export type TemplateDefinition = {
  category: 'UTILITY';
  /** A TEXT header, with the sample value of its variable. */
  header?: { text: string; example?: string };
  body: { text: string; examples: string[] };
  /** A URL button whose url ends in {{1}} (filled by the code), or a static one. */
  button?: { text: string; url: (site: SiteUrls) => string; example?: (site: SiteUrls) => string };
};

/** Where the templates' buttons point: the shop's site and its parcel tracking page. */
export type SiteUrls = { appBaseUrl: string; trackingUrl: string };

export const templateDefinitions: Record<TemplateKey, TemplateDefinition> = {
  order_confirmed: {
    category: 'UTILITY',
    body: { text: 'Thank you! Your order {{1}} is confirmed. We received {{2}}. {{3}}', examples: ['A1B2C3', '€12.50', 'We will let you know when it ships.'] },
  },
  order_invite_link: {
    category: 'UTILITY',
    body: {
      text: 'Please forward this link to your elder for direct chat about order {{1}}: {{2}}',
      examples: ['A1B2C3', 'https://shop.example/w/invite/Xy7kPq2Lm9'],
    },
  },
  order_shipped: {
    category: 'UTILITY',
    header: { text: 'Order {{1}} is on its way.', example: 'A1B2C3' },
    body: { text: 'Hi {{1}}, your order has shipped.', examples: ['Ada'] },
    button: { text: 'Track order', url: (s) => `${s.trackingUrl.replace(/\/?$/, '/')}{{1}}`, example: (s) => `${s.trackingUrl.replace(/\/?$/, '/')}1Z999AA10123456784` },
  },
  offline_payment: {
    category: 'UTILITY',
    body: { text: 'Hi {{1}}, we received your payment of {{2}} on {{3}}. Thank you!', examples: ['Ada', '€12.50', '25 Nov 2026'] },
    button: { text: 'View receipt', url: (s) => s.appBaseUrl },
  },
  hold_expired: {
    category: 'UTILITY',
    body: { text: 'Your reservation for order {{1}} has lapsed and the items were released. Reply "menu" to order again.', examples: ['A1B2C3'] },
  },
  order_delivered: {
    category: 'UTILITY',
    body: { text: 'Your order {{1}} has been delivered. Thank you for shopping with us! Reply here if anything is wrong with it.', examples: ['A1B2C3'] },
  },
  order_ready_for_pickup: {
    category: 'UTILITY',
    body: { text: 'Your order {{1}} is ready for pickup at {{2}} ({{3}}). Please bring the order number with you.', examples: ['A1B2C3', 'Teestraße 1, 10115 Berlin', 'Mon–Fri 10–18'] },
  },
  back_in_stock: {
    category: 'UTILITY',
    body: {
      text: 'Hi {{1}}, good news: {{2}} is back in stock and we are holding it for you for {{3}} minutes. Pay here: {{4}} (reply "stop" to get no more of these messages)',
      examples: ['Ada', 'Green tea', '15', 'https://checkout.stripe.com/c/pay/cs_test_a1b2c3'],
    },
  },
};

/** A component as Meta's message_templates API takes and returns it. */
export type MetaTemplateComponent = {
  type: 'HEADER' | 'BODY' | 'FOOTER' | 'BUTTONS';
  format?: string;
  text?: string;
  example?: { body_text?: string[][]; header_text?: string[] };
  buttons?: Array<{ type: string; text: string; url?: string; example?: string[] }>;
};

/** The POST /{waba-id}/message_templates body for one template. */
export function templateSubmission(key: TemplateKey, name: string, language: string, site: SiteUrls) {
  const d = templateDefinitions[key];
  const components: MetaTemplateComponent[] = [];
  if (d.header) components.push({ type: 'HEADER', format: 'TEXT', text: d.header.text, ...(d.header.example ? { example: { header_text: [d.header.example] } } : {}) });
  components.push({ type: 'BODY', text: d.body.text, ...(d.body.examples.length ? { example: { body_text: [d.body.examples] } } : {}) });
  if (d.button) {
    const example = d.button.example?.(site);
    components.push({ type: 'BUTTONS', buttons: [{ type: 'URL', text: d.button.text, url: d.button.url(site), ...(example ? { example: [example] } : {}) }] });
  }
  return { name, language, category: d.category, components };
}

const countVars = (text: string | undefined) => new Set([...(text ?? '').matchAll(/\{\{\s*(\d+)\s*\}\}/g)].map((m) => m[1])).size;

/** The parameters a template (as Meta holds it) takes, per part the code fills. */
export function parameterCounts(components: MetaTemplateComponent[]): { header: number; body: number; urlButton: number } {
  const header = components.find((c) => c.type === 'HEADER' && (c.format ?? 'TEXT') === 'TEXT');
  const body = components.find((c) => c.type === 'BODY');
  const url = components.find((c) => c.type === 'BUTTONS')?.buttons?.find((b) => b.type === 'URL');
  return { header: countVars(header?.text), body: countVars(body?.text), urlButton: countVars(url?.url) };
}

/** The parameters the code fills for a template (templates.ts). */
export function codeParameterCounts(key: TemplateKey): { header: number; body: number; urlButton: number } {
  const { header, body, urlButton } = templateRegistry[key];
  return { header, body, urlButton };
}

export const templateKeys = Object.keys(templateRegistry) as TemplateKey[];
