import { Redis } from '@upstash/redis';
import { getConfig } from './config.js';

/** Redis through Upstash's REST client (auto-pipelined: concurrent calls share one HTTP request). */
let current: { url: string; token: string; redis: Redis } | undefined;

export function redis(): Redis {
  const { UPSTASH_REDIS_REST_URL: url, UPSTASH_REDIS_REST_TOKEN: token } = getConfig();
  if (current && current.url === url && current.token === token) return current.redis;
  current = { url, token, redis: new Redis({ url, token, enableTelemetry: false }) };
  return current.redis;
}
