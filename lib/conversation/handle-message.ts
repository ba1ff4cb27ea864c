import { listSellableVariants } from '../catalog.js';
import { log, maskPhone } from '../log.js';
import { cancelOpenOrder, latestOrderOf, placeOrder, type RequestedLine } from '../orders.js';
import { sendOnce } from '../outbox.js';
import { availableStock } from '../reservations.js';
import { expireCheckoutSession } from '../payments/checkout.js';
import { sendPaymentLink } from '../payments/payment-link.js';
import { waIdToE164 } from '../phone.js';
import type { InboundWhatsAppMessage } from '../whatsapp/inbound-payload.js';
import type { OutgoingMessage } from '../whatsapp/messages.js';
import { handleInviteMessage } from '../invites.js';
import { findVariant } from './find-variant.js';
import { parseIntent } from './intents.js';
import * as reply from './replies.js';
import { loadState, saveState } from './state.js';

/**
 * One inbound customer message → the shop's answer. Every reply is keyed by the inbound wamid,
 * so processing the same message twice (a retry, a re-drive) sends nothing twice.
 */
export async function handleCustomerMessage(msg: InboundWhatsAppMessage): Promise<void> {
  const send = (message: OutgoingMessage, kind = 'reply') => sendOnce({ eventKey: `reply:${msg.wamid}`, kind, toWaId: msg.waId, message });
  const customer = { waId: msg.waId, phone: waIdToE164(msg.waId), profileName: msg.profileName };
  const content = msg.content;

  const order = async (lines: RequestedLine[]) => {
    const result = await placeOrder({ customer, source: 'whatsapp', sourceKey: msg.wamid, lines });
    if ('order' in result) {
      await sendPaymentLink(result.order);
      return;
    }
    log.info('order.refused', { reason: result.status, to: maskPhone(customer.phone) });
    await send(reply.orderProblem(result));
  };

  switch (content.type) {
    case 'order':
      return order(content.items.map((i) => ({ sku: i.sku, quantity: i.quantity })));
    case 'list_reply':
      return handleListReply(msg.waId, content.id, send);
    case 'button_reply': {
      const m = /^qty:(\d+):(.+)$/.exec(content.id);
      if (!m) return void (await send(reply.choiceExpired()));
      return order([{ sku: m[2]!, quantity: Number(m[1]) }]);
    }
    case 'unsupported':
      return showMenu(msg.waId, 1, send, reply.DID_NOT_UNDERSTAND);
    case 'text':
      break;
  }

  const intent = parseIntent(content.body);
  switch (intent.type) {
    case 'invite':
      return handleInviteMessage(msg, intent.token);
    case 'menu':
      return showMenu(msg.waId, 1, send);
    case 'help':
      return void (await send(reply.help()));
    case 'status':
      return void (await send(reply.orderStatus(await latestOrderOf(msg.waId))));
    case 'cancel': {
      const cancelled = await cancelOpenOrder(msg.waId);
      if (cancelled?.stripeSessionId) await expireCheckoutSession(cancelled.stripeSessionId).catch((e) => log.warn('checkout.expire_failed', { error: e }));
      return void (await send(reply.cancelled(cancelled)));
    }
    case 'buy': {
      const variant = findVariant(await listSellableVariants(), intent.query);
      if (!variant) return void (await send(reply.notFound(intent.query)));
      return order([{ sku: variant.sku, quantity: intent.quantity }]);
    }
    case 'unknown':
      return showMenu(msg.waId, 1, send, reply.DID_NOT_UNDERSTAND);
  }
}

type Send = (message: OutgoingMessage) => Promise<unknown>;

async function showMenu(waId: string, page: number, send: Send, intro?: string): Promise<void> {
  const variants = await listSellableVariants();
  const available = await availableStock(variants.map((v) => v.sku));
  await Promise.all([send(reply.catalogList(variants, available, page, intro)), saveState(waId, { page })]);
}

async function handleListReply(waId: string, id: string, send: Send): Promise<void> {
  const page = /^page:(\d+)$/.exec(id);
  if (page) return showMenu(waId, Number(page[1]), send);
  const sku = /^variant:(.+)$/.exec(id)?.[1];
  const variant = sku ? (await listSellableVariants()).find((v) => v.sku === sku) : undefined;
  if (!variant) return void (await send(reply.choiceExpired()));
  const [available, state] = await Promise.all([availableStock([variant.sku]), loadState(waId)]);
  await Promise.all([send(reply.quantityQuestion(variant, available.get(variant.sku) ?? 0)), saveState(waId, { ...state, selectedSku: variant.sku })]);
}
