import { cachedSellableVariants } from '../catalog/index.js';
import { getConfig } from '../config.js';
import { clip, LIMITS, type OutgoingMessage } from '../messaging/messages.js';
import { paymentLinkNotice } from '../messaging/order-notices.js';
import { closeOrder } from '../orders/close.js';
import { extendOrderHold } from '../orders/extend.js';
import { isClosedUnpaid } from '../orders/lifecycle.js';
import { getOrder, latestOrderOf, type Order } from '../orders/order.js';
import type { PlaceOrderResult, RequestedLine } from '../orders/place.js';
import { parseSecondChanceButton } from '../orders/reminders.js';
import { joinWaitlist, stopProactive } from '../waitlist/store.js';
import * as reply from './replies.js';

/**
 * The conversation's side of second chances (docs/second-chances.md): the reminder's buttons ("Pay
 * now", "Keep it", "Cancel"), the released notice's "Order again", "Notify me when back" on a sold-out
 * answer, and the texts "stop" and "order again". Each answer is a message to send, or lines to place
 * anew through the normal placement (handle-message.ts places them as any order).
 */
export type SecondChanceAnswer = { message: OutgoingMessage } | { lines: RequestedLine[] };

const text = (body: string): { message: OutgoingMessage } => ({ message: { type: 'text', body } });
const hhmm = (d: Date | null) => (d ? d.toISOString().slice(11, 16) : '');

/** The waitlist button's id: `notify:<quantity>:<sku>`. */
export const notifyButtonId = (sku: string, quantity: number) => `notify:${quantity}:${sku}`;

/** A reply button of ours (null: not one; handle-message goes on as before). */
export async function answerSecondChanceButton(id: string, customerId: string): Promise<SecondChanceAnswer | null> {
  const notify = /^notify:(\d{1,3}):(.+)$/.exec(id);
  if (notify) return joinAnswer(customerId, notify[2]!, Number(notify[1]));
  const button = parseSecondChanceButton(id);
  if (!button) return null;
  if (button.action === 'keep') return keepAnswer(button.orderId, customerId);
  const order = await getOrder(button.orderId);
  if (!order || order.customerId !== customerId) return { message: reply.choiceExpired() };
  switch (button.action) {
    case 'pay':
      if (order.paymentStatus === 'pending' && order.checkoutUrl) return { message: paymentLinkNotice(order, order.checkoutUrl).message };
      return { message: reply.orderStatus(order) };
    case 'cancel': {
      const closed = await closeOrder(order.id, 'cancelled_by_customer');
      if (closed.result === 'paid' || order.paymentStatus === 'paid') return { message: reply.alreadyPaid(order) };
      return { message: reply.cancelled(closed.result === 'closed' ? order : null) };
    }
    case 'again':
      return againAnswer(order);
  }
}

async function keepAnswer(orderId: string, customerId: string): Promise<SecondChanceAnswer> {
  const r = await extendOrderHold(orderId, customerId);
  switch (r.status) {
    case 'extended':
      return text(`Done: we're holding order ${r.order.reference} for you until ${hhmm(r.until)} UTC.${r.order.checkoutUrl ? `\n\nPay here: ${r.order.checkoutUrl}` : ''}`);
    case 'already':
      return text(`Order ${r.order.reference} was already extended once, so it can't be extended again. It's held until ${hhmm(r.until)} UTC.${r.order.checkoutUrl ? `\n\nPay here: ${r.order.checkoutUrl}` : ''}`);
    case 'paid':
      return text(`Order ${r.order.reference} is already paid, thank you! Nothing more to do.`);
    case 'processing':
      return text(`Your payment for order ${r.order.reference} is being processed, so it doesn't need more time.`);
    case 'closed':
    case 'lapsed':
      return text(`Sorry, the hold on order ${r.order.reference} has already ended and the items were released. Reply "order again" to try to get them again.`);
    case 'no_room':
      return text(`Sorry, order ${r.order.reference} can't be held any longer. Please pay before ${hhmm(r.order.holdExpiresAt)} UTC${r.order.checkoutUrl ? `: ${r.order.checkoutUrl}` : '.'}`);
    case 'busy':
      return text('One moment, we are just updating that order. Please tap the button again in a few seconds.');
    case 'disabled':
    case 'unknown':
      return { message: reply.choiceExpired() };
  }
}

