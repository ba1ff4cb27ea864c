import type Stripe from 'stripe';
import { getConfig } from '../config.js';
import type { Order } from '../orders.js';
import { stripe } from './stripe-client.js';

/** Stripe refuses Checkout Sessions that expire sooner than 30 minutes from now. */
const STRIPE_MIN_EXPIRY_SECONDS = 30 * 60 + 60;

/**
 * One Checkout Session per order: the Stripe idempotency key is derived from the order id,
 * so a retried call returns the same session instead of a second one.
 */
export async function createCheckoutSession(order: Order): Promise<Stripe.Checkout.Session> {
  const config = getConfig();
  const holdExpiry = Math.floor((order.holdExpiresAt?.getTime() ?? Date.now()) / 1000);
  const expiresAt = Math.max(holdExpiry, Math.floor(Date.now() / 1000) + STRIPE_MIN_EXPIRY_SECONDS);
  return stripe().checkout.sessions.create(
    {
      mode: 'payment',
      client_reference_id: order.id,
      metadata: { order_id: order.id, order_reference: order.reference },
      payment_intent_data: { metadata: { order_id: order.id, order_reference: order.reference } },
      line_items: order.items.map((item) => ({
        quantity: item.quantity,
        price_data: { currency: order.currency.toLowerCase(), unit_amount: item.unitPriceMinor, product_data: { name: item.name } },
      })),
      expires_at: expiresAt,
      success_url: `${config.APP_BASE_URL}/order/success?ref=${encodeURIComponent(order.reference)}`,
      cancel_url: `${config.APP_BASE_URL}/order/cancelled?ref=${encodeURIComponent(order.reference)}`,
    },
    { idempotencyKey: `checkout:${order.id}` },
  );
}

/**
 * Expires an open Checkout Session so it can no longer be paid. Returns the session's state
 * afterwards: 'expired', or 'complete' when the customer paid first (the caller then takes
 * the payment path instead of releasing the hold).
 */
export async function expireCheckoutSession(sessionId: string): Promise<'expired' | 'complete'> {
  try {
    const session = await stripe().checkout.sessions.expire(sessionId, {}, { idempotencyKey: `expire:${sessionId}` });
    return session.status === 'complete' ? 'complete' : 'expired';
  } catch (error) {
    // Stripe refuses to expire a session that is no longer open: look at what it is.
    const session = await stripe().checkout.sessions.retrieve(sessionId);
    if (session.status === 'complete') return 'complete';
    if (session.status === 'expired') return 'expired';
    throw error;
  }
}
