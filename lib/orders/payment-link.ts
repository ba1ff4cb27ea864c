import { paymentLinkNotice } from '../messaging/order-notices.js';
import { deliver, recordAttempts, sendOnce, type Claimed } from '../messaging/outbox.js';
import type { Order } from './order.js';
import { attachCheckoutSession } from './store.js';
import { createCheckoutSession } from './checkout.js';
import type { Work } from '../work.js';

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
 * result): it is delivered as it is. With a Work (an inbound event's), this is its flushing send: the work's
 * pending statements run in the round trip that records the send, or alone.
 */
export async function sendPaymentLink(order: Order, opts: { claimed?: Claimed | null; work?: Work } = {}): Promise<{ checkoutUrl: string | null }> {
  const { claimed, work } = opts;
  if (claimed) {
    await deliver(claimed, work);
    return { checkoutUrl: order.checkoutUrl };
  }
  const url = await ensureCheckoutSession(order);
  if (!url || order.paymentStatus !== 'pending') {
    await recordAttempts([], work);
    return { checkoutUrl: url };
  }
  await sendOnce(paymentLinkNotice(order, url), work);
  return { checkoutUrl: url };
}
