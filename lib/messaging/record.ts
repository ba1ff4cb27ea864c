import { db } from '../db.js';
import { log } from '../log.js';
import { orderNoticeKeys, outboxKey } from './keys.js';
import type { OutgoingMessage } from './messages.js';
import { CLAIM_SECONDS, sendOnce, type OutboxMessage, type SendOutcome } from './outbox.js';

/**
 * Messages caused by a state change are written to the outbox by that change's own statement (the
 * rows are recorded iff the change happened), then sent once it is durable. A state-changing
 * statement takes its rows as one jsonb parameter (`outboxRows`) and the insert as a CTE
 * (`outboxCte`), so `INSERT INTO outbound_messages` is written only in lib/messaging/.
 */

/** A message to record: `eventKey` from ./keys.ts; `fallback` is the template sent on 131047 (see ./window.ts). */
export type Notice = OutboxMessage & { orderId?: string | null };

/** The notices as the jsonb parameter of outboxCte: (key, kind, customer_id, template, payload, fallback_payload). */
export function outboxRows(notices: Notice[]): string {
  return JSON.stringify(
    notices.map((n) => ({
      key: outboxKey(n.eventKey),
      kind: n.kind,
      customer_id: n.customerId,
      template: n.message.type === 'template' ? n.message.name : null,
      payload: n.message,
      fallback_payload: n.fallback ?? null,
    })),
  );
}

/**
 * The CTE body that records outboxRows() (bound as `param`) for each row of the statement's
 * `source` CTE (`updated` by default), the order id read from `orderId`; `where` filters further.
 */
export function outboxCte(param: string, opts: { where?: string; source?: string; orderId?: string } = {}): string {
  const source = opts.source ?? 'updated';
  return `INSERT INTO outbound_messages (idempotency_key, kind, order_id, customer_id, template, payload, fallback_payload)
       SELECT m.key, m.kind, ${opts.orderId ?? `${source}.id`}, m.customer_id, m.template, m.payload, m.fallback_payload
       FROM ${source}, jsonb_to_recordset(${param}::jsonb) AS m(key text, kind text, customer_id uuid, template text, payload jsonb, fallback_payload jsonb)
       ${opts.where ?? ''}
       ON CONFLICT (idempotency_key) DO NOTHING`;
}

/**
 * outboxCte for a statement that also claims its rows for sending (status 'sending', locked as sendOnce
 * locks a claim), for a caller that sends them right after with `deliver` (./outbox.ts): one round trip
 * fewer than recording, then claiming. Its rows are a claim's columns, for ADDRESSED_SQL. A row that
 * exists already is neither recorded nor claimed again (the caller falls back to sendOnce).
 */
export function claimedOutboxCte(param: string, opts: { source: string; orderId?: string; customerId?: string }): string {
  return `INSERT INTO outbound_messages (idempotency_key, kind, order_id, customer_id, template, payload, fallback_payload, status, attempts, locked_until)
       SELECT m.key, m.kind, ${opts.orderId ?? `${opts.source}.id`}, ${opts.customerId ?? 'm.customer_id'}, m.template, m.payload, m.fallback_payload,
              'sending', 1, now() + make_interval(secs => ${CLAIM_SECONDS})
       FROM ${opts.source}, jsonb_to_recordset(${param}::jsonb) AS m(key text, kind text, customer_id uuid, template text, payload jsonb, fallback_payload jsonb)
       ON CONFLICT (idempotency_key) DO NOTHING
       RETURNING id, idempotency_key, customer_id, to_wa_id, kind, order_id, payload, fallback_payload, attempts`;
}

/**
 * Sends recorded notices in order (confirmation before the link); each at most once. While one is
 * unsent (deferred, or being sent by a concurrent replay) the rest wait in the outbox, so a later
 * notice never arrives first: whoever sends the earlier one, or the cleanup run's retry (which
 * keeps per-recipient order), sends them next.
 */
export async function deliverNotices(notices: Notice[]): Promise<SendOutcome[]> {
  const outcomes: SendOutcome[] = [];
  for (const n of notices) {
    let outcome: SendOutcome;
    try {
      outcome = await sendOnce(n);
    } catch (error) {
      // The row stays pending: the next replay or the cleanup run sends it.
      log.error('notice.send_failed', { kind: n.kind, orderId: n.orderId, error });
      outcome = 'retry_later';
    }
    outcomes.push(outcome);
    if (outcome === 'retry_later' || (outcome === 'duplicate' && (await stillUnsent(n)))) break;
  }
  return outcomes;
}

async function stillUnsent(n: Notice): Promise<boolean> {
  const rows = await db()`SELECT status FROM outbound_messages WHERE idempotency_key = ${outboxKey(n.eventKey)}`;
  return rows[0]?.status === 'pending' || rows[0]?.status === 'sending';
}

/**
 * (Re)sends the recorded messages under these event keys that are not sent yet, in the keys' order.
 * Every unsent one is taken, also those backing off or being sent elsewhere: deliverNotices stops at
 * the first it cannot send now, so a later one never overtakes an earlier one.
 */
export async function deliverRecorded(eventKeys: string[]): Promise<number> {
  const byHash = new Map(eventKeys.map((k, i) => [outboxKey(k), { eventKey: k, position: i }]));
  const rows = await db()`
    SELECT idempotency_key, kind, customer_id, order_id, payload, fallback_payload FROM outbound_messages
    WHERE idempotency_key = ANY(${[...byHash.keys()]}::text[]) AND status IN ('pending', 'sending')`;
  const notices = rows
    .map((r) => ({ row: r, key: byHash.get(r.idempotency_key as string)! }))
    .sort((a, b) => a.key.position - b.key.position)
    .map(({ row, key }) => ({
      eventKey: key.eventKey,
      kind: row.kind as string,
      customerId: row.customer_id as string,
      orderId: (row.order_id as string | null) ?? null,
      message: row.payload as OutgoingMessage,
      fallback: (row.fallback_payload as OutgoingMessage | null) ?? null,
    }));
  await deliverNotices(notices);
  return notices.length;
}

/** The order's notices recorded but not sent yet (a replay after a failed send). */
export const deliverPendingNotices = (orderId: string) => deliverRecorded(orderNoticeKeys(orderId));

/** A step that sends after the state is durable and never throws: everything to send is in the outbox already. */
export const sendQuietly = (what: string, orderId: string | null, fn: () => Promise<unknown>) => async () => {
  try {
    await fn();
  } catch (error) {
    // The next replay or the cleanup run sends it.
    log.error('notice.delivery_failed', { what, orderId, error });
  }
};
