/**
 * Fault injection for the local bridges and stand-ins (Neon HTTP, Upstash REST, Meta Graph, Stripe), for the
 * reliability suite. One registry per process (the bridges and stand-ins run in the process that starts the
 * stack): every request a bridge or stand-in serves is a numbered *call* (a global sequence across all four,
 * and a count per target), and a test arms faults against those numbers:
 *
 *   refused   the connection is closed before the request is read: nothing done (what a caller sees of a
 *             refused or reset connection)
 *   timeout   the request is read, nothing is done, and after a while the connection is dropped unanswered
 *   500 / 429 an error answer in the service's own shape, nothing done
 *   dropped   the work is done (the write happened), then the connection is dropped instead of answering
 *   crash     "the process died after call N": every later call hangs unanswered and does nothing, as the
 *             calls of a killed process never arrive
 *
 * `stall()` holds one matching call until released (to let other requests overtake a flow between two steps).
 * With nothing armed the registry only counts, and `trace()` lists the calls (target and a short label),
 * which is how a test enumerates a flow's steps. Local-only: never imported by lib/ or netlify/.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

export type Target = 'postgres' | 'redis' | 'meta' | 'stripe';
export type FaultKind = 'refused' | 'timeout' | '500' | '429' | 'dropped';

export type Call = { seq: number; target: Target; label: string };

type Armed = { seq: number; kind: FaultKind };

/** How each service answers an error status (its own body shape), so the product's client parses it as it would the real one. */
const errorBodies: Record<Target, (status: number) => unknown> = {
  postgres: (status) => ({ message: status === 429 ? 'Too many requests (injected)' : 'Internal server error (injected)' }),
  redis: (status) => ({ error: status === 429 ? 'ERR max requests limit exceeded (injected)' : 'ERR internal error (injected)' }),
  meta: (status) => ({
    error: status === 429
      ? { message: '(#130429) Rate limit hit', type: 'OAuthException', code: 130429, fbtrace_id: 'AInjected' }
      : { message: '(#131000) Something went wrong', type: 'OAuthException', code: 131000, fbtrace_id: 'AInjected' },
  }),
  stripe: (status) => ({
    error: status === 429
      ? { type: 'invalid_request_error', code: 'rate_limit', message: 'Too many requests (injected)' }
      : { type: 'api_error', message: 'An unknown error occurred (injected)' },
  }),
};

export class FaultRegistry {
  private seq = 0;
  private calls: Call[] = [];
  private armed: Armed[] = [];
  private crashAfterSeq: number | null = null;
  private hung: (() => void)[] = [];
  private stalls: { target: Target; label: RegExp; reach: () => void; released: Promise<void> }[] = [];
  private labelled: { target: Target; label: RegExp; kind: FaultKind }[] = [];
  /** Resolves when the first call after a crash point arrives (the process is "dead" from then on). */
  private crashed: { promise: Promise<void>; resolve: () => void } | null = null;
  timeoutMs = 150;

  /** Starts a new numbering (call 1 is the next request served) and clears every fault. */
  reset(): void {
    this.clear();
    this.seq = 0;
    this.calls = [];
  }

  /** Clears armed faults and ends a crash; calls hung by a crash stay unanswered (a dead process never resumes). */
  clear(): void {
    this.armed = [];
    this.labelled = [];
    this.crashAfterSeq = null;
    this.crashed = null;
  }

  /** Arms `kind` for the call numbered `seq` (counted since the last reset). */
  arm(seq: number, kind: FaultKind): void {
    this.armed.push({ seq, kind });
  }

  /** Every call after `seq` hangs and does nothing; `died` resolves when the first such call arrives. */
  crashAfter(seq: number): { died: Promise<void> } {
    this.crashAfterSeq = seq;
    let resolve!: () => void;
    const promise = new Promise<void>((r) => (resolve = r));
    this.crashed = { promise, resolve };
    return { died: promise };
  }

  trace(): Call[] {
    return this.calls.map((c) => ({ ...c }));
  }

