import type { Redis } from '@upstash/redis';
import { getConfig } from './config.js';
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
