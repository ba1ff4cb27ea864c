import { db, type Query } from '../db.js';
import { insideWindow } from '../messaging/window.js';
import type { PaymentStatus } from './lifecycle.js';
import type { ShippingAddress, ShippingChoice, ShippingMode, ShippingRate } from './shipping.js';

/**
 * The orders store's row of an order (part of lib/orders/store.ts, tests/architecture-tables.test.ts): the Order type,
 * the columns it is read from (orderColumns), the mapping (toOrder) and the plain reads. A column the domain needs is
 * added here (type, orderColumns, toOrder) and in its migration; lib/orders/order.ts re-exports these names.
 */

export type OrderItem = { sku: string; name: string; quantity: number; unitPriceMinor: number; lineTotalMinor: number; weightGrams?: number };
export type Order = {
  id: string;
  reference: string;
  customerId: string;
  /** The customer's phone (wa_id digits) and business-scoped user ID: at least one is known. */
  customerWaId: string | null;
  customerUserId: string | null;
  customerName: string | null;
  source: 'whatsapp' | 'api';
  items: OrderItem[];
  totalMinor: number;
  currency: string;
  paymentStatus: PaymentStatus;
  fulfillmentStatus: 'unfulfilled' | 'shipped' | 'delivered';
  stripeSessionId: string | null;
  checkoutUrl: string | null;
  holdExpiresAt: Date | null;
  createdAt: Date;
  stripePaymentIntent: string | null;
  /** Set once the money went back (our refund recorded, or Stripe's refunds reached the total). */
  refundedAt: Date | null;
  /** Inside the customer's 24-hour window when read (free-form messages allowed). */
  insideWindow: boolean;
  /** Fulfilment (./shipping.ts): how it reaches the customer; the address and rate once known (paid, or given by the order API). */
  shippingMode: ShippingMode;
  shippingChoice: ShippingChoice | null;
  shippingName: string | null;
  shippingAddress: ShippingAddress | null;
  shippingRate: ShippingRate | null;
  /** Items total; shipping and tax as paid (0 until then); totalMinor is items + shipping + tax once paid. */
  itemsMinor: number;
  shippingMinor: number;
  taxMinor: number;
  shippingProblem: string | null;
  carrier: string | null;
  trackingUrl: string | null;
};

/** The columns toOrder() reads, for an orders alias joined with customers as c. */
export const orderColumns = (o = 'o') =>
  `${o}.id, ${o}.reference, ${o}.customer_id, c.wa_id AS customer_wa_id, c.bsuid AS customer_user_id, c.profile_name AS customer_name, ${o}.source, ${o}.items,
   ${o}.total_minor, ${o}.currency, ${o}.payment_status, ${o}.fulfillment_status, ${o}.stripe_session_id, ${o}.checkout_url,
   ${o}.hold_expires_at, ${o}.created_at, ${o}.stripe_payment_intent, ${o}.refunded_at, c.last_inbound_at AS customer_last_inbound_at,
   ${o}.shipping_mode, ${o}.shipping_choice, ${o}.shipping_name, ${o}.shipping_address, ${o}.shipping_rate, ${o}.items_minor, ${o}.shipping_minor,
   ${o}.tax_minor, ${o}.shipping_problem, ${o}.carrier, ${o}.tracking_url`;

/** The order `orderId` (SQL expression over `from`) as one row of orderColumns (+ `extra` columns), to end another owner's statement. */
export const orderRowSql = (p: { orderId: string; from: string; extra?: string }) =>
  `SELECT ${orderColumns()}${p.extra ? `, ${p.extra}` : ''} FROM ${p.from} JOIN orders o ON o.id = ${p.orderId} JOIN customers c ON c.id = o.customer_id`;

/** Whether `customer` (SQL expression) is not the buyer of the order `orderId` (SQL expression). */
export const notBuyerSql = (customer: string, orderId: string) => `${customer} <> (SELECT customer_id FROM orders WHERE id = ${orderId})`;

