import { currentCachedVariants } from '../catalog/index.js';
import { db, type Query } from '../db.js';
import { messageKeys, outboxKey } from '../messaging/keys.js';
import { RESERVATION_JSON, reservationCte, reservationOf } from '../messaging/reply.js';
import { outsideWindowSince } from '../messaging/window.js';
import type { DeliveryStatus, ForeignItem, InboundWhatsAppMessage, ParsedWebhook } from '../whatsapp/inbound-payload.js';
import { placementOf, placementReadSql } from '../orders/place.js';
import { identityKey, processRecordedEvents, type RecordedEvent } from './inbound-flow.js';
import { orderedLines } from './order-intent.js';
import { storedContentOf } from '../inbox/content.js';
import { INBOX_STATE_SQL, inboxStateOf } from '../inbox/handover-state.js';

// The flow after the answer (./inbound-flow.ts), re-exported for the webhook edge and the re-drive's callers.
export { processRecordedEvents, type RecordedEvent };
/**
 * Inbound WhatsApp events: recorded durably before Meta gets its 200 (ONE Postgres round trip, no
 * Redis), processed after (./inbound-flow.ts). Dedupe: the unique (source, external_id) row in inbound_events, which
 * the recording statement inserts ON CONFLICT DO NOTHING (Meta retries for up to 7 days; a replay
 * costs that one round trip and nothing else).
 * Processing reads the catalog version (lib/catalog/cache.ts) with its first Redis request (a read
 * waiting on the batch's pending Redis work, lib/work.ts), so the cached catalog is checked for free for the next batch.
 *
 * The same statement links the sender of every newly recorded message to one customer row
 * (`link_customers`: phone, BSUID or both; two rows of one person are merged), so processing works
 * on a stable customer id. A redelivered message (already recorded) links nothing: an old
 * user_changed_number would otherwise recreate a row for the old number. All identity locks of the
 * batch are taken in one global order first, so concurrent batches cannot deadlock.
 * Items for another phone number of the app are recorded as processed with their outcome and
 * never acted on.
 *
 * The same statement reserves the outbox row of the answer (`reply:<wamid>`) of every new message
 * that may get one (lib/messaging/reply.ts), so processing sends it without a claim statement and
 * records it with the event processed: one Postgres round trip after this one.
 */

type Candidate =
  | { kind: 'message'; message: InboundWhatsAppMessage }
  | { kind: 'status'; status: DeliveryStatus }
  | { kind: 'foreign'; item: ForeignItem };


function externalIdOf(e: Candidate): string {
  if (e.kind === 'message') return e.message.wamid;
  if (e.kind === 'status') return `status:${e.status.wamid}:${e.status.status}:${e.status.at.getTime()}`;
  return `other-number:${e.item.phoneNumberId}:${e.item.kind}:${e.item.id}:${e.item.type}`;
}

