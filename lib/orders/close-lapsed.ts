import { log } from '../log.js';
import { deliverClaimedMany } from '../messaging/record.js';
import { closedNotice } from '../messaging/order-notices.js';
import { releaseHolds } from '../stock/index.js';
import { closeCardPathWithin } from './close.js';
import { isClosedUnpaid, isOpen, statusesFor, transition, type PaymentStatus } from './lifecycle.js';
import { getOrdersWithHold, type Order } from './order.js';
import { Work } from '../work.js';
import { storeClosedMany } from './store-close.js';

/**
 * The close path for a batch of orders whose hold lapsed (the cleanup run, docs/scale.md "Cleanup in batches"): the
 * same steps and the same safety rule as closeOrder(…, 'expired_by_cleanup') in ./close.ts, set-based, so the
 * batch's Postgres and Redis round trips do not grow with its size:
 *   1. ONE read of the batch's orders (with whether Postgres says the hold still runs: extended meanwhile);
 *   2. the Checkout Sessions of the open ones are expired at Stripe FIRST, `concurrency` at a time: after that
 *      Stripe accepts no payment for them, so releasing the stock cannot strand a payment. A session Stripe
 *      reports complete goes to the payment path instead (closeCardPathWithin), never to the release; an
 *      awaiting_payment order whose session Stripe still knows stays with the payment path;
 *   3. ONE statement closes the rest (store.ts storeClosedMany): each order only from the status step 1 read, with its
 *      order_events row and its notice recorded already claimed. An order paid or closed meanwhile is not touched;
 *   4. ONE Lua script (lib/stock releaseHolds) releases the holds of the orders step 3 closed, of orders found
 *      closed but still holding (a closer died between its statement and its release) and of holds without an order,
 *      and takes every handled id off the expiry index. The Lua release returns a hold's units at most once;
 *   5. `deliver`: the notices, `concurrency` recipients at a time, every outcome recorded in ONE round trip; and the
 *      payment path's sends for sessions found complete.
 * No per-order lock: two runs on the same order are kept apart by the conditional statement (only one closes it,
 * only that one's notice is recorded: its outbox key is the order's) and the release script's idempotence; Stripe's
 * expire is idempotent (key expire:<session>). A crash anywhere leaves the ids in the expiry index: the next run
 * finds them closed (releases and forgets), or still open (expires again, closes).
 */

export type LapsedBatch = {
  /** Orders this batch marked expired. */
  closed: string[];
  /** Holds whose units this batch returned. */
  released: number;
  /** Checkout Sessions made (or found) expired at Stripe. */
  stripeExpired: number;
  /** Orders Stripe reported paid: handed to the payment path. */
  settled: number;
  /** Orders whose Stripe call failed: left in the expiry index for the next run. */
  failed: number;
  /** Sends after the commit (never throws: everything is in the outbox). */
  deliver: () => Promise<void>;
};

/** Runs `work` for each item, at most `concurrency` at once. */
async function eachBounded<T>(items: T[], concurrency: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, concurrency), items.length) }, worker));
}

export async function closeLapsedOrders(orderIds: string[], opts: { concurrency: number }): Promise<LapsedBatch> {
  const found = await getOrdersWithHold(orderIds);
  const release: string[] = [];
  const forget: string[] = [];
  const paid: Work[] = []; // each order's card-path payment: its sends
  let stripeExpired = 0;
  let failed = 0;
  const open: Order[] = [];
  for (const id of orderIds) {
    const f = found.get(id);
    if (!f) {
      // A hold without an order: placeOrder took it but could not record the order (nor give it back).
      log.warn('cleanup.orphan_hold', { orderId: id });
      release.push(id);
    } else if (isOpen(f.order.paymentStatus)) {
      // Extended ("Keep it", ./extend.ts) after the caller found it lapsed: not lapsed; its index entry moved on.
      if (f.holdLive) log.info('cleanup.hold_extended', { orderId: id });
      else open.push(f.order);
    } else if (isClosedUnpaid(f.order.paymentStatus)) release.push(id); // closed, but its closer died before the release
    else forget.push(id); // paid or refunded: the payment path committed (or re-held) its stock
  }

  // 2. Stripe first: expired sessions can take no payment.
  const closable: { order: Order; seen: PaymentStatus }[] = [];
  await eachBounded(open, opts.concurrency, async (order) => {
    const step = transition(order.paymentStatus, 'expired_by_cleanup');
    if (!step) return void forget.push(order.id);
    let session: Awaited<ReturnType<typeof closeCardPathWithin>>['session'] = null;
    if (step.effects.includes('session_expired_first')) {
      const work = new Work(`cleanup ${order.id}`);
      let card: Awaited<ReturnType<typeof closeCardPathWithin>>;
      try {
        card = await closeCardPathWithin(work, order);
      } catch (error) {
        failed++;
        log.error('cleanup.order_failed', { orderId: order.id, error });
        return;
      }
      session = card.session;
      if (session === 'expired') stripeExpired++;
      if (card.paid) {
        log.info('cleanup.paid_before_expiry', { orderId: order.id, outcome: card.paid.summary });
        paid.push(work);
        return void forget.push(order.id);
      }
      if (session === 'missing') log.warn('order.session_unknown_to_stripe', { orderId: order.id });
    }
    // A payment is under way without a completed session (e.g. recorded offline): the payment path owns it.
    if (order.paymentStatus === 'awaiting_payment' && session !== 'missing') return void forget.push(order.id);
    closable.push({ order, seen: order.paymentStatus });
  });

  // 3. One statement closes the batch.
  const notices = closable.map((c) => closedNotice(c.order, 'expired', c.order.insideWindow));
  const stored = await storeClosedMany(
    closable.map((c) => ({ id: c.order.id, seen: c.seen })),
    'expired',
    statusesFor('expired_by_cleanup').filter(isOpen),
    'hold lapsed',
    notices,
  );
  for (const { order } of closable) {
    if (stored.closed.has(order.id)) release.push(order.id);
    else {
      // Lost a race: paid (nothing to release) or closed by someone else (its hold released here, once).
      const now = stored.statusOf.get(order.id);
      if (now && isClosedUnpaid(now)) release.push(order.id);
      else if (now && !isOpen(now)) forget.push(order.id);
    }
  }

  // 4. One script releases the batch's holds and forgets what was handled.
  const released = await releaseHolds(release, forget);
  const closed = [...stored.closed];
  if (closed.length) log.info('cleanup.batch_closed', { closed: closed.length, released, settled: paid.length });

  return {
    closed,
    released,
    stripeExpired,
    settled: paid.length,
    failed,
    deliver: async () => {
      try {
        await deliverClaimedMany(stored.claimed, opts.concurrency);
      } catch (error) {
        // The rows stay claimed until their lock lapses: the next run's outbox retry sends them.
        log.error('notice.delivery_failed', { what: 'cleanup_batch', error });
      }
      await eachBounded(paid, opts.concurrency, (w) => w.runAfter());
    },
  };
}
