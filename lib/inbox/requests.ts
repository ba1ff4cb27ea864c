import { z } from '../zod.js';

/** The inbox's request shapes, parsed at the edge (lib/http/admin-routes.ts). */

export const conversationListQuery = z
  .object({
    filter: z.enum(['needsReply', 'openOrder', 'invited'], { error: 'must be needsReply, openOrder or invited' }).optional(),
    q: z.string().trim().min(1).max(64).optional(),
    limit: z.coerce.number({ error: 'must be a number' }).int('must be a whole number').min(1).max(200).default(50),
    cursor: z.string().max(200).optional(),
  })
  .strict();
export type ConversationListQuery = z.infer<typeof conversationListQuery>;

export const modeRequest = z.object({ mode: z.enum(['bot', 'staff'], { error: 'must be "bot" or "staff"' }) }).strict();
