import { createHash } from 'node:crypto';

/**
 * An order: its id and the row as the orders store reads it (lib/orders/store-order.ts: the type, the columns,
 * the mapping and the reads, re-exported here for the modules that know orders by this name).
 */
export type { PaymentStatus } from './lifecycle.js';
export type { Order, OrderItem } from './store-order.js';
export { getOrder, getOrdersWithHold, isOrderId, latestOrderOf, notBuyerSql, openOrderOf, orderColumns, orderQuery, orderRowSql, pendingOrdersHolding, toOrder } from './store-order.js';

/** Order ids derive from the business event (wamid, API idempotency key), so a replay holds nothing twice. */
export function orderIdFor(sourceKey: string): string {
  const h = createHash('sha256').update(`order:${sourceKey}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${((parseInt(h[16]!, 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
