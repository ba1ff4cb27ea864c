import { z } from '../zod.js';
import { log } from '../log.js';
import { messageKeys } from '../messaging/keys.js';
import { shippedNotice } from '../messaging/order-notices.js';
import { deliverClaimed, deliverRecorded, sendQuietly } from '../messaging/record.js';
import { isOrderId, type Order } from '../orders/order.js';
import { storeShipped } from '../orders/store-fulfilment.js';
import { invalidRequest, notFound } from '../errors.js';
import { stateConflict, type AdminResult } from './result.js';
import { requestHash, sha256, storedAnswerAndOrder } from './idempotency.js';

/**
 * POST /api/orders/:id/shipped — the order ships once and the customer hears it once.
 *
 * The business event is "shipped:<orderId>": its sha256 keys both the stored answer
 * (admin_requests) and the outbox row of the order_shipped template. One statement moves the
 * order to `shipped` (only from paid + unfulfilled with no refund decided: concurrent calls, and a
 * concurrent cancel's refund decision, find nothing to update; the loser answers 409 with the order's state),
 * stores the tracking, the order_events row, the answer and the outbox row of the message (lib/orders/store.ts
 * storeShipped); every call, first or replay, then sends it if it is still unsent, after its answer (AdminResult
 * `after`), so a crash between the two is healed by the shop's retry or the cleanup run's outbox retry. Replays
 * answer the stored body with `replayed`. Two Postgres round trips before the answer: the stored answer and the
 * order in one read, then that statement (docs/scale.md "Staff actions").
 *
 * Template order_shipped: header {{1}} = order reference, body {{1}} = customer's first name
 * (first word of the WhatsApp profile name, "there" when unknown), URL button 0 {{1}} = the
 * tracking suffix: `trackingSlug` as given, or for `trackingUrl` its path + query without the
 * leading "/" — i.e. relative to the origin, so the template's button URL must be submitted as
 * `https://<tracking host>/{{1}}`. (With a button base that has a path of its own, send trackingSlug.)
 */

const suffixShape = /^[^\s]+$/;

export const shippedRequest = z
  .object({
    trackingSlug: z.string().trim().min(1).max(500).regex(suffixShape, 'must not contain spaces').optional(),
    trackingUrl: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).max(2000).optional(),
    carrier: z.string().trim().min(1).max(100).optional(),
  })
  .strict()
  .superRefine((v, ctx) => {
    if (!v.trackingSlug === !v.trackingUrl)
      ctx.addIssue({ code: 'custom', path: ['trackingSlug'], message: 'give exactly one of trackingSlug or trackingUrl' });
  });
export type ShippedRequest = z.infer<typeof shippedRequest>;

export const shippedEventKey = messageKeys.shipped;

export function trackingSuffix(input: ShippedRequest): string {
  if (input.trackingSlug) return input.trackingSlug.replace(/^\/+/, '');
  const u = new URL(input.trackingUrl!);
  const suffix = `${u.pathname.replace(/^\/+/, '')}${u.search}`;
  if (!suffix) throw invalidRequest([{ path: 'trackingUrl', message: 'has no path or query to use as the tracking suffix' }]);
  return suffix;
}

export { firstName } from '../messaging/order-notices.js';

function shippedNoticeOf(order: Pick<Order, 'id' | 'reference' | 'customerId' | 'customerName'>, suffix: string) {
  return shippedNotice(order, suffix); // a TemplateParameterError is the refusal itself (invalid, template_parameters)
}

/** Sends the shipped message if it is recorded and not sent yet. */
const ensureShippedMessage = (orderId: string) => sendQuietly('shipped', orderId, () => deliverRecorded([messageKeys.shipped(orderId)]))();

export async function markShipped(orderId: string, input: ShippedRequest): Promise<AdminResult> {
  if (!isOrderId(orderId)) throw notFound('order');
  const eventKey = shippedEventKey(orderId);
  const key = sha256(eventKey);
  const hash = requestHash({ trackingSlug: input.trackingSlug ?? null, trackingUrl: input.trackingUrl ?? null, carrier: input.carrier ?? null });

  // Round trip 1: the stored answer and the order.
  const { stored, order } = await storedAnswerAndOrder(key, hash, orderId);
  if (stored) return { ...stored, after: () => ensureShippedMessage(orderId) };
  if (!order) throw notFound('order');
  if (order.shippingMode === 'pickup') throw stateConflict('pickup_order', 'a pickup order is not shipped: POST /api/orders/:id/ready-for-pickup', order);
  const suffix = trackingSuffix(input);
  const notice = shippedNoticeOf(order, suffix); // validates the parameters before anything changes

  const shipping = { shippedAt: new Date().toISOString(), carrier: input.carrier ?? null, trackingUrl: input.trackingUrl ?? null, trackingSlug: suffix };
  const body = {
    orderId: order.id,
    reference: order.reference,
    fulfillmentStatus: 'shipped',
    ...shipping,
    notification: { eventKey, template: notice.message.type === 'template' ? notice.message.name : null },
  };
  // Round trip 2: the conditional write, with the answer and the notice (recorded claimed: sent after the answer).
  const claimed = await storeShipped(orderId, shipping, { key, hash, body }, [notice]);
  if (!claimed) {
    // Someone else shipped it meanwhile (their answer stands), or the order can't ship.
    const again = await storedAnswerAndOrder(key, hash, orderId);
    if (again.stored) return { ...again.stored, after: () => ensureShippedMessage(orderId) };
    const now = again.order ?? order;
    if (now.fulfillmentStatus !== 'unfulfilled') throw stateConflict('already_shipped', 'the order was already marked shipped', now);
    if (now.paymentStatus === 'paid') throw stateConflict('refund_decided', 'a refund of this order was decided (a cancel is refunding it); it cannot ship', now);
    throw stateConflict('order_not_paid', `only a paid order can ship (this one is ${now.paymentStatus})`, now);
  }
  log.info('order.shipped', { orderId, carrier: input.carrier ?? null });
  // The notice just recorded (claimed by this call) is in hand: sent after the answer, without reading it back.
  return { status: 200, body, replayed: false, after: sendQuietly('shipped', orderId, () => deliverClaimed(claimed)) };
}
