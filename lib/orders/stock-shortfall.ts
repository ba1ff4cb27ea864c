import { log } from '../log.js';
import { raiseOpsAlert } from '../alerts/ops-alerts.js';
import { closeOrder } from './close.js';
import { pendingOrdersHolding } from './order.js';
import { recordOrderEvent } from './store.js';
import type { ReleasedOrder, StockCut, StockShortfall } from '../catalog/import.js';

/**
 * Stock set below what open orders hold (docs/reliability.md "Stock shortfall rule"). With
 * STOCK_BELOW_HELD=release a catalog import applies the lower stock and gives back the newest holds
 * until the rest fit: each such order is cancelled through the one close path (its Checkout Session
 * expired first, its hold released, its customer told) with a `released_for_stock` event saying why.
 */

export type { ReleasedOrder, StockCut };

/** Cancels the newest pending orders holding these SKUs until each SKU's holds fit its new stock. */
export async function releaseHoldsAbove(cuts: StockCut[]): Promise<ReleasedOrder[]> {
  const excess = new Map(cuts.filter((c) => c.held > c.stock).map((c) => [c.sku, c.held - c.stock]));
  if (excess.size === 0) return [];
  const released: ReleasedOrder[] = [];
  for (const order of await pendingOrdersHolding([...excess.keys()])) {
    const skus = order.items.filter((i) => (excess.get(i.sku) ?? 0) > 0).map((i) => i.sku);
    if (skus.length === 0) continue;
    const closed = await closeOrder(order.id, 'cancelled_by_shop');
    if (closed.result !== 'closed') continue; // paid meanwhile (its units are sold), or already closed
    for (const i of order.items) if (excess.has(i.sku)) excess.set(i.sku, excess.get(i.sku)! - i.quantity);
    const cut = cuts.filter((c) => skus.includes(c.sku));
    await recordOrderEvent(order.id, 'released_for_stock', { skus: cut });
    log.warn('stock.hold_released_for_stock', { orderId: order.id, skus });
    released.push({ orderId: order.id, reference: order.reference, skus });
    if ([...excess.values()].every((n) => n <= 0)) break;
  }
  return released;
}

/** Holds that still exceed a SKU's stock after an import (taken meanwhile, or not tied to an order yet): the operators are told. */
export async function alertStockBelowHeld(cuts: StockCut[], context: string): Promise<void> {
  const over = cuts.filter((c) => c.held > c.stock);
  if (over.length === 0) return;
  log.error('stock.below_held', { context, skus: over });
  await raiseOpsAlert({ key: `stock-below-held:${context}:${over.map((c) => `${c.sku}=${c.stock}<${c.held}`).join(',')}`, kind: 'stock_below_held', details: { context, skus: over } }).catch((error) =>
    log.error('ops.alert_failed', { error }),
  );
}

/** The catalog import's stock-shortfall step (handed to it by lib/admin/catalog-import.ts). */
export const stockShortfall: StockShortfall = { releaseHoldsAbove, alertStockBelowHeld };
