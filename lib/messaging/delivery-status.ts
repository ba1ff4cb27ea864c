import { linkRecipient } from '../customers/store.js';
import { log } from '../log.js';
import type { OutgoingMessage } from './messages.js';
import { handleFailedMessage, type FailureHandling } from './outbox.js';
import { customerOfMessage, recordDeliveryStatus } from './outbox-store.js';
import type { DeliveryStatus } from '../whatsapp/inbound-payload.js';

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
  const error = s.errors[0];
  const rows = await recordDeliveryStatus(s);
  const row = rows[0];
  if (!row) {
    log.info('whatsapp.status_unmatched', { status: s.status });
    return { matched: false, failedNow: false };
  }
  let customerId = (row.customer_id as string | null) ?? null;
  const phone = s.recipientWaId ?? (row.customer_wa_id as string | null) ?? null;
  if (s.recipientUserId && phone && !(phone === row.customer_wa_id && s.recipientUserId === row.customer_bsuid)) {
    // Linking may merge the message's customer into another row: the send moves with it.
    const linked = await linkRecipient(phone, s.recipientUserId);
    if (customerId && linked && customerId !== linked) customerId = (await customerOfMessage(row.id as string)) ?? customerId;
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
