import { getConfig } from '../config.js';
import { db, type Query } from '../db.js';
import { log } from '../log.js';
import { raiseOpsAlert } from '../alerts/ops-alerts.js';
import { EFFECTIVE_MODE_SQL } from './handover-state.js';

/**
 * The team inbox's part of the cleanup run (lib/cleanup.ts), one statement run in the same round trip as the
 * run's reconcile read (so the run costs no round trip more):
 *  - retention: message content older than INBOX_RETENTION_DAYS is deleted, in batches; only metadata stays
 *    (kind, time, customer, the message it was about). The inbound_events payload of such a message loses its
 *    content too (its kind stays), so nothing older is kept anywhere;
 *  - unanswered: a conversation in staff mode whose customer has waited longer than
 *    INBOX_UNANSWERED_ALERT_MINUTES since the last staff reply is marked alerted and returned; the run then raises
 *    one ops alert per waiting message (key `unanswered:<customer>:<last message time>`: once, however many runs see it).
 */

export function inboxMaintenanceQuery(limit = 500): Query {
  const { INBOX_RETENTION_DAYS: days, INBOX_UNANSWERED_ALERT_MINUTES: minutes } = getConfig();
  return db()`
    WITH expired AS (
      SELECT id, wamid FROM conversation_messages
      WHERE content_deleted_at IS NULL AND at < now() - make_interval(days => ${days})
      ORDER BY at LIMIT ${limit}
    ), cleared AS (
      UPDATE conversation_messages m
      SET body = NULL, data = CASE WHEN m.data ? 'mediaId' THEN jsonb_build_object('mimeType', m.data->'mimeType') END, content_deleted_at = now()
      FROM expired e WHERE m.id = e.id
      RETURNING m.id
    ), scrubbed AS (
      UPDATE inbound_events ev
      SET payload = ev.payload || jsonb_build_object('content', jsonb_build_object('type', ev.payload->'content'->'type', 'deleted', true))
      FROM expired e WHERE ev.source = 'meta' AND ev.external_id = e.wamid AND ev.processed_at IS NOT NULL
      RETURNING ev.id
    ), waiting AS (
      SELECT cv.customer_id, to_char(cu.last_inbound_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS waiting_since,
             COALESCE(cv.invited_order_id, (SELECT o.id FROM orders o WHERE o.customer_id = cu.id ORDER BY o.created_at DESC LIMIT 1)) AS order_id
      FROM conversations cv JOIN customers cu ON cu.id = cv.customer_id
      WHERE cv.mode = 'staff' AND ${db().unsafe(EFFECTIVE_MODE_SQL('cv'))} = 'staff'
        AND cu.last_inbound_at < now() - make_interval(mins => ${minutes})
        AND cu.last_inbound_at > COALESCE(cv.replied_at, '-infinity')
        AND (cv.alerted_at IS NULL OR cv.alerted_at < cu.last_inbound_at)
      ORDER BY cu.last_inbound_at LIMIT 50
    ), marked AS (
      UPDATE conversations cv SET alerted_at = now() FROM waiting w WHERE cv.customer_id = w.customer_id RETURNING cv.customer_id
    )
    SELECT 'cleared' AS what, NULL::uuid AS customer_id, NULL AS waiting_since, NULL::uuid AS order_id, (SELECT count(*) FROM cleared)::int AS n
    UNION ALL
    SELECT 'waiting', customer_id, waiting_since, order_id, NULL FROM waiting`;
}

/** What the statement found: content cleared, and one ops alert per conversation waiting for staff. */
export async function afterInboxMaintenance(rows: Record<string, unknown>[]): Promise<{ cleared: number; unanswered: number }> {
  const cleared = Number(rows.find((r) => r.what === 'cleared')?.n ?? 0);
  if (cleared) log.info('inbox.retention', { cleared, days: getConfig().INBOX_RETENTION_DAYS });
  const waiting = rows.filter((r) => r.what === 'waiting');
  for (const r of waiting) {
    await raiseOpsAlert({
      key: `unanswered:${r.customer_id}:${r.waiting_since}`,
      kind: 'conversation_unanswered',
      orderId: (r.order_id as string | null) ?? null,
      details: { conversationId: r.customer_id, waitingSince: r.waiting_since, minutes: getConfig().INBOX_UNANSWERED_ALERT_MINUTES, advice: 'A customer asked for a person and is waiting: answer in the console (Inbox).' },
    }).catch((error) => log.error('ops.alert_failed', { error }));
  }
  return { cleared, unanswered: waiting.length };
}
