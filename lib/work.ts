import type { Query } from './db.js';
import { log } from './log.js';
import { redis, type RedisPipeline } from './redis.js';

/**
 * One explicit unit of work (docs/architecture.md, "The unit of work"): what a flow has decided but not yet sent, carried through
 * its steps and flushed at exactly the points where its round trips happen.
 *   - `also(q)` / `flush(outcome)`: Postgres statements waiting for the next round trip that takes them (the final
 *     send's "sent" record, or alone at the end), with the statements that close the work (`closeWith`).
 *   - `redis`: Redis writes and reads nobody waits for (the conversation state, the catalog version), sent with the
 *     next Redis request of the work (a stock read, a hold script) or by its `flush` at the end.
 *   - `after(what, run)` / `runAfter()`: effects to run once the work's state is durable (WhatsApp sends, alerts).
 *   - `readAhead(slot, fact)` / `ahead(slot)` / `take(slot)`: facts an earlier statement read (or claimed) for a
 *     later step, so that step costs no round trip of its own. The flow that fuses them says so.
 * A Work is created by the flow of one entry point (lib/conversation/inbound-flow.ts for an inbound event) and
 * handed down; nothing here knows the domain: the slots are declared by the modules owning their facts
 * (`declare module '../work.js' { interface ReadAhead { … } }`).
 */

/** The named, typed facts a Work can carry (each declared by the module that owns it). */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface ReadAhead {}

export class Work {
  private statements: Query[] = [];
  private closing: ((outcome: string | null) => Query[]) | null = null;
  private handedOut = false;
  private closedWith: string | null = null;
  private effects: { what: string; run: () => Promise<unknown> }[] = [];
  private facts: Partial<ReadAhead> = {};
  /** Pending Redis work; shared by the Works of one batch (their requests made in one turn share a pipeline). */
  readonly redis: PendingRedis;

  constructor(
    readonly name: string,
    opts: { redis?: PendingRedis } = {},
  ) {
    this.redis = opts.redis ?? new PendingRedis();
  }

  // ── Postgres ─────────────────────────────────────────────────────────────────────────────────────────────────

  /** The statements that close this work (e.g. its inbound event marked processed with the outcome), added by `flush`. */
  closeWith(close: (outcome: string | null) => Query[]): this {
    this.closing = close;
    return this;
  }

  /** A statement to run in the round trip that flushes the work; call it before that flush. */
  also(q: Query): void {
    if (this.handedOut) throw new Error(`${this.name}: a statement added after the work was flushed`);
    this.statements.push(q);
  }

  /** The outcome the closing statements will record, when the flushing send is made before the flow knows it otherwise. */
  finishAs(outcome: string | null): this {
    if (!this.handedOut) this.closedWith = outcome;
    return this;
  }

  /**
   * Hands the pending statements (the closing ones first, recording `outcome`, else the one given to finishAs) to the
   * round trip that runs them: once; later calls get none.
   */
  flush(outcome?: string | null): Query[] {
    if (this.handedOut) return [];
    this.handedOut = true;
    if (outcome !== undefined) this.closedWith = outcome;
    return [...(this.closing?.(this.closedWith) ?? []), ...this.statements.splice(0)];
  }

  /** Whether a round trip took the pending statements (and with them the duty to run them). */
  get flushed(): boolean {
    return this.handedOut;
  }

  /** The outcome the flushed statements recorded. */
  get outcome(): string | null {
    return this.closedWith;
  }

  // ── After the commit ─────────────────────────────────────────────────────────────────────────────────────────

  /** An effect to run once the work's state is durable (a send, an alert); it must not throw what may be lost. */
  after(what: string, run: () => Promise<unknown>): void {
    this.effects.push({ what, run });
  }

  /** Runs the effects in order; a failing one is logged and the next runs (everything they send is in the outbox). */
  async runAfter(): Promise<void> {
    for (const e of this.effects.splice(0)) {
      try {
        await e.run();
      } catch (error) {
        log.error('work.after_failed', { work: this.name, what: e.what, error });
      }
    }
  }

  // ── Facts read ahead ─────────────────────────────────────────────────────────────────────────────────────────

  /** A fact an earlier statement read for a later step (null/undefined: none; the step reads for itself). */
  readAhead<K extends keyof ReadAhead>(slot: K, fact: ReadAhead[K] | null | undefined): this {
    if (fact === null || fact === undefined) delete this.facts[slot];
    else this.facts[slot] = fact;
    return this;
  }

