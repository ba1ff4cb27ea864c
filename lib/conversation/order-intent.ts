import type { Variant } from '../catalog/index.js';
import type { RequestedLine } from '../orders/place.js';
import type { InboundWhatsAppMessage } from '../whatsapp/inbound-payload.js';
import { findVariant } from './find-variant.js';
import { parseIntent } from './intents.js';

/** A quantity button's id (replies.ts buttonIdForQuantity: `qty:<n>:<sku>`) → its line; null for any other id. */
export function quantityButtonLine(id: string): RequestedLine | null {
  const m = /^qty:(\d+):(.+)$/.exec(id);
  return m ? { sku: m[2]!, quantity: Number(m[1]) } : null;
}

/**
 * The lines a message orders: a catalog `order`, a quantity button, or a "buy" text matched in
 * `variants` (null: not matched here). Null when it orders nothing (as far as can be told).
 */
export function orderedLines(msg: InboundWhatsAppMessage, variants: Variant[] | null): RequestedLine[] | null {
  const c = msg.content;
  if (c.type === 'order') return c.items.map((i) => ({ sku: i.sku, quantity: i.quantity }));
  if (c.type === 'button_reply') {
    const line = quantityButtonLine(c.id);
    return line ? [line] : null;
  }
  if (c.type !== 'text' || !variants) return null;
  const intent = parseIntent(c.body);
  if (intent.type !== 'buy') return null;
  const variant = findVariant(variants, intent.query);
  return variant ? [{ sku: variant.sku, quantity: intent.quantity }] : null;
}
