import { paymentLinkNotice } from '../messaging/order-notices.js';
import { deliver, sendOnce } from '../messaging/outbox.js';
import type { Order } from '../orders/order.js';
import { takeClaimedPaymentLink } from '../orders/place.js';
import { attachCheckoutSession } from '../orders/store.js';
import { createCheckoutSession } from './checkout.js';

/** Makes sure a pending order has its Checkout Session; returns its URL (null once the order is no longer pending). */
export async function ensureCheckoutSession(order: Order): Promise<string | null> {
  if (order.checkoutUrl) return order.checkoutUrl;
  if (order.paymentStatus !== 'pending') return null;
  const session = await createCheckoutSession(order);
  await attachCheckoutSession(order.id, session.id, session.url!);
  order.stripeSessionId = session.id;
  order.checkoutUrl = session.url!;
  return session.url!;
}

/**
 * Ensures the Checkout Session, then sends its link on WhatsApp once (outbox key "payment-link:<orderId>").
 * An order placeOrder just wrote has its link recorded and claimed by that write: it is delivered as it is.
 */
export async function sendPaymentLink(order: Order): Promise<{ checkoutUrl: string | null }> {
  const claimed = takeClaimedPaymentLink(order);
  if (claimed) {
    await deliver(claimed);
    return { checkoutUrl: order.checkoutUrl };
  }
  const url = await ensureCheckoutSession(order);
  if (!url || order.paymentStatus !== 'pending') return { checkoutUrl: url };
  await sendOnce(paymentLinkNotice(order, url));
  return { checkoutUrl: url };
}
