import { db } from '../db.js';
import { cleanupDueSql, RECONCILE_SQL } from '../orders/store-jobs.js';
import { log } from '../log.js';
import { claimDueMessages, sendClaimedRetries } from '../messaging/retry.js';
import { closeLapsedOrders } from '../orders/close-lapsed.js';
import { lapsedHolds, lapsedHoldsAndFlips, notInExpiryIndex } from '../stock/index.js';
import { DUE_REMINDERS_SQL, dueReminderOf, reminderLeadSeconds, sendHoldReminders } from '../orders/reminders.js';
import { WAITLISTED_SKUS_SQL } from '../waitlist/store.js';
import { offerRestockedUnits } from '../waitlist/offers.js';
import { redriveRows } from '../conversation/inbound-events.js';
import { unprocessedEventsQuery } from '../inbound/store.js';

/** The Stripe rows of the re-drive, through the Stripe flow (loaded only when there is one: keeps stripe out of the cold start). */
async function redriveStripeRows(rows: Record<string, unknown>[]): Promise<number> {
  const stripeRows = rows.filter((r) => r.source === 'stripe').map((r) => ({ id: String(r.id), payload: r.payload as unknown }));
  if (stripeRows.length) await (await import('./stripe-event.js')).redriveStripeEvents(stripeRows);
  return stripeRows.length;
}
import { catalogChangedQuery, pushCatalogChanges } from '../catalog/index.js';
import { retryAlertRows, undeliveredAlertsQuery } from '../alerts/ops-alerts.js';
import { afterInboxMaintenance, inboxMaintenanceQuery } from '../inbox/maintenance.js';

/**
 * The reservation cleanup (scheduled every minute; also callable locally), set-based (docs/scale.md "Cleanup in
 * batches"):
 *  1. lapsed holds, oldest first, from Redis's expiry index (cost grows with the number expired, not with all
 *     holds), `batchSize` orders at a time through lib/orders/close-lapsed.ts: one read of the batch, its
 *     Checkout Sessions expired at Stripe FIRST (bounded concurrency) so they can no longer be paid (a session
 *     Stripe reports complete goes to the payment path instead), ONE statement closing the rest with their
 *     order_events rows and notices, ONE Lua script releasing their holds and forgetting the handled index
 *     entries, then the notices sent (bounded concurrency, outcomes recorded in one round trip). A batch's
 *     Postgres and Redis round trips do not grow with its size.
 *  2. ONE Postgres round trip for everything else the run checks: the reconcile (pending orders whose hold lapsed
 *     in Postgres but that Redis no longer knows: closed the same way, partial index orders_open_by_expiry), due
 *     hold reminders and waitlisted SKUs (second chances, docs/second-chances.md), the team inbox's maintenance,
 *     3. outbox messages due for a retry, 4. Meta events recorded but never processed, 5. undelivered ops alerts.
 *     Each step acts only on what that statement found, so a run with nothing lapsed or due costs 1 Redis
 *     (the index) + 1 Postgres round trip (and the catalog push's, when a catalog is configured and something changed).
 * Bounded: at most `maxOrders` orders per run, and no new work starts after `budgetMs` (Netlify
 * ends scheduled functions at 30 s). Safe concurrently with itself and with payments, without a per-order
 * lock: the closing statement is conditional per order (only from the status the batch read; a paid order is
 * never closed, only one run closes an order and records its notice), the Lua release returns a hold's units
 * at most once whatever its state, and Stripe's expire is idempotent.
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
  /** Orders another run was handling, left for it: 0 since the batches (no per-order lock; the conditional statement decides). Kept for the summary's shape. */
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

const DEFAULTS: Required<CleanupOptions> = { batchSize: 250, maxOrders: 2_000, budgetMs: 20_000, concurrency: 32, messageLimit: 50, redriveLimit: 25, reminderLimit: 1000, waitlistSkus: 50 };