  /** The fact, if an earlier statement read it. */
  ahead<K extends keyof ReadAhead>(slot: K): ReadAhead[K] | null {
    return this.facts[slot] ?? null;
  }

  /** The fact, once: a later call gets null (a fact that is used up, like a reservation sent through). */
  take<K extends keyof ReadAhead>(slot: K): ReadAhead[K] | null {
    const fact = this.facts[slot] ?? null;
    delete this.facts[slot];
    return fact;
  }
}

type Ride = { add: (p: RedisPipeline) => void; what: string; use?: (results: unknown[]) => void };

/**
 * A Work's Redis part: writes (and reads) nobody waits for, held until the next Redis request of the same work and
 * sent in its pipeline, so they cost no round trip of their own. Requests made through it in the same turn of the
 * event loop (the messages of one webhook batch reaching their stock read together) share one pipeline too.
 * `flush` sends what no request took (at the end of the work). A write that fails is logged, never thrown: what
 * waits here may be lost (hints).
 */
export class PendingRedis {
  private waiting: Ride[] = [];
  private queued: { build: (p: RedisPipeline) => void; done: (r: { results?: unknown[]; error?: unknown }) => void }[] = [];

  /** A write to send with the next request. */
  add(what: string, add: (p: RedisPipeline) => void): void {
    this.waiting.push({ what, add });
  }

  /** A read nobody waits for (a hint, e.g. the catalog version): sent as a waiting write is; `use` gets its results (not called when it fails). */
  read(what: string, add: (p: RedisPipeline) => void, use: (results: unknown[]) => void): void {
    this.waiting.push({ what, add, use });
  }

  get hasWaiting(): boolean {
    return this.waiting.length > 0;
  }

  /** Runs `build`'s commands in one pipeline with the waiting work; returns `build`'s results only (its errors thrown). */
  pipeline(build: (p: RedisPipeline) => void): Promise<unknown[]> {
    return new Promise((resolve, reject) => {
      this.queued.push({ build, done: (r) => (r.error === undefined ? resolve(r.results!) : reject(r.error)) });
      if (this.queued.length === 1) setImmediate(() => void this.run());
    });
  }

  private async run(): Promise<void> {
    const batch = this.queued.splice(0);
    const riders = this.waiting.splice(0);
    const p = redis().pipeline();
    const rideRanges = addRiders(p, riders);
    const ridden = p.length();
    const ranges = batch.map((q) => {
      const start = p.length();
      q.build(p);
      return [start, p.length()] as const;
    });
    let results: { error?: string; result?: unknown }[];
    try {
      results = await p.exec({ keepErrors: true });
    } catch (error) {
      logRiderFailure(riders, error);
      for (const q of batch) q.done({ error });
      return;
    }
    useRiders(riders, rideRanges, results.slice(0, ridden));
    batch.forEach((q, i) => {
      const own = results.slice(...ranges[i]!);
      const failed = own.find((r) => r.error);
      q.done(failed ? { error: new Error(`redis: ${failed.error}`) } : { results: own.map((r) => r.result) });
    });
  }

  /** Sends the work no request took. */
  async flush(): Promise<void> {
    const riders = this.waiting.splice(0);
    if (riders.length === 0) return;
    const p = redis().pipeline();
    const rideRanges = addRiders(p, riders);
    try {
      useRiders(riders, rideRanges, await p.exec({ keepErrors: true }));
    } catch (error) {
      logRiderFailure(riders, error);
    }
  }
}

function addRiders(p: RedisPipeline, riders: Ride[]): (readonly [number, number])[] {
  return riders.map((r) => {
    const start = p.length();
    r.add(p);
    return [start, p.length()] as const;
  });
}

/** Hands each read its results (when they came without error), and logs the failed rides. */
function useRiders(riders: Ride[], ranges: (readonly [number, number])[], results: { error?: string; result?: unknown }[]): void {
  riders.forEach((r, i) => {
    const own = results.slice(...ranges[i]!);
    if (r.use && !own.some((x) => x.error)) r.use(own.map((x) => x.result));
  });
  const failed = results.flatMap((r) => (r.error ? [r.error] : []));
  if (failed.length) logRiderFailure(riders, failed[0]);
}

function logRiderFailure(riders: Ride[], error: unknown): void {
  if (riders.length) log.warn('redis.rider_failed', { writes: [...new Set(riders.map((r) => r.what))], error });
}
