import { getConfig } from '../config.js';
import { db, type Query } from '../db.js';
import { EFFECTIVE_MODE_SQL } from './handover-state.js';
import { SCRUB_CONTENT_SQL } from '../inbound/store.js';

/**
 * The inbox store's cleanup statement (part of lib/inbox/store.ts; the run in ./maintenance.ts): retention of
 * message content (in batches; the inbound_events payload of such a message loses its content too) and the
 * conversations waiting for staff past INBOX_UNANSWERED_ALERT_MINUTES, marked alerted and returned.
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
    ), scrubbed AS (${db().unsafe(SCRUB_CONTENT_SQL('expired'))}
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
