import { getConfig } from '../config.js';
import { log } from '../log.js';
import { checkoutExpiresAt } from '../payments/checkout.js';
import { extendHold, withLock } from '../stock/index.js';
import { isOpen } from './lifecycle.js';
import { toOrder, isOrderId, type Order } from './order.js';
import { orderForExtension, storeHoldExtended } from './store-reminders.js';

/**
 * "Keep it": one extension of an order's hold (docs/second-chances.md), HOLD_EXTENSION_SECONDS long,
 * bounded by the Checkout Session's own expiry. The session is created with `expires_at` = the hold's
 * first expiry + Stripe's 30-minute minimum (lib/payments/checkout.ts), so it already covers an
 * extension of up to 30 minutes: nothing at Stripe has to move, and a payment in the extended time
 * completes the same session. The extension ends at least 2 minutes before the session does.
 *   1. under the order's lock (two "Keep it" apart; the cleanup takes no lock: it closes only lapsed holds, which
 *      extendHold refuses, and skips an order whose extension runs): the Redis hold,
 *      atomically in every expiry index (lib/stock extendHold; once: `already` the second time);
 *   2. ONE conditional statement: orders.hold_expires_at (what the cleanup's reconcile and a Redis
 *      rebuild read) and hold_extended_at, with the `hold_extended` event. A crash between 1 and 2
 *      leaves Redis ahead (the cleanup goes by Redis's expiry index, so nothing lapses early); the
 *      next "Keep it" finds `already` and finishes step 2 with Redis's expiry.
 */

const SESSION_MARGIN_MS = 2 * 60_000;
const LOCK_MS = 30_000;

export type ExtendOutcome =
  | { status: 'extended'; order: Order; until: Date }
  | { status: 'already'; order: Order; until: Date | null }
  | { status: 'paid' | 'processing' | 'closed' | 'lapsed' | 'no_room'; order: Order }
  | { status: 'unknown' | 'busy' | 'disabled' };

export async function extendOrderHold(orderId: string, customerId: string): Promise<ExtendOutcome> {
  const seconds = getConfig().HOLD_EXTENSION_SECONDS;
  if (seconds <= 0) return { status: 'disabled' };
  if (!isOrderId(orderId)) return { status: 'unknown' };
  const row = await orderForExtension(orderId);
  if (!row || row.customer_id !== customerId) return { status: 'unknown' };
  const order = toOrder(row);
  if (order.paymentStatus === 'paid' || order.paymentStatus === 'refunded') return { status: 'paid', order };
  if (order.paymentStatus === 'awaiting_payment') return { status: 'processing', order };
  if (!isOpen(order.paymentStatus)) return { status: 'closed', order };
  if (row.hold_extended_at) return { status: 'already', order, until: order.holdExpiresAt };
  if (!order.holdExpiresAt || order.holdExpiresAt.getTime() <= Date.now()) return { status: 'lapsed', order };

  // The session's expiry, computed as it was when the session was made (from the hold's first expiry).
  const sessionEnds = checkoutExpiresAt({ holdExpiresAt: order.holdExpiresAt, createdAt: order.createdAt }) * 1000;
  const until = new Date(Math.min(order.holdExpiresAt.getTime() + seconds * 1000, sessionEnds - SESSION_MARGIN_MS));
  if (until.getTime() <= order.holdExpiresAt.getTime()) return { status: 'no_room', order };

  const outcome = await withLock(`order:${orderId}`, LOCK_MS, async (): Promise<ExtendOutcome> => {
    const held = await extendHold(orderId, until);
    switch (held.status) {
      case 'committed':
        return { status: 'paid', order };
      case 'released':
      case 'missing':
        return { status: 'closed', order };
      case 'lapsed':
        return { status: 'lapsed', order };
      case 'extended':
      case 'already': {
        const stored = await storeHoldExtended(orderId, held.expiresAt);
        if (held.status === 'already' && !stored) return { status: 'already', order, until: held.expiresAt };
        order.holdExpiresAt = held.expiresAt;
        log.info('order.hold_extended', { orderId, until: held.expiresAt.toISOString() });
        return { status: 'extended', order, until: held.expiresAt };
      }
    }
  });
  return outcome === 'locked' ? { status: 'busy' } : outcome;
}