/** Records every new message and status of a webhook POST in one Postgres statement; returns the new ones. */
export async function recordWebhookEvents(parsed: ParsedWebhook): Promise<RecordedEvent[]> {
  const candidates: Candidate[] = [
    ...parsed.messages.map((message) => ({ kind: 'message' as const, message })),
    ...parsed.statuses.map((status) => ({ kind: 'status' as const, status })),
    ...parsed.foreign.map((item) => ({ kind: 'foreign' as const, item })),
  ];
  const unique = [...new Map(candidates.map((c) => [externalIdOf(c), c])).entries()];
  if (unique.length === 0) return [];

  // No Redis before the answer: the unique (source, external_id) key is the dedupe, in this one round trip.
  const fresh = unique;

  const rows = fresh.map(([externalId, e]) =>
    e.kind === 'foreign'
      ? { external_id: externalId, kind: e.item.kind, payload: e.item, outcome: `ignored: for phone_number_id ${e.item.phoneNumberId}`, processed: true }
      : { external_id: externalId, kind: e.kind, payload: e.kind === 'message' ? e.message : e.status, outcome: null, processed: false },
  );
  const senders = sendersOf(fresh.flatMap(([, e]) => (e.kind === 'message' ? [e.message] : [])));
  const placements = placementsOf(fresh.flatMap(([, e]) => (e.kind === 'message' ? [e.message] : [])));
  const contents = contentsOf(fresh.flatMap(([, e]) => (e.kind === 'message' ? [e.message] : [])));
  const sentAt = Date.now();
  const result = await db()`
    WITH events AS (
      INSERT INTO inbound_events (source, external_id, kind, payload, outcome, processed_at)
      SELECT 'meta', r.external_id, r.kind, r.payload, r.outcome, CASE WHEN r.processed THEN now() END
      FROM jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) AS r(external_id text, kind text, payload jsonb, outcome text, processed boolean)
      ON CONFLICT (source, external_id) DO NOTHING
      RETURNING id, external_id
    ), messages AS (
      -- Only messages whose event row was inserted now (not redeliveries), in batch order.
      SELECT m.* FROM jsonb_to_recordset(${JSON.stringify(senders)}::jsonb)
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
      ${db().unsafe(reservationCte('messages', 'linked'))}
    ), placement AS (
      -- An order's first read (lib/orders/place.ts) for its buyer, now that the sender is linked.
      SELECT pl.wamid, l.customer_id AS id, NULL::text AS conflict,
        ${db().unsafe(placementReadSql({ buyerId: 'l.customer_id', orderId: 'pl.order_id', skus: 'pl.skus', references: 'pl.refs' }))}
      FROM jsonb_to_recordset(${JSON.stringify(placements)}::jsonb) AS pl(wamid text, key text, order_id uuid, skus text[], refs text[])
      JOIN messages m ON m.wamid = pl.wamid
      JOIN linked l ON l.key = pl.key
    ), stored AS (
      -- The team inbox's copy of each new message's content (lib/inbox), kept once, here.
      INSERT INTO conversation_messages (customer_id, wamid, kind, at, body, data, ref_wamid)
      SELECT l.customer_id, c.wamid, c.kind, c.at, c.body, c.data, c.ref_wamid
      FROM jsonb_to_recordset(${JSON.stringify(contents)}::jsonb) AS c(wamid text, key text, kind text, at timestamptz, body text, data jsonb, ref_wamid text)
      JOIN messages m ON m.wamid = c.wamid
      JOIN linked l ON l.key = c.key
      ON CONFLICT (wamid) DO NOTHING
    )
    SELECT 'event' AS what, id::text AS id, external_id AS key, NULL::jsonb AS reply FROM events
    UNION ALL
    SELECT 'customer', customer_id::text, key, NULL FROM linked
    UNION ALL
    SELECT 'reply', r.id::text, m.wamid, ${db().unsafe(RESERVATION_JSON)}
    FROM reserved r JOIN messages m ON m.reply_key = r.idempotency_key LEFT JOIN customers c ON c.id = r.customer_id
    UNION ALL
    SELECT 'placement', NULL, wamid, to_jsonb(placement) - 'wamid' FROM placement
    UNION ALL
    SELECT 'inbox', l.customer_id::text, l.key, ${db().unsafe(INBOX_STATE_SQL('cv'))}
    FROM linked l JOIN conversations cv ON cv.customer_id = l.customer_id`;
  const customerIds = new Map(result.filter((r) => r.what === 'customer').map((r) => [r.key as string, r.id as string]));
  const replies = new Map(result.filter((r) => r.what === 'reply').map((r) => [r.key as string, r.reply as Record<string, unknown>]));
  const reads = new Map(result.filter((r) => r.what === 'placement').map((r) => [r.key as string, r.reply as Record<string, unknown>]));
  const inbox = new Map(result.filter((r) => r.what === 'inbox').map((r) => [r.key as string, inboxStateOf(r.reply as Record<string, unknown>)]));
  const byExternalId = new Map(fresh);
  return result
    .filter((r) => r.what === 'event')
    .flatMap((r): RecordedEvent[] => {
      const e = byExternalId.get(r.key as string)!;
      if (e.kind === 'message') {
        const reply = replies.get(e.message.wamid);
        const read = reads.get(e.message.wamid);
        const placement = placements.find((p) => p.wamid === e.message.wamid);
        return [{
          id: r.id as string,
          kind: 'message',
          message: e.message,
          customerId: customerIds.get(identityKey(e.message)) ?? null,
          ...(reply ? { reply: reservationOf(reply, e.message, sentAt) } : {}),
          ...(read && placement ? { placement: { orderId: placement.order_id, skus: placement.skus, row: read } } : {}),
          ...(inbox.has(identityKey(e.message)) ? { inbox: inbox.get(identityKey(e.message))! } : {}),
        }];
      }
      if (e.kind === 'status') return [{ id: r.id as string, kind: 'status', status: e.status }];
      return [];
    });
}

