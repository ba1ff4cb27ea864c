import { getConfig } from '../config.js';

/**
 * A conversation's handover state as the webhook's recording statement reads it (one more branch of that
 * statement, no round trip): the mode in effect (a `staff` conversation nobody touched for
 * INBOX_IDLE_RETURN_MINUTES is back with the bot), how many texts in a row the bot did not understand, and
 * the order an invited contact came for.
 */
export type InboxState = { mode: 'bot' | 'staff'; misunderstood: number; invitedOrderId: string | null };

declare module '../work.js' {
  interface ReadAhead {
    /** The conversation's handover state, read by the inbound recording statement (null: bot mode, nothing recorded). */
    inbox: InboxState;
  }
}

/** The effective mode of a conversations row (alias `cv`): staff only while someone acted on it within the idle time. */
export const EFFECTIVE_MODE_SQL = (cv: string) =>
  `CASE WHEN ${cv}.mode = 'staff' AND GREATEST(${cv}.mode_changed_at, ${cv}.replied_at) > now() - make_interval(mins => ${idleMinutes()}) THEN 'staff' ELSE 'bot' END`;

export const INBOX_STATE_SQL = (cv: string) =>
  `jsonb_build_object('mode', ${EFFECTIVE_MODE_SQL(cv)}, 'misunderstood', ${cv}.misunderstood, 'invitedOrderId', ${cv}.invited_order_id)`;

export function inboxStateOf(j: Record<string, unknown>): InboxState {
  return { mode: j.mode === 'staff' ? 'staff' : 'bot', misunderstood: Number(j.misunderstood ?? 0), invitedOrderId: (j.invitedOrderId as string | null) ?? null };
}

/** A validated positive integer, safe to write into SQL. */
export const idleMinutes = (): number => Math.trunc(Number(getConfig().INBOX_IDLE_RETURN_MINUTES));
