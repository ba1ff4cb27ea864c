import type Stripe from 'stripe';
import { getConfig } from '../config.js';
import { stripe } from './stripe-client.js';

/** Stripe accepts `expires_at` from 30 minutes to 24 hours after the session is created. */
const STRIPE_MIN_EXPIRY_SECONDS = 30 * 60;
const STRIPE_MAX_EXPIRY_SECONDS = 24 * 3600;
const MARGIN_SECONDS = 60;

/**
 * Stripe Checkout Sessions (the adapter: it knows Stripe, not orders). What a session is made from, as the domain
 * hands it over (lib/orders/checkout.ts makes it from an order, or one about to be recorded).
 */
export type CheckoutRate = { id: string; name: string; amountMinor: number; minDays: number | null; maxDays: number | null };
export type CheckoutRequest = {
  id: string;
  reference: string;
  currency: string;
  items: { name: string; quantity: number; unitPriceMinor: number }[];
  holdExpiresAt: Date | null;
  createdAt?: Date;
  /** The shipping options offered, in their order (the completed session's rate is found again by its position). */
  rates: CheckoutRate[];
  /** The countries a delivery address is collected for (none: no address collected). */
  collectCountries: string[] | null;
};

/**
 * The session's shipping and tax parameters: the delivery address (`shipping_address_collection`, the countries
 * shipped to) when asked, the offered rates as `shipping_options` (`shipping_rate_data`: fixed amount, delivery
 * estimate in business days); no phone collection (the WhatsApp identity is known). With STRIPE_AUTOMATIC_TAX,
 * Stripe Tax adds the tax on top (prices tax-exclusive).
 */
export function checkoutShippingParams(order: CheckoutRequest): Pick<Stripe.Checkout.SessionCreateParams, 'shipping_address_collection' | 'shipping_options' | 'automatic_tax'> {
  const tax = getConfig().STRIPE_AUTOMATIC_TAX;
  const rates = order.rates;
  return {
    ...(order.collectCountries
      ? { shipping_address_collection: { allowed_countries: order.collectCountries as Stripe.Checkout.SessionCreateParams.ShippingAddressCollection.AllowedCountry[] } }
      : {}),
    ...(rates.length
      ? {
          shipping_options: rates.map((r) => ({
            shipping_rate_data: {
              type: 'fixed_amount' as const,
              display_name: r.name.slice(0, 100),
              fixed_amount: { amount: r.amountMinor, currency: order.currency.toLowerCase() },
              ...(r.minDays && r.maxDays
                ? { delivery_estimate: { minimum: { unit: 'business_day' as const, value: r.minDays }, maximum: { unit: 'business_day' as const, value: r.maxDays } } }
                : {}),
              metadata: { rate_id: r.id },
              ...(tax ? { tax_behavior: 'exclusive' as const } : {}),
            },
          })),
        }
      : {}),
    ...(tax ? { automatic_tax: { enabled: true } } : {}),
  };
}

/**
 * `expires_at` derived from the hold's expiry alone (never from "now"), so every call for one order
 * and hold sends the same parameters under the same idempotency key, as Stripe requires: the hold's
 * expiry plus Stripe's 30-minute minimum, so a call made any time while the hold is live is
 * accepted; capped below Stripe's 24-hour maximum from when the hold was taken (expiry −
 * RESERVATION_TTL_SECONDS). The cleanup run expires the session once the hold lapses, so the extra
 * time is never payable for long.
 */
export function checkoutExpiresAt(order: Pick<CheckoutRequest, 'holdExpiresAt' | 'createdAt'>): number {
  const hold = Math.floor((order.holdExpiresAt ?? order.createdAt ?? new Date(0)).getTime() / 1000);
  const heldAt = hold - getConfig().RESERVATION_TTL_SECONDS;
  return Math.min(hold + STRIPE_MIN_EXPIRY_SECONDS + MARGIN_SECONDS, heldAt + STRIPE_MAX_EXPIRY_SECONDS - MARGIN_SECONDS);
}

/** The Stripe idempotency key: one session per order, reference and hold (a hold taken again after it lapsed is a new session). */
export const checkoutIdempotencyKey = (order: CheckoutRequest) => `checkout:${order.id}:${order.reference}:${checkoutExpiresAt(order)}`;

/**
 * One Checkout Session per order and hold: the Stripe idempotency key and every parameter derive
 * from the order (its id, reference, lines and hold expiry), so a retried or concurrent call (within
 * Stripe's 24-hour idempotency window) returns the same session instead of a second one or an
 * idempotency_error. lib/orders/place.ts calls it before the order row is written (the row then
 * carries the session), so everything here comes from the arguments, nothing from Postgres.
 */
export async function createStripeCheckoutSession(order: CheckoutRequest): Promise<Stripe.Checkout.Session> {
  const config = getConfig();
  const expiresAt = checkoutExpiresAt(order);
  return stripe().checkout.sessions.create(
    {
      mode: 'payment',
      client_reference_id: order.id,
      metadata: { order_id: order.id, order_reference: order.reference },
      payment_intent_data: { metadata: { order_id: order.id, order_reference: order.reference } },
      line_items: order.items.map((item) => ({
        quantity: item.quantity,
        price_data: {
          currency: order.currency.toLowerCase(),
          unit_amount: item.unitPriceMinor,
          product_data: { name: item.name },
          ...(config.STRIPE_AUTOMATIC_TAX ? { tax_behavior: 'exclusive' as const } : {}),
        },
      })),
      ...checkoutShippingParams(order),
      expires_at: expiresAt,
      success_url: `${config.APP_BASE_URL}/order/success?ref=${encodeURIComponent(order.reference)}`,
      cancel_url: `${config.APP_BASE_URL}/order/cancelled?ref=${encodeURIComponent(order.reference)}`,
    },
    { idempotencyKey: checkoutIdempotencyKey(order) },
  );
}

/** Stripe answers 404 resource_missing for a session it does not know (deleted test data, another account). */
function isMissing(error: unknown): boolean {
  const e = error as { code?: string; statusCode?: number };
  return e.code === 'resource_missing' && e.statusCode === 404;
}

/**
 * Expires an open Checkout Session so it can no longer be paid. Returns the session's state
 * afterwards: 'expired', 'complete' when the customer paid first (the caller then takes the
 * payment path instead of releasing the hold), or 'missing' when Stripe does not know the
 * session at all: no payment can complete on it, so the caller may close the order.
 */
export async function expireCheckoutSession(sessionId: string): Promise<'expired' | 'complete' | 'missing'> {
  try {
    const session = await stripe().checkout.sessions.expire(sessionId, {}, { idempotencyKey: `expire:${sessionId}` });
    return session.status === 'complete' ? 'complete' : 'expired';
  } catch (error) {
    if (isMissing(error)) return 'missing';
    // Stripe refuses to expire a session that is no longer open: look at what it is.
    let session: Stripe.Checkout.Session;
    try {
      session = await stripe().checkout.sessions.retrieve(sessionId);
    } catch (retrieveError) {
      if (isMissing(retrieveError)) return 'missing';
      throw retrieveError;
    }
    if (session.status === 'complete') return 'complete';
    if (session.status === 'expired') return 'expired';
    throw error;
  }
}
