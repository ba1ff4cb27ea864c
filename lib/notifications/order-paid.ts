import { db } from '../db.js';
import { inviteChatUrl, inviteUrl } from '../invites.js';
import { log } from '../log.js';
import { formatMoney } from '../money.js';
import type { Order } from '../orders.js';
import { outboxKey, sendOnce, type SendOutcome } from '../outbox.js';
import type { OutgoingMessage } from '../whatsapp/messages.js';
import { buildTemplate } from '../whatsapp/templates.js';

/**
 * The WhatsApp messages of the payment path, each keyed by its business event so it goes out
 * exactly once per order whatever route (webhook, replay, cleanup retry) sends it:
 *   confirmation:<orderId>   template order_confirmed [reference, amount, note]
 *   invite-link:<orderId>    "Please forward this link to your elder for direct chat: <link>" (+ wa.me link),
 *                            or template order_invite_link [reference, link] outside the 24-hour window
 *   refund-notice:<orderId>  paid too late, stock gone, money returned
 *   order-closed:<orderId>   expired / payment failed / cancelled before payment
 * They are written to the outbox (outbound_messages, status 'pending') in the same statement as
 * the order's state change (see lib/payments/settle.ts), then sent; a send left unsent is picked
 * up by the next replay of the event (deliverPendingNotices) or by the cleanup run's retry.
 */

/** `fallback`: the approved-template version of a free-form text, sent by the outbox if Meta still answers 131047 (window closed meanwhile). */
export type OrderNotice = { eventKey: string; kind: string; customerId: string; orderId: string; message: OutgoingMessage; fallback?: OutgoingMessage | null };

export const noticeKeys = (orderId: string) => ({
  confirmation: `confirmation:${orderId}`,
  inviteLink: `invite-link:${orderId}`,
  refund: `refund-notice:${orderId}`,
  closed: `order-closed:${orderId}`,
});

export const CONFIRMATION_NOTE = "We'll message you here as soon as it ships.";
export const INVITE_TEXT_PREFIX = 'Please forward this link to your elder for direct chat: ';

export function confirmationNotice(order: Order): OrderNotice {
  return {
    eventKey: noticeKeys(order.id).confirmation,
    kind: 'order_confirmed',
    customerId: order.customerId,
    orderId: order.id,
    message: buildTemplate('order_confirmed', { body: [order.reference, formatMoney(order.totalMinor, order.currency), CONFIRMATION_NOTE] }),
  };
}

export function inviteLinkNotice(order: Order, token: string, insideWindow: boolean): OrderNotice {
  const link = inviteUrl(token);
  const template = buildTemplate('order_invite_link', { body: [order.reference, link] });
  const text: OutgoingMessage = {
    type: 'text',
    body: `${INVITE_TEXT_PREFIX}${link}\n\nOr they can open the chat directly: ${inviteChatUrl(order.reference, token)}`,
  };
  return {
    eventKey: noticeKeys(order.id).inviteLink,
    kind: 'invite_link',
    customerId: order.customerId,
    orderId: order.id,
    message: insideWindow ? text : template,
    fallback: insideWindow ? template : null,
  };
}

/** Outside the window no free-form text may go out; hold_expired is the approved template that says the items were released. */
const releasedTemplate = (order: Order) => buildTemplate('hold_expired', { body: [order.reference] });

export function refundNotice(order: Order, insideWindow: boolean): OrderNotice {
  const amount = formatMoney(order.totalMinor, order.currency);
  return {
    eventKey: noticeKeys(order.id).refund,
    kind: 'refund_notice',
    customerId: order.customerId,
    orderId: order.id,
    fallback: insideWindow ? releasedTemplate(order) : null,
    message: insideWindow
      ? {
          type: 'text',
          body: `We're so sorry: your payment for order ${order.reference} arrived after your reservation had ended, and the items sold out in the meantime. We've refunded the full ${amount} to your payment method (it can take a few days to show). Type "menu" to see what's available now.`,
        }
      : releasedTemplate(order),
  };
}

export type ClosedStatus = 'expired' | 'payment_failed' | 'cancelled';

