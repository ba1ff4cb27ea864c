import { createHash } from 'node:crypto';
import { db } from './db.js';
import { log, maskPhone } from './log.js';
import { postGraphMessage, WhatsAppSendError } from './whatsapp/graph-client.js';
import { toGraphBody, type OutgoingMessage } from './whatsapp/messages.js';

/**
 * The one way a WhatsApp message leaves the shop. Each send is a row keyed by
 * sha256(business event key) (e.g. "confirmation:<orderId>", "reply:<wamid>"):
 *   claim (insert-or-retake, one statement) → Graph POST → mark sent with the wamid.
 * A replay, a concurrent duplicate or a crash between steps never sends twice:
 * only the claimer sends, and a claim left by a crashed sender is retaken only after
 * its lock lapses, by which time Meta's status webhook (tagged with the key in
 * biz_opaque_callback_data) has normally reconciled it to `sent`.
 */

export type OutboxMessage = {
  eventKey: string;
  kind: string;
  toWaId: string;
  message: OutgoingMessage;
  orderId?: string | null;
};

export type SendOutcome = 'sent' | 'duplicate' | 'retry_later' | 'failed';

const CLAIM_SECONDS = 120;
const MAX_ATTEMPTS = 8;
const IN_PROCESS_TRIES = 3;

export function outboxKey(eventKey: string): string {
  return createHash('sha256').update(eventKey).digest('hex');
}

/** Records the message (if new) and sends it unless it was already sent or is being sent. */
export async function sendOnce(m: OutboxMessage): Promise<SendOutcome> {
  const key = outboxKey(m.eventKey);
  const template = m.message.type === 'template' ? m.message.name : null;
  const [claimed] = await db()`
    INSERT INTO outbound_messages (idempotency_key, kind, order_id, to_wa_id, template, payload, status, attempts, locked_until)
    VALUES (${key}, ${m.kind}, ${m.orderId ?? null}, ${m.toWaId}, ${template}, ${JSON.stringify(m.message)}::jsonb,
            'sending', 1, now() + make_interval(secs => ${CLAIM_SECONDS}))
    ON CONFLICT (idempotency_key) DO UPDATE
      SET status = 'sending', attempts = outbound_messages.attempts + 1,
          locked_until = now() + make_interval(secs => ${CLAIM_SECONDS}), updated_at = now()
      WHERE (outbound_messages.status = 'pending' AND outbound_messages.next_attempt_at <= now())
         OR (outbound_messages.status = 'sending' AND outbound_messages.locked_until < now())
    RETURNING id, attempts`;
  if (!claimed) return 'duplicate';
  return deliver(claimed.id as string, key, m.toWaId, m.kind, m.message, claimed.attempts as number);
}

/** Sends messages whose earlier attempt failed transiently or whose sender died. Used by the cleanup run. */
export async function retryDueMessages(limit: number): Promise<number> {
  const due = await db()`
    UPDATE outbound_messages SET status = 'sending', attempts = attempts + 1,
           locked_until = now() + make_interval(secs => ${CLAIM_SECONDS}), updated_at = now()
    WHERE id IN (
      SELECT id FROM outbound_messages
      WHERE (status = 'pending' AND next_attempt_at <= now()) OR (status = 'sending' AND locked_until < now())
      ORDER BY next_attempt_at LIMIT ${limit} FOR UPDATE SKIP LOCKED)
    RETURNING id, idempotency_key, to_wa_id, kind, payload, attempts`;
  await Promise.all(
    due.map((r) =>
      deliver(r.id as string, r.idempotency_key as string, r.to_wa_id as string, r.kind as string, r.payload as OutgoingMessage, r.attempts as number),
    ),
  );
  return due.length;
}

async function deliver(id: string, key: string, to: string, kind: string, message: OutgoingMessage, attempts: number): Promise<SendOutcome> {
  const body = toGraphBody(to, message, key);
  let lastError: WhatsAppSendError | undefined;
  for (let i = 0; i < IN_PROCESS_TRIES; i++) {
    if (i > 0) await sleep(backoffMs(i));
    try {
      const { wamid } = await postGraphMessage(body);
      await db()`
        UPDATE outbound_messages
        SET status = 'sent', wamid = ${wamid}, sent_at = now(), locked_until = NULL, error_code = NULL, error_title = NULL,
            delivery_status = COALESCE(delivery_status, 'sent'), updated_at = now()
        WHERE id = ${id}`;
      log.info('whatsapp.sent', { kind, to: maskPhone(to), attempt: attempts + i });
      return 'sent';
    } catch (error) {
      lastError = error instanceof WhatsAppSendError ? error : new WhatsAppSendError(0, null, String(error), true);
      if (!lastError.retryable) break;
    }
  }
  const e = lastError!;
  if (!e.retryable || attempts >= MAX_ATTEMPTS) {
    await db()`
      UPDATE outbound_messages SET status = 'failed', locked_until = NULL, error_code = ${e.code ?? e.status}, error_title = ${e.title}, updated_at = now()
      WHERE id = ${id}`;
    log.warn('whatsapp.send_failed', { kind, to: maskPhone(to), status: e.status, code: e.code, title: e.title });
    return 'failed';
  }
  await db()`
    UPDATE outbound_messages
    SET status = 'pending', locked_until = NULL, next_attempt_at = now() + make_interval(secs => ${backoffMs(attempts + 2) / 1000}),
        error_code = ${e.code ?? e.status}, error_title = ${e.title}, updated_at = now()
    WHERE id = ${id}`;
  log.warn('whatsapp.send_deferred', { kind, to: maskPhone(to), status: e.status, code: e.code });
  return 'retry_later';
}

/** Exponential backoff with full jitter: ~250 ms, 500 ms, 1 s, … capped at 60 s. */
function backoffMs(attempt: number): number {
  const cap = Math.min(60_000, 250 * 2 ** (attempt - 1));
  return Math.round(cap / 2 + Math.random() * (cap / 2));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
