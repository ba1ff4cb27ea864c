import { db, type Query } from '../db.js';
import type { WaIdentity } from '../identity.js';
import { ADDRESSED_SQL, attemptSend, CLAIM_SECONDS, claimedOf, recordAttempts, type Claimed, type OutboxMessage, type SendOutcome } from './outbox.js';
import { outboxKey } from './keys.js';
import type { Work } from '../work.js';

/**
 * The answer to an inbound message (outbox key `reply:<wamid>`), with its outbox row claimed by the
 * statement that records the message (a reservation), so the answer costs one Postgres round trip:
 * the one that records it as sent, the event processed alongside.
 *
 * A reservation is an outbox row in status `sending` whose payload is RESERVED (the answer is not
 * known yet), locked for CLAIM_SECONDS like any claim. Its holder (the request that recorded the
 * message) sends without a claim statement while at least SEND_MARGIN_SECONDS of the lock are left
 * (measured from before the recording statement was sent, so on its own clock), and writes the
 * payload in the round trip that records the outcome. Later it first retakes its own reservation by
 * its lock (reclaim, one statement). Everyone else treats a live reservation as a claim held
 * elsewhere: `sendReply` without it throws ReplyReservedElsewhere (the event stays for the re-drive),
 * retryDueMessages never takes a reserved row (there is nothing to send), and once the lock lapses
 * the next claim takes the row and writes the payload. A holder that sends no answer (an order was
 * placed, a reaction) deletes the reservation in the statement that marks the event processed.
 *
 * Crashes: before the send, the lock lapses and the re-drive's claim answers; after the send but
 * before its record, Meta's `sent` status (matched by the key in biz_opaque_callback_data) marks the
 * row sent before the lock lapses, as for any claim; the payload then stays RESERVED.
 */

export const RESERVED_PAYLOAD = '{"type": "reserved"}';
/** SQL: the row `alias` is a reservation nobody filled (no answer to send). */
export const isReserved = (alias: string) => `${alias}.payload = '${RESERVED_PAYLOAD}'::jsonb`;

/** The lock time a holder keeps for the send itself (in-process tries: 3 × 10 s timeout + backoff). */
const SEND_MARGIN_SECONDS = 60;

export type Reservation = {
  id: string;
  /** Hashed outbox key (reply:<wamid>). */
  key: string;
  customerId: string;
  /** locked_until as Postgres wrote it (the holder's token). */
  lockedUntil: string;
  /** Local time until which the holder may send without retaking (see SEND_MARGIN_SECONDS). */
  trustUntil: number;
  to: WaIdentity;
  unreachableAt: Date | null;
};

/**
 * The CTE body that reserves the answer's row for each row of `messages` with a `reply_key`,
 * addressed to the customer of `linked` (key → customer_id). Returns the jsonb each Reservation is
 * read from (reservationOf), with the customer's address as it was before the statement (the
 * message's own identity is preferred by the caller) and whether Meta marked them unreachable after
 * their last message (this one included).
 */
export function reservationCte(messages: string, linked: string): string {
  return `INSERT INTO outbound_messages (idempotency_key, kind, customer_id, payload, status, attempts, locked_until)
       SELECT m.reply_key, 'reply', l.customer_id, '${RESERVED_PAYLOAD}'::jsonb, 'sending', 1, now() + make_interval(secs => ${CLAIM_SECONDS})
       FROM ${messages} m JOIN ${linked} l ON l.key = m.key
       WHERE m.reply_key IS NOT NULL
       ON CONFLICT (idempotency_key) DO NOTHING
       RETURNING id, idempotency_key, customer_id, locked_until`;
}

