import { db, type Query } from '../db.js';
import { log, maskIdentity } from '../log.js';
import { ADDRESSED_SQL, CLAIM_SECONDS, claimedOf, deliver, type SendOutcome } from './outbox.js';
import { isReserved } from './reply.js';

/**
 * Sends messages whose earlier attempt failed transiently or whose sender died. Used by the cleanup run.
 * Per recipient, messages leave in the order they were recorded (an invite link never overtakes the
 * confirmation it refers to): a row waits while an older one to the same recipient is backing off
 * or being sent, each recipient's rows go one after another, and recipients go in parallel. When a
 * send is deferred, that recipient's later rows are given back unsent for a later run. A reserved
 * answer (./reply.ts) is never taken: it has nothing to send; its re-driven event answers it.
 */
export async function retryDueMessages(limit: number): Promise<number> {
  return sendClaimedRetries(await claimDueMessages(limit));
}

/** The claim of retryDueMessages as a statement not run yet (the cleanup run sends it with its other reads, one round trip). */
export function claimDueMessages(limit: number): Query {
  return db().query(
    `WITH due AS (
       UPDATE outbound_messages SET status = 'sending', attempts = attempts + 1,
              locked_until = now() + make_interval(secs => $1), updated_at = now()
       WHERE id IN (
         SELECT m.id FROM outbound_messages m
         WHERE ((m.status = 'pending' AND m.next_attempt_at <= now()) OR (m.status = 'sending' AND m.locked_until < now()))
           AND NOT ${isReserved('m')}
           AND NOT EXISTS (
             SELECT 1 FROM outbound_messages e
             WHERE e.customer_id = m.customer_id AND e.seq < m.seq AND e.status IN ('pending', 'sending') AND NOT ${isReserved('e')}
               AND ((e.status = 'pending' AND e.next_attempt_at > now()) OR (e.status = 'sending' AND e.locked_until >= now())))
         ORDER BY m.seq LIMIT $2 FOR UPDATE SKIP LOCKED)
       RETURNING id, idempotency_key, customer_id, to_wa_id, kind, order_id, payload, fallback_payload, attempts, seq
     )
     ${ADDRESSED_SQL('due')}`,
    [CLAIM_SECONDS, limit],
  ) as unknown as Query;
}

/** Sends the rows claimDueMessages claimed (see retryDueMessages); returns how many. */
export async function sendClaimedRetries(due: Record<string, unknown>[]): Promise<number> {
  const byRecipient = new Map<string, typeof due>();
  for (const r of [...due].sort((a, b) => Number(a.seq) - Number(b.seq))) {
    const recipient = String(r.customer_id ?? r.to_wa_id);
    byRecipient.set(recipient, [...(byRecipient.get(recipient) ?? []), r]);
  }
  await Promise.all(
    [...byRecipient.values()].map(async (rows) => {
      for (let i = 0; i < rows.length; i++) {
        const r = rows[i]!;
        let outcome: SendOutcome;
        try {
          outcome = await deliver(claimedOf(r));
        } catch (error) {
          log.error('outbox.retry_failed', { kind: r.kind, to: maskIdentity(claimedOf(r).to), error });
          outcome = 'retry_later';
        }
        if (outcome === 'retry_later' && i + 1 < rows.length) {
          // The later rows wait for this one: unclaimed, their attempt not counted.
          await unclaim(rows.slice(i + 1).map((x) => x.id as string));
          return;
        }
      }
    }),
  );
  return due.length;
}


/** Gives claimed rows back unsent (due now, their attempt not counted), for rows that must wait behind a deferred one. */
export const unclaim = (ids: string[]): Query => db()`
  UPDATE outbound_messages SET status = 'pending', attempts = attempts - 1, locked_until = NULL, next_attempt_at = now(), updated_at = now()
  WHERE id = ANY(${ids}::uuid[]) AND status = 'sending'`;
