import type Stripe from 'stripe';
import { getConfig } from '../config.js';
import { createStripeCheckoutSession, type CheckoutRequest } from '../payments/checkout.js';
import type { Order } from './order.js';
import { offeredRates, type ShippingChoice, type ShippingMode } from './shipping.js';

/** What a Checkout Session is made from: an order, or one about to be recorded (lib/orders/place.ts). */
export type CheckoutOrder = Pick<Order, 'id' | 'reference' | 'items' | 'currency'> & {
  holdExpiresAt: Date | null;
  createdAt?: Date;
  /** Fulfilment (lib/orders/shipping.ts): absent or `none`, no address and no shipping options. */
  shippingMode?: ShippingMode;
  shippingChoice?: ShippingChoice | null;
};

/**
 * The order's Checkout Session request (lib/payments/checkout.ts is the Stripe side), from config and the order
 * alone: the delivery address is collected (the countries shipped to) unless the order API gave one; the offered
 * rates in the order ./shipping.ts offeredRates lists them.
 */
export function checkoutRequestOf(order: CheckoutOrder): CheckoutRequest {
  const mode = order.shippingMode ?? 'none';
  const itemsMinor = order.items.reduce((s, i) => s + i.lineTotalMinor, 0);
  const rates = offeredRates({ shippingMode: mode, shippingChoice: order.shippingChoice ?? null, itemsMinor, currency: order.currency });
  const countries = getConfig().SHIPPING_COUNTRIES;
  return {
    id: order.id,
    reference: order.reference,
    currency: order.currency,
    items: order.items.map((i) => ({ name: i.name, quantity: i.quantity, unitPriceMinor: i.unitPriceMinor })),
    holdExpiresAt: order.holdExpiresAt,
    ...(order.createdAt ? { createdAt: order.createdAt } : {}),
    rates: rates.map((r) => ({ id: r.id, name: r.name, amountMinor: r.amountMinor, minDays: r.minDays, maxDays: r.maxDays })),
    collectCountries: mode === 'delivery' && !order.shippingChoice?.address && countries ? countries : null,
  };
}

/** One Checkout Session per order and hold (see lib/payments/checkout.ts createStripeCheckoutSession). */
export const createCheckoutSession = (order: CheckoutOrder): Promise<Stripe.Checkout.Session> => createStripeCheckoutSession(checkoutRequestOf(order));
