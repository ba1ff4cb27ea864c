import { handleCustomerMessage } from '../conversation/handle-message.js';
import { db } from '../db.js';
import { log } from '../log.js';
import { applyDeliveryStatus } from '../delivery-status.js';
import { redis } from '../redis.js';
import type { DeliveryStatus, InboundWhatsAppMessage, ParsedWebhook } from './inbound-payload.js';

/**
 * Inbound WhatsApp events: recorded durably before Meta gets its 200, processed after.
 * Dedupe: Redis (24 h) answers "seen already?" without touching Postgres; the unique
 * (source, external_id) row in inbound_events is the durable guard, because Meta retries
 * for up to 7 days. The Redis key is only written once the row exists, so a crash can
 * never make a message look seen before it was recorded.
 */

export type RecordedEvent =
  | { id: string; kind: 'message'; message: InboundWhatsAppMessage }
  | { id: string; kind: 'status'; status: DeliveryStatus };

const SEEN_TTL_SECONDS = 24 * 3600;
const seenKey = (externalId: string) => `seen:meta:${externalId}`;

function externalIdOf(e: { kind: 'message'; message: InboundWhatsAppMessage } | { kind: 'status'; status: DeliveryStatus }): string {
  return e.kind === 'message' ? e.message.wamid : `status:${e.status.wamid}:${e.status.status}:${e.status.at.getTime()}`;
}

/** Records every new message and status of a webhook POST in one Postgres statement; returns the new ones. */
export async function recordWebhookEvents(parsed: ParsedWebhook): Promise<RecordedEvent[]> {
  const candidates = [
    ...parsed.messages.map((message) => ({ kind: 'message' as const, message })),
    ...parsed.statuses.map((status) => ({ kind: 'status' as const, status })),
  ];
  const unique = [...new Map(candidates.map((c) => [externalIdOf(c), c])).entries()];
  if (unique.length === 0) return [];

  const seen = await redis().mget<(string | null)[]>(...unique.map(([id]) => seenKey(id)));
  const fresh = unique.filter((_, i) => seen[i] === null || seen[i] === undefined);
  if (fresh.length === 0) return [];

  const rows = fresh.map(([externalId, e]) => ({ external_id: externalId, kind: e.kind, payload: e.kind === 'message' ? e.message : e.status }));
  const customers = parsed.messages.map((m) => ({ wa_id: m.waId, profile_name: m.profileName, at: m.sentAt.toISOString() }));
  const inserted = await db()`
    WITH events AS (
      INSERT INTO inbound_events (source, external_id, kind, payload)
      SELECT 'meta', r.external_id, r.kind, r.payload FROM jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) AS r(external_id text, kind text, payload jsonb)
      ON CONFLICT (source, external_id) DO NOTHING
      RETURNING id, external_id
    ), customers AS (
      INSERT INTO customers (wa_id, phone_e164, profile_name, last_inbound_at)
      SELECT DISTINCT ON (c.wa_id) c.wa_id, '+' || c.wa_id, c.profile_name, c.at
      FROM jsonb_to_recordset(${JSON.stringify(customers)}::jsonb) AS c(wa_id text, profile_name text, at timestamptz)
      ORDER BY c.wa_id, c.at DESC
      ON CONFLICT (wa_id) DO UPDATE SET
        last_inbound_at = GREATEST(customers.last_inbound_at, excluded.last_inbound_at),
        profile_name = COALESCE(excluded.profile_name, customers.profile_name)
    )
    SELECT id, external_id FROM events`;
  const byExternalId = new Map(fresh);
  return inserted.map((r) => {
    const e = byExternalId.get(r.external_id as string)!;
    return e.kind === 'message' ? { id: String(r.id), kind: 'message', message: e.message } : { id: String(r.id), kind: 'status', status: e.status };
  });
}

/** Processes recorded events (after the 200): messages one customer at a time in order, statuses as they come. */
export async function processRecordedEvents(events: RecordedEvent[]): Promise<void> {
  if (events.length === 0) return;
  const seen = redis().pipeline();
  for (const e of events) seen.set(seenKey(externalIdOf(e)), 1, { ex: SEEN_TTL_SECONDS });
  await seen.exec().catch((error) => log.warn('inbound.seen_mark_failed', { error }));
  const byCustomer = new Map<string, RecordedEvent[]>();
  for (const e of events) {
    const k = e.kind === 'message' ? e.message.waId : `status:${e.id}`;
    byCustomer.set(k, [...(byCustomer.get(k) ?? []), e]);
  }
  await Promise.all([...byCustomer.values()].map(async (list) => {
    for (const e of list) await processOne(e);
  }));
}

async function processOne(e: RecordedEvent): Promise<void> {
  try {
    if (e.kind === 'message') await handleCustomerMessage(e.message);
    else await applyDeliveryStatus(e.status);
    await db()`UPDATE inbound_events SET processed_at = now(), attempts = attempts + 1, last_error = NULL WHERE id = ${e.id}`;
  } catch (error) {
    log.error('inbound.processing_failed', { eventId: e.id, kind: e.kind, error });
    await db()`UPDATE inbound_events SET attempts = attempts + 1, last_error = ${String((error as Error).message).slice(0, 500)} WHERE id = ${e.id}`.catch(() => {});
  }
}

/** Re-drives Meta events whose processing never finished (the function died after answering). */
export async function redriveUnprocessed(limit: number, olderThanSeconds = 60): Promise<number> {
  const rows = await db()`
    SELECT id, kind, payload FROM inbound_events
    WHERE source = 'meta' AND processed_at IS NULL AND attempts < 10 AND received_at < now() - make_interval(secs => ${olderThanSeconds})
    ORDER BY received_at LIMIT ${limit}`;
  const events: RecordedEvent[] = rows.map((r) => {
    const p = r.payload as Record<string, unknown>;
    return r.kind === 'message'
      ? { id: String(r.id), kind: 'message', message: { ...(p as unknown as InboundWhatsAppMessage), sentAt: new Date(p.sentAt as string) } }
      : { id: String(r.id), kind: 'status', status: { ...(p as unknown as DeliveryStatus), at: new Date(p.at as string) } };
  });
  await processRecordedEvents(events);
  return events.length;
}
