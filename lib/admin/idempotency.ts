import { createHash } from 'node:crypto';
import { conflict } from '../errors.js';
import { toOrder, type Order } from '../orders/order.js';
import { answerAndOrderRow, answerOrderAndWriteRow, answerRow, insertAnswer, type FirstWrite } from '../orders/store-answers.js';
import type { AdminResult } from './result.js';

export { storedAnswerSql, type FirstWrite } from '../orders/store-answers.js';

/**
 * Stored answers of idempotent admin requests. The key is sha256 of the business event
 * ("shipped:<orderId>", "offline-payment:<reference>", "cancel:<orderId>"); the request hash
 * tells a true replay (same answer, `replayed`) from a different request reusing the event (409).
 *
 * An answer about an order may be bound to the order's state it reported (`bound`: payment status /
 * fulfilment status). It is replayed only while the order is still in that state, read in the same
 * statement as the answer; once the order moved on (a cancelled order paid late, a paid one refunded),
 * the stored answer is stale: the caller runs the action anew, and its answer replaces the stale one.
 */
export const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

export function requestHash(input: unknown): string {
  return sha256(JSON.stringify(input ?? null));
}

export type BoundState = { orderId: string; state: string };
/** The state an answer about `order` is bound to. */
export const orderState = (order: Pick<Order, 'id' | 'paymentStatus' | 'fulfillmentStatus'>): BoundState => ({ orderId: order.id, state: `${order.paymentStatus}/${order.fulfillmentStatus}` });

/** The stored answer, or null when there is none or the order it was bound to has changed since. */
export async function storedAnswer(key: string, hash: string): Promise<AdminResult | null> {
  return answerOf(await answerRow(key), hash);
}

/**
 * storedAnswer and the order (lib/orders/order.ts getOrder) in ONE statement: a staff action's first round trip.
 * `order` is null for an unknown order.
 */
export async function storedAnswerAndOrder(key: string, hash: string, orderId: string): Promise<{ stored: AdminResult | null; order: Order | null }> {
  const row = await answerAndOrderRow(key, orderId);
  const order = row?.order ? toOrder(row.order as Record<string, unknown>) : null;
  return { stored: answerOf(row?.answer as Record<string, unknown> | null, hash), order };
}

/**
 * storedAnswerAndOrder, and in the same statement a write (`write`) made only when no answer under the key would be
 * replayed or refused (none stored, or a stale bound one): a staff action's first round trip that also decides. The
 * order comes back as it was before the write (the statement's snapshot); the write reports what it did.
 */
export async function storedAnswerOrderAndWrite<T>(key: string, hash: string, orderId: string, write: FirstWrite<T>): Promise<{ stored: AdminResult | null; order: Order | null; wrote: T }> {
  const row = await answerOrderAndWriteRow(key, hash, orderId, write);
  const order = row?.order ? toOrder(row.order as Record<string, unknown>) : null;
  return { stored: answerOf(row?.answer as Record<string, unknown> | null, hash), order, wrote: write.parse(row) };
}

/** A stored answer's row (storedAnswerSql) as the answer to replay: null when none or stale; 409 for other details. */
export function answerOf(row: Record<string, unknown> | null | undefined, hash: string): AdminResult | null {
  if (!row) return null;
  if (row.request_hash !== hash)
    throw conflict('idempotency_conflict', 'this was already done with different details; the first request stands');
  if (row.order_state !== null && row.order_state !== row.current_state) return null;
  return { status: Number(row.status), body: JSON.parse(row.response as string), replayed: true };
}

/**
 * Stores the answer unless a current one is stored already (a stale bound answer is replaced); returns the
 * answer that stands.
 */
export async function storeAnswer(key: string, hash: string, status: number, body: unknown, bound: BoundState | null = null): Promise<AdminResult> {
  const row = await insertAnswer(key, hash, status, body, bound);
  if (row) return { status, body, replayed: false };
  // A current answer stood already (a concurrent first request's); if even that is stale by now, ours is the news.
  return (await storedAnswer(key, hash)) ?? { status, body, replayed: false };
}
