import { paymentLink } from '../conversation/replies.js';
import { attachCheckoutSession, type Order } from '../orders.js';
import { sendOnce } from '../outbox.js';
import { createCheckoutSession } from './checkout.js';

/**
 * Makes sure a pending order has its Checkout Session, then sends its link once
 * (outbox key "payment-link:<orderId>"). Safe to call again for the same order.
 */
export async function sendPaymentLink(order: Order): Promise<{ checkoutUrl: string | null }> {
  if (order.paymentStatus !== 'pending') return { checkoutUrl: order.checkoutUrl };
  let url = order.checkoutUrl;
  if (!url) {
    const session = await createCheckoutSession(order);
    url = session.url!;
    await attachCheckoutSession(order.id, session.id, url);
  }
  await sendOnce({ eventKey: `payment-link:${order.id}`, kind: 'payment_link', toWaId: order.customerWaId, orderId: order.id, message: paymentLink(order, url) });
  return { checkoutUrl: url };
}
