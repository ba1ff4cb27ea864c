import { redis } from '../redis.js';

/** What must survive between a customer's messages (the list page they are on, the product they picked). */
export type ConversationState = { page?: number; selectedSku?: string };

const TTL_SECONDS = 24 * 3600;
const key = (waId: string) => `conv:${waId}`;

export async function loadState(waId: string): Promise<ConversationState> {
  return ((await redis().get<ConversationState>(key(waId))) ?? {}) as ConversationState;
}

export async function saveState(waId: string, state: ConversationState): Promise<void> {
  await redis().set(key(waId), state, { ex: TTL_SECONDS });
}
