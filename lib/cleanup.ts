import { db } from './db.js';
import { log } from './log.js';
import { retryDueMessages } from './messaging/retry.js';
import { closeOrder } from './orders/close.js';
import { isClosedUnpaid, isOpen } from './orders/lifecycle.js';
import { getOrder } from './orders/order.js';
import { forgetLapsedHold, holdState, holdStatus, lapsedHolds, notInExpiryIndex, releaseHold, withLock } from './stock/index.js';
import { DUE_REMINDERS_SQL, dueReminderOf, reminderLeadSeconds, sendHoldReminders } from './orders/reminders.js';
import { WAITLISTED_SKUS_SQL } from './waitlist/store.js';
import { offerRestockedUnits } from './waitlist/offers.js';
import { redriveUnprocessed } from './conversation/inbound-events.js';
import { pushCatalogChanges } from './catalog/index.js';
import { retryUndeliveredAlerts } from './ops-alerts.js';
import { afterInboxMaintenance, inboxMaintenanceQuery } from './inbox/maintenance.js';

/**
 * The reservation cleanup (scheduled every minute; also callable locally):
 *  1. lapsed holds, oldest first, from Redis's expiry index (cost grows with the number expired,
 *     not with all holds). For each order: expire its Checkout Session first so it can no longer
 *     be paid; if Stripe says the customer already paid, hand the session to the payment path
 *     instead; otherwise release the hold, mark the order expired with an order_events row and
 *     tell the customer once — all of it the one close path, closeOrder(…, 'expired_by_cleanup')
 *     in lib/orders/close.ts. Then the index entry is forgotten. Orders already paid or closed are only forgotten.
 *  2. reconcile: pending orders whose hold lapsed in Postgres but that Redis no longer knows
 *     (Redis lost its data) are closed the same way (partial index orders_open_by_expiry).
 *     The same statement finds due hold reminders and waitlisted SKUs (second chances,
 *     docs/second-chances.md): reminders are sent, then restocked units offered to the waitlist.
 *  3. outbox messages due for a retry; 4. Meta events recorded but never processed.
 * Bounded: at most `maxOrders` orders per run, and no new work starts after `budgetMs` (Netlify
 * ends scheduled functions at 30 s). Safe concurrently with itself and with payments: a short
 * per-order Redis lock keeps two runs off the same order, the Lua release returns a hold's units
 * at most once whatever its state, and closeUnpaidOrder / the payment path only change an order
 * with conditional UPDATEs (lib/orders/store.ts), so a paid order is never released.
 */

export type CleanupSummary = {
  /** Orders whose hold lapsed that this run marked expired. */
  expired: number;
  /** Holds whose units this run returned to the available counters. */
  released: number;
  /** Checkout Sessions made (or found) expired at Stripe. */
  stripeExpired: number;
  /** Lapsed orders Stripe reported paid: handed to the payment path instead of being released. */
  settled: number;
  /** Pending orders with a lapsed hold Redis no longer knew, closed from Postgres. */
  reconciled: number;
  retriedMessages: number;
  redriven: number;
  /** Ops alerts re-posted after an earlier POST failed. */
  alertsRetried: number;
  /** Hold reminders sent (docs/second-chances.md). */
  reminded: number;
  /** Back-in-stock offers made (an order held for a waitlisted customer). */
  offered: number;
  /** Catalog rows pushed to Meta (changed price or availability). */
  catalogPushed: number;
  /** Team inbox: messages whose content passed INBOX_RETENTION_DAYS and was deleted; conversations alerted as unanswered. */
  inboxContentDeleted?: number;
  inboxUnanswered?: number;
  /** Orders another run was handling (locked), left for it. */
  skipped: number;
  /** Orders whose handling failed (left in place for the next run). */
  failed: number;
  /** True when the time budget or the order cap stopped the run before it ran out of work. */
  truncated: boolean;
  durationMs: number;
};

export type CleanupOptions = {
  batchSize?: number;
  maxOrders?: number;
  budgetMs?: number;
  concurrency?: number;
  messageLimit?: number;
  redriveLimit?: number;
  /** Hold reminders sent per run at most (the rest are due next run). */
  reminderLimit?: number;
  /** Waitlisted SKUs looked at per run. */
  waitlistSkus?: number;
};

const DEFAULTS: Required<CleanupOptions> = { batchSize: 100, maxOrders: 500, budgetMs: 20_000, concurrency: 8, messageLimit: 50, redriveLimit: 25, reminderLimit: 1000, waitlistSkus: 50 };
const LOCK_MS = 30_000;

