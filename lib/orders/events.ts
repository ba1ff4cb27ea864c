import { db, type Query } from '../db.js';

/**
 * The store of `order_events`, the audit trail of an order: the statements that write or read it, built
 * but not run, so a caller runs them alone or in its own batch (same round trips), or statement parts
 * (`…_SQL`) a state change fuses into its own statement to record its event in the same round trip.
 * lib/orders/store.ts and place.ts still write their events themselves (tests/architecture-tables.test.ts, NEXT_WAVE).
 */

/** An event unique per Stripe business key (`data.stripeKey`): RETURNING id, no row when it was recorded already. */
export function stripeKeyedEvent(orderId: string, type: string, data: Record<string, unknown> & { stripeKey: string }): Query {
  return db()`
    INSERT INTO order_events (order_id, type, data)
    VALUES (${orderId}, ${type}, ${JSON.stringify(data)}::jsonb)
    ON CONFLICT ((data->>'stripeKey')) WHERE data ? 'stripeKey' DO NOTHING
    RETURNING id`;
}

/** A staff answer in the inbox, once per message key (`staff_message`). */
export function staffMessageEvent(orderId: string, e: { staff: string; conversationId: string; messageKey: string; kind: string }): Query {
  return db()`
    INSERT INTO order_events (order_id, type, data)
    SELECT ${orderId}, 'staff_message', jsonb_build_object('staff', ${e.staff}::text, 'conversationId', ${e.conversationId}::text, 'messageKey', ${e.messageKey}::text, 'kind', ${e.kind}::text)
    WHERE NOT EXISTS (SELECT 1 FROM order_events WHERE order_id = ${orderId} AND type = 'staff_message' AND data->>'messageKey' = ${e.messageKey})`;
}

/** An order's events, oldest first (type, data, created_at). */
export function eventsOfOrder(orderId: string): Query {
  return db()`SELECT type, data, created_at FROM order_events WHERE order_id = ${orderId} ORDER BY id`;
}

/**
 * One event per row of `from` (a FROM item with its condition), as a statement part (a CTE body) for a statement
 * that records its event in the same round trip. `orderId`, `type` and `data` are SQL expressions over `from`
 * (a fixed type is a quoted literal: `'hold_extended'`).
 */
export function EVENTS_INSERT_SQL(p: { orderId: string; type: string; from: string; data?: string; stripeKeyed?: boolean; returning?: string }): string {
  return `INSERT INTO order_events (order_id, type, data) SELECT ${p.orderId}, ${p.type}, ${p.data ?? `'{}'::jsonb`} FROM ${p.from}` +
    (p.stripeKeyed ? ` ON CONFLICT ((data->>'stripeKey')) WHERE data ? 'stripeKey' DO NOTHING` : '') +
    (p.returning ? ` RETURNING ${p.returning}` : '');
}

/** Whether the order (SQL expression) has an event matching `condition` (over alias e), as an SQL boolean. */
export const EVENT_EXISTS_SQL = (orderId: string, condition: string) =>
  `EXISTS (SELECT 1 FROM order_events e WHERE e.order_id = ${orderId} AND ${condition})`;

/** Reminders sent and holds extended per UTC day since `since` (SQL expression): columns day, reminders, extensions (the console's second chances). */
export const SECOND_CHANCE_EVENTS_PER_DAY_SQL = (since: string) =>
  `SELECT date_trunc('day', created_at AT TIME ZONE 'UTC') AS day, count(*) FILTER (WHERE type = 'reminder_sent') AS reminders, count(*) FILTER (WHERE type = 'hold_extended') AS extensions
   FROM order_events WHERE type IN ('reminder_sent', 'hold_extended') AND created_at >= ${since} GROUP BY 1`;
