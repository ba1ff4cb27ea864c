import { db } from '../db.js';
import type { Claimed } from '../messaging/outbox.js';
import { claimedFrom, claimedSendsSql, outboxCte, outboxRows, type Notice } from '../messaging/record.js';
import { statusesFor } from './lifecycle.js';

/**
 * The orders store's fulfilment changes (lib/admin/fulfilment.ts, shipped.ts): shipped, delivered, the delivery
 * address corrected. Each ONE statement whose conditional UPDATE is the gate, with its event, its answer and its
 * notices, as every change of an order (./store.ts).
 */

const json = (v: unknown) => JSON.stringify(v);

export type Shipping = { shippedAt: string; carrier: string | null; trackingUrl: string | null; trackingSlug: string };

/**
 * delivered: a paid, shipped order is delivered (a pickup order: collected) once, with its event (who said so: staff or
 * the carrier's tracking status) and the customer's notice.
 */
export async function storeDelivered(orderId: string, data: Record<string, unknown>, notices: Notice[]): Promise<boolean> {
  const rows = await db().query(
    `WITH updated AS (
       UPDATE orders SET fulfillment_status = 'delivered', delivered_at = now(), updated_at = now()
       WHERE id = $1 AND payment_status = ANY($2::text[]) AND fulfillment_status = 'shipped'
       RETURNING id
     ), event AS (
       INSERT INTO order_events (order_id, type, data) SELECT id, 'delivered', $3::jsonb FROM updated
     ), outbox AS (
       ${outboxCte('$4')}
     )
     SELECT id FROM updated`,
    [orderId, statusesFor('delivered'), json(data), outboxRows(notices)],
  );
  return rows.length > 0;
}

/**
 * Staff corrected the delivery address before the order shipped: the address, the name, an address problem cleared,
 * and the timeline's event (old and new) in one statement; nothing once it shipped (or for an order that ships nothing).
 */
export async function storeShippingAddress(orderId: string, name: string | null, address: Record<string, unknown>, data: Record<string, unknown>): Promise<boolean> {
  const rows = await db().query(
    `WITH before AS (
       SELECT id, shipping_name, shipping_address FROM orders WHERE id = $1 FOR UPDATE
     ), updated AS (
       UPDATE orders o SET shipping_address = $3::jsonb, shipping_name = COALESCE($2, o.shipping_name), shipping_mode = 'delivery',
              shipping_problem = NULL, updated_at = now()
       FROM before WHERE o.id = before.id AND o.fulfillment_status = 'unfulfilled' AND o.shipping_mode <> 'none'
         AND o.payment_status NOT IN ('refunded', 'expired', 'cancelled', 'payment_failed')
       RETURNING o.id
     ), event AS (
       INSERT INTO order_events (order_id, type, data)
       SELECT updated.id, 'shipping_address_changed', $4::jsonb || jsonb_build_object('from', jsonb_build_object('name', before.shipping_name, 'address', before.shipping_address))
       FROM updated, before
     )
     SELECT id FROM updated`,
    [orderId, name, json(address), json(data)],
  );
  return rows.length > 0;
}

/**
 * shipped: a paid, unfulfilled order with no refund decided ships once (the gate: a concurrent cancel's refund decision and
 * this write exclude each other), with its event, the admin answer (stored under its key) and the customer's notice,
 * recorded already claimed for the caller to send (deliverClaimed, after its answer). Null when the order did not ship.
 */
export async function storeShipped(orderId: string, s: Shipping, answer: { key: string; hash: string; body: unknown }, notices: Notice[]): Promise<Claimed[] | null> {
  const rows = await db().query(
    `WITH updated AS (
       UPDATE orders SET fulfillment_status = 'shipped', shipped_at = $2, carrier = $3, tracking_url = $4, tracking_slug = $5, updated_at = now()
       WHERE id = $1 AND payment_status = ANY($6::text[]) AND fulfillment_status = 'unfulfilled'
         AND NOT EXISTS (SELECT 1 FROM order_events e WHERE e.order_id = orders.id AND e.type = 'refund_required')
       RETURNING id
     ), event AS (
       INSERT INTO order_events (order_id, type, data)
       SELECT id, 'shipped', jsonb_build_object('carrier', $3::text, 'trackingUrl', $4::text, 'trackingSlug', $5::text) FROM updated
     ), answer AS (
       INSERT INTO admin_requests (idempotency_key, request_hash, status, response)
       SELECT $7, $8, 200, $9 FROM updated
       ON CONFLICT (idempotency_key) DO NOTHING
     ), outbox AS (
       ${outboxCte('$10', { claim: true })}
     )
     SELECT id, ${claimedSendsSql('outbox')} AS sends FROM updated`,
    [orderId, s.shippedAt, s.carrier, s.trackingUrl, s.trackingSlug, statusesFor('shipped'), answer.key, answer.hash, json(answer.body), outboxRows(notices)],
  );
  return rows[0] ? claimedFrom(rows[0].sends, notices) : null;
}