  /** Drops the connections a crash left hanging (at the end of a test file). */
  releaseHung(): void {
    for (const end of this.hung.splice(0)) end();
  }

  /**
   * Called by a bridge or stand-in for each request it serves, before it reads the body. Returns false when
   * the request was consumed by a fault (nothing must be done); otherwise the handler goes on, and
   * `label(req, text)` names the call for traces. A `dropped` fault drops the answer after the handler's work.
   */
  intercept(target: Target, req: IncomingMessage, res: ServerResponse): boolean {
    const seq = ++this.seq;
    const call: Call = { seq, target, label: '' };
    this.calls.push(call);
    (req as IncomingMessage & { [CALL]?: Call })[CALL] = call;
    if (this.crashAfterSeq !== null && seq > this.crashAfterSeq) {
      call.label = '(after the crash)';
      this.crashed?.resolve();
      this.hung.push(() => req.socket.destroy());
      return false;
    }
    const i = this.armed.findIndex((a) => a.seq === seq);
    if (i < 0) return true;
    const [{ kind }] = this.armed.splice(i, 1) as [Armed];
    return this.apply(kind, target, req, res);
  }

  private apply(kind: FaultKind, target: Target, req: IncomingMessage, res: ServerResponse): boolean {
    if (kind === 'refused') {
      req.socket.destroy();
      return false;
    }
    if (kind === 'timeout') {
      req.resume();
      setTimeout(() => req.socket.destroy(), this.timeoutMs).unref();
      return false;
    }
    if (kind === '500' || kind === '429') {
      req.resume();
      const text = JSON.stringify(errorBodies[target](Number(kind)));
      res.writeHead(Number(kind), { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
      return false;
    }
    // dropped: let the work happen, then destroy the connection instead of sending the answer.
    const socket = req.socket;
    res.writeHead = (() => res) as unknown as ServerResponse['writeHead'];
    res.write = (() => true) as ServerResponse['write'];
    res.end = (() => {
      socket.destroy();
      return res;
    }) as ServerResponse['end'];
    return true;
  }

  /**
   * Holds the next call to `target` whose label matches, before it does anything, until `release()`: a test
   * makes a flow stop between two steps while other requests overtake it.
   */
  stall(target: Target, label: RegExp): { reached: Promise<void>; release: () => void } {
    let reach!: () => void;
    let release!: () => void;
    const reached = new Promise<void>((r) => (reach = r));
    const released = new Promise<void>((r) => (release = r));
    this.stalls.push({ target, label, reach, released });
    return { reached, release };
  }

  /** Arms `kind` for the next call to `target` whose label matches (when call numbers are not known in advance). */
  armOn(target: Target, label: RegExp, kind: FaultKind): void {
    this.labelled.push({ target, label, kind });
  }

  /**
   * Called by a bridge or stand-in once the call is labelled: waits while a stall holds it, and applies a fault
   * armed by label. Returns false when the request was consumed by a fault (nothing must be done).
   */
  async gate(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    const call = (req as IncomingMessage & { [CALL]?: Call })[CALL];
    if (!call) return true;
    const i = this.stalls.findIndex((s) => s.target === call.target && s.label.test(call.label));
    if (i >= 0) {
      const [s] = this.stalls.splice(i, 1);
      s!.reach();
      await s!.released;
    }
    const j = this.labelled.findIndex((a) => a.target === call.target && a.label.test(call.label));
    if (j < 0) return true;
    const { kind } = this.labelled.splice(j, 1)[0]!;
    return this.apply(kind, call.target, req, res);
  }

  /** Names the current call (e.g. the SQL statement's first words), for the trace. */
  label(req: IncomingMessage, text: string): void {
    const call = (req as IncomingMessage & { [CALL]?: Call })[CALL];
    if (call && !call.label) call.label = text.replace(/\s+/g, ' ').trim().slice(0, 70);
  }
}

const CALL = Symbol('fault-call');

/** The process's registry: the bridges and stand-ins of every stack started in this process report here. */
export const faults = new FaultRegistry();
