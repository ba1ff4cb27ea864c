import { cachedSellableVariants } from '../catalog/index.js';
import { changeCustomerIdentity } from '../customers/store.js';
import { log, maskIdentity } from '../log.js';
import { messageKeys } from '../messaging/keys.js';
import type { OutgoingMessage } from '../messaging/messages.js';
import { sendOnce } from '../messaging/outbox.js';
import { outsideWindowSince } from '../messaging/window.js';
import { closeOrder } from '../orders/close.js';
import { latestOrderOf, openOrderOf } from '../orders/order.js';
import { placeOrder, type RequestedLine } from '../orders/place.js';
import { sendPaymentLink } from '../orders/payment-link.js';
import type { InboundContent, InboundWhatsAppMessage } from '../whatsapp/inbound-payload.js';
import { findVariant } from './find-variant.js';
import { handleInviteMessage } from './invite-contact.js';
import { inboxButton, inboxText } from './handover.js';
import { parseIntent } from './intents.js';
import { quantityButtonLine } from './order-intent.js';
import * as reply from './replies.js';
import { handleListReply, searchProducts, showMenu, showProduct, showSearch } from './storefront.js';
import { answerOrderAgain, answerSecondChanceButton, answerStop, soldOutOf, withWaitlistOffer, type SecondChanceAnswer } from './second-chances.js';
import { replyWithin } from '../messaging/reply.js';
import type { Work } from '../work.js';

/** How often at most the media answer goes to one customer (an album of photos gets one answer). */
const MEDIA_HELP_BUCKET_MS = 10 * 60 * 1000;

/**
 * One inbound customer message → the shop's answer. Every reply is keyed by the inbound wamid,
 * so processing the same message twice (a retry, a re-drive) sends nothing twice.
 * Returns the outcome recorded on the inbound event when it is not a plain request
 * (null: handled as a request).
 *
 * What is not a request gets no answer: reactions (and removed reactions), deleted (`revoke`) and
 * edited messages, Meta's `unsupported` messages and `system` notices; a number or BSUID change
 * moves the customer row. A message older than the 24-hour window (Meta retries for 7 days) is
 * recorded and never acted on: no free-form reply is allowed, and an order nobody confirmed is
 * never placed from it.
 *
 * The answer goes through the outbox row reserved when the message was recorded and also marks the
 * event processed (`replyWithin(work, …, { flush: true })`, one round trip).
 */
