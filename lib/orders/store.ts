import { db } from '../db.js';
import { log } from '../log.js';
import { raiseOpsAlert } from '../alerts/ops-alerts.js';
import { STOCK_RETURNED_SQL, STOCK_TAKEN_SQL } from '../catalog/store.js';
import { MARK_PROCESSED_IF_SQL } from '../inbound/store.js';
import { INVITE_TOKEN_INSERT_SQL } from '../invites/store.js';
import type { Claimed } from '../messaging/outbox.js';
import { claimedFrom, claimedSendsSql, outboxCte, outboxRows, type Notice } from '../messaging/record.js';
import { PAYABLE, statusesFor, type PaymentStatus } from './lifecycle.js';
import { answerCte } from './store-answers.js';
import type { PaidFulfilment } from './shipping.js';

/**
 * The only code that changes an order (with ./store-refunds.ts for refunds Stripe reports, ./store-close.ts for a
 * batch of closes and ./store-fulfilment.ts for shipping and delivery). Every
 * change is ONE statement whose conditional `UPDATE orders … WHERE payment_status = ANY(…)` is the
 * gate (concurrent duplicates find nothing to update), with its order_events row, its stock
 * change and its outbox rows (lib/messaging/record.ts) in the same statement: the messages are
 * recorded iff the change happened. Each returns whether it applied.
 */

const json = (v: unknown) => JSON.stringify(v);

export async function recordOrderEvent(orderId: string, type: string, data: Record<string, unknown>): Promise<void> {
  await db()`INSERT INTO order_events (order_id, type, data) VALUES (${orderId}, ${type}, ${json(data)}::jsonb)`;
}

/** An order event recorded once per `stripeKey` (the business key of what it records). */
export async function recordOrderEventOnce(orderId: string, type: string, stripeKey: string, data: Record<string, unknown>): Promise<boolean> {
  const rows = await db()`
    INSERT INTO order_events (order_id, type, data) VALUES (${orderId}, ${type}, ${json({ ...data, stripeKey })}::jsonb)
    ON CONFLICT ((data->>'stripeKey')) WHERE data ? 'stripeKey' DO NOTHING RETURNING id`;
  return rows.length > 0;
}

/** Stores the Checkout Session on an order that has none yet. */
export async function attachCheckoutSession(orderId: string, sessionId: string, url: string): Promise<void> {
  await db()`UPDATE orders SET stripe_session_id = ${sessionId}, checkout_url = ${url}, updated_at = now()
             WHERE id = ${orderId} AND stripe_session_id IS NULL`;
}

export type PaymentIds = { sessionId: string | null; paymentIntent: string | null };

/**
 * paid: the order, its event, stock on hand −= items, the invite token and the notices (the invite link only with a
 * new token), recorded already claimed for the caller to send (lib/messaging/record.ts deliverClaimed: no claim round
 * trip); with `inboundEventId`, the Stripe event that paid it is marked processed in the same statement. Null when
 * the order was not payable (nothing changed); else the claimed sends, in the notices' order. stripe_payment_intent
 * is the payment that paid the order: an offline payment clears the one a delayed card payment had submitted, so a
 * late success of that card payment is known for a second payment (duplicate_payment).
 */
