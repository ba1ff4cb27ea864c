import { getConfig } from '../config.js';
import { log } from '../log.js';
import { messageKeys, outboxKey } from '../messaging/keys.js';
import type { OutgoingMessage } from '../messaging/messages.js';
import { orderSummaryLines } from '../messaging/order-notices.js';
import { attemptSend, recordAttempts, type Attempt, type Claimed } from '../messaging/outbox.js';
import { claimedFrom, outboxRows, type Notice } from '../messaging/record.js';
import { SERVICE_WINDOW_MS } from '../messaging/window.js';
import type { OrderItem } from './order.js';
import { recordReminders } from './store-reminders.js';

/**
 * The one reminder before an order's hold lapses (docs/second-chances.md). The cleanup run finds the
 * due ones in O(due) (DUE_REMINDERS_SQL, served by the partial index orders_reminder_due) in the
 * statement it already makes, then `sendHoldReminder` decides and records each in ONE statement:
 * `orders.reminded_at` (the gate: at most one decision per order, whatever runs concurrently), an
 * order event (`reminder_sent`, or `reminder_skipped` with the reason) and, when it goes out, the
 * outbox row `reminder:<order>` recorded already claimed. Free-form only, inside the customer's 24-hour
 * window (never a template: it would be a paid marketing-adjacent message); nothing to a customer who
 * wrote "stop", who is unreachable, or who had PROACTIVE_DAILY_CAP proactive messages today. Batched:
 * see sendHoldReminders.
 */

/** Kinds of proactive messages (the daily cap counts them; the index outbound_messages_proactive serves it). */
export const PROACTIVE_KINDS = ['hold_reminder', 'back_in_stock'] as const;

/** Button ids of the reminder (and of the released notice's "Order again"): `sc:<action>:<orderId>`. */
export const secondChanceButton = (action: 'pay' | 'keep' | 'cancel' | 'again', orderId: string) => `sc:${action}:${orderId}`;
export function parseSecondChanceButton(id: string): { action: 'pay' | 'keep' | 'cancel' | 'again'; orderId: string } | null {
  const m = /^sc:(pay|keep|cancel|again):([0-9a-f-]{36})$/i.exec(id);
  return m ? { action: m[1] as 'pay' | 'keep' | 'cancel' | 'again', orderId: m[2]!.toLowerCase() } : null;
}

/** How long before the hold lapses the reminder is due: REMINDER_BEFORE_SECONDS, at most half the hold (0: off). */
export function reminderLeadSeconds(): number {
  const c = getConfig();
  return Math.min(c.REMINDER_BEFORE_SECONDS, Math.floor(c.RESERVATION_TTL_SECONDS / 2));
}

/** "Keep 10 more min" (Meta: a reply button's title is at most 20 characters). */
export const keepButtonTitle = (seconds: number) => `Keep ${Math.max(1, Math.round(seconds / 60))} more min`;

export { DUE_REMINDERS_SQL } from './store-reminders.js';

export type DueReminder = {
  id: string;
  reference: string;
  customerId: string;
  checkoutUrl: string | null;
  holdExpiresAt: Date;
  items: OrderItem[];
  totalMinor: number;
  currency: string;
};

export function dueReminderOf(id: string, data: Record<string, unknown>): DueReminder {
  return {
    id,
    reference: data.reference as string,
    customerId: data.customerId as string,
    checkoutUrl: (data.checkoutUrl as string | null) ?? null,
    holdExpiresAt: new Date(data.holdExpiresAt as string),
    items: data.items as OrderItem[],
    totalMinor: Number(data.totalMinor),
    currency: String(data.currency).trim(),
  };
}

const hhmm = (d: Date) => d.toISOString().slice(11, 16);

/** The reminder: the Checkout link in the body (a reply button can't open a URL), and three reply buttons. */
export function reminderMessage(o: DueReminder, now = Date.now()): OutgoingMessage {
  const minutes = Math.max(1, Math.round((o.holdExpiresAt.getTime() - now) / 60_000));
  const extension = getConfig().HOLD_EXTENSION_SECONDS;
  const buttons = [
    { id: secondChanceButton('pay', o.id), title: 'Pay now' },
    ...(extension > 0 ? [{ id: secondChanceButton('keep', o.id), title: keepButtonTitle(extension) }] : []),
    { id: secondChanceButton('cancel', o.id), title: 'Cancel' },
  ];
  return {
    type: 'buttons',
    body: `Your order ${o.reference} is still held for you until ${hhmm(o.holdExpiresAt)} UTC (about ${minutes} min left).\n${orderSummaryLines(o)}\n\nPay here: ${o.checkoutUrl}`,
    footer: 'Reply "stop" for no more reminders',
    buttons,
  };
}

export type ReminderOutcome = 'sent' | 'not_due' | 'stopped' | 'unreachable' | 'outside_window' | 'daily_cap' | 'no_link';

/** Decides and records one order's reminder, then sends it (see the module comment). */
export async function sendHoldReminder(o: DueReminder): Promise<ReminderOutcome> {
  return (await sendHoldReminders([o])).get(o.id) ?? 'not_due';
}

const BATCH = 200;
const SEND_CONCURRENCY = 8;

/**
 * Reminders in batches: per batch ONE statement decides and records them all (the gate, the events, the
 * outbox rows already claimed), the sends go out concurrently (different customers), and every outcome is
 * recorded in ONE round trip: two Postgres round trips per batch and one Graph POST per reminder. A send that
 * threw stays claimed (the outbox retry sends it once the claim lapses). `stop`: no new batch once it says so.
 */
export async function sendHoldReminders(due: DueReminder[], stop: () => boolean = () => false): Promise<Map<string, ReminderOutcome>> {
  const outcomes = new Map<string, ReminderOutcome>();
  for (let i = 0; i < due.length && !stop(); i += BATCH) {
    const batch = due.slice(i, i + BATCH);
    const notices = batch.map((o): Notice => ({ eventKey: messageKeys.reminder(o.id), kind: 'hold_reminder', customerId: o.customerId, orderId: o.id, message: reminderMessage(o) }));
    const [row] = await recordReminders(
      JSON.stringify(batch.map((o) => ({ order_id: o.id, key: outboxKey(messageKeys.reminder(o.id)) }))),
      outboxRows(notices),
      new Date(Date.now() - SERVICE_WINDOW_MS).toISOString(),
      getConfig().PROACTIVE_DAILY_CAP,
      PROACTIVE_KINDS,
    );
    for (const d of (row?.decided ?? []) as { id: string; skip: ReminderOutcome | null }[]) {
      outcomes.set(d.id, d.skip ?? 'sent');
      if (d.skip) log.info('reminder.skipped', { orderId: d.id, reason: d.skip });
    }
    await sendConcurrently(claimedFrom(row?.claimed, notices));
  }
  return outcomes;
}

/** Sends claimed rows of different customers concurrently, then records every outcome in one round trip. */
async function sendConcurrently(claimed: Claimed[]): Promise<void> {
  const attempts: Attempt[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(SEND_CONCURRENCY, claimed.length) }, async () => {
      while (next < claimed.length) {
        const c = claimed[next++]!;
        try {
          attempts.push(await attemptSend(c));
        } catch (error) {
          log.error('reminder.send_failed', { orderId: c.orderId, error });
        }
      }
    }),
  );
  await recordAttempts(attempts);
}
