import { inviteChatUrl, inviteUrl } from '../invites/links.js';
import { formatMoney } from '../money.js';
import { messageKeys } from './keys.js';
import type { OutgoingMessage } from './messages.js';
import type { Notice } from './record.js';
import { buildTemplate } from './templates.js';
import { windowed } from './window.js';

/**
 * What the shop tells a customer about their order, each keyed by its business event (./keys.ts)
 * so it goes out once per order whatever route sends it. Free-form texts follow the 24-hour rule
 * through `windowed` (the template outside the window, or as fallback inside it).
 *   confirmation      template order_confirmed [reference, amount, note]
 *   invite link       text with the link (+ wa.me link), template order_invite_link outside the window
 *   refund            paid too late, stock gone, money returned (hold_expired outside the window)
 *   full refund       a refund made in Stripe reached the total (text only: no template says this)
 *   closed            expired / payment failed / cancelled before payment (hold_expired outside)
 *   cancelled by shop a paid order cancelled and refunded by the shop (hold_expired outside)
 *   shipped           template order_shipped; offline payment: template offline_payment
 *   ready for pickup  a pickup order's "shipped" (same key): text, template order_ready_for_pickup outside the window
 *   delivered         text (picked up / delivered), template order_delivered outside the window
 */

/** The order facts a notice needs (structurally an Order). */
export type NoticeOrder = {
  id: string;
  reference: string;
  customerId: string;
  customerName: string | null;
  totalMinor: number;
  currency: string;
  items: { quantity: number; name: string; lineTotalMinor: number }[];
  holdExpiresAt: Date | null;
  /** Fulfilment (lib/orders/shipping.ts): a delivery's shipping is chosen, and added, at Checkout. */
  shippingMode?: 'none' | 'delivery' | 'pickup';
};

export const CONFIRMATION_NOTE = "We'll message you here as soon as it ships.";
export const INVITE_TEXT_PREFIX = 'Please forward this link to your elder for direct chat: ';

const text = (body: string): OutgoingMessage => ({ type: 'text', body });
const amountOf = (o: NoticeOrder) => formatMoney(o.totalMinor, o.currency);
/** Outside the window no free-form text may go out; hold_expired is the approved template that says the items were released. */
const releasedTemplate = (o: NoticeOrder) => buildTemplate('hold_expired', { body: [o.reference] });

function notice(o: NoticeOrder, eventKey: string, kind: string, sent: { message: OutgoingMessage; fallback?: OutgoingMessage | null }): Notice {
  return { eventKey, kind, customerId: o.customerId, orderId: o.id, message: sent.message, fallback: sent.fallback ?? null };
}

/** `arrival`: how and when what was paid for arrives (or where to pick it up), lib/orders/shipping.ts arrivalText. */
export function confirmationNotice(o: NoticeOrder, arrival?: string | null): Notice {
  const message = buildTemplate('order_confirmed', { body: [o.reference, amountOf(o), arrival ?? CONFIRMATION_NOTE] });
  return notice(o, messageKeys.confirmation(o.id), 'order_confirmed', { message });
}

export function inviteLinkNotice(o: NoticeOrder, token: string, inside: boolean): Notice {
  const link = inviteUrl(token);
  const body = `${INVITE_TEXT_PREFIX}${link}\n\nOr they can open the chat directly: ${inviteChatUrl(o.reference, token)}`;
  return notice(o, messageKeys.inviteLink(o.id), 'invite_link', windowed(inside, text(body), buildTemplate('order_invite_link', { body: [o.reference, link] }))!);
}

export function refundNotice(o: NoticeOrder, inside: boolean): Notice {
  const body = `We're so sorry: your payment for order ${o.reference} arrived after your reservation had ended, and the items sold out in the meantime. We've refunded the full ${amountOf(o)} to your payment method (it can take a few days to show). Type "menu" to see what's available now.`;
  return notice(o, messageKeys.refund(o.id), 'refund_notice', windowed(inside, text(body), releasedTemplate(o))!);
}

/** A full refund made in Stripe: inside the window only (no approved template says this; the shop's alert says the customer was not told). */
export function fullRefundNotice(o: NoticeOrder, inside: boolean): Notice | null {
  const body = `Your payment of ${amountOf(o)} for order ${o.reference} has been refunded in full. It can take a few days to show on your statement. If you have any questions, just reply here.`;
  const sent = windowed(inside, text(body), null);
  return sent ? notice(o, messageKeys.refund(o.id), 'refund_notice', sent) : null;
}

export type ClosedStatus = 'expired' | 'payment_failed' | 'cancelled';

export function closedNotice(o: NoticeOrder, status: ClosedStatus, inside: boolean): Notice {
  const body: Record<ClosedStatus, string> = {
    expired: `Your order ${o.reference} wasn't paid in time, so we've released the items. Nothing was charged. Tap "Order again" to get the same items (if they're still available), or type "menu".`,
    payment_failed: `Sorry, the payment for order ${o.reference} didn't go through, so we've released the items. Nothing was charged. Tap "Order again" to try again, or type "menu".`,
    cancelled: `Your order ${o.reference} has been cancelled and the items were released. Nothing was charged. Type "menu" whenever you'd like to order again.`,
  };
  // Released unpaid (not cancelled on purpose): "Order again" places the same lines anew (docs/second-chances.md;
  // the id is lib/orders/reminders.ts secondChanceButton('again', …)).
  const message: OutgoingMessage =
    status === 'cancelled' ? text(body[status]) : { type: 'buttons', body: body[status], buttons: [{ id: `sc:again:${o.id}`, title: 'Order again' }] };
  return notice(o, messageKeys.closed(o.id), 'order_closed', windowed(inside, message, releasedTemplate(o))!);
}

