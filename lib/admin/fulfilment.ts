import { createHash } from 'node:crypto';
import { getConfig } from '../config.js';
import { log } from '../log.js';
import { messageKeys } from '../messaging/keys.js';
import { deliveredNotice, readyForPickupNotice } from '../messaging/order-notices.js';
import { deliverClaimed, deliverNotices, deliverRecorded, sendQuietly } from '../messaging/record.js';
import { refusal } from '../orders/lifecycle.js';
import { getOrder, isOrderId, type Order } from '../orders/order.js';
import { addressText } from '../orders/shipping.js';
import { addressSchema } from '../orders/shipping-schema.js';
import { recordOrderEvent } from '../orders/store.js';
import { storeDelivered, storeShipped, storeShippingAddress } from '../orders/store-fulfilment.js';
import { z } from '../zod.js';
import { conflict, invalidRequest, notFound } from '../errors.js';
import { requestHash, sha256, storedAnswer } from './idempotency.js';
import type { AdminResult } from './result.js';

/**
 * After payment (docs/fulfilment.md), the staff's and the carrier's fulfilment steps:
 *   POST /api/orders/:id/delivered          staff: a shipped order was delivered (a pickup order: collected)
 *   POST /api/orders/:id/tracking {status}  the carrier's tracking status, posted by the shop: recorded on the
 *                                           timeline; `delivered` delivers the order (once)
 *   POST /api/orders/:id/ready-for-pickup   a paid pickup order is ready: its "shipped", with the pickup notice
 *   PUT  /api/orders/:id/shipping-address   staff correct the delivery address before it ships (409 after)
 * Each transition is one conditional write (lib/orders/store.ts) with its event and its notice in the outbox,
 * keyed by the business event (delivered:<id>, shipped:<id>): exactly once whatever the retries.
 */

const sendRecorded = (orderId: string, key: string) => sendQuietly('fulfilment', orderId, () => deliverRecorded([key]))();

function fulfilmentState(o: Order) {
  return { orderId: o.id, reference: o.reference, paymentStatus: o.paymentStatus, fulfillmentStatus: o.fulfillmentStatus, shippingMode: o.shippingMode };
}

/** Delivered, by staff or the carrier: 200 with the new state; 409 with the current state when it does not apply. */
export async function markDelivered(orderId: string, via: { by: 'staff' | 'carrier'; status?: string }): Promise<AdminResult> {
  if (!isOrderId(orderId)) throw notFound('order');
  const order = await getOrder(orderId);
  if (!order) throw notFound('order');
  const notice = deliveredNotice(order, order.shippingMode === 'pickup', order.insideWindow);
  if (await storeDelivered(orderId, { by: via.by, ...(via.status ? { trackingStatus: via.status } : {}) }, [notice])) {
    log.info('order.delivered', { orderId, by: via.by });
    await sendQuietly('delivered', orderId, () => deliverNotices([notice]))();
    return { status: 200, body: { ...fulfilmentState(order), fulfillmentStatus: 'delivered', changed: true }, replayed: false };
  }
  const now = (await getOrder(orderId)) ?? order;
  if (now.fulfillmentStatus === 'delivered') {
    // Delivered already (a carrier's retry): its notice is sent if still unsent; nothing else happens.
    await sendRecorded(orderId, messageKeys.delivered(orderId));
    if (via.by === 'carrier') return { status: 200, body: { ...fulfilmentState(now), changed: false }, replayed: true };
    throw conflict('already_delivered', 'the order was already delivered', fulfilmentState(now));
  }
  const why = now.paymentStatus !== 'paid' ? refusal(now.paymentStatus, 'delivered')! : 'only a shipped order can be delivered (mark it shipped first)';
  throw conflict('not_deliverable', why, fulfilmentState(now));
}

export const TRACKING_STATUSES = ['pre_transit', 'in_transit', 'out_for_delivery', 'delivered', 'available_for_pickup', 'failure', 'returned'] as const;
export const trackingRequest = z.object({ status: z.enum(TRACKING_STATUSES), carrier: z.string().trim().min(1).max(100).optional(), detail: z.string().trim().max(500).optional() }).strict();

