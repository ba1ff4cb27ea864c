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
type Ride = { add: (p: RedisPipeline) => void; what: string };

/**
 * Redis writes nobody waits for (the seen marks, the conversation state), held until the next Redis
 * request of the same work and sent in its pipeline, so they cost no round trip of their own.
 * `flush` sends what no request took (at the end of the work). A write that fails is logged, never thrown:
 * riders are only what may be lost (fast paths, hints).
 */
export class RedisRider {
  private waiting: Ride[] = [];

  add(what: string, add: (p: RedisPipeline) => void): void {
    this.waiting.push({ what, add });
  }

  get hasWaiting(): boolean {
    return this.waiting.length > 0;
  }

  /** Runs `build`'s commands in one pipeline with the waiting writes; returns `build`'s results only (its errors thrown). */
  async pipeline(build: (p: RedisPipeline) => void): Promise<unknown[]> {
    const riders = this.waiting.splice(0);
    const p = redis().pipeline();
    for (const r of riders) r.add(p);
    const before = p.length();
    build(p);
    let results: { error?: string; result?: unknown }[];
    try {
      results = await p.exec({ keepErrors: true });
    } catch (error) {
      logRiderFailure(riders, error);
      throw error;
    }
    logFailedRiders(riders, results.slice(0, before));
    return results.slice(before).map((r) => {
      if (r.error) throw new Error(`redis: ${r.error}`);
      return r.result;
    });
  }

  /** Sends the writes no request took. */
  async flush(): Promise<void> {
    const riders = this.waiting.splice(0);
    if (riders.length === 0) return;
    const p = redis().pipeline();
    for (const r of riders) r.add(p);
    try {
      logFailedRiders(riders, await p.exec({ keepErrors: true }));
    } catch (error) {
      logRiderFailure(riders, error);
    }
  }
}

/** Runs `build` in one pipeline, with the rider's waiting writes when there is a rider. */
export async function pipelined(rider: RedisRider | undefined, build: (p: RedisPipeline) => void): Promise<unknown[]> {
  return (rider ?? new RedisRider()).pipeline(build);
}

function logFailedRiders(riders: Ride[], results: { error?: string }[]): void {
  const failed = results.flatMap((r) => (r.error ? [r.error] : []));
  if (failed.length) logRiderFailure(riders, failed[0]);
}

function logRiderFailure(riders: Ride[], error: unknown): void {
  if (riders.length) log.warn('redis.rider_failed', { writes: [...new Set(riders.map((r) => r.what))], error });
}