/** Pending orders whose hold lapsed per Postgres, oldest first (served by the partial index orders_open_by_expiry). */
export { RECONCILE_SQL };

/**
 * Step 2's one statement: the reconcile's lapsed orders, the due hold reminders (O(due), index
 * orders_reminder_due) and the SKUs somebody waits for, as (kind, id, data) rows. $1: batch size,
 * $2: the reminder's lead in seconds, $3: reminders per run, $4: waitlisted SKUs per run.
 */
export const CLEANUP_DUE_SQL = cleanupDueSql(DUE_REMINDERS_SQL('$2', '$3'), WAITLISTED_SKUS_SQL('$4'));

type Origin = 'index' | 'reconcile';

/**
 * One batch of lapsed orders through the set-based close path (lib/orders/close-lapsed.ts). Returns its sends, for the
 * caller to await (they overlap the next batch's Stripe calls; `deliver` never throws).
 */
async function handleLapsedBatch(orderIds: string[], origin: Origin, o: { concurrency: number }, summary: CleanupSummary): Promise<() => Promise<void>> {
  const batch = await closeLapsedOrders(orderIds, { concurrency: o.concurrency });
  if (origin === 'index') summary.expired += batch.closed.length;
  else summary.reconciled += batch.closed.length;
  summary.released += batch.released;
  summary.stripeExpired += batch.stripeExpired;
  summary.settled += batch.settled;
  summary.failed += batch.failed;
  return batch.deliver;
}

const emptySummary = (): CleanupSummary => ({
  expired: 0, released: 0, stripeExpired: 0, settled: 0, reconciled: 0, reminded: 0, offered: 0,
  retriedMessages: 0, redriven: 0, alertsRetried: 0, catalogPushed: 0, skipped: 0, failed: 0, truncated: false, durationMs: 0,
});

/**
 * One order, on demand (the shop console's "re-run cleanup"): exactly what a run does for an order
 * whose hold lapsed (a batch of one). The caller decides that it lapsed (or that the order is
 * no longer open): an open order whose hold is still running must not be handed here.
 */
export async function cleanupLapsedOrder(orderId: string): Promise<CleanupSummary> {
  const started = Date.now();
  const summary = emptySummary();
  await (await handleLapsedBatch([orderId], 'index', { concurrency: 1 }, summary))();
  summary.durationMs = Date.now() - started;
  log.info('cleanup.order', { orderId, ...summary });
  return summary;
}

