import { db, type Query } from '../db.js';

/**
 * The store of inbound_events (tests/architecture-tables.test.ts): every statement of the table, and the statement
 * parts other stores fuse into their own statements. One row per event received from Meta or Stripe, keyed by
 * (source, external_id): the unique key is the dedupe, `processed_at` says it was applied, `attempts`/`last_error`
 * keep a failure for the re-drive. A domain store below the flows: lib/conversation/inbound-events.ts (Meta's
 * recording statement, built here from the parts of the stores it fuses), lib/conversation/inbound-flow.ts (marked
 * processed), lib/flows/stripe-event.ts (Stripe's record), the paid statement (lib/orders/store.ts) and the inbox's
 * retention (lib/inbox/store-maintenance.ts).
 */

/**
 * The parts Meta's recording statement fuses from the other stores (each a CTE body or a SELECT over the statement's
 * CTEs `events`, `messages` (the new messages), `linked` (sender key → customer), `reserved`), built by the caller.
 */
export type RecordingParts = {
  /** CTE `reserved`: the answers' outbox rows (lib/messaging/outbox-store.ts reservationCte). */
  reserve: string;
  /** The select list of an order's first read for `l.customer_id` (lib/orders/place.ts placementReadSql). */
  placementRead: string;
  /** CTE `stored`: the inbox's copy of each new message (lib/inbox/store.ts), from the contents bound as $4. */
  storeContents: string;
  /** SELECT ('reply', id, wamid, jsonb): each reservation (lib/messaging/outbox-store.ts). */
  replies: string;
  /** SELECT ('inbox', customer id, key, jsonb): each linked sender's conversation state (lib/inbox/store.ts). */
  inboxStates: string;
};

/**
 * Meta's recording statement (one round trip before the webhook's answer): the events inserted (the dedupe), the
 * senders of the new messages linked to customers (`link_customers`), and the parts (`RecordingParts`). Bound: $1
 * the event rows, $2 one row per message (its sender), $3 the placements read, $4 the inbox contents. Returns rows
 * (what, id, key, reply): 'event', 'customer', 'reply', 'placement', 'inbox'.
 */
export function recordMetaEventsQuery(values: { rows: unknown[]; senders: unknown[]; placements: unknown[]; contents: unknown[] }, parts: RecordingParts) {
  return db().query(
    `
    WITH events AS (
      INSERT INTO inbound_events (source, external_id, kind, payload, outcome, processed_at)
      SELECT 'meta', r.external_id, r.kind, r.payload, r.outcome, CASE WHEN r.processed THEN now() END
      FROM jsonb_to_recordset($1::jsonb) AS r(external_id text, kind text, payload jsonb, outcome text, processed boolean)
      ON CONFLICT (source, external_id) DO NOTHING
      RETURNING id, external_id
    ), messages AS (
      -- Only messages whose event row was inserted now (not redeliveries), in batch order.
      SELECT m.* FROM jsonb_to_recordset($2::jsonb)
        AS m(ord int, wamid text, key text, wa_id text, user_id text, parent_user_id text, username text, profile_name text, at timestamptz, reply_key text)
      JOIN events e ON e.external_id = m.wamid
    ), senders AS (
      -- One row per sender: the newest profile data, the newest window-opening time.
      SELECT key, min(wa_id) AS wa_id, min(user_id) AS user_id,
             (array_agg(parent_user_id ORDER BY ord DESC) FILTER (WHERE parent_user_id IS NOT NULL))[1] AS parent_user_id,
             (array_agg(username ORDER BY ord DESC) FILTER (WHERE username IS NOT NULL))[1] AS username,
             (array_agg(profile_name ORDER BY ord DESC) FILTER (WHERE profile_name IS NOT NULL))[1] AS profile_name,
             max(at) AS at
      FROM messages GROUP BY key
    ), linked AS (
      -- Senders known by both identities first, so a merge happens before the single-identity ones are looked up.
      SELECT l.key, l.customer_id FROM link_customers((
        SELECT jsonb_agg(to_jsonb(s) ORDER BY (s.wa_id IS NOT NULL AND s.user_id IS NOT NULL) DESC, s.key) FROM senders s)) l
    ), reserved AS (
      ${parts.reserve}
    ), placement AS (
      -- An order's first read (lib/orders/place.ts) for its buyer, now that the sender is linked.
      SELECT pl.wamid, l.customer_id AS id, NULL::text AS conflict,
        ${parts.placementRead}
      FROM jsonb_to_recordset($3::jsonb) AS pl(wamid text, key text, order_id uuid, skus text[], refs text[])
      JOIN messages m ON m.wamid = pl.wamid
      JOIN linked l ON l.key = pl.key
    ), stored AS (
      ${parts.storeContents}
    )
    SELECT 'event' AS what, id::text AS id, external_id AS key, NULL::jsonb AS reply FROM events
    UNION ALL
    SELECT 'customer', customer_id::text, key, NULL FROM linked
    UNION ALL
    ${parts.replies}
    UNION ALL
    SELECT 'placement', NULL, wamid, to_jsonb(placement) - 'wamid' FROM placement
    UNION ALL
    ${parts.inboxStates}`,
    [JSON.stringify(values.rows), JSON.stringify(values.senders), JSON.stringify(values.placements), JSON.stringify(values.contents)],
  );
}

