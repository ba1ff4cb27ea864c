import { db, type Query } from '../db.js';
import type { RedisRider } from '../redis.js';

/**
 * One inbound event's processing, handed down to whoever sends its final message, so the work
 * around that send costs no round trips of its own:
 *  - `rider`: Redis writes waiting for the next Redis request (the batch's seen marks, the
 *    conversation state); a stock read takes them along (`availableStock(skus, turn.rider)`).
 *  - `finish(outcome)`: the statement marking the event processed, to run in the round trip that
 *    records the final send (`sendOnce(m, turn.finish(null))`, `deliver(c, …)`, `recordAttempts(a, …)`).
 *    It is handed out once; if nobody took it, processing runs it alone afterwards. If the round
 *    trip that carries it fails, the event stays unprocessed and the re-drive takes it again
 *    (every send is keyed by the event, so nothing goes out twice).
 */
export class InboundTurn {
  private handedOut = false;
  private outcome: string | null = null;

  constructor(
    readonly eventId: string,
    readonly rider: RedisRider,
  ) {}

  /** The finishing statement (once; later calls get none): the event processed with this outcome. */
  finish(outcome: string | null = null): Query[] {
    if (this.handedOut) return [];
    this.handedOut = true;
    this.outcome = outcome;
    return [markProcessed(this.eventId, outcome)];
  }

  /** Whether someone took the finishing statement (and with it the duty to run it). */
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