export async function runReservationCleanup(options: CleanupOptions = {}): Promise<CleanupSummary> {
  const o = { ...DEFAULTS, ...options };
  const started = Date.now();
  const deadline = started + o.budgetMs;
  const outOfTime = () => Date.now() >= deadline;
  const summary = emptySummary();
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
  const attempted = new Set<string>();
  // A batch's notices go out while the next batch talks to Stripe; all are awaited before the run's other steps.
  const sending: Promise<void>[] = [];
  const batchOf = async (ids: string[], origin: Origin) => {
    for (const id of ids) attempted.add(id);
    try {
      sending.push((await handleLapsedBatch(ids, origin, o, summary))());
    } catch (error) {
      // Nothing of the batch is lost: its ids stay in the expiry index (or lapsed in Postgres) for the next run.
      summary.failed += ids.length;
      log.error('cleanup.batch_failed', { origin, orders: ids.length, error });
    }
  };

  // 1. Lapsed holds from the expiry index, a batch at a time, skipping the ones this run already tried.
  let first = true;
  let availabilityChanged = true;
  let catalogChanged = true;
  try {
    for (;;) {
      if (attempted.size >= o.maxOrders || outOfTime()) {
        summary.truncated = true;
        break;
      }
      // Entries this run could not finish stay in the index; ask for that many more, skip them.
      const limit = attempted.size + o.batchSize;
      // The first request also tells whether availability changed since the last catalog push (step 6).
      let window: string[];
      if (first) {
        const peek = await lapsedHoldsAndFlips(new Date(), limit);
        [window, availabilityChanged, first] = [peek.lapsed, peek.availabilityChanged, false];
      } else window = await lapsedHolds(new Date(), limit);
      const fresh = window.filter((id) => !attempted.has(id));
      const batch = fresh.slice(0, Math.min(o.batchSize, o.maxOrders - attempted.size));
      if (batch.length === 0) break;
      await batchOf(batch, 'index');
      if (window.length < limit && fresh.length === batch.length) break; // that was everything lapsed
    }
  } catch (error) {
    summary.failed++;
    log.error('cleanup.index_failed', { error });
  }
  await Promise.all(sending.splice(0));

  // 2. Every other check of the run in ONE round trip: the reconcile (pending orders whose hold lapsed per Postgres
  //    but that Redis's index does not know), due reminders, waitlisted SKUs, the team inbox's maintenance, outbox
  //    messages due for a retry, Meta events never processed, ops alerts not delivered. Each step below only acts
  //    on what this statement found: a run with nothing due makes no other Postgres round trip.
  let due: Record<string, unknown>[] = [];
  let retries: Record<string, unknown>[] = [];
  let unprocessed: Record<string, unknown>[] = [];
  let alerts: Record<string, unknown>[] = [];
  if (outOfTime()) summary.truncated = true;
  else {
    try {
      const alertsQuery = undeliveredAlertsQuery();
      const catalogQuery = catalogChangedQuery();
      const results = await db().transaction([
        db().query(CLEANUP_DUE_SQL, [o.batchSize, reminderLeadSeconds(), o.reminderLimit, o.waitlistSkus]),
        inboxMaintenanceQuery(),
        claimDueMessages(o.messageLimit),
        unprocessedEventsQuery(o.redriveLimit),
        ...(alertsQuery ? [alertsQuery] : []),
        ...(catalogQuery ? [catalogQuery] : []),
      ]);
      const [rows = [], inbox = [], claimed = [], events = []] = results;
      [due, retries, unprocessed] = [rows, claimed, events];
      if (alertsQuery) alerts = results[4] ?? [];
      catalogChanged = catalogQuery ? results.at(-1)?.[0]?.changed === true : false;
      const found = await afterInboxMaintenance(inbox);
      summary.inboxContentDeleted = found.cleared;
      summary.inboxUnanswered = found.unanswered;
      const ids = due.filter((r) => r.kind === 'lapsed').map((r) => r.id as string).filter((id) => !attempted.has(id));
      if (ids.length) {
        const vanished = await notInExpiryIndex(ids);
        if (vanished.length) await batchOf(vanished, 'reconcile');
        await Promise.all(sending.splice(0));
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

  // 3. Outbox messages whose send failed transiently or whose sender died (claimed by the statement above: sent
  //    even when time is up, or they would wait for their claim to lapse).
  if (retries.length) {
    try {
      summary.retriedMessages = await sendClaimedRetries(retries);
    } catch (error) {
      summary.failed++;
      log.error('cleanup.outbox_failed', { error });
    }
  }
  // 4. Meta and Stripe events recorded (and acknowledged) but never processed: each through its flow.
  if (unprocessed.length) await step('redrive', async () => void (summary.redriven = await redriveRows(unprocessed) + (await redriveStripeRows(unprocessed))));
  // 5. Ops alerts whose POST did not get through.
  if (alerts.length) await step('alerts', async () => void (summary.alertsRetried = await retryAlertRows(alerts)));
  // 6. Prices and availability that changed since the last push to Meta's catalog (only when step 1's Redis request
  //    or step 2's statement says something did: a variant or product changed, or a counter crossed zero).
  if (catalogChanged || availabilityChanged) await step('catalog_push', async () => {
    const push = await pushCatalogChanges();
    summary.catalogPushed = push.status === 'pushed' ? push.pushed : 0;
    if (push.status === 'failed') throw new Error(push.error);
  });

  summary.durationMs = Date.now() - started;
  log.info('cleanup.run', summary);
  return summary;
}