export async function storePaid(
  orderId: string,
  ids: PaymentIds & { paidAt: Date | null; offline?: boolean },
  event: Record<string, unknown>,
  invite: { token: string; expiresAt: Date },
  notices: Notice[],
  opts: { inboundEventId?: string; fulfilment?: PaidFulfilment; answer?: ActionAnswer; with?: PaidWith } = {},
): Promise<Claimed[] | null> {
  const f = opts.fulfilment;
  const rider = opts.with?.(17) ?? { sql: '', params: [] };
  const rows = await db().query(
    `WITH updated AS (
       UPDATE orders SET payment_status = 'paid', paid_at = COALESCE($5::timestamptz, now()),
              stripe_session_id = COALESCE(stripe_session_id, $3),
              stripe_payment_intent = CASE WHEN $11::boolean THEN NULL ELSE COALESCE($4, stripe_payment_intent) END, updated_at = now(),
              -- Fewer units on hand than this payment takes (docs/reliability.md "Stock shortfall rule"): flagged, never silent.
              stock_shortfall = (SELECT jsonb_agg(jsonb_build_object('sku', l.sku, 'ordered', l.q, 'onHand', v.stock) ORDER BY l.sku)
                FROM (SELECT i.sku, sum(i.quantity)::int AS q FROM jsonb_to_recordset(orders.items) AS i(sku text, quantity int) GROUP BY i.sku) l
                JOIN variants v ON v.sku = l.sku WHERE v.stock < l.q),
              -- What was paid for (lib/orders/shipping.ts PaidFulfilment; $12 null: as placed).
              items_minor = COALESCE(items_minor, total_minor), total_minor = COALESCE(($12::jsonb->>'totalMinor')::int, total_minor),
              shipping_minor = COALESCE(($12::jsonb->>'shippingMinor')::int, shipping_minor), tax_minor = COALESCE(($12::jsonb->>'taxMinor')::int, tax_minor),
              shipping_mode = COALESCE($12::jsonb->>'mode', shipping_mode), shipping_name = COALESCE($12::jsonb->>'name', shipping_name),
              shipping_address = COALESCE(NULLIF($12::jsonb->'address', 'null'::jsonb), shipping_address),
              shipping_rate = COALESCE(NULLIF($12::jsonb->'rate', 'null'::jsonb), shipping_rate),
              shipping_problem = CASE WHEN $12::jsonb IS NULL THEN shipping_problem ELSE $12::jsonb->>'problem' END
       WHERE id = $1 AND payment_status = ANY($2::text[])
         AND ($3::text IS NULL OR stripe_session_id IS NULL OR stripe_session_id = $3)
       RETURNING id, items, stock_shortfall
     ), lines AS (
       SELECT i.sku, sum(i.quantity)::int AS quantity
       FROM updated, jsonb_to_recordset(updated.items) AS i(sku text, quantity int) GROUP BY i.sku
     ), stock AS (
       ${STOCK_TAKEN_SQL}
     ), event AS (
       INSERT INTO order_events (order_id, type, data)
       SELECT id, 'paid', $6::jsonb || jsonb_build_object('stockShortfall',
         COALESCE((SELECT jsonb_agg(s->'sku') FROM jsonb_array_elements(stock_shortfall) s), '[]'::jsonb))
       FROM updated
       UNION ALL
       SELECT id, 'stock_shortfall', jsonb_build_object('lines', stock_shortfall) FROM updated WHERE stock_shortfall IS NOT NULL
     ), invite AS (
       ${INVITE_TOKEN_INSERT_SQL('$7', '$8', 'updated')}
     ), outbox AS (
       ${outboxCte('$9', { where: "WHERE m.kind <> 'invite_link' OR EXISTS (SELECT 1 FROM invite)", claim: true })}
     ), processed AS (${MARK_PROCESSED_IF_SQL('$10', 'paid', 'updated')}
     ), answer AS (
       ${answerCte(13)}
     )${rider.sql ? `, ${rider.sql}` : ''}
     SELECT id, stock_shortfall, (SELECT count(*) FROM stock)::int AS skus, ${claimedSendsSql('outbox')} AS sends FROM updated`,
    [orderId, PAYABLE, ids.sessionId, ids.paymentIntent, ids.paidAt?.toISOString() ?? null, json(event), invite.token, invite.expiresAt.toISOString(), outboxRows(notices), opts.inboundEventId ?? null,
     ids.offline === true, f ? json(f) : null, ...answerParams(opts.answer), ...rider.params],
  );
  if (rows[0]?.stock_shortfall) await alertStockShortfall(orderId, rows[0].stock_shortfall);
  return rows[0] ? claimedFrom(rows[0].sends, notices) : null;
}

/**
 * More CTEs for storePaid's statement, made only if the order is paid (they test `EXISTS (SELECT 1 FROM updated)`),
 * parameters bound from $`first`: what the payment's owner records with it (an offline payment's row and notice,
 * lib/admin/offline-payment.ts). None of the CTE names of storePaid.
 */
export type PaidWith = (first: number) => { sql: string; params: unknown[] };

/** The operators are told of a payment that took more units than were on hand (once per order; never fails the payment). */
async function alertStockShortfall(orderId: string, lines: unknown): Promise<void> {
  log.error('order.stock_shortfall', { orderId, lines });
  await raiseOpsAlert({ key: `stock-shortfall:${orderId}`, kind: 'stock_shortfall', orderId, details: { lines } }).catch((error) => log.error('ops.alert_failed', { error }));
}

