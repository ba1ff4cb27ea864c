import { SELLABLE_LINES_SQL } from '../catalog/store.js';
import { CUSTOMER_OR_SURVIVOR_SQL, FIND_OR_CREATE_CUSTOMER_SQL } from '../customers/store.js';
import { db } from '../db.js';
import { ADDRESSED_SQL, outboxCte } from '../messaging/outbox-store.js';
import { orderColumns } from './store-order.js';

/**
 * The orders store's statements for placing an order (part of lib/orders/store.ts; the steps in ./place.ts): step 1's
 * read (also fused into the inbound recording statement) and step 4's write, the order with its `created` event and
 * its payment link.
 */

/**
 * Step 1's select list for one buyer, given SQL expressions for the buyer's id, the order id, the SKUs
 * and the candidate references: also run by the statement that records an inbound WhatsApp order
 * (lib/conversation/inbound-events.ts), which knows the buyer once it linked the sender.
 */
export const placementReadSql = (e: { buyerId: string; orderId: string; skus: string; references: string }) => `
       (SELECT to_jsonb(x) FROM (SELECT ${orderColumns()} FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.id = ${e.orderId}) x) AS existing,
       ${SELLABLE_LINES_SQL(e.skus)} AS variants,
       (SELECT count(*) FROM orders o WHERE o.customer_id = ${e.buyerId} AND o.payment_status IN ('pending', 'awaiting_payment') AND o.id <> ${e.orderId})::int AS open_orders,
       ARRAY(SELECT reference FROM orders WHERE reference = ANY(${e.references})) AS taken`;

/** Step 1: one statement (the customer found or created when given by identity: a write, so not a read-only batch). */
export async function readForPlacement(orderId: string, customer: { id?: string; waId: string | null; userId: string | null; profileName: string | null }, skus: string[], references: string[]): Promise<Record<string, unknown>> {
  const buyer = customer.id
    ? { sql: 'SELECT $4::uuid AS id, NULL::text AS conflict', params: [customer.id] }
    : { sql: `SELECT id, conflict FROM ${FIND_OR_CREATE_CUSTOMER_SQL('$4', '$5', '$6')}`, params: [customer.waId, customer.userId, customer.profileName] };
  const [row] = await db().query(
    `WITH buyer AS (${buyer.sql})
     SELECT b.id, b.conflict, ${placementReadSql({ buyerId: 'b.id', orderId: '$1', skus: '$2::text[]', references: '$3::text[]' })}
     FROM buyer b`,
    [orderId, skus, references, ...buyer.params],
  );
  return row!;
}

/** A pending order as step 4 writes it (items as JSON, the total in minor units). */
export type PendingOrderRow = {
  id: string;
  reference: string;
  customerId: string;
  source: string;
  sourceKey: string;
  items: string;
  total: number;
  currency: string;
  holdExpiresAt: string;
  sessionId: string;
  sessionUrl: string;
  /** outboxRows of the payment link (none or one), recorded claimed. */
  link: string;
  maxOpen: number;
  shippingMode: string;
  shippingChoice: string | null;
};

/**
 * Step 4's write, in one transaction (one round trip): a transaction-level advisory lock on the customer, then the
 * order (only while the customer has fewer than `maxOpen` other open orders), its `created` event and its claimed
 * payment link. Returns the order's row (orderColumns) with `payment_link` (the claimed row, addressed) and
 * `open_orders`, or only `open_orders` when nothing was inserted.
 */
export async function insertPendingOrderRow(o: PendingOrderRow): Promise<Record<string, unknown> | undefined> {
  const [, rows] = await db().transaction([
    db()`SELECT pg_advisory_xact_lock(hashtextextended(${`open-orders:${o.customerId}`}, 0))`,
    db().query(
      `WITH customer AS (
         -- The customer may have been merged into another row meanwhile (a webhook linked their
         -- phone and BSUID): the order goes to the survivor, whose 'merged' event names this id.
         ${CUSTOMER_OR_SURVIVOR_SQL('$2')}
       ), open AS (
         SELECT count(*)::int AS n FROM orders o, customer
         WHERE o.customer_id = customer.id AND o.payment_status IN ('pending', 'awaiting_payment') AND o.id <> $1
       ), inserted AS (
         INSERT INTO orders (id, reference, customer_id, source, source_key, items, total_minor, currency, hold_expires_at, stripe_session_id, checkout_url,
                             shipping_mode, shipping_choice, shipping_name, shipping_address)
         SELECT $1, $3, customer.id, $4, $5, $6::jsonb, $7, $8, $9, $10, $11, $14, $15::jsonb, $15::jsonb->>'name', $15::jsonb->'address'
         FROM customer, open WHERE open.n < $13
         ON CONFLICT (id) DO NOTHING
         RETURNING *
       ), event AS (
         INSERT INTO order_events (order_id, type, data)
         SELECT id, 'created', jsonb_build_object('source', source, 'holdExpiresAt', hold_expires_at) FROM inserted
       ), link AS (
         ${outboxCte('$12', { source: 'inserted', customerId: 'inserted.customer_id', claim: true })}
       )
       SELECT x.*, (SELECT to_jsonb(a) FROM (${ADDRESSED_SQL('link')}) a) AS payment_link, open.n AS open_orders
       FROM open LEFT JOIN LATERAL (SELECT ${orderColumns()} FROM inserted o, customer c) x ON true`,
      [o.id, o.customerId, o.reference, o.source, o.sourceKey, o.items, o.total, o.currency, o.holdExpiresAt, o.sessionId, o.sessionUrl, o.link, o.maxOpen, o.shippingMode, o.shippingChoice],
    ),
  ]);
  return (rows as Record<string, unknown>[])[0];
}