/** Pending orders whose hold lapsed per Postgres, oldest first (served by the partial index orders_open_by_expiry). */
export const RECONCILE_SQL = `SELECT id FROM orders WHERE payment_status = 'pending' AND hold_expires_at < now() ORDER BY hold_expires_at LIMIT $1`;

/**
 * Step 2's one statement: the reconcile's lapsed orders, the due hold reminders (O(due), index
 * orders_reminder_due) and the SKUs somebody waits for, as (kind, id, data) rows. $1: batch size,
 * $2: the reminder's lead in seconds, $3: reminders per run, $4: waitlisted SKUs per run.
 */
export const CLEANUP_DUE_SQL = `
  SELECT 'lapsed' AS kind, r.id::text AS id, NULL::jsonb AS data FROM (${RECONCILE_SQL}) r
  UNION ALL SELECT 'reminder', d.id::text, d.data FROM (${DUE_REMINDERS_SQL('$2', '$3')}) d
  UNION ALL SELECT 'waitlist', w.sku, NULL FROM (${WAITLISTED_SKUS_SQL('$4')}) w`;

type Origin = 'index' | 'reconcile';

/** Handles one order whose hold lapsed. Returns what happened, for the summary. */
async function handleLapsedOrder(orderId: string, origin: Origin, summary: CleanupSummary): Promise<void> {
  const outcome = await withLock(`order:${orderId}`, LOCK_MS, async () => {
    const order = await getOrder(orderId);
    if (!order) {
      // A hold without an order: placeOrder took it but could not record the order (nor give it back).
      if ((await holdState(orderId)) === 'held' && (await releaseHold(orderId)) === 'released') summary.released++;
      await forgetLapsedHold(orderId);
      log.warn('cleanup.orphan_hold', { orderId });
      return;
    }

    if (isOpen(order.paymentStatus)) {
      const hold = await holdStatus(orderId);
      const before = hold?.state ?? null;
      if (before === 'held' && hold!.extended && hold!.expiresAt && hold!.expiresAt.getTime() > Date.now()) {
        // Extended ("Keep it", lib/orders/extend.ts) after this run read the index: not lapsed; its entry moved on.
        log.info('cleanup.hold_extended', { orderId });
        return;
      }
      const closed = await closeOrder(orderId, 'expired_by_cleanup');
      if (closed.session === 'expired') summary.stripeExpired++;
      if (closed.result === 'paid') {
        summary.settled++;
        log.info('cleanup.paid_before_expiry', { orderId, outcome: closed.reason });
      } else if (closed.result === 'closed') {
        if (origin === 'index') summary.expired++;
        else summary.reconciled++;
        if (before === 'held') summary.released++;
      }
      await forgetLapsedHold(orderId);
      return;
    }

    if (isClosedUnpaid(order.paymentStatus) && (await holdState(orderId)) === 'held') {
      // Closed in Postgres but its units still held (the closer died in between): give them back.
      if ((await releaseHold(orderId)) === 'released') summary.released++;
    }
    // Paid or refunded orders: the payment path committed (or re-held) their stock; nothing to release.
    await forgetLapsedHold(orderId);
  });
  if (outcome === 'locked') summary.skipped++;
}

const emptySummary = (): CleanupSummary => ({
  expired: 0, released: 0, stripeExpired: 0, settled: 0, reconciled: 0, reminded: 0, offered: 0,
  retriedMessages: 0, redriven: 0, alertsRetried: 0, catalogPushed: 0, skipped: 0, failed: 0, truncated: false, durationMs: 0,
});

/**
 * One order, on demand (the shop console's "re-run cleanup"): exactly what a run does for an order
 * whose hold lapsed (same lock, same steps). The caller decides that it lapsed (or that the order is
 * no longer open): an open order whose hold is still running must not be handed here.
 */
export async function cleanupLapsedOrder(orderId: string): Promise<CleanupSummary> {
  const started = Date.now();
  const summary = emptySummary();
  await handleLapsedOrder(orderId, 'index', summary);
  summary.durationMs = Date.now() - started;
  log.info('cleanup.order', { orderId, ...summary });
  return summary;
}

/** Runs `work` over `ids` with bounded concurrency; starts nothing once `stop()` says so. */
async function forEachBounded(ids: string[], concurrency: number, stop: () => boolean, work: (id: string) => Promise<void>): Promise<boolean> {
  let next = 0;
  let stopped = false;
  const worker = async () => {
    while (next < ids.length) {
      if (stop()) {
        stopped = true;
        return;
      }
      await work(ids[next++]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, ids.length) }, worker));
  return stopped;
}