/** One row per message for the recording statement, which keeps those recorded now and folds them per sender. */
function sendersOf(messages: InboundWhatsAppMessage[]) {
  return messages.map((m, ord) => ({
    ord,
    wamid: m.wamid,
    key: identityKey(m),
    wa_id: m.waId,
    user_id: m.userId,
    parent_user_id: m.parentUserId ?? null,
    username: m.username ?? null,
    profile_name: m.profileName ?? null,
    // System notices are not the customer writing to us: they don't open the window.
    at: m.content.type === 'system' ? null : m.sentAt.toISOString(),
    reply_key: mayBeAnswered(m) ? outboxKey(messageKeys.reply(m.wamid)) : null,
  }));
}

/** The inbox's copy of each message's content (lib/inbox/content.ts), for the recording statement's `stored` CTE. */
function contentsOf(messages: InboundWhatsAppMessage[]) {
  return messages.map((m) => {
    const c = storedContentOf(m);
    return { wamid: m.wamid, key: identityKey(m), kind: c.kind, at: m.sentAt.toISOString(), body: c.body, data: c.data, ref_wamid: c.refWamid };
  });
}

/**
 * The orders this batch places, read by the recording statement (placementReadSql) so placing one costs no read
 * of its own: the first ordering message of each sender (a second one in the same batch must count the first
 * among the sender's open orders, so it reads for itself). A "buy" text is matched only in a current cached
 * catalog (never a round trip here); processing reads for itself whenever the lines differ.
 */
function placementsOf(messages: InboundWhatsAppMessage[]) {
  const variants = currentCachedVariants();
  const senders = new Set<string>();
  return messages.flatMap((m) => {
    const lines = mayBeAnswered(m) ? orderedLines(m, variants) : null;
    const key = identityKey(m);
    if (!lines || senders.has(key)) return [];
    senders.add(key);
    const { orderId, skus, references } = placementOf(m.wamid, lines);
    return [{ wamid: m.wamid, key, order_id: orderId, skus, refs: references }];
  });
}

/** Messages whose answer goes under `reply:<wamid>` (handle-message.ts): requests inside the 24-hour window. */
const ANSWERED = new Set(['text', 'list_reply', 'button_reply', 'order']);
const mayBeAnswered = (m: InboundWhatsAppMessage) => ANSWERED.has(m.content.type) && !outsideWindowSince(m.sentAt);

/**
 * Re-drives inbound events whose processing never finished (the function died after answering, or processing
 * failed): Meta's here; Stripe's, found by the same read, through the Stripe flow (lib/flows/cleanup.ts hands them
 * to lib/flows/stripe-event.ts).
 */
/** The Meta part alone (its Stripe rows are left for the cleanup run's re-drive). */
export async function redriveUnprocessed(limit: number, olderThanSeconds = 60): Promise<number> {
  return redriveRows(await unprocessedEventsQuery(limit, olderThanSeconds));
}

/** redriveUnprocessed's read, not run yet (the cleanup run sends it with its other reads, one round trip). */
export const unprocessedEventsQuery = (limit: number, olderThanSeconds = 60): Query => db()`
    SELECT id, source, kind, payload FROM inbound_events
    WHERE source IN ('meta', 'stripe') AND processed_at IS NULL AND attempts < 10 AND received_at < now() - make_interval(secs => ${olderThanSeconds})
    ORDER BY received_at LIMIT ${limit}`;

/** Re-drives the Meta events unprocessedEventsQuery found (its Stripe rows are the Stripe flow's); returns how many. */
export async function redriveRows(rows: Record<string, unknown>[]): Promise<number> {
  const meta = rows.filter((r) => r.source === 'meta');
  if (meta.length === 0) return 0;
  const events: RecordedEvent[] = meta.map((r) => {
    const p = r.payload as Record<string, unknown>;
    if (r.kind === 'message') {
      const m = p as unknown as InboundWhatsAppMessage;
      // Rows recorded before BSUIDs existed carry only waId.
      const message: InboundWhatsAppMessage = {
        ...m,
        waId: m.waId ?? null,
        userId: m.userId ?? null,
        parentUserId: m.parentUserId ?? null,
        username: m.username ?? null,
        sentAt: new Date(p.sentAt as string),
      };
      return { id: String(r.id), kind: 'message', message, customerId: null };
    }
    const s = p as unknown as DeliveryStatus;
    return { id: String(r.id), kind: 'status', status: { ...s, recipientWaId: s.recipientWaId ?? null, recipientUserId: s.recipientUserId ?? null, at: new Date(p.at as string) } };
  });
  await processRecordedEvents(events);
  return meta.length;
}
