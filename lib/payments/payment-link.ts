import { paymentLinkNotice } from '../messaging/order-notices.js';
import type { Query } from '../db.js';
import { deliver, recordAttempts, sendOnce, type Claimed } from '../messaging/outbox.js';
import type { Order } from '../orders/order.js';
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
 * An order placeOrder just wrote has its link recorded and claimed by that write (`claimed`, from placeOrder's
 * result): it is delivered as it is. `alongside` statements (an inbound event's finishing ones) run in the round
 * trip that records the send, or alone.
 */
export async function sendPaymentLink(order: Order, opts: { claimed?: Claimed | null; alongside?: Query[] } = {}): Promise<{ checkoutUrl: string | null }> {
  const { claimed, alongside = [] } = opts;
  if (claimed) {
    await deliver(claimed, alongside);
    return { checkoutUrl: order.checkoutUrl };
  }
  const url = await ensureCheckoutSession(order);
  if (!url || order.paymentStatus !== 'pending') {
    await recordAttempts([], alongside);
    return { checkoutUrl: url };
  }
  await sendOnce(paymentLinkNotice(order, url), alongside);
  return { checkoutUrl: url };
}
