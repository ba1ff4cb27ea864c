import { db, type Query } from '../db.js';
import { markUnreachableQuery } from '../customers/store.js';
import { sendAddressOf, type WaIdentity } from '../identity.js';
import { log, maskIdentity } from '../log.js';
import { raiseOpsAlert } from '../alerts/ops-alerts.js';
import { postGraphMessage, WhatsAppSendError } from './graph-client.js';
import { messageKeys } from './keys.js';
import { toGraphBody, type OutgoingMessage } from './messages.js';
import { claimedOf, claimRow, templateOf, type Attempt, type Claimed, type OutboxMessage, type SendOutcome } from './claimed.js';
import { CLAIM_SECONDS, claimStatement, markDeferred, markFailed, markSent } from './outbox-store.js';
import { PAIR_RATE_CODE, PAIR_RATE_SECONDS } from './send-pace.js';
import type { Work } from '../work.js';

/**
 * The one way a WhatsApp message leaves the shop. Each send is a row keyed by
 * sha256(business event key) (e.g. "confirmation:<orderId>", "reply:<wamid>"):
 *   claim (insert-or-retake, one statement) → Graph POST → mark sent with the wamid.
 * A replay, a concurrent duplicate or a crash between steps never sends twice:
 * only the claimer sends, and a claim left by a crashed sender is retaken only after
 * its lock lapses, by which time Meta's status webhook (tagged with the key in
 * biz_opaque_callback_data) has normally reconciled it to `sent`.
 *
 * Rows are recorded here (sendOnce) or, when a state change causes the message, by that change's
 * own statement through `outboxCte` (./record.ts), then sent here. Retries: ./retry.ts.
 *
 * Failures (see `handleFailedMessage`, shared with the status webhook):
 *  - 429 / 130429 / 5xx / network: retried with exponential backoff and jitter, a few times in process
 *    (after a 130429 every send of the process first waits a shared cool-down: ./send-pace.ts), then by
 *    `retryDueMessages` (the cleanup run), up to MAX_ATTEMPTS. 131056 (pair rate limit): deferred at
 *    least PAIR_RATE_SECONDS, not retried in process.
 *  - other 4xx: not retried; Meta's code and title are recorded on the row.
 *  - 131047 (outside the 24-hour window): the message's template version (`fallback`), when
 *    the sender gave one, is sent instead (outbox key "reengage:<key>").
 *  - recipient not on WhatsApp / invalid number / BSUID not supported for this message (131062):
 *    the customer is marked unreachable; later
 *    sends to them skip Meta and go straight to the ops alert, until they write to us again.
 *  - any final failure: one ops alert per message.
 *
 * A row addresses a customer (customer_id), not a number: each attempt reads the customer's
 * current phone (Meta's `to`, preferred) or else BSUID (`recipient`), so a number change or a
 * merge re-addresses pending and retried sends. to_wa_id / to_user_id record the last address used.
 */

const MAX_ATTEMPTS = 8;
const IN_PROCESS_TRIES = 3;

export { claimedOf, claimRow };
export type { Attempt, Claimed, OutboxMessage, SendOutcome };

/** Meta codes meaning the number can't receive WhatsApp messages (not on WhatsApp, invalid, or cannot be reached). */
/** 131062: a BSUID recipient is not supported for this message (e.g. authentication templates need a phone). */
export const UNREACHABLE_CODES = new Set([131026, 1013, 131021, 131062]);
/** Re-engagement: free-form message outside the 24-hour customer-service window. */
export const REENGAGEMENT_CODE = 131047;

/**
 * Records the message (if new) and sends it unless it was already sent or is being sent. With a Work (lib/work.ts)
 * this is its flushing send: the work's pending statements always run, in the round trip that records the
 * outcome, or alone when there is nothing to send.
 */
export async function sendOnce(m: OutboxMessage, work?: Work): Promise<SendOutcome> {
  const rows = await claimStatement(claimRow(m));
  const claimed = rows[0];
  if (!claimed) {
    await recordAttempts([], work);
    return 'duplicate';
  }
  return deliver(claimedOf(claimed), work);
}

