import { db, type Query } from '../db.js';
import { TRACKED_STATUSES, type DeliveryStatus } from '../whatsapp/inbound-payload.js';
import { ADDRESSED_SQL, CLAIM_SECONDS } from './outbox.js';
import { isReserved } from './reply.js';

/**
 * The store of outbound_messages (tests/architecture-tables.test.ts): its statements for the retry run
 * (./retry.ts), Meta's delivery statuses (./delivery-status.ts) and the console's order view. The statements
 * of ./outbox.ts, ./record.ts and ./reply.ts move here next (they are being rewritten this wave).
 */

/** The claim of retryDueMessages as a statement not run yet (the cleanup run sends it with its other reads, one round trip). */
export function claimDueMessages(limit: number): Query {
  return db().query(
    `WITH due AS (
       UPDATE outbound_messages SET status = 'sending', attempts = attempts + 1,
              locked_until = now() + make_interval(secs => $1), updated_at = now()
       WHERE id IN (
         SELECT m.id FROM outbound_messages m
         WHERE ((m.status = 'pending' AND m.next_attempt_at <= now()) OR (m.status = 'sending' AND m.locked_until < now()))
           AND NOT ${isReserved('m')}
           AND NOT EXISTS (
             SELECT 1 FROM outbound_messages e
             WHERE e.customer_id = m.customer_id AND e.seq < m.seq AND e.status IN ('pending', 'sending') AND NOT ${isReserved('e')}
               AND ((e.status = 'pending' AND e.next_attempt_at > now()) OR (e.status = 'sending' AND e.locked_until >= now())))
         ORDER BY m.seq LIMIT $2 FOR UPDATE SKIP LOCKED)
       RETURNING id, idempotency_key, customer_id, to_wa_id, kind, order_id, payload, fallback_payload, attempts, seq
     )
     ${ADDRESSED_SQL('due')}`,
    [CLAIM_SECONDS, limit],
  ) as unknown as Query;
}

/** Gives claimed rows back unsent (due now, their attempt not counted), for rows that must wait behind a deferred one. */
export const unclaim = (ids: string[]): Query => db()`
  UPDATE outbound_messages SET status = 'pending', attempts = attempts - 1, locked_until = NULL, next_attempt_at = now(), updated_at = now()
  WHERE id = ANY(${ids}::uuid[]) AND status = 'sending'`;

/** Records one of Meta's delivery statuses on its row (see ./delivery-status.ts), with the row's customer as it is now. */
export async function recordDeliveryStatus(s: DeliveryStatus): Promise<Record<string, unknown>[]> {
  const entry = JSON.stringify([{ status: s.status, at: s.at.toISOString(), errors: s.errors }]);
  const error = s.errors[0];
  const tracked = (TRACKED_STATUSES as readonly string[]).includes(s.status);
  const rows = await db()`
    WITH target AS (
      SELECT id, delivery_status AS previous FROM outbound_messages
      WHERE wamid = ${s.wamid} OR (wamid IS NULL AND ${s.callbackKey}::text IS NOT NULL AND idempotency_key = ${s.callbackKey})
      LIMIT 1 FOR UPDATE
    ), updated AS (
    UPDATE outbound_messages m SET
      wamid = COALESCE(m.wamid, ${s.wamid}),
      status = CASE WHEN m.status IN ('pending', 'sending') THEN 'sent' ELSE m.status END,
      sent_at = COALESCE(m.sent_at, ${s.at.toISOString()}::timestamptz),
      locked_until = NULL,
      -- A redriven event (processing failed after this update) is not recorded twice.
      delivery_statuses = CASE WHEN m.delivery_statuses @> ${entry}::jsonb THEN m.delivery_statuses ELSE m.delivery_statuses || ${entry}::jsonb END,
      delivery_status = CASE
        WHEN NOT ${tracked}::boolean THEN m.delivery_status
        WHEN ${s.status} = 'failed' THEN CASE WHEN m.delivery_status IN ('delivered', 'read') THEN m.delivery_status ELSE 'failed' END
        WHEN m.delivery_status IS NULL OR m.delivery_status = 'failed' THEN ${s.status}
        WHEN array_position(ARRAY['sent', 'delivered', 'read'], ${s.status}::text) > array_position(ARRAY['sent', 'delivered', 'read'], m.delivery_status)
          THEN ${s.status}
        ELSE m.delivery_status END,
      error_code = CASE WHEN ${s.status} = 'failed' THEN ${error?.code ?? null}::int ELSE m.error_code END,
      error_title = CASE WHEN ${s.status} = 'failed' THEN ${error?.title ?? null}::text ELSE m.error_title END,
      updated_at = now()
    FROM target WHERE m.id = target.id
    RETURNING m.id, m.idempotency_key, m.kind, m.order_id, m.customer_id, m.to_wa_id, m.to_user_id, m.template, m.fallback_payload, target.previous
  )
  SELECT u.*, c.wa_id AS customer_wa_id, c.bsuid AS customer_bsuid FROM updated u LEFT JOIN customers c ON c.id = u.customer_id`;
  return rows;
}

/** The customer a message is for now (a link may have merged its customer into another row). */
export async function customerOfMessage(id: string): Promise<string | null> {
  const [m] = await db()`SELECT customer_id FROM outbound_messages WHERE id = ${id}`;
  return (m?.customer_id as string | null) ?? null;
}

/** Every message of an order (the console's order view); an unsent row shows the address it will be sent to. */
export const messagesOfOrderQuery = (orderId: string): Query => db()`SELECT m.id, m.kind, m.template, m.status, m.attempts, m.delivery_status, m.delivery_statuses, m.error_code, m.error_title, m.sent_at, m.created_at,
                   COALESCE(m.to_wa_id, CASE WHEN m.to_user_id IS NULL THEN mc.wa_id END) AS to_wa_id, COALESCE(m.to_user_id, mc.bsuid) AS to_user_id
            FROM outbound_messages m LEFT JOIN customers mc ON mc.id = m.customer_id WHERE m.order_id = ${orderId} ORDER BY m.created_at, m.id`;
