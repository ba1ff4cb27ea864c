import { createHash } from 'node:crypto';

/**
 * Every outbound message is keyed by the business event that causes it, built here and nowhere
 * else; the outbox row's idempotency_key is sha256 of it, so a replay never sends twice.
 */
export const messageKeys = {
  /** The answer to one inbound message (the conversation, an invite contact). */
  reply: (wamid: string) => `reply:${wamid}`,
  /**
   * The answer to media, at most once per customer, sending address and 10-minute bucket (an album gets one).
   * The address (`<phone>|<BSUID>` as the message named them) is part of it: a message from a new number that
   * carries a known BSUID joins that customer (a number change), and its sender is answered too.
   */
  mediaHelp: (customerId: string, sender: string, bucket: number) => `media-help:${customerId}:${sender}:${bucket}`,
  paymentLink: (orderId: string) => `payment-link:${orderId}`,
  confirmation: (orderId: string) => `confirmation:${orderId}`,
  inviteLink: (orderId: string) => `invite-link:${orderId}`,
  /** One refund notice per order, whatever the route (late payment, a full refund in Stripe). */
  refund: (orderId: string) => `refund-notice:${orderId}`,
  closed: (orderId: string) => `order-closed:${orderId}`,
  /** The shop cancelled a paid order (also the admin answer's key). */
  cancelledByShop: (orderId: string) => `cancelled:${orderId}`,
  shipped: (orderId: string) => `shipped:${orderId}`,
  /** Delivered (a pickup order: collected): staff, or the carrier's tracking status. */
  delivered: (orderId: string) => `delivered:${orderId}`,
  inviteJoined: (orderId: string) => `invite-joined:${orderId}`,
  offlinePayment: (reference: string) => `offline-payment:${reference}`,
  /** A staff member's message from the team inbox, keyed by the Idempotency-Key the console made for it (a double click sends once). */
  staff: (customerId: string, idempotencyKey: string) => `staff:${customerId}:${idempotencyKey}`,
  /** The one reminder before an order's hold lapses (docs/second-chances.md). */
  reminder: (orderId: string) => `reminder:${orderId}`,
  /** A back-in-stock offer: the waitlist entry the restocked units reached (one offer per entry). */
  waitlistOffer: (sku: string, customerId: string, entryId: string) => `waitlist:${sku}:${customerId}:${entryId}`,
  /** The template version of a message Meta refused outside the 24-hour window (131047). */
  reengage: (hashedKey: string) => `reengage:${hashedKey}`,
};

/** The order's notices in the order they must reach the customer (an invite link never before its confirmation). */
export const orderNoticeKeys = (orderId: string): string[] => [
  messageKeys.confirmation(orderId),
  messageKeys.inviteLink(orderId),
  messageKeys.refund(orderId),
  messageKeys.closed(orderId),
  messageKeys.cancelledByShop(orderId),
  messageKeys.shipped(orderId),
  messageKeys.delivered(orderId),
];

export function outboxKey(eventKey: string): string {
  return createHash('sha256').update(eventKey).digest('hex');
}