export async function runReservationCleanup(options: CleanupOptions = {}): Promise<CleanupSummary> {
  const o = { ...DEFAULTS, ...options };
  const started = Date.now();
  const deadline = started + o.budgetMs;
  const outOfTime = () => Date.now() >= deadline;
  /** Runs one independent step unless time is up; a failure is counted and logged, and the run goes on. */
  const step = async (name: string, work: () => Promise<void>) => {
    if (outOfTime()) {
      summary.truncated = true;
      return;
    }
    try {
      await work();
    } catch (error) {
      summary.failed++;
      log.error(`cleanup.${name}_failed`, { error });
    }
  };
  const summary = emptySummary();
  const attempted = new Set<string>();
  const handle = (origin: Origin) => async (orderId: string) => {
    attempted.add(orderId);
    try {
      await handleLapsedOrder(orderId, origin, summary);
    } catch (error) {
      summary.failed++;
      log.error('cleanup.order_failed', { orderId, origin, error });
    }
  };

  // 1. Lapsed holds from the expiry index, in batches, skipping the ones this run already tried.
  try {
    for (;;) {
      if (attempted.size >= o.maxOrders || outOfTime()) {
        summary.truncated = true;
        break;
      }
      // Entries this run could not finish stay in the index; ask for that many more, skip them.
      const limit = attempted.size + o.batchSize;
      const window = await lapsedHolds(new Date(), limit);
      const batch = window.filter((id) => !attempted.has(id)).slice(0, o.maxOrders - attempted.size);
      if (batch.length === 0) break;
      if (await forEachBounded(batch, o.concurrency, outOfTime, handle('index'))) {
        summary.truncated = true;
        break;
      }
      if (window.length < limit) break; // that was everything lapsed
    }
  } catch (error) {
    summary.failed++;
    log.error('cleanup.index_failed', { error });
  }

  // 2. Reconcile: pending orders whose hold lapsed per Postgres but that Redis's index does not know
  //    (with, in the same statement, the due reminders and the waitlisted SKUs: 2b).
  let due: Record<string, unknown>[] = [];
  if (!outOfTime()) {
    try {
      // The team inbox's retention and unanswered check ride in the same round trip (lib/inbox/maintenance.ts).
      const [rows = [], inbox = []] = await db().transaction([
        db().query(CLEANUP_DUE_SQL, [o.batchSize, reminderLeadSeconds(), o.reminderLimit, o.waitlistSkus]),
        inboxMaintenanceQuery(),
      ]);
      due = rows;
      const found = await afterInboxMaintenance(inbox);
      summary.inboxContentDeleted = found.cleared;
      summary.inboxUnanswered = found.unanswered;
      const ids = due.filter((r) => r.kind === 'lapsed').map((r) => r.id as string).filter((id) => !attempted.has(id));
      if (ids.length) {
        const vanished = await notInExpiryIndex(ids);
        if (await forEachBounded(vanished, o.concurrency, outOfTime, handle('reconcile'))) summary.truncated = true;
      }
    } catch (error) {
      summary.failed++;
      log.error('cleanup.reconcile_failed', { error });
    }
  }

  // 2b. Second chances: reminders before holds lapse, then units back in stock offered to the waitlist
  //     (after the lapses above, so a lapsed offer's unit goes to the next in line in the same run).
  const reminders = due.filter((r) => r.kind === 'reminder');
  if (reminders.length) {
    await step('reminders', async () => {
      const outcomes = await sendHoldReminders(reminders.map((r) => dueReminderOf(r.id as string, r.data as Record<string, unknown>)), outOfTime);
      summary.reminded = [...outcomes.values()].filter((x) => x === 'sent').length;
      if (outcomes.size < reminders.length && outOfTime()) summary.truncated = true;
    });
  }
  const waitlisted = due.filter((r) => r.kind === 'waitlist').map((r) => r.id as string);
  if (waitlisted.length) await step('waitlist', async () => void (summary.offered = (await offerRestockedUnits(waitlisted, outOfTime)).offered));

  // 3. Outbox messages whose send failed transiently or whose sender died.
  await step('outbox', async () => void (summary.retriedMessages = await retryDueMessages(o.messageLimit)));
  // 4. Meta events recorded (and acknowledged) but never processed.
  await step('redrive', async () => void (summary.redriven = await redriveUnprocessed(o.redriveLimit)));
  // 5. Ops alerts whose POST did not get through.
  await step('alerts', async () => void (summary.alertsRetried = await retryUndeliveredAlerts()));
  // 6. Prices and availability that changed since the last push to Meta's catalog.
  await step('catalog_push', async () => {
    const push = await pushCatalogChanges();
    summary.catalogPushed = push.status === 'pushed' ? push.pushed : 0;
    if (push.status === 'failed') throw new Error(push.error);
  });

  summary.durationMs = Date.now() - started;
  log.info('cleanup.run', summary);
  return summary;
}
