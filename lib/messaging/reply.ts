import { db, type Query } from '../db.js';
import type { WaIdentity } from '../identity.js';
import { attemptSend, claimedOf, claimRow, recordAttempts, type Claimed, type OutboxMessage, type SendOutcome } from './outbox.js';
import { CLAIM_SECONDS, claimStatement, fillReservation, reclaimReservation, releaseLapsedReservationQuery, releaseReservationQuery, reservedQuery } from './outbox-store.js';
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

export { isReserved, RESERVATION_JSON, RESERVED_PAYLOAD, reservationCte } from './outbox-store.js';

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
      fill.push(fillReservation(reservation.id, claimRow(m)));
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
export const releaseReservation = (r: Reservation): Query => releaseReservationQuery(r.id, r.lockedUntil);

/** Deletes a lapsed reservation of this answer left by a request that died (the re-drive finishing the event). */
export const releaseLapsedReservation = (eventKey: string): Query => releaseLapsedReservationQuery(outboxKey(eventKey));

/** The holder, past its trust window, retakes its reservation by its lock (nobody else could have). */
async function reclaim(r: Reservation, m: OutboxMessage): Promise<Claimed | null> {
  const rows = await reclaimReservation(r.id, r.lockedUntil, claimRow(m));
  return rows[0] ? claimedOf(rows[0]) : null;
}

/**
 * The outbox's claim (insert-or-retake, ./outbox-store.ts) for an answer: a retaken reservation gets its payload; a
 * live reservation held elsewhere throws ReplyReservedElsewhere. One round trip (claim, then the check).
 */
async function claim(m: OutboxMessage): Promise<Claimed | null> {
  const row = claimRow(m);
  const [rows = [], reserved = []] = await db().transaction([claimStatement(row, { fillReserved: true }), reservedQuery(row.key)]);
  if (rows[0]) return claimedOf(rows[0]);
  if (reserved[0]) throw new ReplyReservedElsewhere();
  return null;
}
