import { db } from '../db.js';
import { ALERTS_NEWEST_SQL, MESSAGE_ALERTED_SQL } from '../alerts/ops-alerts.js';

/**
 * The console's alert list as a read model (tests/architecture-tables.test.ts READ_MODELS: a store of its own
 * that owns no table and only reads): every ops alert (ops_alerts, through its owner's part) and every permanently
 * failed WhatsApp message without an alert of its own, with the order and the recipient, newest first.
 */

const TS = `'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'`;

/** A page of `limit` + 1 rows (newest first) before the cursor (time, key), if any: one statement. */
export async function alertRows(q: { limit: number }, cursor: { t: string; k: string } | null): Promise<Record<string, unknown>[]> {
  const params: unknown[] = [q.limit + 1];
  const before = (at: string, key: string) =>
    cursor ? `AND (${at}, ${key}) < ($${params.push(cursor.t)}::timestamptz, $${params.push(cursor.k)}::text)` : '';
  // Each branch is newest-first and limited on its own (ops_alerts_created, outbound_messages_failed), then merged.
  const rows = await db().query(
    `WITH items AS (
       (${ALERTS_NEWEST_SQL(before, '$1')})
       UNION ALL
       (SELECT 'message:' || m.id::text, 'message_failed', m.updated_at, m.order_id, m.id, '{}'::jsonb, NULL, 0, NULL, false
        FROM outbound_messages m
        WHERE m.status = 'failed' AND NOT ${MESSAGE_ALERTED_SQL('m.id')}
              ${before('m.updated_at', `'message:' || m.id::text`)}
        ORDER BY m.updated_at DESC, m.id DESC LIMIT $1)
     )
     SELECT i.*, to_char(i.at AT TIME ZONE 'UTC', ${TS}) AS cursor_t,
            o.reference, o.payment_status, o.fulfillment_status,
            m.kind AS message_kind, m.template, m.status AS message_status, m.error_code, m.error_title,
            COALESCE(m.to_wa_id, CASE WHEN m.to_user_id IS NULL THEN mc.wa_id END) AS to_wa_id, COALESCE(m.to_user_id, mc.bsuid) AS to_user_id
     FROM items i
     LEFT JOIN orders o ON o.id = i.order_id
     LEFT JOIN outbound_messages m ON m.id = i.message_id
     LEFT JOIN customers mc ON mc.id = m.customer_id
     ORDER BY i.at DESC, i.key DESC LIMIT $1`,
    params,
  );
  return rows;
}
