import type { Work } from '../work.js';

/**
 * What survives between a customer's messages (the list page they are on, the product they picked),
 * as a Redis hash: each answer writes its fields (HSET + EXPIRE), never read-modify-write, so the
 * write waits on the Work's pending Redis writes (lib/work.ts), rides in the pipeline of the answer's stock read and costs no round trip.
 */
export type ConversationState = { page?: number; selectedSku?: string };

const TTL_SECONDS = 24 * 3600;
/** Keyed by customer id: stable across a number change and a phone/BSUID merge (a hash; `conv:` held the older JSON string). */
const key = (customerId: string) => `conversation:${customerId}`;

/** Queues the fields' write on the work (sent with its next Redis request, or by its flush). */
export function saveState(work: Work, customerId: string, fields: ConversationState): void {
  const values = Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined).map(([k, v]) => [k, String(v)]));
  if (Object.keys(values).length === 0) return;
  work.redis.add('conversation state', (p) => {
    p.hset(key(customerId), values);
    p.expire(key(customerId), TTL_SECONDS);
  });
}
