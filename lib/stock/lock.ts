import { randomUUID } from 'node:crypto';
import { log } from '../log.js';
import { redis } from '../redis.js';
import { lockKey } from './keys.js';
import { runScript } from './scripts.js';

/**
 * Runs `work` under a short Redis lock (`lock:<name>`, SET NX with a TTL), or answers 'locked'
 * when someone else holds it. Afterwards only our own lock is released: it may have lapsed and
 * been taken by another holder meanwhile.
 */
export async function withLock<T>(name: string, ttlMs: number, work: () => Promise<T>): Promise<T | 'locked'> {
  const key = lockKey(name);
  const token = randomUUID();
  if ((await redis().set(key, token, { nx: true, px: ttlMs })) !== 'OK') return 'locked';
  try {
    return await work();
  } finally {
    await runScript('unlock', [token], [key]).catch((error) => log.warn('lock.release_failed', { lock: name, error }));
  }
}