/** The select list (after FROM `reserved` r JOIN `messages` m ON m.reply_key = r.idempotency_key LEFT JOIN customers c) of one reservation. */
export const RESERVATION_JSON = `jsonb_build_object('id', r.id, 'key', r.idempotency_key, 'customerId', r.customer_id, 'lockedUntil', r.locked_until,
    'waId', c.wa_id, 'bsuid', c.bsuid,
    'unreachableAt', CASE WHEN c.unreachable_at IS NOT NULL AND (GREATEST(c.last_inbound_at, m.at) IS NULL OR GREATEST(c.last_inbound_at, m.at) < date_trunc('second', c.unreachable_at)) THEN c.unreachable_at END)`;

export function reservationOf(j: Record<string, unknown>, from: WaIdentity, sentAt: number): Reservation {
  return {
    id: String(j.id),
    key: String(j.key),
    customerId: String(j.customerId),
    lockedUntil: String(j.lockedUntil),
    trustUntil: sentAt + (CLAIM_SECONDS - SEND_MARGIN_SECONDS) * 1000,
    to: { waId: from.waId ?? (j.waId as string | null) ?? null, userId: from.userId ?? (j.bsuid as string | null) ?? null },
    unreachableAt: j.unreachableAt ? new Date(String(j.unreachableAt)) : null,
  };
}

/** A live reservation of this answer is held by another request: the event is left for the re-drive. */
export class ReplyReservedElsewhere extends Error {
  constructor() {
    super('the answer is reserved by the request that recorded the message; the re-drive answers once its lock lapses');
    this.name = 'ReplyReservedElsewhere';
  }
}

/**
 * Sends the answer once: through the reservation when this request holds it, else by claiming its
 * row. With a Work, this is its flushing send: the work's pending statements run in the round trip that records the
 * outcome (or alone when nothing is sent).
 */
export async function sendReply(m: OutboxMessage, reservation: Reservation | null, work?: Work): Promise<SendOutcome> {
  let claimed: Claimed | null;
  const fill: Query[] = [];
  if (reservation && reservation.key === outboxKey(m.eventKey)) {
    if (Date.now() < reservation.trustUntil) {
      claimed = { id: reservation.id, key: reservation.key, customerId: reservation.customerId, to: reservation.to, kind: m.kind, orderId: null, message: m.message, fallback: m.fallback ?? null, attempts: 1, unreachableAt: reservation.unreachableAt };
      fill.push(fillPayload(reservation.id, m));
    } else claimed = await reclaim(reservation, m);
  } else claimed = await claim(m);
  if (!claimed) {
    await recordAttempts([], work);
    return 'duplicate';
  }
  const attempt = await attemptSend(claimed);
  await recordAttempts([attempt], work, fill);
  return attempt.outcome;
}

declare module '../work.js' {
  interface ReadAhead {
    /** The answer's outbox row, reserved by the inbound recording statement (`reply:<wamid>`): sent through without a claim. */
    reply: Reservation;
  }
}

/**
 * Sends the answer of the work's message: through the reservation the work carries when it is this answer's
 * (taken: used once), else by claiming its row. `flush`: the final send, the work's pending statements (the event
 * finished with `outcome`) recorded in its round trip.
 */
export function replyWithin(work: Work, m: OutboxMessage, opts: { flush?: boolean; outcome?: string | null } = {}): Promise<SendOutcome> {
  const mine = !work.flushed && work.ahead('reply')?.key === outboxKey(m.eventKey) ? work.take('reply') : null;
  return sendReply(m, mine, opts.flush ? (opts.outcome !== undefined ? work.finishAs(opts.outcome) : work) : undefined);
}

/** Deletes this request's unused reservation (it sends no answer), in the statement that finishes the event. */
export const releaseReservation = (r: Reservation): Query =>
  db()`DELETE FROM outbound_messages WHERE id = ${r.id} AND status = 'sending' AND payload = ${RESERVED_PAYLOAD}::jsonb AND locked_until = ${r.lockedUntil}::timestamptz`;