export function closedNotice(order: Order, status: ClosedStatus, insideWindow: boolean): OrderNotice {
  const text: Record<ClosedStatus, string> = {
    expired: `Your order ${order.reference} wasn't paid in time, so we've released the items. Nothing was charged. Type "menu" whenever you'd like to order again.`,
    payment_failed: `Sorry, the payment for order ${order.reference} didn't go through, so we've released the items. Nothing was charged. Type "menu" to try again.`,
    cancelled: `Your order ${order.reference} has been cancelled and the items were released. Nothing was charged. Type "menu" whenever you'd like to order again.`,
  };
  return {
    eventKey: noticeKeys(order.id).closed,
    kind: 'order_closed',
    customerId: order.customerId,
    orderId: order.id,
    message: insideWindow ? { type: 'text', body: text[status] } : releasedTemplate(order),
    fallback: insideWindow ? releasedTemplate(order) : null,
  };
}

/** Outbox rows for the state-changing statement: jsonb_to_recordset(key, kind, customer_id, template, payload, fallback_payload). */
export function outboxRows(notices: OrderNotice[]): string {
  return JSON.stringify(
    notices.map((n) => ({
      key: outboxKey(n.eventKey),
      kind: n.kind,
      customer_id: n.customerId,
      template: n.message.type === 'template' ? n.message.name : null,
      payload: n.message,
      fallback_payload: n.fallback ?? null,
    })),
  );
}

/**
 * The CTE body that writes outboxRows() (bound as `param`) for the order in the statement's `updated` CTE,
 * so the notices are recorded in the same statement as the state change that causes them.
 */
export function outboxInsertSql(param: string, where = ''): string {
  return `INSERT INTO outbound_messages (idempotency_key, kind, order_id, customer_id, template, payload, fallback_payload)
       SELECT m.key, m.kind, updated.id, m.customer_id, m.template, m.payload, m.fallback_payload
       FROM updated, jsonb_to_recordset(${param}::jsonb) AS m(key text, kind text, customer_id uuid, template text, payload jsonb, fallback_payload jsonb)
       ${where}
       ON CONFLICT (idempotency_key) DO NOTHING`;
}

/**
 * Sends the notices in order (confirmation before the link); each at most once. While one is unsent
 * (deferred, or being sent by a concurrent replay) the rest wait in the outbox, so the link never
 * arrives before the confirmation: whoever sends the earlier one, or the cleanup run's retry
 * (which keeps per-recipient order), sends them next.
 */
export async function deliverNotices(notices: OrderNotice[]): Promise<SendOutcome[]> {
  const outcomes: SendOutcome[] = [];
  for (const n of notices) {
    let outcome: SendOutcome;
    try {
      outcome = await sendOnce(n);
    } catch (error) {
      // The row stays pending: the next replay or the cleanup run sends it.
      log.error('notice.send_failed', { kind: n.kind, orderId: n.orderId, error });
      outcome = 'retry_later';
    }
    outcomes.push(outcome);
    if (outcome === 'retry_later' || (outcome === 'duplicate' && (await stillUnsent(n)))) break;
  }
  return outcomes;
}

async function stillUnsent(n: OrderNotice): Promise<boolean> {
  const rows = await db()`SELECT status FROM outbound_messages WHERE idempotency_key = ${outboxKey(n.eventKey)}`;
  return rows[0]?.status === 'pending' || rows[0]?.status === 'sending';
}

/**
 * (Re)sends this order's payment-path notices that are recorded but not sent yet (a replay after a failed send).
 * Every unsent one is taken, also those backing off or being sent elsewhere: deliverNotices stops at the first
 * it cannot send now, so a later notice (the invite link) never overtakes an earlier one (the confirmation).
 */
export async function deliverPendingNotices(orderId: string): Promise<number> {
  const keys = Object.values(noticeKeys(orderId));
  const byHash = new Map(keys.map((k, i) => [outboxKey(k), { eventKey: k, position: i }]));
  const rows = await db()`
    SELECT idempotency_key, kind, customer_id, payload, fallback_payload FROM outbound_messages
    WHERE order_id = ${orderId} AND idempotency_key = ANY(${[...byHash.keys()]}::text[]) AND status IN ('pending', 'sending')`;
  const notices = rows
    .map((r) => ({ row: r, key: byHash.get(r.idempotency_key as string)! }))
    .sort((a, b) => a.key.position - b.key.position)
    .map(({ row, key }) => ({
      eventKey: key.eventKey,
      kind: row.kind as string,
      customerId: row.customer_id as string,
      orderId,
      message: row.payload as OutgoingMessage,
      fallback: (row.fallback_payload as OutgoingMessage | null) ?? null,
    }));
  await deliverNotices(notices);
  return notices.length;
}
