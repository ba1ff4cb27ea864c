import { log, maskIdentity } from '../log.js';
import { claimDueMessages, unclaim } from './outbox-store.js';
import { claimedOf, deliver, type SendOutcome } from './outbox.js';

/** The claim (a statement not run yet: the cleanup run sends it with its other reads, one round trip) and its undo, in the store. */
export { claimDueMessages, unclaim };

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
