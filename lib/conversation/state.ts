import { redis } from '../redis.js';

/** What must survive between a customer's messages (the list page they are on, the product they picked). */
export type ConversationState = { page?: number; selectedSku?: string };

const TTL_SECONDS = 24 * 3600;
/** Keyed by customer id: stable across a number change and a phone/BSUID merge. */
const key = (customerId: string) => `conv:${customerId}`;

export async function loadState(customerId: string): Promise<ConversationState> {
  return ((await redis().get<ConversationState>(key(customerId))) ?? {}) as ConversationState;
}

export async function saveState(customerId: string, state: ConversationState): Promise<void> {
  await redis().set(key(customerId), state, { ex: TTL_SECONDS });
}
