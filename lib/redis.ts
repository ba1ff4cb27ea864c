import type { Redis } from '@upstash/redis';
import { getConfig } from './config.js';
import { log } from './log.js';
import { requirePackage } from './lazy-require.js';

// Loaded when a code path first needs it, not at import (as lib/db.ts's driver).
type Client = typeof import('@upstash/redis');
let client: Client | undefined;
export async function loadRedisClient(): Promise<void> {
  client ??= await import('@upstash/redis');
}
const upstash = () => (client ??= requirePackage('@upstash/redis') as Client);

/** Redis through Upstash's REST client (auto-pipelined: concurrent calls share one HTTP request). */
let current: { url: string; token: string; redis: Redis } | undefined;

export function redis(): Redis {
  const { UPSTASH_REDIS_REST_URL: url, UPSTASH_REDIS_REST_TOKEN: token } = getConfig();
  if (current && current.url === url && current.token === token) return current.redis;
  current = { url, token, redis: new (upstash().Redis)({ url, token, enableTelemetry: false }) };
  return current.redis;
}

export type RedisPipeline = ReturnType<Redis['pipeline']>;
type Ride = { add: (p: RedisPipeline) => void; what: string; use?: (results: unknown[]) => void };

/**
 * Redis writes nobody waits for (the conversation state), and reads nobody waits for (the catalog version), held until the next Redis
 * request of the same work and sent in its pipeline, so they cost no round trip of their own.
 * Requests made through the rider in the same turn of the event loop (the messages of one webhook
 * batch reaching their stock read together) share one pipeline too. `flush` sends what no request
 * took (at the end of the work). A write that fails is logged, never thrown: riders are only what
 * may be lost (fast paths, hints).
 */
export class RedisRider {
  private waiting: Ride[] = [];
  private queued: { build: (p: RedisPipeline) => void; done: (r: { results?: unknown[]; error?: unknown }) => void }[] = [];

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

  /** Runs `build`'s commands in one pipeline with the waiting writes; returns `build`'s results only (its errors thrown). */
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

  /** Sends the writes no request took. */
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
  logFailedRiders(riders, results);
}

function logFailedRiders(riders: Ride[], results: { error?: string }[]): void {
  const failed = results.flatMap((r) => (r.error ? [r.error] : []));
  if (failed.length) logRiderFailure(riders, failed[0]);
}

function logRiderFailure(riders: Ride[], error: unknown): void {
  if (riders.length) log.warn('redis.rider_failed', { writes: [...new Set(riders.map((r) => r.what))], error });
}