/** payment_submitted: pending → awaiting_payment (only for this order's session). */
export async function storeAwaitingPayment(orderId: string, ids: PaymentIds & { sessionId: string }): Promise<boolean> {
  const rows = await db().query(
    `WITH updated AS (
       UPDATE orders SET payment_status = 'awaiting_payment', stripe_session_id = COALESCE(stripe_session_id, $2),
              stripe_payment_intent = COALESCE($3, stripe_payment_intent), updated_at = now()
       WHERE id = $1 AND payment_status = ANY($4::text[]) AND (stripe_session_id IS NULL OR stripe_session_id = $2)
       RETURNING id
     ), event AS (
       INSERT INTO order_events (order_id, type, data) SELECT id, 'awaiting_payment', jsonb_build_object('sessionId', $2::text) FROM updated
     )
     SELECT id FROM updated`,
    [orderId, ids.sessionId, ids.paymentIntent, statusesFor('payment_submitted')],
  );
  return rows.length > 0;
}

/**
 * A staff action's answer (lib/admin/idempotency.ts), stored by the statement that makes its change, bound to the order
 * state it reports (`state`: "payment/fulfilment"). The change happened, so an answer stored earlier under the key is stale
 * and replaced (one with another request hash stands). An unbound answer (`state` null) never replaces one stored.
 */
export type ActionAnswer = { key: string; hash: string; body: unknown; state: string | null };

const answerParams = (a: ActionAnswer | undefined) => [a?.key ?? null, a?.hash ?? null, a ? json(a.body) : null, a?.state ?? null];

/**
 * Closing an open order: its status, the event with the reason, the customer's notice (if any) and, for a staff action,
 * its answer. The hold is the caller's.
 */
export async function storeClosed(orderId: string, status: PaymentStatus, from: PaymentStatus[], reason: string, notices: Notice[], answer?: ActionAnswer): Promise<boolean> {
  const rows = await db().query(
    `WITH updated AS (
       UPDATE orders SET payment_status = $2, updated_at = now()
       WHERE id = $1 AND payment_status = ANY($3::text[])
       RETURNING id
     ), event AS (
       INSERT INTO order_events (order_id, type, data) SELECT id, $2, jsonb_build_object('reason', $4::text) FROM updated
     ), outbox AS (
       ${outboxCte('$5')}
     ), answer AS (
       ${answerCte(6)}
     )
     SELECT id FROM updated`,
    [orderId, status, from, reason, outboxRows(notices), ...answerParams(answer)],
  );
  return rows.length > 0;
}

/**
 * A refund decided (status `refunded`, a `refund_required` event), before Stripe is called: from
 * `from` statuses of an unfulfilled order, only for this order's session; `restock` puts a paid
 * order's units back on hand. Returns the restocked counters (on hand) for Redis to follow.
 */
export async function storeRefundDecided(
  orderId: string,
  from: PaymentStatus[],
  ids: PaymentIds,
  restock: boolean,
  event: Record<string, unknown>,
): Promise<RefundDecision> {
  const [row] = await db().query(
    `WITH ${refundDecisionCte({ orderId: '$1', from: '$2', sessionId: '$3', paymentIntent: '$4', restock: '$5', event: '$6' })}
     SELECT ${REFUND_DECISION_COLUMNS}`,
    [orderId, from, ids.sessionId, ids.paymentIntent, restock, json(event)],
  );
  return refundDecisionOf(row);
}

export type RefundDecision = { decided: boolean; restocked: { sku: string; stock: number }[] };

/**
 * The CTEs of storeRefundDecided (`decided`, `lines`, `stock`, `event`) with its parameters bound by the caller, for a
 * statement that reads something else too (a staff cancel's first round trip, lib/admin/idempotency.ts): the conditional
 * UPDATE is still the decision. `unless`: an SQL condition that, when true, keeps the decision from being made.
 */
export function refundDecisionCte(p: { orderId: string; from: string; sessionId: string; paymentIntent: string; restock: string; event: string; unless?: string }): string {
  return `decided AS (
       UPDATE orders SET payment_status = 'refunded', stripe_session_id = COALESCE(stripe_session_id, ${p.sessionId}::text),
              stripe_payment_intent = COALESCE(${p.paymentIntent}::text, stripe_payment_intent), updated_at = now()
       WHERE id = ${p.orderId}::uuid AND payment_status = ANY(${p.from}::text[]) AND fulfillment_status = 'unfulfilled'
         AND (${p.sessionId}::text IS NULL OR stripe_session_id IS NULL OR stripe_session_id = ${p.sessionId}::text)
         ${p.unless ? `AND NOT (${p.unless})` : ''}
       RETURNING id, items
     ), lines AS (
       SELECT i.sku, sum(i.quantity)::int AS quantity FROM decided, jsonb_to_recordset(decided.items) AS i(sku text, quantity int)
       WHERE ${p.restock}::boolean GROUP BY i.sku
     ), stock AS (
       ${STOCK_RETURNED_SQL}
     ), event AS (
       INSERT INTO order_events (order_id, type, data)
       SELECT id, 'refund_required', ${p.event}::jsonb || CASE WHEN ${p.restock}::boolean THEN jsonb_build_object('restocked', (SELECT count(*) FROM stock)) ELSE '{}'::jsonb END
       FROM decided
     )`;
}

