import type { RedisRider } from '../redis.js';

/**
 * What survives between a customer's messages (the list page they are on, the product they picked),
 * as a Redis hash: each answer writes its fields (HSET + EXPIRE), never read-modify-write, so the
 * write rides in the pipeline of the answer's stock read (RedisRider) and costs no round trip.
 */
export type ConversationState = { page?: number; selectedSku?: string };

const TTL_SECONDS = 24 * 3600;
/** Keyed by customer id: stable across a number change and a phone/BSUID merge (a hash; `conv:` held the older JSON string). */
const key = (customerId: string) => `conversation:${customerId}`;

/** Queues the fields' write on the rider (sent with its next request, or by its flush). */
export function saveState(rider: RedisRider, customerId: string, fields: ConversationState): void {
  const values = Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined).map(([k, v]) => [k, String(v)]));
  if (Object.keys(values).length === 0) return;
  rider.add('conversation state', (p) => {
    p.hset(key(customerId), values);
    p.expire(key(customerId), TTL_SECONDS);
  });
}
