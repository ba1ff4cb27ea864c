import { getConfig } from '../config.js';
import type { OutgoingMessage, TemplateComponent } from './messages.js';
import { DomainError } from '../errors.js';

/**
 * The message templates the shop sends, as submitted to Meta for approval. Each declares its
 * components and how many parameters each takes; a send with the wrong count fails here, before
 * any HTTP call (Meta would answer 132000). docs/shop.md lists the exact text to submit.
 */
export type TemplateKey = 'order_confirmed' | 'order_invite_link' | 'order_shipped' | 'offline_payment' | 'hold_expired' | 'order_delivered' | 'order_ready_for_pickup' | 'back_in_stock';

type Spec = { configName: () => string; header: number; body: number; urlButton: number; text: string };

export const templateRegistry: Record<TemplateKey, Spec> = {
  order_confirmed: {
    configName: () => getConfig().TEMPLATE_ORDER_CONFIRMED,
    header: 0,
    body: 3,
    urlButton: 0,
    text: 'Thank you! Your order {{1}} is confirmed. We received {{2}}. {{3}}',
  },
  order_invite_link: {
    configName: () => getConfig().TEMPLATE_ORDER_INVITE_LINK,
    header: 0,
    body: 2,
    urlButton: 0,
    text: 'Please forward this link to your elder for direct chat about order {{1}}: {{2}}',
  },
  order_shipped: {
    configName: () => getConfig().TEMPLATE_ORDER_SHIPPED,
    header: 1,
    body: 1,
    urlButton: 1,
    text: 'Header: Order {{1}} is on its way. Body: Hi {{1}}, your order has shipped. Button (URL, https://…/{{1}}): Track order',
  },
  offline_payment: {
    configName: () => getConfig().TEMPLATE_OFFLINE_PAYMENT,
    header: 0,
    body: 3,
    urlButton: 0,
    text: 'Hi {{1}}, we received your payment of {{2}} on {{3}}. Thank you! Button (static URL): View receipt',
  },
  hold_expired: {
    configName: () => getConfig().TEMPLATE_HOLD_EXPIRED,
    header: 0,
    body: 1,
    urlButton: 0,
    text: 'Your reservation for order {{1}} has lapsed and the items were released. Reply "menu" to order again.',
  },
  order_delivered: {
    configName: () => getConfig().TEMPLATE_ORDER_DELIVERED,
    header: 0,
    body: 1,
    urlButton: 0,
    text: 'Your order {{1}} has been delivered. Thank you for shopping with us! Reply here if anything is wrong with it.',
  },
  order_ready_for_pickup: {
    configName: () => getConfig().TEMPLATE_ORDER_READY_FOR_PICKUP,
    header: 0,
    body: 3,
    urlButton: 0,
    text: 'Your order {{1}} is ready for pickup at {{2}} ({{3}}). Please bring the order number with you.',
  },
  back_in_stock: {
    configName: () => getConfig().TEMPLATE_BACK_IN_STOCK,
    header: 0,
    body: 4,
    urlButton: 0,
    text: 'Hi {{1}}, good news: {{2}} is back in stock and we are holding it for you for {{3}} minutes. Pay here: {{4}} (reply "stop" to get no more of these messages)',
  },
};

/** A template given the wrong parameters (an admin action's input, e.g. an empty name): `invalid`, `template_parameters`. */
export class TemplateParameterError extends DomainError {
  constructor(readonly template: string, readonly component: string, readonly expected: number, readonly given: number) {
    super('invalid', 'template_parameters', `template ${template}: ${component} takes ${expected} parameter(s), ${given} given`);
    this.name = 'TemplateParameterError';
  }
}

export function buildTemplate(key: TemplateKey, params: { header?: string[]; body?: string[]; urlButton?: string[] }): OutgoingMessage {
  const spec = templateRegistry[key];
  const name = spec.configName();
  const components: TemplateComponent[] = [];
  for (const part of ['header', 'body', 'urlButton'] as const) {
    const given = params[part] ?? [];
    if (given.length !== spec[part]) throw new TemplateParameterError(name, part, spec[part], given.length);
    if (given.some((p) => p.trim() === '')) throw new TemplateParameterError(name, `${part} (empty parameter)`, spec[part], given.length);
  }
  const text = (values: string[]) => values.map((v) => ({ type: 'text' as const, text: v }));
  if (spec.header) components.push({ type: 'header', parameters: text(params.header!) });
  if (spec.body) components.push({ type: 'body', parameters: text(params.body!) });
  if (spec.urlButton) components.push({ type: 'button', sub_type: 'url', index: 0, parameters: text(params.urlButton!) });
  return { type: 'template', name, language: getConfig().TEMPLATE_LANGUAGE, components };
}
