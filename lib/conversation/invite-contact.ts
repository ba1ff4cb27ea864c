import { getConfig } from '../config.js';
import { db } from '../db.js';
import { TOKEN_SHAPE } from '../invites.js';
import { log } from '../log.js';
import { messageKeys } from '../messaging/keys.js';
import { inviteJoinedNotice } from '../messaging/order-notices.js';
import { sendOnce } from '../messaging/outbox.js';
import { orderColumns, toOrder } from '../orders/order.js';
import type { InboundWhatsAppMessage } from '../whatsapp/inbound-payload.js';
import { replyWithin } from '../messaging/reply.js';
import type { Work } from '../work.js';
import { orderStatus } from './replies.js';
import { personWillAnswer } from './handover.js';

/** A contact who opened an order's invite link and sent its prefilled text. */
export async function handleInviteMessage(msg: InboundWhatsAppMessage, token: string, customerId: string, work: Work): Promise<void> {
  const reply = (body: string) => replyWithin(work, { eventKey: messageKeys.reply(msg.wamid), kind: 'reply', customerId, message: { type: 'text', body } });
  const shop = getConfig().SHOP_NAME;

  const rows = TOKEN_SHAPE.test(token)
    ? await db().query(
        `WITH t AS (
           UPDATE invite_tokens SET consumed_at = COALESCE(consumed_at, now())
           WHERE token = $1 AND expires_at > now()
           RETURNING id, order_id
         ), contact AS (
           INSERT INTO invite_contacts (invite_id, customer_id, wa_id, profile_name)
           SELECT id, $2, $4, $3 FROM t
           ON CONFLICT (invite_id, customer_id) DO UPDATE
             SET last_seen_at = now(), profile_name = COALESCE(excluded.profile_name, invite_contacts.profile_name)
           RETURNING (xmax = 0) AS first_time
         ), event AS (
           INSERT INTO order_events (order_id, type, data)
           SELECT t.order_id, 'invite_contact_joined', '{}'::jsonb FROM t, contact WHERE contact.first_time
         ), inbox AS (
           -- Team inbox: an invited contact (not the customer opening their own link) starts with a person, for this order.
           INSERT INTO conversations (customer_id, mode, mode_changed_at, mode_changed_by, invited_order_id)
           SELECT $2, 'staff', now(), 'invite', t.order_id FROM t, contact
           WHERE contact.first_time AND $2 <> (SELECT customer_id FROM orders WHERE id = t.order_id)
           ON CONFLICT (customer_id) DO UPDATE SET mode = 'staff', mode_changed_at = now(), mode_changed_by = 'invite', invited_order_id = excluded.invited_order_id
         )
         SELECT ${orderColumns()}, (SELECT first_time FROM contact) AS first_time
         FROM t JOIN orders o ON o.id = t.order_id JOIN customers c ON c.id = o.customer_id`,
        [token, customerId, msg.profileName, msg.waId],
      )
    : [];
  const row = rows[0];
  if (!row) {
    const [known] = TOKEN_SHAPE.test(token) ? await db()`SELECT 1 AS known FROM invite_tokens WHERE token = ${token}` : [];
    log.info('invite.message_refused', { reason: known ? 'expired' : 'unknown' });
    await reply(
      known
        ? `Thanks for your message! That order link has expired, so we can't show the order here. Just tell us how we can help, or ask the person who placed the order to contact ${shop}.`
        : `Thanks for reaching out! We couldn't find an order for that link. Please ask the person who sent it to check it, or tell us here how we can help (type "menu" to see our products).`,
    );
    return;
  }

  const order = toOrder(row);
  log.info('invite.contact_linked', { orderId: order.id, firstTime: row.first_time === true });
  const status = orderStatus(order);
  const summary = status.type === 'text' ? status.body : '';
  // An invited contact is greeted once with the order's reference and handed to a person (team inbox, ./handover.ts).
  const invited = customerId !== order.customerId;
  await reply(
    `Hello${msg.profileName ? ` ${msg.profileName}` : ''}! You're now connected with ${shop} about order ${order.reference}.\n\n${summary}\n\n` +
      (invited && row.first_time === true ? personWillAnswer() : 'Just write here if you have any questions.'),
  );

  // Tell the customer who forwarded the link, once per order (not when they opened it themselves).
  if (customerId === order.customerId) return;
  const joined = inviteJoinedNotice(order, msg.profileName, order.insideWindow);
  if (!joined) {
    // Free-form text needs the customer's 24-hour window and no approved template says this.
    log.info('invite.joined_notice_skipped', { orderId: order.id, reason: 'outside_service_window' });
    return;
  }
  await sendOnce(joined);
}