/** A Stripe event recorded (or found recorded: its kind refreshed), returning (id, processed_at). */
export const recordStripeEventQuery = (id: string, type: string, payload: string): Query => db()`
    INSERT INTO inbound_events (source, external_id, kind, payload)
    VALUES ('stripe', ${id}, ${type}, ${payload}::jsonb)
    ON CONFLICT (source, external_id) DO UPDATE SET kind = excluded.kind
    RETURNING id, processed_at`;

/** A signed Stripe body without a usable id/type: kept under the hash of what it says, processed (ignored) at once. */
export const recordMalformedStripeEvent = (key: string, text: string, outcome: string): Query => db()`
      INSERT INTO inbound_events (source, external_id, kind, payload, processed_at, attempts, outcome)
      VALUES ('stripe', ${key}, 'malformed', ${text}::jsonb, now(), 1, ${outcome})
      ON CONFLICT (source, external_id) DO NOTHING`;

/** The event processed with its outcome (null: the outcome already recorded stays). */
export const markProcessed = (eventId: string, outcome: string | null): Query =>
  db()`UPDATE inbound_events SET processed_at = now(), attempts = attempts + 1, last_error = NULL, outcome = COALESCE(${outcome}, outcome) WHERE id = ${eventId}`;

/** The event processed (kept when a statement marked it already) with its outcome (a Stripe event's summary). */
export const markProcessedOnce = (eventId: string, outcome: string): Query => db()`
        UPDATE inbound_events SET processed_at = COALESCE(processed_at, now()), attempts = attempts + 1, last_error = NULL, outcome = ${outcome}
        WHERE id = ${eventId}`;

/** The outcome corrected of an event a send marked processed already. */
export const setOutcome = (eventId: string, outcome: string | null): Query => db()`UPDATE inbound_events SET outcome = ${outcome} WHERE id = ${eventId}`;

/** A failed processing kept on the event (it stays unprocessed for the re-drive). */
export const recordFailure = (eventId: string, error: unknown): Query =>
  db()`UPDATE inbound_events SET attempts = attempts + 1, last_error = ${String((error as Error).message).slice(0, 500)} WHERE id = ${eventId}`;

/** The events whose processing never finished (Meta's and Stripe's), oldest first: the cleanup's re-drive. */
export const unprocessedEventsQuery = (limit: number, olderThanSeconds = 60): Query => db()`
    SELECT id, source, kind, payload FROM inbound_events
    WHERE source IN ('meta', 'stripe') AND processed_at IS NULL AND attempts < 10 AND received_at < now() - make_interval(secs => ${olderThanSeconds})
    ORDER BY received_at LIMIT ${limit}`;

/**
 * Statement part (a CTE body): the event `eventParam` (a bigint parameter, or null) marked processed as `outcome`,
 * when the statement's CTE `gate` has a row (the paid statement: the event that paid the order, lib/orders/store.ts).
 */
export const MARK_PROCESSED_IF_SQL = (eventParam: string, outcome: string, gate: string) => `
       UPDATE inbound_events SET processed_at = COALESCE(processed_at, now()), attempts = attempts + 1, last_error = NULL, outcome = '${outcome}'
       WHERE id = ${eventParam}::bigint AND EXISTS (SELECT 1 FROM ${gate})`;

/**
 * Statement part (a CTE body): Meta's processed events of the messages in `expired` (wamid) lose their content,
 * as the inbox's copy does (the inbox's retention, lib/inbox/store-maintenance.ts).
 */
export const SCRUB_CONTENT_SQL = (expired: string) => `
      UPDATE inbound_events ev
      SET payload = ev.payload || jsonb_build_object('content', jsonb_build_object('type', ev.payload->'content'->'type', 'deleted', true))
      FROM ${expired} e WHERE ev.source = 'meta' AND ev.external_id = e.wamid AND ev.processed_at IS NOT NULL
      RETURNING ev.id`;