/** Deletes a lapsed reservation of this answer left by a request that died (the re-drive finishing the event). */
export const releaseLapsedReservation = (eventKey: string): Query =>
  db()`DELETE FROM outbound_messages WHERE idempotency_key = ${outboxKey(eventKey)} AND status = 'sending' AND payload = ${RESERVED_PAYLOAD}::jsonb AND locked_until < now()`;

const fillPayload = (id: string, m: OutboxMessage): Query =>
  db()`UPDATE outbound_messages SET payload = ${JSON.stringify(m.message)}::jsonb, fallback_payload = ${m.fallback ? JSON.stringify(m.fallback) : null}::jsonb,
         template = ${m.message.type === 'template' ? m.message.name : null}, kind = ${m.kind}
       WHERE id = ${id} AND payload = ${RESERVED_PAYLOAD}::jsonb`;

const RETURNED = 'id, idempotency_key, customer_id, to_wa_id, kind, order_id, payload, fallback_payload, attempts';

/** The holder, past its trust window, retakes its reservation by its lock (nobody else could have). */
async function reclaim(r: Reservation, m: OutboxMessage): Promise<Claimed | null> {
  const rows = await db().query(
    `WITH claimed AS (
       UPDATE outbound_messages SET payload = $2::jsonb, fallback_payload = $3::jsonb, template = $4, kind = $5, attempts = attempts + 1,
              locked_until = now() + make_interval(secs => $6), updated_at = now()
       WHERE id = $1 AND status = 'sending' AND ${isReserved('outbound_messages')} AND locked_until = $7::timestamptz
       RETURNING ${RETURNED}
     )
     ${ADDRESSED_SQL('claimed')}`,
    [r.id, JSON.stringify(m.message), m.fallback ? JSON.stringify(m.fallback) : null, m.message.type === 'template' ? m.message.name : null, m.kind, CLAIM_SECONDS, r.lockedUntil],
  );
  return rows[0] ? claimedOf(rows[0]) : null;
}

/**
 * outbox.ts's claim (insert-or-retake) for an answer: a retaken reservation gets its payload; a live
 * reservation held elsewhere throws ReplyReservedElsewhere. One round trip (claim, then the check).
 */
async function claim(m: OutboxMessage): Promise<Claimed | null> {
  const key = outboxKey(m.eventKey);
  const sql = db();
  const [rows = [], reserved = []] = await sql.transaction([
    sql.query(
      `WITH claimed AS (
         INSERT INTO outbound_messages (idempotency_key, kind, order_id, customer_id, template, payload, fallback_payload, status, attempts, locked_until)
         VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, 'sending', 1, now() + make_interval(secs => $8))
         ON CONFLICT (idempotency_key) DO UPDATE
           SET status = 'sending', attempts = outbound_messages.attempts + 1,
               locked_until = now() + make_interval(secs => $8), updated_at = now(),
               payload = CASE WHEN ${isReserved('outbound_messages')} THEN excluded.payload ELSE outbound_messages.payload END,
               fallback_payload = CASE WHEN ${isReserved('outbound_messages')} THEN excluded.fallback_payload ELSE outbound_messages.fallback_payload END
           WHERE (outbound_messages.status = 'pending' AND outbound_messages.next_attempt_at <= now())
              OR (outbound_messages.status = 'sending' AND outbound_messages.locked_until < now())
         RETURNING ${RETURNED}
       )
       ${ADDRESSED_SQL('claimed')}`,
      [key, m.kind, m.orderId ?? null, m.customerId, m.message.type === 'template' ? m.message.name : null, JSON.stringify(m.message), m.fallback ? JSON.stringify(m.fallback) : null, CLAIM_SECONDS],
    ),
    sql.query(`SELECT 1 AS reserved FROM outbound_messages o WHERE o.idempotency_key = $1 AND o.status = 'sending' AND ${isReserved('o')}`, [key]),
  ]);
  if (rows[0]) return claimedOf(rows[0]);
  if (reserved[0]) throw new ReplyReservedElsewhere();
  return null;
}
