import { getConfig } from '../config.js';
import { log } from '../log.js';
import { raiseOpsAlert } from '../alerts/ops-alerts.js';

/**
 * The team inbox's part of the cleanup run (lib/flows/cleanup.ts), one statement run in the same round trip as the
 * run's reconcile read (so the run costs no round trip more):
 *  - retention: message content older than INBOX_RETENTION_DAYS is deleted, in batches; only metadata stays
 *    (kind, time, customer, the message it was about). The inbound_events payload of such a message loses its
 *    content too (its kind stays), so nothing older is kept anywhere;
 *  - unanswered: a conversation in staff mode whose customer has waited longer than
 *    INBOX_UNANSWERED_ALERT_MINUTES since the last staff reply is marked alerted and returned; the run then raises
 *    one ops alert per waiting message (key `unanswered:<customer>:<last message time>`: once, however many runs see it).
 */

export { inboxMaintenanceQuery } from './store-maintenance.js';

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