/** The carrier's tracking status, as the shop posts it: on the timeline; `delivered` delivers the order. */
export async function recordTrackingStatus(orderId: string, input: z.infer<typeof trackingRequest>): Promise<AdminResult> {
  if (!isOrderId(orderId)) throw notFound('order');
  if (input.status === 'delivered') return markDelivered(orderId, { by: 'carrier', status: input.status });
  const order = await getOrder(orderId);
  if (!order) throw notFound('order');
  if (order.fulfillmentStatus === 'unfulfilled') throw conflict('not_shipped', 'the order has not shipped yet', fulfilmentState(order));
  await recordOrderEvent(orderId, 'tracking_status', { status: input.status, carrier: input.carrier ?? order.carrier, detail: input.detail ?? null });
  if (input.status === 'failure' || input.status === 'returned') log.warn('order.tracking_problem', { orderId, status: input.status });
  return { status: 200, body: { ...fulfilmentState(order), trackingStatus: input.status, changed: false }, replayed: false };
}

/** A paid pickup order is ready: the fulfilment step `shipped` (once), with the "ready for pickup" notice instead of the tracking template. */
export async function markReadyForPickup(orderId: string): Promise<AdminResult> {
  if (!isOrderId(orderId)) throw notFound('order');
  const key = sha256(`ready-for-pickup:${orderId}`);
  const hash = requestHash({});
  const stored = await storedAnswer(key, hash);
  if (stored) {
    await sendRecorded(orderId, messageKeys.shipped(orderId));
    return stored;
  }
  const order = await getOrder(orderId);
  if (!order) throw notFound('order');
  const pickup = getConfig().SHIPPING_PICKUP;
  if (order.shippingMode !== 'pickup' || !pickup) throw conflict('not_pickup', 'only a pickup order is made ready for pickup (ship the others)', fulfilmentState(order));
  const notice = readyForPickupNotice(order, pickup, order.insideWindow);
  const shipping = { shippedAt: new Date().toISOString(), carrier: null, trackingUrl: null, trackingSlug: 'pickup' };
  const body = { ...fulfilmentState(order), fulfillmentStatus: 'shipped', readyForPickup: true, shippedAt: shipping.shippedAt };
  // The notice is recorded claimed by this write: sent after the answer (the outbox retry covers a crash).
  const claimed = await storeShipped(orderId, shipping, { key, hash, body }, [notice]);
  if (!claimed) {
    const again = await storedAnswer(key, hash);
    if (again) return again;
    const now = (await getOrder(orderId)) ?? order;
    throw conflict(now.fulfillmentStatus !== 'unfulfilled' ? 'already_ready' : 'order_not_paid', now.fulfillmentStatus !== 'unfulfilled' ? 'the order is already ready for pickup' : `only a paid order is made ready (this one is ${now.paymentStatus})`, fulfilmentState(now));
  }
  log.info('order.ready_for_pickup', { orderId });
  return { status: 200, body, replayed: false, after: sendQuietly('ready_for_pickup', orderId, () => deliverClaimed(claimed)) };
}

export const shippingAddressRequest = z.object({ name: z.string().trim().min(1).max(100).optional(), address: addressSchema }).strict();

/** Staff correct the address before the order ships: on the timeline; 409 with the state once shipped. */
export async function correctShippingAddress(orderId: string, input: z.infer<typeof shippingAddressRequest>): Promise<AdminResult> {
  if (!isOrderId(orderId)) throw notFound('order');
  const countries = getConfig().SHIPPING_COUNTRIES;
  if (!countries?.includes(input.address.country))
    throw invalidRequest([{ path: 'address.country', message: `the shop ships to ${countries?.join(', ') ?? 'no country (SHIPPING_COUNTRIES is not set)'}` }]);
  const digest = createHash('sha256').update(JSON.stringify(input)).digest('hex').slice(0, 16);
  const applied = await storeShippingAddress(orderId, input.name ?? null, input.address, { by: 'staff', name: input.name ?? null, address: input.address, change: digest });
  const order = await getOrder(orderId);
  if (!order) throw notFound('order');
  if (!applied) {
    if (order.fulfillmentStatus !== 'unfulfilled') throw conflict('already_shipped', 'the order has shipped: its address can no longer change', fulfilmentState(order));
    throw conflict('no_shipping', order.shippingMode === 'none' ? 'this order ships nothing' : `a ${order.paymentStatus.replaceAll('_', ' ')} order ships nothing`, fulfilmentState(order));
  }
  log.info('order.shipping_address_changed', { orderId, country: input.address.country });
  return { status: 200, body: { ...fulfilmentState(order), shippingName: order.shippingName, shippingAddress: order.shippingAddress, address: addressText(order.shippingAddress) }, replayed: false };
}
