import { currentCachedVariants } from '../catalog/index.js';
import { recordMetaEventsQuery, unprocessedEventsQuery } from '../inbound/store.js';
import { messageKeys, outboxKey } from '../messaging/keys.js';
import { reservationOf } from '../messaging/reply.js';
import { RESERVED_REPLIES_SQL, reservationCte } from '../messaging/outbox-store.js';
import { outsideWindowSince } from '../messaging/window.js';
import type { DeliveryStatus, ForeignItem, InboundWhatsAppMessage, ParsedWebhook } from '../whatsapp/inbound-payload.js';
import { placementOf, placementReadSql } from '../orders/place.js';
import { identityKey, processRecordedEvents, type RecordedEvent } from './inbound-flow.js';
import { orderedLines } from './order-intent.js';
import { storedContentOf } from '../inbox/content.js';
import { inboxStateOf } from '../inbox/handover-state.js';
import { INBOX_STATES_SQL, STORE_CONTENTS_SQL } from '../inbox/store.js';

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
  const result = await recordMetaEventsQuery(
    { rows, senders, placements, contents },
    {
      reserve: reservationCte('messages', 'linked'),
      placementRead: placementReadSql({ buyerId: 'l.customer_id', orderId: 'pl.order_id', skus: 'pl.skus', references: 'pl.refs' }),
      storeContents: STORE_CONTENTS_SQL('$4', 'messages', 'linked'),
      replies: RESERVED_REPLIES_SQL('reserved', 'messages'),
      inboxStates: INBOX_STATES_SQL('linked'),
    },
  );
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