/** Sends a claimed row and records the outcome; the work's pending statements (if any) run in the same round trip as the record. */
export async function deliver(c: Claimed, work?: Work): Promise<SendOutcome> {
  const attempt = await attemptSend(c);
  await recordAttempts([attempt], work);
  return attempt.outcome;
}

/**
 * Records attempts (with the outbox's own statements `own`, and the work's pending statements, flushed here) in one
 * round trip, then runs their follow-ups. A send that went out but could not be recorded stays claimed: Meta's
 * `sent` status (matched by the key in biz_opaque_callback_data) records it before the claim lapses, and sending
 * again would send twice.
 */
export async function recordAttempts(attempts: Attempt[], work?: Work, own: Query[] = []): Promise<void> {
  const queries = [...attempts.map((a) => a.record), ...own, ...(work?.flush() ?? [])];
  if (queries.length === 0) return;
  try {
    await (queries.length === 1 ? queries[0]! : db().transaction(queries));
  } catch (error) {
    if (attempts.some((a) => a.outcome !== 'sent')) throw error;
    log.error('outbox.mark_sent_failed', { messages: attempts.length, error });
    return;
  }
  for (const a of attempts) await a.afterRecord?.();
}

/** The Graph POST with its in-process retries; nothing is written (see Attempt). */
export async function attemptSend(c: Claimed): Promise<Attempt> {
  if (c.unreachableAt) return skipUnreachable(c);
  const address = sendAddressOf(c.to);
  if (!address) return failWithoutAddress(c);
  const body = toGraphBody(address, c.message, c.key);
  let lastError: WhatsAppSendError | undefined;
  for (let i = 0; i < IN_PROCESS_TRIES; i++) {
    if (i > 0) await sleep(backoffMs(i));
    let wamid: string;
    try {
      ({ wamid } = await postGraphMessage(body));
    } catch (error) {
      lastError = error instanceof WhatsAppSendError ? error : new WhatsAppSendError(0, null, String(error), true);
      // Meta has no idempotency key for sends: a send that may have gone out is not repeated now, but
      // left for Meta's status webhook (which echoes the key in biz_opaque_callback_data) to reconcile.
      // The pair rate limit (one customer, too many messages) is not lifted by a quick retry: deferred.
      if (!lastError.retryable || lastError.ambiguous || lastError.code === PAIR_RATE_CODE) break;
      continue;
    }
    log.info('whatsapp.sent', { kind: c.kind, to: maskIdentity(c.to), attempt: c.attempts + i });
    return {
      outcome: 'sent',
      record: markSent(c.id, wamid, 'to' in address ? address.to : null, 'recipient' in address ? address.recipient : null),
    };
  }
  const e = lastError!;
  const code = e.code ?? e.status;
  if (!e.retryable || c.attempts >= MAX_ATTEMPTS) {
    log.warn('whatsapp.send_failed', { kind: c.kind, to: maskIdentity(c.to), status: e.status, code: e.code, title: e.title });
    return {
      outcome: 'failed',
      record: markFailed(c.id, code, e.title),
      afterRecord: () =>
        handleFailedMessage(
          { id: c.id, key: c.key, kind: c.kind, orderId: c.orderId, customerId: c.customerId, to: c.to, template: templateOf(c.message), fallback: c.fallback },
          { code, title: e.title },
          { deliveredBefore: false, source: 'send', httpStatus: e.status },
        ),
    };
  }
  // A send that may have reached Meta waits out the claim, so its `sent` status can arrive first.
  const waitSeconds = e.ambiguous ? CLAIM_SECONDS : Math.max(backoffMs(c.attempts + 2) / 1000, e.code === PAIR_RATE_CODE ? PAIR_RATE_SECONDS : 0);
  log.warn('whatsapp.send_deferred', { kind: c.kind, to: maskIdentity(c.to), status: e.status, code: e.code });
  return {
    outcome: 'retry_later',
    record: markDeferred(c.id, waitSeconds, code, e.title),
  };
}

/** A customer row without phone or BSUID cannot exist (CHECK), but a legacy row may have lost both. */
function failWithoutAddress(c: Claimed): Attempt {
  log.error('whatsapp.send_unaddressed', { kind: c.kind, messageId: c.id });
  return {
    outcome: 'failed',
    record: markFailed(c.id, null, 'no phone or BSUID to address'),
  };
}

