import { conflict, type DomainError } from '../errors.js';
import type { Order } from '../orders/order.js';

/**
 * A finished admin request, independent of HTTP: status, JSON body, and whether it replays an
 * earlier answer. Refusals are thrown as lib/errors.ts's DomainError
 * (not_found, conflict, invalid), answered by the edge.
 */
export type AdminResult = {
  status: number;
  body: unknown;
  replayed: boolean;
  /**
   * Work after the answer (the customer's notice, already recorded in the outbox: a crash before it is sent is
   * healed by the outbox retry). The edge hands it to waitUntil; a caller without one awaits it. Never rejects.
   */
  after?: () => Promise<void>;
};

/** The order as it is now, for a 409: a lost race answers with the state that won. */
export function currentState(order: Pick<Order, 'id' | 'reference' | 'paymentStatus' | 'fulfillmentStatus' | 'refundedAt'>) {
  return {
    orderId: order.id,
    reference: order.reference,
    paymentStatus: order.paymentStatus,
    fulfillmentStatus: order.fulfillmentStatus,
    refundedAt: order.refundedAt ? order.refundedAt.toISOString() : null,
  };
}

/** 409 `code` carrying the order's current state (none when it vanished). */
export const stateConflict = (code: string, message: string, order: Parameters<typeof currentState>[0] | null): DomainError =>
  conflict(code, message, order ? { order: currentState(order) } : undefined);