export async function handleCustomerMessage(msg: InboundWhatsAppMessage, customerId: string, work: Work): Promise<string | null> {
  const content = msg.content;
  const notARequest = await recordNonRequest(msg, customerId, content);
  if (notARequest) return notARequest;

  const age = Date.now() - msg.sentAt.getTime();
  if (outsideWindowSince(msg.sentAt)) {
    log.info('inbound.late_message', { type: content.type, ageHours: Math.round(age / 3_600_000), from: maskIdentity(msg) });
    return `late: no reply (${Math.round(age / 3_600_000)} h old, outside the 24-hour window)`;
  }

  // The answer is the last send of every path that answers: it finishes the event in its round trip.
  const send = (message: OutgoingMessage, kind = 'reply') => replyWithin(work, { eventKey: messageKeys.reply(msg.wamid), kind, customerId, message }, { flush: true });
  const order = async (lines: RequestedLine[]) => {
    const result = await placeOrder({
      customer: { id: customerId, waId: msg.waId, userId: msg.userId, profileName: msg.profileName },
      source: 'whatsapp',
      sourceKey: msg.wamid,
      lines,
      work,
    });
    if ('order' in result) {
      // The payment link is the last send: the event finishes in its round trip.
      await sendPaymentLink(result.order, { claimed: result.paymentLink, work });
      return null;
    }
    log.info('order.refused', { reason: result.status, to: maskIdentity(msg) });
    await send(withWaitlistOffer(reply.orderProblem(result), soldOutOf(result, lines)));
    return null;
  };
  /** Second chances (./second-chances.ts): a message to send, or lines placed anew as any order. */
  const secondChance = async (answer: SecondChanceAnswer): Promise<string | null> => {
    if ('lines' in answer) return order(answer.lines);
    await send(answer.message);
    return null;
  };

  // Team inbox (./handover.ts): the "Talk to a person" button.
  const handedOver = await inboxButton(msg, customerId, work);
  if (handedOver !== undefined) return handedOver;

  switch (content.type) {
    case 'order':
      return order(content.items.map((i) => ({ sku: i.sku, quantity: i.quantity })));
    case 'list_reply':
      await handleListReply(work, content.id, send);
      return null;
    case 'button_reply': {
      const answer = await answerSecondChanceButton(content.id, customerId);
      if (answer) return secondChance(answer);
      const line = quantityButtonLine(content.id);
      if (!line) {
        await send(reply.choiceExpired());
        return null;
      }
      return order([line]);
    }
    case 'media': {
      const bucket = Math.floor(msg.sentAt.getTime() / MEDIA_HELP_BUCKET_MS);
      const outcome = `answered: ${content.kind} (what the shop can do)`;
      const sender = `${msg.waId ?? ''}|${msg.userId ?? ''}`;
      const sent = await sendOnce({ eventKey: messageKeys.mediaHelp(customerId, sender, bucket), kind: 'reply', customerId, message: reply.mediaHelp(content.kind) }, work.finishAs(outcome));
      // Never recorded as answered when the window's answer went out already (the outcome is corrected).
      return sent === 'duplicate' ? `not answered: ${content.kind} (the media answer of this 10-minute window was sent already)` : outcome;
    }
    case 'text':
      break;
    default:
      return null;
  }

  const intent = parseIntent(content.body);
  // Team inbox (./handover.ts): asking for a person, staff mode's silence, the "didn't understand" count.
  // Free text is a catalog search: one that finds products was understood (the catalog is cached: no round trip).
  const finds = intent.type === 'unknown' && searchProducts(await cachedSellableVariants(), content.body).length > 0;
  const inbox = await inboxText(msg, content.body, intent, customerId, work, finds);
  if (inbox !== undefined) return inbox;
  switch (intent.type) {
    case 'invite':
      await handleInviteMessage(msg, intent.token, customerId, work);
      return null;
    case 'menu':
      await showMenu(work, 1, send);
      return null;
    case 'show':
      await showProduct(work, intent.query, send);
      return null;
    case 'search':
      await showSearch(work, intent.query, 1, send);
      return null;
    case 'help':
      await send(reply.help());
      return null;
    case 'stop':
      return secondChance(await answerStop(customerId));
    case 'order_again':
      return secondChance(await answerOrderAgain(customerId));
    case 'status':
      await send(reply.orderStatus(await latestOrderOf(customerId)));
      return null;
    case 'cancel': {
      // The one close path: the Checkout Session is expired before the stock is released.
      const open = await openOrderOf(customerId);
      const outcome = open ? (await closeOrder(open.id, 'cancelled_by_customer')).result : 'not_closed';
      await send(outcome === 'paid' ? reply.alreadyPaid(open!) : reply.cancelled(outcome === 'closed' ? open : null));
      return null;
    }
    case 'buy': {
      const variant = findVariant(await cachedSellableVariants(), intent.query);
      if (!variant) {
        await send(reply.notFound(intent.query));
        return null;
      }
      return order([{ sku: variant.sku, quantity: intent.quantity }]);
    }
    case 'unknown':
      // Free text is a search of the catalog ("tea", "honey 500"); nothing found → the menu.
      await showSearch(work, content.body, 1, send, reply.DID_NOT_UNDERSTAND);
      return null;
  }
}

/** Messages that ask nothing of the shop: recorded and logged, never answered. Returns their outcome, or null for a request. */
async function recordNonRequest(msg: InboundWhatsAppMessage, customerId: string, content: InboundContent): Promise<string | null> {
  const from = maskIdentity(msg);
  switch (content.type) {
    case 'reaction': {
      const outcome = content.emoji ? 'recorded: reaction' : 'recorded: reaction removed';
      log.info('inbound.reaction', { removed: !content.emoji, from });
      return outcome;
    }
    case 'revoke':
      log.info('inbound.revoked', { from });
      return 'recorded: message deleted by the customer';
    case 'edit':
      log.info('inbound.edited', { editedType: content.editedType, from });
      return 'recorded: message edited (not acted on)';
    case 'unsupported':
      log.info('inbound.unsupported', { kind: content.kind, from });
      return `recorded: ${content.kind} message`;
    case 'system':
      return handleSystemNotice(customerId, content, from);
    default:
      return null;
  }
}

async function handleSystemNotice(customerId: string, notice: Extract<InboundContent, { type: 'system' }>, from: string): Promise<string> {
  if (notice.kind === 'user_changed_number' && notice.newWaId) {
    await changeCustomerIdentity(customerId, { newWaId: notice.newWaId, newUserId: null, type: 'number_changed' });
    log.info('customer.number_changed', { from, to: maskIdentity({ waId: notice.newWaId }) });
    return 'recorded: user_changed_number (customer moved to the new number)';
  }
  if (notice.kind === 'user_changed_user_id' && notice.newUserId) {
    await changeCustomerIdentity(customerId, { newWaId: null, newUserId: notice.newUserId, type: 'user_id_changed' });
    log.info('customer.user_id_changed', { from, to: maskIdentity({ userId: notice.newUserId }) });
    return 'recorded: user_changed_user_id (customer moved to the new BSUID)';
  }
  log.info('inbound.system_notice', { kind: notice.kind, from });
  return `recorded: system ${notice.kind}`;
}
