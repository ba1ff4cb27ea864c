import { log } from '../log.js';
import { orderNoticeKeys, outboxKey } from './keys.js';
import type { OutgoingMessage } from './messages.js';
import { attemptSend, claimedOf, recordAttempts, sendOnce, type Attempt, type Claimed, type OutboxMessage, type SendOutcome } from './outbox.js';
import { statusOf, unclaim, unsentRows } from './outbox-store.js';

export { claimedSendsSql, outboxCte } from './outbox-store.js';

/**
 * Messages caused by a state change are written to the outbox by that change's own statement (the
 * rows are recorded iff the change happened), then sent once it is durable. A state-changing
 * statement takes its rows as one jsonb parameter (`outboxRows`) and the insert as a CTE
 * (`outboxCte`, a part of ./outbox-store.ts, the one store of outbound_messages).
 */

/** A message to record: `eventKey` from ./keys.ts; `fallback` is the template sent on 131047 (see ./window.ts). */
export type Notice = OutboxMessage & { orderId?: string | null };

/**
 * The notices as the jsonb parameter of outboxCte: (key, kind, customer_id, template, payload, fallback_payload,
 * order_id). order_id lets a statement closing many orders match each row to its order (`where: 'WHERE m.order_id = updated.id'`).
 */
export function outboxRows(notices: Notice[]): string {
  return JSON.stringify(
    notices.map((n) => ({
      key: outboxKey(n.eventKey),
      kind: n.kind,
      customer_id: n.customerId,
      template: n.message.type === 'template' ? n.message.name : null,
      payload: n.message,
      fallback_payload: n.fallback ?? null,
      order_id: n.orderId ?? null,
    })),
  );
}

/** claimedSendsSql's array as claimed rows, in the notices' order (a row recorded earlier is not there: it is not ours to send). */
export function claimedFrom(rows: unknown, notices: Notice[]): Claimed[] {
  const position = new Map(notices.map((n, i) => [outboxKey(n.eventKey), i]));
  return ((rows as Record<string, unknown>[] | null) ?? [])
    .map(claimedOf)
    .sort((a, b) => (position.get(a.key) ?? 0) - (position.get(b.key) ?? 0));
}

/**
 * Sends rows recorded already claimed (outboxCte `claim`), in order: one Graph POST each, no claim round trip,
 * and every outcome recorded in ONE round trip (recordAttempts). At the first deferred send the later rows are
 * given back unclaimed in that same round trip (due now, their attempt not counted), so a later notice never
 * overtakes it: the next replay or the cleanup run sends them in order. A row whose attempt threw, or whose
 * outcome could not be recorded, stays claimed until its lock lapses (then the cleanup run retakes it).
 */
export async function deliverClaimed(claimed: Claimed[]): Promise<SendOutcome[]> {
  const attempts: Attempt[] = [];
  const outcomes: SendOutcome[] = [];
  // A refused message with a template version may be re-sent as that template (131047) once recorded: that
  // happens before the next row goes out (one more round trip, only then).
  const rest = await sendChain(claimed, attempts, async () => {
    const recorded = attempts.splice(0);
    await recordAttempts(recorded);
    outcomes.push(...recorded.map((a) => a.outcome));
  });
  await recordAttempts(attempts, undefined, rest.length ? [unclaim(rest)] : []);
  return [...outcomes, ...attempts.map((a) => a.outcome)];
}

/**
 * One recipient's rows in order, each attempt pushed to `attempts`; stops at a thrown attempt, a deferred send or
 * (without `onFallback`) a refusal whose template version goes out after it is recorded. Returns the ids of the rows
 * left behind, to give back unclaimed.
 */
async function sendChain(chain: Claimed[], attempts: Attempt[], onFallback?: () => Promise<void>): Promise<string[]> {
  const left = (i: number) => chain.slice(i + 1).map((x) => x.id);
  for (const [i, c] of chain.entries()) {
    let attempt: Attempt;
    try {
      attempt = await attemptSend(c);
    } catch (error) {
      log.error('notice.send_failed', { kind: c.kind, orderId: c.orderId, error });
      return left(i);
    }
    attempts.push(attempt);
    if (attempt.outcome === 'retry_later') return left(i);
    if (attempt.outcome === 'failed' && c.fallback && i + 1 < chain.length) {
      if (!onFallback) return left(i);
      await onFallback();
    }
  }
  return [];
}

/**
 * deliverClaimed for many recipients at once (a cleanup batch's notices): each recipient's rows in order, one after
 * another, at most `concurrency` recipients at a time (the outbox's send pace still applies), and every outcome
 * recorded in ONE round trip, with the rows a recipient's deferred (or thrown, or refused-with-fallback) send left
 * behind given back unclaimed in it. A row whose attempt threw stays claimed until its lock lapses (the next run retakes it).
 */
export async function deliverClaimedMany(claimed: Claimed[], concurrency: number): Promise<SendOutcome[]> {
  const byRecipient = new Map<string, Claimed[]>();
  for (const c of claimed) {
    const r = c.customerId ?? c.id;
    byRecipient.set(r, [...(byRecipient.get(r) ?? []), c]);
  }
  const chains = [...byRecipient.values()];
  const attempts: Attempt[] = [];
  const rest: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < chains.length) rest.push(...(await sendChain(chains[next++]!, attempts)));
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, concurrency), chains.length) }, worker));
  await recordAttempts(attempts, undefined, rest.length ? [unclaim(rest)] : []);
  return attempts.map((a) => a.outcome);
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
  const status = await statusOf(outboxKey(n.eventKey));
  return status === 'pending' || status === 'sending';
}

/**
 * (Re)sends the recorded messages under these event keys that are not sent yet, in the keys' order.
 * Every unsent one is taken, also those backing off or being sent elsewhere: deliverNotices stops at
 * the first it cannot send now, so a later one never overtakes an earlier one.
 */
export async function deliverRecorded(eventKeys: string[]): Promise<number> {
  const byHash = new Map(eventKeys.map((k, i) => [outboxKey(k), { eventKey: k, position: i }]));
  const rows = await unsentRows([...byHash.keys()]);
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