/** The select list reporting refundDecisionCte's outcome (refundDecisionOf reads it). */
export const REFUND_DECISION_COLUMNS = `(SELECT count(*) FROM decided)::int AS decided,
            COALESCE((SELECT jsonb_agg(jsonb_build_object('sku', sku, 'stock', stock)) FROM stock), '[]'::jsonb) AS restocked`;

export const refundDecisionOf = (row: Record<string, unknown> | undefined): RefundDecision => ({
  decided: Number(row?.decided) > 0,
  restocked: ((row?.restocked as { sku: string; stock: number }[] | null) ?? []).map((r) => ({ sku: r.sku, stock: Number(r.stock) })),
});

/** The money went back: refunded_at, the `refunded` event, the customer's notice and a staff action's answer, once (the saga's resume point). */
export async function storeRefundDone(orderId: string, event: Record<string, unknown>, notices: Notice[], answer?: ActionAnswer): Promise<boolean> {
  const rows = await db().query(
    `WITH updated AS (
       UPDATE orders SET refunded_at = now(), updated_at = now()
       WHERE id = $1 AND payment_status = 'refunded' AND refunded_at IS NULL
       RETURNING id
     ), event AS (
       INSERT INTO order_events (order_id, type, data) SELECT id, 'refunded', $2::jsonb FROM updated
     ), outbox AS (
       ${outboxCte('$3')}
     ), answer AS (
       ${answerCte(4)}
     )
     SELECT id FROM updated`,
    [orderId, json(event), outboxRows(notices), ...answerParams(answer)],
  );
  return rows.length > 0;
}

/**
 * duplicate_payment: the Stripe refund of a second payment (another payment intent) of an order already paid
 * another way, or refunded, recorded once (order event `duplicate_payment_refunded`, unique by its stripeKey
 * duplicate:<payment intent>) while the order is in one of `from`. Returns whether this call recorded it.
 */
export async function storeDuplicateRefund(orderId: string, from: PaymentStatus[], paymentIntent: string, data: Record<string, unknown>): Promise<boolean> {
  const rows = await db().query(
    `INSERT INTO order_events (order_id, type, data)
     SELECT id, 'duplicate_payment_refunded', $3::jsonb || jsonb_build_object('paymentIntent', $4::text, 'stripeKey', 'duplicate:' || $4::text)
     FROM orders WHERE id = $1 AND payment_status = ANY($2::text[])
     ON CONFLICT ((data->>'stripeKey')) WHERE data ? 'stripeKey' DO NOTHING
     RETURNING id`,
    [orderId, from, json(data), paymentIntent],
  );
  return rows.length > 0;
}

/**
 * A refund Stripe reports of a payment that is not the order's own (a duplicate payment): an order event,
 * once per refund, unless our duplicate refund already explains it. It never counts toward the order's refunds.
 */
export async function storeDuplicateRefundSeen(orderId: string, refundId: string, data: Record<string, unknown>): Promise<boolean> {
  const rows = await db().query(
    `INSERT INTO order_events (order_id, type, data)
     SELECT $1, 'duplicate_payment_refund_seen', $3::jsonb || jsonb_build_object('refundId', $2::text, 'stripeKey', 'refund:' || $2::text)
     WHERE NOT EXISTS (SELECT 1 FROM order_events e WHERE e.order_id = $1 AND e.data->>'refundId' = $2::text)
     ON CONFLICT ((data->>'stripeKey')) WHERE data ? 'stripeKey' DO NOTHING
     RETURNING id`,
    [orderId, refundId, json(data)],
  );
  return rows.length > 0;
}

/** The refund a shop cancel made of this order (its `refunded` event), if one did. */
export async function cancelRefundOf(orderId: string): Promise<{ method: string; refundId: string | null } | null> {
  const [row] = await db()`SELECT data FROM order_events WHERE order_id = ${orderId} AND type = 'refunded' AND data->>'reason' = 'cancelled_by_shop' ORDER BY id LIMIT 1`;
  if (!row) return null;
  const data = row.data as { method?: string; refundId?: string | null };
  return { method: data.method ?? 'stripe', refundId: data.refundId ?? null };
}