/** The shop cancelled a paid order: refunded through Stripe, or returned by the shop for an offline payment. */
export function cancelledByShopNotice(o: NoticeOrder, method: 'stripe' | 'offline', inside: boolean): Notice {
  const body =
    method === 'stripe'
      ? `Your order ${o.reference} has been cancelled by us. We've refunded the full ${amountOf(o)} to your payment method (it can take a few days to show). Sorry for the trouble!`
      : `Your order ${o.reference} has been cancelled by us. We'll return your payment of ${amountOf(o)} to you directly. Sorry for the trouble!`;
  return notice(o, messageKeys.cancelledByShop(o.id), 'order_cancelled', windowed(inside, text(body), releasedTemplate(o))!);
}

export function firstName(profileName: string | null | undefined): string {
  return profileName?.trim().split(/\s+/)[0] || 'there';
}

/** Template order_shipped: header = reference, body = first name, URL button = the tracking suffix. Throws TemplateParameterError. */
export function shippedNotice(o: Pick<NoticeOrder, 'id' | 'reference' | 'customerId' | 'customerName'>, trackingSuffix: string): Notice {
  const message = buildTemplate('order_shipped', { header: [o.reference], body: [firstName(o.customerName)], urlButton: [trackingSuffix] });
  return { eventKey: messageKeys.shipped(o.id), kind: 'order_shipped', customerId: o.customerId, orderId: o.id, message };
}

/** A pickup order is ready: keyed as "shipped" (one or the other per order, once). */
export function readyForPickupNotice(o: NoticeOrder, pickup: { address: string; hours: string }, inside: boolean): Notice {
  const body = `Good news: your order ${o.reference} is ready for pickup at ${pickup.address} (${pickup.hours}). Please bring the order number ${o.reference} with you.`;
  const template = buildTemplate('order_ready_for_pickup', { body: [o.reference, pickup.address, pickup.hours] });
  return notice(o, messageKeys.shipped(o.id), 'order_ready_for_pickup', windowed(inside, text(body), template)!);
}

/** Delivered (by the carrier's word or the shop's), or a pickup order collected. */
export function deliveredNotice(o: NoticeOrder, pickup: boolean, inside: boolean): Notice {
  const body = pickup
    ? `Thanks for picking up your order ${o.reference}! Enjoy it, and reply here if anything is wrong with it.`
    : `Your order ${o.reference} has been delivered. Enjoy it, and reply here if anything is wrong with it.`;
  return notice(o, messageKeys.delivered(o.id), 'order_delivered', windowed(inside, text(body), buildTemplate('order_delivered', { body: [o.reference] }))!);
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** "25 Nov 2026" (UTC date of the payment): unambiguous in every locale. */
export function formatPaidDate(d: Date): string {
  return `${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()}`;
}

/** Template offline_payment [name, amount, date]. Throws TemplateParameterError. */
export function offlinePaymentNotice(p: { reference: string; customerId: string; orderId: string | null; name: string; amountMinor: number; currency: string; paidAt: Date }): Notice {
  const message = buildTemplate('offline_payment', { body: [p.name, formatMoney(p.amountMinor, p.currency), formatPaidDate(p.paidAt)] });
  return { eventKey: messageKeys.offlinePayment(p.reference), kind: 'offline_payment', customerId: p.customerId, orderId: p.orderId, message };
}

export function orderSummaryLines(o: Pick<NoticeOrder, 'items' | 'totalMinor' | 'currency'>): string {
  const lines = o.items.map((i) => `• ${i.quantity} × ${i.name}: ${formatMoney(i.lineTotalMinor, o.currency)}`);
  return `${lines.join('\n')}\nTotal: ${formatMoney(o.totalMinor, o.currency)}`;
}

export function paymentLinkNotice(o: NoticeOrder, url: string): Notice {
  const until = o.holdExpiresAt ? `\n\nWe are holding these for you until ${o.holdExpiresAt.toISOString().slice(11, 16)} UTC.` : '';
  const message: OutgoingMessage = {
    type: 'cta_url',
    header: `Order ${o.reference}`,
    body: `${orderSummaryLines(o)}${o.shippingMode === 'delivery' ? '\nPlus shipping: enter your address and choose how it comes at checkout.' : ''}${until}\nPay securely with the button below.`,
    footer: 'Reply "cancel" to cancel this order',
    displayText: 'Pay now',
    url,
  };
  return notice(o, messageKeys.paymentLink(o.id), 'payment_link', { message });
}

/** The customer who forwarded the invite link hears once that someone joined (free-form only: no template says this). */
export function inviteJoinedNotice(o: NoticeOrder, joinedName: string | null, inside: boolean): Notice | null {
  const body = `${joinedName ?? 'Someone'} joined the chat about your order ${o.reference} through the link you shared. We'll take good care of them.`;
  const sent = windowed(inside, text(body), null);
  return sent ? notice(o, messageKeys.inviteJoined(o.id), 'invite_joined', sent) : null;
}