export function toOrder(r: Record<string, unknown>): Order {
  return {
    id: r.id as string,
    reference: r.reference as string,
    customerId: r.customer_id as string,
    customerWaId: (r.customer_wa_id as string | null) ?? null,
    customerUserId: (r.customer_user_id as string | null) ?? null,
    customerName: (r.customer_name as string | null) ?? null,
    source: r.source as Order['source'],
    items: r.items as OrderItem[],
    totalMinor: Number(r.total_minor),
    currency: (r.currency as string).trim(),
    paymentStatus: r.payment_status as PaymentStatus,
    fulfillmentStatus: r.fulfillment_status as Order['fulfillmentStatus'],
    stripeSessionId: (r.stripe_session_id as string | null) ?? null,
    checkoutUrl: (r.checkout_url as string | null) ?? null,
    holdExpiresAt: r.hold_expires_at ? new Date(r.hold_expires_at as string) : null,
    createdAt: new Date(r.created_at as string),
    stripePaymentIntent: (r.stripe_payment_intent as string | null) ?? null,
    refundedAt: r.refunded_at ? new Date(r.refunded_at as string) : null,
    insideWindow: insideWindow(r.customer_last_inbound_at as string | null),
    shippingMode: (r.shipping_mode as ShippingMode | undefined) ?? 'none',
    shippingChoice: (r.shipping_choice as ShippingChoice | null) ?? null,
    shippingName: (r.shipping_name as string | null) ?? null,
    shippingAddress: (r.shipping_address as ShippingAddress | null) ?? null,
    shippingRate: (r.shipping_rate as ShippingRate | null) ?? null,
    itemsMinor: r.items_minor == null ? Number(r.total_minor) : Number(r.items_minor),
    shippingMinor: Number(r.shipping_minor ?? 0),
    taxMinor: Number(r.tax_minor ?? 0),
    shippingProblem: (r.shipping_problem as string | null) ?? null,
    carrier: (r.carrier as string | null) ?? null,
    trackingUrl: (r.tracking_url as string | null) ?? null,
  };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** An order id as we issue them; anything else (another type from a hostile body included) is not. */
export const isOrderId = (s: unknown): s is string => typeof s === 'string' && UUID.test(s);

/** The one read of an order as a statement not run yet (a flow fuses it into a round trip of its own); rows for toOrder. */
export const orderQuery = (orderId: string): Query =>
  db().query(`SELECT ${orderColumns()} FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.id = $1`, [orderId]) as unknown as Query;

/** The one read of an order (null for an unknown or malformed id). */
export async function getOrder(orderId: string): Promise<Order | null> {
  if (!isOrderId(orderId)) return null;
  const rows = await orderQuery(orderId);
  return rows[0] ? toOrder(rows[0]) : null;
}

/**
 * Many orders in one read (a cleanup batch), each with whether its hold still runs per Postgres (`holdLive`: extended
 * and not yet run out: "Keep it" happened after the caller found it lapsed). Unknown or malformed ids are absent.
 */
export async function getOrdersWithHold(orderIds: string[]): Promise<Map<string, { order: Order; holdLive: boolean }>> {
  const ids = orderIds.filter(isOrderId);
  if (ids.length === 0) return new Map();
  const rows = await db().query(
    `SELECT ${orderColumns()}, (o.hold_extended_at IS NOT NULL AND o.hold_expires_at > now()) AS hold_live FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.id = ANY($1::uuid[])`,
    [ids],
  );
  return new Map(rows.map((r) => [r.id as string, { order: toOrder(r), holdLive: r.hold_live === true }]));
}

export async function latestOrderOf(customerId: string): Promise<Order | null> {
  const rows = await db().query(
    `SELECT ${orderColumns()} FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.customer_id = $1 ORDER BY o.created_at DESC LIMIT 1`,
    [customerId],
  );
  return rows[0] ? toOrder(rows[0]) : null;
}


/** The customer's latest order still waiting for payment, if any. */
export async function openOrderOf(customerId: string): Promise<Order | null> {
  const [row] = await db().query(
    `SELECT ${orderColumns()} FROM orders o JOIN customers c ON c.id = o.customer_id
     WHERE o.customer_id = $1 AND o.payment_status = 'pending' ORDER BY o.created_at DESC LIMIT 1`,
    [customerId],
  );
  return row ? toOrder(row) : null;
}

/** Unpaid orders whose hold of any of these SKUs is still live, newest first (the ones a stock cut releases first). */
export async function pendingOrdersHolding(skus: string[]): Promise<Order[]> {
  if (skus.length === 0) return [];
  const rows = await db().query(
    `SELECT ${orderColumns()} FROM orders o JOIN customers c ON c.id = o.customer_id
     WHERE o.payment_status = 'pending' AND o.hold_expires_at > now()
       AND EXISTS (SELECT 1 FROM jsonb_array_elements(o.items) i WHERE i->>'sku' = ANY($1::text[]))
     ORDER BY o.created_at DESC, o.id DESC`,
    [skus],
  );
  return rows.map(toOrder);
}
