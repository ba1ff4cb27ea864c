import { cleanupLapsedOrder } from '../flows/cleanup.js';
import { isOpen } from '../orders/lifecycle.js';
import { getOrder } from '../orders/order.js';
import { conflict, notFound } from '../errors.js';
import type { AdminResult } from './result.js';
import { isUuid } from './order-view.js';

/**
 * POST /api/orders/:id/cleanup — the scheduled cleanup's work for one order, now (lib/flows/cleanup.ts,
 * cleanupLapsedOrder): a lapsed unpaid order has its Checkout Session expired, then is closed
 * `expired` with its hold released and the customer told once — or, if Stripe says it was paid,
 * goes down the payment path; a closed order still holding units gives them back. Converges, so a
 * repeat (double click) finds nothing left to do. An open order whose hold still runs is refused
 * (409 hold_active): ending it early is what cancel is for.
 */
export async function rerunOrderCleanup(orderId: string, now = new Date()): Promise<AdminResult> {
  if (!isUuid(orderId)) throw notFound('order');
  const order = await getOrder(orderId);
  if (!order) throw notFound('order');
  if (isOpen(order.paymentStatus) && order.holdExpiresAt && order.holdExpiresAt > now)
    throw conflict('hold_active', `the stock is held until ${order.holdExpiresAt.toISOString()}; cancel the order to end it sooner`);

  const s = await cleanupLapsedOrder(orderId);
  if (s.skipped) throw conflict('cleanup_in_progress', 'a cleanup run is handling this order right now; try again in a minute');
  const after = (await getOrder(orderId)) ?? order;
  const outcome = s.settled ? 'settled' : s.expired ? 'expired' : s.released ? 'released' : 'nothing_to_do';
  return {
    status: 200,
    body: {
      orderId,
      reference: after.reference,
      outcome,
      paymentStatus: after.paymentStatus,
      fulfillmentStatus: after.fulfillmentStatus,
      cleanup: { expired: s.expired, released: s.released, stripeExpired: s.stripeExpired, settled: s.settled },
    },
    replayed: false,
  };
}
