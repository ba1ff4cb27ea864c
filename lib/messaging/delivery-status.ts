import { db } from '../db.js';
import { log } from '../log.js';
import type { OutgoingMessage } from './messages.js';
import { handleFailedMessage, type FailureHandling } from './outbox.js';
import { TRACKED_STATUSES, type DeliveryStatus } from '../whatsapp/inbound-payload.js';

/**
 * Applies one of Meta's delivery statuses to its outbox row, found by wamid or, when the
 * send's reply was lost, by the outbox key echoed in biz_opaque_callback_data. Every status is
 * kept with its time; the summary state only moves forward (sent → delivered → read), and a
 * `failed` after delivered/read is recorded without overriding it.
 *
 * A `failed` then goes through the outbox's failure handling (`handleFailedMessage`): Meta's
 * code and title are recorded, one ops alert is raised per message, and — only when the
 * message had not been delivered or read before — the customer-facing fallback runs
 * (re-engagement template for 131047, unreachable mark for not-on-WhatsApp / invalid number).
 * A failed after delivered/read (a customer with several devices) still alerts once, flagged
 * `deliveredBefore: true`, but neither re-sends nor marks the customer.
 *
 * Statuses the shop does not act on (`played`, `deleted`, future ones) are kept in the history
 * without touching the summary. A status naming the recipient's BSUID (`recipient_user_id`) links it
 * to the recipient's phone (`recipient_id`, else the message customer's phone) through link_customer:
 * statuses are Meta-signed, so a separate row holding that BSUID is merged into the phone's.
 */
export async function applyDeliveryStatus(
  s: DeliveryStatus,
): Promise<{ matched: boolean; failedNow: boolean; fallback?: FailureHandling }> {
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
  const row = rows[0];
  if (!row) {
    log.info('whatsapp.status_unmatched', { status: s.status });
    return { matched: false, failedNow: false };
  }
  let customerId = (row.customer_id as string | null) ?? null;
  const phone = s.recipientWaId ?? (row.customer_wa_id as string | null) ?? null;
  if (s.recipientUserId && phone && !(phone === row.customer_wa_id && s.recipientUserId === row.customer_bsuid)) {
    // Linking may merge the message's customer into another row: the send moves with it.
    const [linked] = await db()`SELECT link_customer(${phone}, ${s.recipientUserId}, NULL, NULL, NULL, NULL) AS id`;
    if (customerId && linked && customerId !== linked.id) {
      const [m] = await db()`SELECT customer_id FROM outbound_messages WHERE id = ${row.id}`;
      customerId = (m?.customer_id as string | null) ?? customerId;
    }
  }
  const previous = row.previous as string | null;
  const deliveredBefore = previous === 'delivered' || previous === 'read';
  const failedNow = s.status === 'failed' && !deliveredBefore && previous !== 'failed';
  if (s.status !== 'failed') return { matched: true, failedNow };
  const to = { waId: (row.to_wa_id as string | null) ?? null, userId: (row.to_user_id as string | null) ?? s.recipientUserId };
  // A repeated `failed` (another device, a replay) only reaches the once-per-message alert.
  const fallback = await handleFailedMessage(
    {
      id: row.id as string,
      key: row.idempotency_key as string,
      kind: row.kind as string,
      orderId: (row.order_id as string | null) ?? null,
      customerId,
      to,
      template: (row.template as string | null) ?? null,
      fallback: (row.fallback_payload as OutgoingMessage | null) ?? null,
    },
    { code: error?.code ?? null, title: error?.title ?? 'failed' },
    { deliveredBefore, repeated: previous === 'failed', source: 'status' },
  );
  return { matched: true, failedNow, fallback };
}
