import { db } from '../db.js';
import type { Claimed } from '../messaging/outbox.js';
import { claimedFrom, claimedSendsSql, outboxCte, outboxRows, type Notice } from '../messaging/record.js';
import type { PaymentStatus } from './lifecycle.js';

/**
 * The orders store's batch of closes (the cleanup run, ./close-lapsed.ts); one order's close is ./store.ts storeClosed.
 * One statement whose conditional UPDATE is the gate, as every change of an order (./store.ts).
 */

const json = (v: unknown) => JSON.stringify(v);

/**
 * Closing many open orders in ONE statement (a cleanup batch): each closes only from the status its caller read
 * (`seen`, one of `from`: a concurrent payment or close finds nothing to update, and vice versa), with its event
 * and its notices (matched to it by order id) recorded already claimed for the caller to send (deliverClaimedMany).
 * Returns the orders it closed, every other order's current status, and the claimed sends.
 */
export async function storeClosedMany(
  orders: { id: string; seen: PaymentStatus }[],
  status: PaymentStatus,
  from: PaymentStatus[],
  reason: string,
  notices: Notice[],
): Promise<{ closed: Set<string>; statusOf: Map<string, PaymentStatus | null>; claimed: Claimed[] }> {
  if (orders.length === 0) return { closed: new Set(), statusOf: new Map(), claimed: [] };
  const [row] = await db().query(
    `WITH input AS (
       SELECT i.id, i.seen FROM jsonb_to_recordset($1::jsonb) AS i(id uuid, seen text)
     ), updated AS (
       UPDATE orders o SET payment_status = $2, updated_at = now()
       FROM input i WHERE o.id = i.id AND o.payment_status = i.seen AND o.payment_status = ANY($3::text[])
       RETURNING o.id
     ), event AS (
       INSERT INTO order_events (order_id, type, data) SELECT id, $2, jsonb_build_object('reason', $4::text) FROM updated
     ), outbox AS (
       ${outboxCte('$5', { where: 'WHERE m.order_id = updated.id', claim: true })}
     )
     SELECT (SELECT COALESCE(jsonb_agg(jsonb_build_object('id', i.id, 'closed', u.id IS NOT NULL, 'status', o.payment_status)), '[]'::jsonb)
             FROM input i LEFT JOIN updated u ON u.id = i.id LEFT JOIN orders o ON o.id = i.id) AS orders,
            ${claimedSendsSql('outbox')} AS sends`,
    [json(orders), status, from, reason, outboxRows(notices)],
  );
  const closed = new Set<string>();
  const statusOf = new Map<string, PaymentStatus | null>();
  // The statement's own snapshot: `status` is the one it read, before its update.
  for (const o of (row?.orders as { id: string; closed: boolean; status: PaymentStatus | null }[]) ?? []) {
    if (o.closed) closed.add(o.id);
    statusOf.set(o.id, o.closed ? status : o.status);
  }
  return { closed, statusOf, claimed: claimedFrom(row?.sends, notices) };
}
