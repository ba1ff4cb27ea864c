import type { Variant } from '../catalog/index.js';
import { getConfig } from '../config.js';
import { formatMoney } from '../money.js';
import { LIMITS, type OutgoingMessage } from '../messaging/messages.js';
import { orderSummaryLines } from '../messaging/order-notices.js';
import type { Order } from '../orders/order.js';
import type { PlaceOrderResult } from '../orders/place.js';

/** The texts and interactive messages the shop sends in the conversation (order notices: lib/messaging/order-notices.ts). */

export const rowIdForVariant = (sku: string) => `variant:${sku}`;
export const rowIdForPage = (page: number) => `page:${page}`;
export const buttonIdForQuantity = (sku: string, quantity: number) => `qty:${quantity}:${sku}`;

/** The menu, search results and product messages: ./storefront.ts. */

export function quantityQuestion(v: Variant, available: number): OutgoingMessage {
  if (available <= 0) return { type: 'text', body: `Sorry, ${v.displayName} is sold out right now. Type "menu" to see what is in stock.` };
  const options = [1, 2, 3].filter((n) => n <= Math.min(available, getConfig().MAX_QUANTITY_PER_LINE));
  return {
    type: 'buttons',
    body: `How many ${v.displayName} would you like? ${formatMoney(v.priceMinor, v.currency)} each.`,
    footer: `For more, type "buy ${v.sku} <quantity>"`,
    buttons: options.map((n) => ({ id: buttonIdForQuantity(v.sku, n), title: `${n}` })),
  };
}

export function orderProblem(result: Exclude<PlaceOrderResult, { status: 'created' | 'existing' }>): OutgoingMessage {
  switch (result.status) {
    case 'out_of_stock':
      return {
        type: 'text',
        body: `Sorry, we can't hold that order: ${result.shortages
          .map((s) => (s.available > 0 ? `only ${s.available} × ${s.name} left` : `${s.name} is sold out`))
          .join('; ')}. Nothing was reserved. Type "menu" to see what is available.`,
      };
    case 'unknown_skus':
      return {
        type: 'text',
        body: `Sorry, we don't sell ${result.skus.map((s) => `"${s}"`).join(', ')}, so nothing was reserved. Please send the order again without ${result.skus.length === 1 ? 'it' : 'them'}, or type "menu" to see our products.`,
      };
    case 'invalid_quantity':
      return {
        type: 'text',
        body: `Sorry, ${result.quantity} × ${result.name} (${result.sku}) is more than we take in one order: between 1 and ${result.max} of each item. Nothing was reserved; please send it again with at most ${result.max}.`,
      };
    case 'mixed_currency':
      return { type: 'text', body: 'These items are priced in different currencies, so please order them separately.' };
    case 'too_many_open_orders':
      return {
        type: 'text',
        body: `You already have ${result.max} orders waiting for payment. Please pay or cancel one (reply "cancel") before placing another.`,
      };
  }
}

export function notFound(query: string): OutgoingMessage {
  return { type: 'text', body: `Sorry, I couldn't find "${query}" in our catalog. Type "menu" to see everything we sell.` };
}

const STATUS_WORDS: Record<Order['paymentStatus'], string> = {
  pending: 'waiting for payment',
  awaiting_payment: 'payment is being processed',
  paid: 'paid',
  expired: 'expired (the hold lapsed before payment)',
  cancelled: 'cancelled',
  payment_failed: 'payment failed',
  refunded: 'refunded',
};

export function orderStatus(order: Order | null): OutgoingMessage {
  if (!order) return { type: 'text', body: 'You have no orders yet. Type "menu" to start shopping.' };
  const shipping = fulfilmentLine(order);
  const pay = order.paymentStatus === 'pending' && order.checkoutUrl ? `\nPay here: ${order.checkoutUrl}` : '';
  return { type: 'text', body: `Order ${order.reference}: ${STATUS_WORDS[order.paymentStatus]}.${shipping}\n${orderSummaryLines(order)}${pay}` };
}

/** The fulfilment state for "status": shipped (carrier, tracking link), ready for pickup, delivered; what is paid and due to ship. */
function fulfilmentLine(order: Order): string {
  const pickup = order.shippingMode === 'pickup';
  const tracking = [order.carrier ? `with ${order.carrier}` : null, order.trackingUrl ? `track it: ${order.trackingUrl}` : null].filter(Boolean).join(', ');
  if (order.fulfillmentStatus === 'delivered') return pickup ? '\nPicked up.' : '\nShipping: delivered.';
  if (order.fulfillmentStatus === 'shipped') return pickup ? '\nReady for pickup.' : `\nShipping: on its way${tracking ? ` ${tracking}` : ''}.`;
  if (order.paymentStatus !== 'paid') return '';
  if (pickup) return '\nPickup: being prepared; we will message you when it is ready.';
  if (order.shippingMode === 'delivery') return `\nShipping: being prepared${order.shippingRate ? ` (${order.shippingRate.name})` : ''}.`;
  return '';
}

export function cancelled(order: Order | null): OutgoingMessage {
  if (!order) return { type: 'text', body: 'You have no order waiting for payment, so there is nothing to cancel.' };
  return { type: 'text', body: `Order ${order.reference} is cancelled and the items are released. Type "menu" to order again.` };
}

/** The customer's "cancel" met a payment that had already gone through. */
export function alreadyPaid(order: Order): OutgoingMessage {
  return { type: 'text', body: `Order ${order.reference} was already paid, so it can't be cancelled here. Your confirmation is on its way; reply here if you need help with it.` };
}

export function help(): OutgoingMessage {
  return {
    type: 'text',
    body: [
      `Here is what I can do at ${getConfig().SHOP_NAME}:`,
      '• "menu": see our products',
      '• "buy <product> <quantity>", e.g. "buy green tea 2", or "2 x green tea"',
      '• "status": your latest order',
      '• "cancel": cancel the order waiting for payment',
      'You can also order straight from our WhatsApp catalog.',
    ].join('\n'),
  };
}

export const DID_NOT_UNDERSTAND = "Sorry, I didn't quite get that. Here is our menu (type \"help\" for everything I can do).";

export function choiceExpired(): OutgoingMessage {
  return { type: 'text', body: 'That choice is no longer available. Type "menu" to see our products again.' };
}

const MEDIA_WORDS: Record<string, string> = {
  image: 'photos', audio: 'voice messages', video: 'videos', document: 'files', sticker: 'stickers', location: 'locations', contacts: 'contact cards',
};

/** The one answer to media: what the shop can do, not "didn't understand". */
export function mediaHelp(kind: string): OutgoingMessage {
  return {
    type: 'text',
    body: [
      `Thanks! I can't open ${MEDIA_WORDS[kind] ?? 'this kind of message'} here, but I can help you shop at ${getConfig().SHOP_NAME}:`,
      '• "menu": see our products',
      '• "buy <product> <quantity>", e.g. "buy green tea 2"',
      '• "status": your latest order',
    ].join('\n'),
  };
}