function skipUnreachable(c: Claimed): Attempt {
  const title = `not sent: customer unreachable on WhatsApp since ${c.unreachableAt!.toISOString()}`;
  log.warn('whatsapp.send_skipped', { kind: c.kind, to: maskIdentity(c.to), reason: 'unreachable' });
  return {
    outcome: 'skipped',
    record: markFailed(c.id, null, title),
    afterRecord: () => alertMessage('message_skipped', { id: c.id, kind: c.kind, orderId: c.orderId, template: templateOf(c.message), to: c.to }, { code: null, title }, { reason: 'customer_unreachable' }),
  };
}

export type FailedMessage = {
  id: string;
  key: string;
  kind: string;
  orderId: string | null;
  customerId: string | null;
  /** The address the message went to (for logs and alerts, masked). */
  to: WaIdentity;
  template: string | null;
  fallback: OutgoingMessage | null;
};

export type FailureHandling = 'reengaged' | 'alerted';

/**
 * The fallback for a message that failed for good, whether the Graph API refused it (source
 * 'send') or Meta reported `failed` later (source 'status'). When the message had already been
 * delivered or read (a customer with several devices), or when this is a repeated `failed`,
 * only the (once-per-message) alert is raised: the customer did get it, so they are neither
 * marked unreachable nor sent the template again.
 */
export async function handleFailedMessage(
  m: FailedMessage,
  error: { code: number | null; title: string },
  ctx: { deliveredBefore: boolean; source: 'send' | 'status'; httpStatus?: number; repeated?: boolean },
): Promise<FailureHandling> {
  // The template send is keyed by the message, so a repeated failure never sends it twice.
  if (!ctx.deliveredBefore && error.code === REENGAGEMENT_CODE && m.fallback && m.customerId) {
    log.info('whatsapp.reengage_with_template', { kind: m.kind, to: maskIdentity(m.to) });
    await sendOnce({ eventKey: messageKeys.reengage(m.key), kind: m.kind, customerId: m.customerId, orderId: m.orderId, message: m.fallback });
    return 'reengaged';
  }
  let markedUnreachable = false;
  if (!ctx.deliveredBefore && !ctx.repeated && error.code !== null && UNREACHABLE_CODES.has(error.code) && m.customerId) {
    await markCustomerUnreachable(m.customerId, m.to);
    markedUnreachable = true;
  }
  await alertMessage('message_failed', m, { code: error.code, title: error.title, ...(ctx.httpStatus ? { httpStatus: ctx.httpStatus } : {}) }, {
    source: ctx.source,
    deliveredBefore: ctx.deliveredBefore,
    customerMarkedUnreachable: markedUnreachable,
  });
  return 'alerted';
}

/** The ops alert for a message that was not delivered (one per message: keyed by its id). */
async function alertMessage(
  kind: 'message_failed' | 'message_skipped',
  m: { id: string; kind: string; orderId: string | null; template: string | null; to: WaIdentity },
  error: Record<string, unknown>,
  extra: Record<string, unknown>,
): Promise<void> {
  await raiseOpsAlert({
    key: `failed:${m.id}`,
    kind,
    orderId: m.orderId,
    messageId: m.id,
    details: { message: { id: m.id, kind: m.kind, template: m.template }, error, to: maskIdentity(m.to), ...extra },
  }).catch((e) => log.error('ops.alert_failed', { error: e }));
}

async function markCustomerUnreachable(customerId: string, to: WaIdentity): Promise<void> {
  try {
    await markUnreachableQuery(customerId);
    log.warn('customer.unreachable', { to: maskIdentity(to) });
  } catch (error) {
    log.error('customer.mark_unreachable_failed', { to: maskIdentity(to), error });
  }
}

/** Exponential backoff with jitter: ~250 ms, 500 ms, 1 s, … capped at 60 s (half fixed, half random). */
function backoffMs(attempt: number): number {
  const cap = Math.min(60_000, 250 * 2 ** (attempt - 1));
  return Math.round(cap / 2 + Math.random() * (cap / 2));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
