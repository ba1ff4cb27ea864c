import { db, type Query } from '../db.js';
import type { OutboxMessage, SendOutcome } from '../messaging/outbox.js';
import { releaseLapsedReservation, releaseReservation, sendReply, type Reservation } from '../messaging/reply.js';
import type { PlacementRead } from '../orders/place.js';
import type { InboxState } from '../inbox/handover-state.js';
import type { RedisRider } from '../redis.js';

/**
 * One inbound event's processing, handed down to whoever sends its final message, so the work
 * around that send costs no round trips of its own:
 *  - `rider`: Redis writes waiting for the next Redis request (the catalog version read, the
 *    conversation state); a stock read takes them along (`availableStock(skus, turn.rider)`).
 *  - `reply(m, { finish })`: the answer (key `reply:<wamid>`) through the outbox row the recording
 *    statement reserved for it (lib/messaging/reply.ts): no claim statement.
 *  - `finish(outcome)`: the statements finishing the event (marked processed; the unused reservation
 *    deleted), to run in the round trip that records the final send (`sendOnce(m, turn.finish())`,
 *    `deliver(c, …)`, `recordAttempts(a, …)`). Handed out once, to the last send; if nobody took
 *    them, processing runs them alone afterwards. If the round trip carrying them fails, the event
 *    stays unprocessed and the re-drive takes it again (every send is keyed by the event, so nothing
 *    goes out twice).
 */
export class InboundTurn {
  /** The order placement's first read, made by the recording statement (lib/orders/place.ts placementReadSql). */
  placement: PlacementRead | null = null;
  /** The conversation's handover state, read by the recording statement (lib/inbox); null: bot mode, nothing recorded. */
  inbox: InboxState | null = null;
  private handedOut = false;
  private extra: Query[] = [];
  private outcome: string | null = null;
  private reservationUsed = false;

  constructor(
    readonly eventId: string,
    readonly rider: RedisRider,
    /** `reply:<wamid>` for a message (null for a status). */
    private readonly replyKey: string | null = null,
    private readonly reservation: Reservation | null = null,
  ) {}

  /** The finishing statements (once; later calls get none): the event processed with this outcome. */
  finish(outcome: string | null = null): Query[] {
    if (this.handedOut) return [];
    this.handedOut = true;
    this.outcome = outcome;
    const release = this.reservation ? (this.reservationUsed ? [] : [releaseReservation(this.reservation)]) : this.replyKey ? [releaseLapsedReservation(this.replyKey)] : [];
    return [markProcessed(this.eventId, outcome), ...release, ...this.extra];
  }

  /** A statement to run with the finishing ones (in their round trip); call it before the final send. */
  also(q: Query): void {
    if (this.handedOut) throw new Error('InboundTurn.also after the finishing statements were handed out');
    this.extra.push(q);
  }

  /** Sends the answer to this message; `finish` makes it the final send (the event finished in its round trip). */
  reply(m: OutboxMessage, opts: { finish?: boolean; outcome?: string | null } = {}): Promise<SendOutcome> {
    const mine = !!this.reservation && !this.handedOut && m.eventKey === this.replyKey;
    if (mine) this.reservationUsed = true;
    return sendReply(m, mine ? this.reservation : null, opts.finish ? this.finish(opts.outcome ?? null) : []);
  }

  /** Whether someone took the finishing statements (and with them the duty to run them). */
  get finished(): boolean {
    return this.handedOut;
  }

  /** The outcome the finishing statement recorded. */
  get finishedWith(): string | null {
    return this.outcome;
  }
}

export const markProcessed = (eventId: string, outcome: string | null): Query =>
  db()`UPDATE inbound_events SET processed_at = now(), attempts = attempts + 1, last_error = NULL, outcome = COALESCE(${outcome}, outcome) WHERE id = ${eventId}`;