/** "Order again": the same lines, placed anew (a paid or still open order is not reordered from here). */
function againAnswer(order: Order): SecondChanceAnswer {
  if (order.paymentStatus === 'pending' && order.checkoutUrl) return { message: paymentLinkNotice(order, order.checkoutUrl).message };
  if (!isClosedUnpaid(order.paymentStatus)) return { message: reply.orderStatus(order) };
  return { lines: order.items.map((i) => ({ sku: i.sku, quantity: i.quantity })) };
}

/** The text "order again": the customer's latest order, when it ended unpaid. */
export async function answerOrderAgain(customerId: string): Promise<SecondChanceAnswer> {
  const latest = await latestOrderOf(customerId);
  if (!latest) return { message: reply.orderStatus(null) };
  return againAnswer(latest);
}

async function joinAnswer(customerId: string, sku: string, quantity: number): Promise<SecondChanceAnswer> {
  // A button id is the sender's input: only a product we sell gets a waitlist.
  const variant = (await cachedSellableVariants()).find((v) => v.sku === sku);
  if (!variant) return { message: reply.choiceExpired() };
  const max = getConfig().WAITLIST_MAX_PER_CUSTOMER;
  const q = Math.min(Math.max(1, quantity), getConfig().MAX_QUANTITY_PER_LINE);
  const r = await joinWaitlist(customerId, sku, q, max);
  if (r.status === 'cap') return text(`You're already on ${max} waitlists, the most we keep per customer. Reply "stop" to leave them all.`);
  const place = r.position === 1 ? "You're first in line." : `You're number ${r.position} in line.`;
  return text(
    `${r.status === 'joined' ? 'Done' : 'You are already on the list'}: we'll message you as soon as ${variant.displayName} is back, and hold it for you for ${Math.round(getConfig().WAITLIST_HOLD_SECONDS / 60)} minutes. ${place} Reply "stop" to leave the waitlist.`,
  );
}

/** "stop": off every waitlist, no reminders or offers any more. */
export async function answerStop(customerId: string): Promise<SecondChanceAnswer> {
  const removed = await stopProactive(customerId);
  return text(
    `OK, we won't send you reminders or back-in-stock messages any more${removed ? ` and you've left ${removed} waitlist${removed > 1 ? 's' : ''}` : ''}. You can still order any time: type "menu".`,
  );
}

/**
 * A sold-out answer with "Notify me when back" (one button per sold-out SKU, at most Meta's 3). `soldOut`:
 * the SKUs with nothing left and the quantity asked for. Unchanged when nothing is sold out.
 */
export function withWaitlistOffer(message: OutgoingMessage, soldOut: { sku: string; name: string; quantity: number }[]): OutgoingMessage {
  if (soldOut.length === 0 || message.type !== 'text') return message;
  const offers = soldOut.slice(0, LIMITS.replyButtons);
  const buttons = offers.map((s) => ({
    id: notifyButtonId(s.sku, s.quantity),
    title: offers.length === 1 ? 'Notify me when back' : clip(`Notify: ${s.name}`, LIMITS.buttonTitle),
  }));
  return { type: 'buttons', body: clip(message.body, LIMITS.interactiveBody), footer: "Tap to be told when it's back", buttons };
}

/** The sold-out SKUs of a refused placement. */
export function soldOutOf(result: PlaceOrderResult, lines: RequestedLine[]): { sku: string; name: string; quantity: number }[] {
  if (result.status !== 'out_of_stock') return [];
  return result.shortages.filter((s) => s.available <= 0).map((s) => ({ sku: s.sku, name: s.name, quantity: lines.find((l) => l.sku === s.sku)?.quantity ?? 1 }));
}
