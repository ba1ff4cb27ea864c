import { db } from '../db.js';
import { claimedSendsSql, outboxCte } from '../messaging/record.js';
import { EVENTS_INSERT_SQL } from './events.js';
import { orderColumns } from './store-order.js';

/**
 * The orders store's second-chance statements (part of lib/orders/store.ts): due hold reminders (served by the
 * partial index orders_reminder_due), a batch of reminders decided and recorded in one statement (the gate, the
 * events, the outbox rows already claimed: ./reminders.ts), and the "Keep it" hold extension (./extend.ts).
 */

/** Pending orders whose reminder is due (hold lapses within `lead` seconds), by expiry; `lead`/`limit` are SQL parameters. */
export const DUE_REMINDERS_SQL = (lead: string, limit: string) => `
  SELECT o.id, jsonb_build_object('reference', o.reference, 'customerId', o.customer_id, 'checkoutUrl', o.checkout_url,
           'holdExpiresAt', o.hold_expires_at, 'items', o.items, 'totalMinor', o.total_minor, 'currency', o.currency) AS data
  FROM orders o
  WHERE o.payment_status = 'pending' AND o.reminded_at IS NULL AND o.hold_expires_at > now() AND o.hold_expires_at <= now() + make_interval(secs => ${lead})
  ORDER BY o.hold_expires_at LIMIT ${limit}`;

/**
 * A batch of reminders decided and recorded: `input` the orders and their outbox keys (JSON), `rows` their outbox
 * rows, `windowStart` the service window's start, `cap` the daily cap of `kinds` (proactive) messages. One row:
 * { decided: [{ id, skip }], claimed }.
 */
export function recordReminders(input: string, rows: unknown, windowStart: string, cap: number, kinds: readonly string[]): Promise<Record<string, unknown>[]> {
  return db().query(
      `WITH input AS (
         SELECT * FROM jsonb_to_recordset($1::jsonb) AS k(order_id uuid, key text)
       ), o AS (
         SELECT o.id, o.customer_id,
                CASE WHEN c.proactive_stopped_at IS NOT NULL THEN 'stopped'
                     WHEN c.unreachable_at IS NOT NULL AND (c.last_inbound_at IS NULL OR c.last_inbound_at < date_trunc('second', c.unreachable_at)) THEN 'unreachable'
                     WHEN c.last_inbound_at IS NULL OR c.last_inbound_at <= $3::timestamptz THEN 'outside_window'
                     WHEN (SELECT count(*) FROM outbound_messages m WHERE m.customer_id = o.customer_id AND m.kind = ANY($5::text[])
                             AND m.created_at >= date_trunc('day', now())) + row_number() OVER (PARTITION BY o.customer_id ORDER BY o.hold_expires_at) - 1 >= $4 THEN 'daily_cap'
                     WHEN o.checkout_url IS NULL THEN 'no_link' END AS skip
         FROM input JOIN orders o ON o.id = input.order_id JOIN customers c ON c.id = o.customer_id
         WHERE o.payment_status = 'pending' AND o.reminded_at IS NULL AND o.hold_expires_at > now()
       ), updated AS (
         UPDATE orders SET reminded_at = now(), updated_at = now() FROM o
         WHERE orders.id = o.id AND orders.reminded_at IS NULL AND orders.payment_status = 'pending'
         RETURNING orders.id, orders.customer_id, o.skip
       ), event AS (
         ${EVENTS_INSERT_SQL({ orderId: 'id', type: `CASE WHEN skip IS NULL THEN 'reminder_sent' ELSE 'reminder_skipped' END`, data: `jsonb_build_object('reason', skip)`, from: 'updated' })}
       ), sent AS (
         ${outboxCte('$2', { source: 'updated', where: 'WHERE updated.skip IS NULL AND EXISTS (SELECT 1 FROM input WHERE input.order_id = updated.id AND input.key = m.key)', claim: true, customerId: 'updated.customer_id' })}
       )
       SELECT (SELECT COALESCE(jsonb_agg(jsonb_build_object('id', id, 'skip', skip)), '[]'::jsonb) FROM updated) AS decided, ${claimedSendsSql('sent')} AS claimed`,
    [input, rows, windowStart, cap, kinds],
  );
}

/** The order with whether its hold was extended already (null for another customer's check is the caller's). */
export async function orderForExtension(orderId: string): Promise<Record<string, unknown> | undefined> {
  const [row] = await db().query(`SELECT ${orderColumns()}, o.hold_extended_at FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.id = $1`, [orderId]);
  return row;
}

/** Step 2: the extension recorded once (hold_extended_at is the gate), with its event. */
export async function storeHoldExtended(orderId: string, until: Date): Promise<boolean> {
  const rows = await db().query(
    `WITH updated AS (
       UPDATE orders SET hold_expires_at = $2, hold_extended_at = now(), updated_at = now()
       WHERE id = $1 AND payment_status IN ('pending', 'awaiting_payment') AND hold_extended_at IS NULL
       RETURNING id, hold_expires_at
     ), event AS (
       ${EVENTS_INSERT_SQL({ orderId: 'id', type: `'hold_extended'`, data: `jsonb_build_object('holdExpiresAt', hold_expires_at)`, from: 'updated' })}
     )
     SELECT id FROM updated`,
    [orderId, until.toISOString()],
  );
  return rows.length > 0;
}
