/**
 * The pace of Graph API sends from this process (a function instance, the dedicated backend).
 *
 * Meta allows a business phone number 80 messages per second by default (up to 1 000 after its automatic
 * upgrade), inbound and outbound together, and answers 130429 above it; one customer may get only about
 * one message every 6 seconds in a sustained run (131056, "pair rate limit"). The outbox paces itself so
 * that a broadcast or a flash sale does not spend its sends on refusals:
 *  - at most `ratePerSecond` sends count at once: those in flight and those answered within the last second
 *    (a burst up to the level goes at once, the next waits until the oldest answer is a second old);
 *  - after a 130429 every send of this process waits a shared cool-down (1 s, doubling while refusals
 *    continue, at most 30 s; a success resets it), instead of each send retrying on its own;
 *  - a 131056 is not retried in process: the outbox defers that message (`PAIR_RATE_SECONDS`).
 * State is per process: other instances learn the limit from their own 130429s.
 */
import { getConfig } from '../config.js';

export const DEFAULT_SENDS_PER_SECOND = 80;
/** How long a message refused by the pair rate limit waits before its next attempt. */
export const PAIR_RATE_SECONDS = 6;
export const THROTTLED_CODE = 130429;
export const PAIR_RATE_CODE = 131056;

const WINDOW_MS = 1_000;
const MIN_COOLDOWN_MS = 1_000;
const MAX_COOLDOWN_MS = 30_000;

type Slot = { doneAt: number | null };

export class SendPace {
  /** The sends that count against the level now: in flight (doneAt null) or answered within the last second. */
  private slots: Slot[] = [];
  private pausedUntil = 0;
  private cooldownMs = 0;
  /** Sends waiting for their turn, in arrival order. */
  private queue: Promise<void> = Promise.resolve();
  private released: (() => void) | null = null;

  constructor(
    readonly ratePerSecond = DEFAULT_SENDS_PER_SECOND,
    private readonly now: () => number = Date.now,
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
  ) {}

  /**
   * Resolves when this send may start (sends start in the order they asked), with the function to call once
   * Meta answered it. A send reached Meta before its answer came back, so a new one started a second after that
   * answer lands in another of Meta's seconds, whatever the latency of the way there.
   */
  take(): Promise<() => void> {
    const turn = this.queue.then(() => this.wait());
    this.queue = turn.then(() => {}, () => {});
    return turn;
  }

  private async wait(): Promise<() => void> {
    for (;;) {
      const now = this.now();
      if (now < this.pausedUntil) {
        await this.sleep(this.pausedUntil - now);
        continue;
      }
      this.slots = this.slots.filter((s) => s.doneAt === null || s.doneAt > now - WINDOW_MS);
      if (this.slots.length < this.ratePerSecond) break;
      const answered = this.slots.filter((s) => s.doneAt !== null).map((s) => s.doneAt!);
      if (answered.length > 0) await this.sleep(Math.min(...answered) + WINDOW_MS - now);
      else await new Promise<void>((r) => (this.released = r)); // every slot in flight: the next answer frees one
    }
    const slot: Slot = { doneAt: null };
    this.slots.push(slot);
    return () => {
      slot.doneAt = this.now();
      this.released?.();
      this.released = null;
    };
  }

  /** Meta said 130429: every send of this process waits the cool-down. */
  throttled(): void {
    this.cooldownMs = Math.min(MAX_COOLDOWN_MS, Math.max(MIN_COOLDOWN_MS, this.cooldownMs * 2));
    this.pausedUntil = Math.max(this.pausedUntil, this.now() + this.cooldownMs);
  }

  /** A send went through: the cool-down starts again from its minimum next time. */
  succeeded(): void {
    this.cooldownMs = 0;
  }

  /** Milliseconds until sends may start again (0 when not paused), for logs and tests. */
  pausedForMs(): number {
    return Math.max(0, this.pausedUntil - this.now());
  }
}

let pace: SendPace | undefined;

/** This process's pace of Graph sends, at the number's throughput level (WHATSAPP_SENDS_PER_SECOND). */
export function sendPace(): SendPace {
  return (pace ??= new SendPace(getConfig().WHATSAPP_SENDS_PER_SECOND));
}
