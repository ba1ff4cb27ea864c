import { getConfig } from '../config.js';
import { inviteKnownQuery, joinInviteQuery, TOKEN_SHAPE, type JoinInviteParts } from '../invites/store.js';
import { log } from '../log.js';
import { messageKeys } from '../messaging/keys.js';
import { inviteJoinedNotice } from '../messaging/order-notices.js';
import { sendOnce } from '../messaging/outbox.js';
import { notBuyerSql, orderRowSql, toOrder } from '../orders/order.js';
import { EVENTS_INSERT_SQL } from '../orders/events.js';
import { INVITE_HANDOVER_SQL } from '../inbox/store.js';
import type { InboundWhatsAppMessage } from '../whatsapp/inbound-payload.js';
import { replyWithin } from '../messaging/reply.js';
import type { Work } from '../work.js';
import { orderStatus } from './replies.js';
import { personWillAnswer } from './handover.js';

/**
 * What joining fuses into the invite's statement: the order's event for a first-time contact, and the team
 * inbox's handover for a first-time contact who is not the buyer (a person answers them, for this order).
 */
const joinParts: JoinInviteParts = {
  also: ({ orderId, customer, firstTimeFrom }) => ({
    event: EVENTS_INSERT_SQL({ type: `'invite_contact_joined'`, orderId, from: firstTimeFrom }),
    inbox: INVITE_HANDOVER_SQL({ customer, orderId, from: `${firstTimeFrom} AND ${notBuyerSql(customer, orderId)}` }),
  }),
  answer: orderRowSql,
};

/** A contact who opened an order's invite link and sent its prefilled text. */
export async function handleInviteMessage(msg: InboundWhatsAppMessage, token: string, customerId: string, work: Work): Promise<void> {
  const reply = (body: string) => replyWithin(work, { eventKey: messageKeys.reply(msg.wamid), kind: 'reply', customerId, message: { type: 'text', body } });
  const shop = getConfig().SHOP_NAME;

  const rows = TOKEN_SHAPE.test(token) ? await joinInviteQuery(token, customerId, msg.profileName, msg.waId, joinParts) : [];
  const row = rows[0];
  if (!row) {
    const [known] = TOKEN_SHAPE.test(token) ? await inviteKnownQuery(token) : [];
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
