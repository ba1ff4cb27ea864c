import { getConfig } from '../config.js';
import { log } from '../log.js';
import { messageKeys } from '../messaging/keys.js';
import type { OutgoingMessage } from '../messaging/messages.js';
import { firstName, orderSummaryLines } from '../messaging/order-notices.js';
import { deliverClaimed, type Notice } from '../messaging/record.js';
import { buildTemplate } from '../messaging/templates.js';
import { orderIdFor, type Order } from '../orders/order.js';
import { placeOrder } from '../orders/place.js';
import { availableStockIfKnown, withLock } from '../stock/index.js';
import { claimEntry, markOffered, queueOf, unclaimEntry, type QueuedEntry } from './store.js';

/**
 * Back-in-stock offers (docs/second-chances.md). The cleanup run hands over the SKUs somebody waits
 * for (from its one statement); for each with units available (Redis, one read for all), under the
 * SKU's waitlist lock, the queue is served first come first served, as many units as there are:
 *   1. the entry is claimed (waiting → offering) with its order id, derived from the entry
 *      (`waitlist:<entry>`), so every retry places the same order and holds nothing twice;
 *   2. the order is placed through the normal placement (stock, limits, a Checkout Session), held
 *      for WAITLIST_HOLD_SECONDS, without the usual payment-link message;
 *   3. ONE statement marks the entry offered and records the offer in the outbox (key
 *      `waitlist:<sku>:<customer>:<entry>`), inside the window free-form (cta_url), outside it the
 *      utility template back_in_stock; then it is sent.
 * A crash after 1 or 2 leaves the entry `offering`: the next run resumes it (its SKU stays listed).
 * An offer not taken lapses like any hold (the cleanup closes the order, the unit is available again)
 * and the next run offers it to the next in line. Customers who wrote "stop" are off every waitlist;
 * unreachable ones and those at the daily cap are passed over this time (they keep their place).
 */

const LOCK_MS = 60_000;

export type OfferSummary = { offered: number; skipped: number };

export async function offerRestockedUnits(skus: string[], stop: () => boolean = () => false): Promise<OfferSummary> {
  const summary: OfferSummary = { offered: 0, skipped: 0 };
  if (skus.length === 0) return summary;
  const available = await availableStockIfKnown(skus);
  for (const sku of skus) {
    if (stop()) break;
    const units = available.get(sku) ?? 0;
    const outcome = await withLock(`waitlist:${sku}`, LOCK_MS, () => serveQueue(sku, units ?? 0, summary, stop));
    if (outcome === 'locked') log.info('waitlist.sku_busy', { sku });
  }
  return summary;
}

async function serveQueue(sku: string, units: number, summary: OfferSummary, stop: () => boolean): Promise<void> {
  const config = getConfig();
  const queue = await queueOf(sku, Math.max(units, 0) + 20, config.PROACTIVE_DAILY_CAP);
  for (const entry of queue) {
    if (stop()) return;
    // An offer under way (a crash between the steps) is finished first: its order is placed or found again.
    if (entry.status !== 'offering' && units <= 0) return;
    if (entry.status === 'waiting' && entry.blocked) {
      summary.skipped++;
      continue;
    }
    const quantity = entry.status === 'offering' ? entry.quantity : Math.min(entry.quantity, units);
    const placed = await offer(sku, entry, quantity);
    if (placed === 'offered') {
      summary.offered++;
      if (entry.status === 'waiting') units -= quantity;
    } else if (placed === 'no_stock') {
      units = 0;
    } else summary.skipped++;
  }
}

async function offer(sku: string, entry: QueuedEntry, quantity: number): Promise<'offered' | 'no_stock' | 'skipped'> {
  const sourceKey = `waitlist:${entry.id}`;
  const orderId = orderIdFor(sourceKey);
  if (entry.status === 'waiting' && !(await claimEntry(entry.id, orderId, quantity))) return 'skipped';
  const result = await placeOrder({
    customer: { id: entry.customerId, waId: null, userId: null, profileName: entry.firstName },
    source: 'whatsapp',
    sourceKey,
    lines: [{ sku, quantity }],
    notify: false,
    holdSeconds: getConfig().WAITLIST_HOLD_SECONDS,
  });
  if (!('order' in result)) {
    log.info('waitlist.offer_not_placed', { sku, entryId: entry.id, reason: result.status });
    await unclaimEntry(entry.id);
    return result.status === 'out_of_stock' ? 'no_stock' : 'skipped';
  }
  const order = result.order;
  // A resumed offer whose order is no longer waiting for payment (paid, or lapsed already) tells nothing more.
  const notice = order.paymentStatus === 'pending' && order.checkoutUrl ? offerNotice(sku, entry, order) : null;
  const claimed = await markOffered(entry.id, notice);
  await deliverClaimed(claimed);
  log.info('waitlist.offered', { sku, entryId: entry.id, orderId: order.id, told: claimed.length > 0 });
  return 'offered';
}

const hhmm = (d: Date) => d.toISOString().slice(11, 16);

export function offerNotice(sku: string, entry: Pick<QueuedEntry, 'id' | 'customerId' | 'insideWindow' | 'firstName'>, order: Order): Notice {
  const minutes = Math.max(1, Math.round(getConfig().WAITLIST_HOLD_SECONDS / 60));
  const what = order.items.map((i) => `${i.quantity} × ${i.name}`).join(', ');
  const until = order.holdExpiresAt ? hhmm(order.holdExpiresAt) : '';
  const message: OutgoingMessage = entry.insideWindow
    ? {
        type: 'cta_url',
        header: 'Back in stock',
        body: `Good news, ${firstName(entry.firstName)}: ${what} is back in stock, and we're holding it for you until ${until} UTC (${minutes} minutes).\n${orderSummaryLines(order)}\nOrder ${order.reference}. Pay securely with the button below.`,
        footer: 'Reply "stop" for no more of these',
        displayText: 'Pay now',
        url: order.checkoutUrl!,
      }
    : buildTemplate('back_in_stock', { body: [firstName(entry.firstName), what, String(minutes), order.checkoutUrl!] });
  return { eventKey: messageKeys.waitlistOffer(sku, entry.customerId, entry.id), kind: 'back_in_stock', customerId: entry.customerId, orderId: order.id, message };
}
