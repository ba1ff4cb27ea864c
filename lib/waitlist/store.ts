import { db } from '../db.js';
import { claimedFrom, claimedSendsSql, outboxCte, outboxRows, type Notice } from '../messaging/record.js';
import type { Claimed } from '../messaging/outbox.js';
import { PROACTIVE_KINDS } from '../orders/reminders.js';
import { SERVICE_WINDOW_MS } from '../messaging/window.js';
import { PROACTIVE_OPT_IN_SQL, PROACTIVE_STOP_SQL } from '../customers/store.js';

/**
 * The waitlist's table (waitlist_entries, migrations/032): every statement about it is here (the
 * customers' "stop" flag rides in them as statement parts of lib/customers/store.ts). An entry: waiting → offering (its order id fixed before the order
 * is placed, so a crash between the steps resumes the same order) → offered (held and told), or
 * removed ("stop"). First come first served is the entry id's order.
 */

export type JoinResult = { status: 'joined' | 'already'; position: number } | { status: 'cap'; max: number };

/** Joins the SKU's waitlist (once per SKU while waiting), at most `max` waitlists per customer; an explicit opt-in lifts "stop". */
export async function joinWaitlist(customerId: string, sku: string, quantity: number, max: number): Promise<JoinResult> {
  const [row] = await db().query(
    `WITH active AS (
       SELECT id, sku FROM waitlist_entries WHERE customer_id = $1 AND status IN ('waiting', 'offering')
     ), inserted AS (
       INSERT INTO waitlist_entries (sku, customer_id, quantity)
       SELECT $2, $1, $3 WHERE NOT EXISTS (SELECT 1 FROM active WHERE sku = $2) AND (SELECT count(*) FROM active) < $4
       ON CONFLICT (sku, customer_id) WHERE status IN ('waiting', 'offering') DO NOTHING
       RETURNING id
     ), optin AS (
       ${PROACTIVE_OPT_IN_SQL('$1')}
     ), mine AS (
       SELECT id FROM inserted UNION ALL SELECT id FROM active WHERE sku = $2
     )
     SELECT (SELECT id FROM inserted) AS inserted, (SELECT min(id) FROM mine) AS entry,
            (SELECT count(*) FROM waitlist_entries w WHERE w.sku = $2 AND w.status IN ('waiting', 'offering') AND w.id < (SELECT min(id) FROM mine))::int AS ahead`,
    [customerId, sku, quantity, max],
  );
  if (!row?.entry) return { status: 'cap', max };
  return { status: row.inserted ? 'joined' : 'already', position: Number(row.ahead) + 1 };
}

/** "stop": no proactive message any more, and off every waitlist. Returns how many waitlists were left. */
export async function stopProactive(customerId: string): Promise<number> {
  const [row] = await db().query(
    `WITH stopped AS (
       ${PROACTIVE_STOP_SQL('$1')}
     ), removed AS (
       UPDATE waitlist_entries SET status = 'removed', updated_at = now() WHERE customer_id = $1 AND status = 'waiting' RETURNING id
     )
     SELECT count(*)::int AS n FROM removed`,
    [customerId],
  );
  return Number(row?.n ?? 0);
}

/** SKUs somebody waits for (or whose offer is under way), for the cleanup's one statement; `limit` is an SQL parameter. */
export const WAITLISTED_SKUS_SQL = (limit: string) =>
  `SELECT DISTINCT sku FROM waitlist_entries WHERE status IN ('waiting', 'offering') LIMIT ${limit}`;

export type QueuedEntry = {
  id: string;
  customerId: string;
  quantity: number;
  status: 'waiting' | 'offering';
  orderId: string | null;
  insideWindow: boolean;
  firstName: string | null;
  /** Why no offer may go to this customer now (null: it may). */
  blocked: 'stopped' | 'unreachable' | 'daily_cap' | null;
};

/** The SKU's queue, first come first served, with what decides whether each customer may get an offer now. */
export async function queueOf(sku: string, limit: number, dailyCap: number): Promise<QueuedEntry[]> {
  const rows = await db().query(
    `SELECT e.id::text AS id, e.customer_id, e.quantity, e.status, e.order_id, c.profile_name,
            c.last_inbound_at > $3::timestamptz AS inside,
            CASE WHEN c.proactive_stopped_at IS NOT NULL THEN 'stopped'
                 WHEN c.unreachable_at IS NOT NULL AND (c.last_inbound_at IS NULL OR c.last_inbound_at < date_trunc('second', c.unreachable_at)) THEN 'unreachable'
                 WHEN e.status = 'waiting' AND (SELECT count(*) FROM outbound_messages m WHERE m.customer_id = e.customer_id AND m.kind = ANY($5::text[])
                        AND m.created_at >= date_trunc('day', now())) >= $4 THEN 'daily_cap' END AS blocked
     FROM waitlist_entries e JOIN customers c ON c.id = e.customer_id
     WHERE e.sku = $1 AND e.status IN ('waiting', 'offering')
     ORDER BY e.id LIMIT $2`,
    [sku, limit, new Date(Date.now() - SERVICE_WINDOW_MS).toISOString(), dailyCap, PROACTIVE_KINDS],
  );
  return rows.map((r) => ({
    id: r.id as string,
    customerId: r.customer_id as string,
    quantity: Number(r.quantity),
    status: r.status as QueuedEntry['status'],
    orderId: (r.order_id as string | null) ?? null,
    insideWindow: r.inside === true,
    firstName: (r.profile_name as string | null) ?? null,
    blocked: (r.blocked as QueuedEntry['blocked']) ?? null,
  }));
}

/** waiting → offering with the order about to be placed for it (the gate: one claimer). */
export async function claimEntry(entryId: string, orderId: string, quantity: number): Promise<boolean> {
  const rows = await db()`UPDATE waitlist_entries SET status = 'offering', order_id = ${orderId}, quantity = ${quantity}, updated_at = now()
                          WHERE id = ${entryId} AND status = 'waiting' RETURNING id`;
  return rows.length > 0;
}

/** offering → waiting (the placement found no stock after all: the entry keeps its place in line). */
export async function unclaimEntry(entryId: string): Promise<void> {
  await db()`UPDATE waitlist_entries SET status = 'waiting', order_id = NULL, updated_at = now() WHERE id = ${entryId} AND status = 'offering'`;
}

/** offering → offered, with the offer recorded (already claimed) in the outbox in the same statement; null notice: nothing to tell. */
export async function markOffered(entryId: string, notice: Notice | null): Promise<Claimed[]> {
  const [row] = await db().query(
    `WITH updated AS (
       UPDATE waitlist_entries SET status = 'offered', offered_at = now(), updated_at = now()
       WHERE id = $1 AND status = 'offering' RETURNING id, order_id, customer_id
     ), sent AS (
       ${outboxCte('$2', { source: 'updated', orderId: 'updated.order_id', customerId: 'updated.customer_id', claim: true })}
     )
     SELECT ${claimedSendsSql('sent')} AS claimed FROM updated`,
    [entryId, outboxRows(notice ? [notice] : [])],
  );
  return row && notice ? claimedFrom(row.claimed, [notice]) : [];
}

/** Back-in-stock offers made per UTC day since `since` (SQL expression): columns day, offers (the console's second chances). */
export const OFFERS_PER_DAY_SQL = (since: string) =>
  `SELECT date_trunc('day', offered_at AT TIME ZONE 'UTC') AS day, count(*) AS offers FROM waitlist_entries WHERE offered_at >= ${since} GROUP BY 1`;
