import { observeCatalogVersion, catalogVersionKey } from '../catalog/index.js';
import { customerIdOf } from '../customers/store.js';
import { db } from '../db.js';
import { markProcessed, recordFailure, setOutcome } from '../inbound/store.js';
import { log } from '../log.js';
import { applyDeliveryStatus } from '../messaging/delivery-status.js';
import { messageKeys } from '../messaging/keys.js';
import { releaseLapsedReservation, releaseReservation, ReplyReservedElsewhere, type Reservation } from '../messaging/reply.js';
import type { InboxState } from '../inbox/handover-state.js';
import type { PlacementRead } from '../orders/place.js';
import type { DeliveryStatus, InboundWhatsAppMessage } from '../whatsapp/inbound-payload.js';
import { PendingRedis, Work } from '../work.js';
import { handleCustomerMessage } from './handle-message.js';

/**
 * The inbound WhatsApp event's flow after the webhook's answer (docs/architecture.md, "The unit of work"): what the recording statement
 * (./inbound-events.ts recordWebhookEvents) returned, processed as named steps over one Work per event.
 */

/** A recorded event, with what the recording statement read for it ahead. */
export type RecordedEvent =
  | { id: string; kind: 'message'; message: InboundWhatsAppMessage; customerId: string | null; reply?: Reservation; placement?: PlacementRead; inbox?: InboxState }
  | { id: string; kind: 'status'; status: DeliveryStatus };

/** One sender's identity key (phone and/or BSUID): the recording statement folds and links by it. */
export const identityKey = (m: { waId: string | null; userId: string | null }) => `${m.waId ?? ''}|${m.userId ?? ''}`;

/**
 * Processes recorded events (after the 200): messages one customer at a time in order, statuses as they come.
 * The batch's Works share one pending Redis part, so the Redis requests its messages make in one turn of the
 * event loop share one pipeline; what no request took is flushed at the end.
 */
export async function processRecordedEvents(events: RecordedEvent[]): Promise<void> {
  if (events.length === 0) return;
  const batchRedis = new PendingRedis();
  // The catalog version, for the cached catalog (lib/catalog/cache.ts): with the first Redis request processing makes.
  if (events.some((e) => e.kind === 'message')) batchRedis.read('catalog version', (p) => p.get(catalogVersionKey()), ([v]) => observeCatalogVersion(v));
  const byCustomer = new Map<string, RecordedEvent[]>();
  for (const e of events) {
    const k = e.kind === 'message' ? (e.customerId ?? identityKey(e.message)) : `status:${e.id}`;
    byCustomer.set(k, [...(byCustomer.get(k) ?? []), e]);
  }
  try {
    await Promise.all([...byCustomer.values()].map(async (list) => {
      for (const e of list) await processOne(e, batchRedis);
    }));
  } finally {
    await batchRedis.flush();
  }
}

/**
 * One inbound event, as named steps over one Work (docs/architecture.md, "The unit of work"):
 *   1. open the work: the facts the recording statement read ahead (the answer's reservation, the order's first
 *      read, the conversation's handover state), and what closes it (the event marked processed, an unused
 *      reservation deleted);
 *   2. handle the message (lib/conversation/handle-message.ts) or apply the status; the final send flushes the
 *      work's statements in its own round trip;
 *   3. close: whatever no send took runs alone (or only the outcome is corrected).
 * A failure leaves the event unprocessed for the re-drive (attempts, last_error).
 */
async function processOne(e: RecordedEvent, batchRedis: PendingRedis): Promise<void> {
  const work = openWork(e, batchRedis);
  try {
    let outcome: string | null = null;
    if (e.kind === 'message') {
      const customerId = e.customerId ?? (await customerIdOf(e.message));
      // A re-driven message had no recording statement to read its conversation's mode (team inbox).
      if (!e.customerId) work.readAhead('inbox', await (await import('../inbox/store.js')).readInboxState(customerId));
      outcome = await handleCustomerMessage(e.message, customerId, work);
    } else {
      const applied = await applyDeliveryStatus(e.status);
      outcome = applied.matched ? null : 'unmatched';
    }
    if (!work.flushed) {
      const finish = work.flush(outcome);
      await (finish.length === 1 ? finish[0]! : db().transaction(finish));
    } else if (outcome !== work.outcome) await setOutcome(e.id, outcome);
  } catch (error) {
    // An answer reserved by the request that recorded the message is not a failure: the re-drive answers once its lock lapses.
    if (error instanceof ReplyReservedElsewhere) log.info('inbound.answer_reserved_elsewhere', { eventId: e.id });
    else log.error('inbound.processing_failed', { eventId: e.id, kind: e.kind, error });
    await recordFailure(e.id, error).catch(() => {});
  }
}

/** Step 1: the event's Work, with what the recording statement read ahead (fused into it: recordWebhookEvents) and what closes it. */
function openWork(e: RecordedEvent, batchRedis: PendingRedis): Work {
  const work = new Work(`inbound ${e.id}`, { redis: batchRedis });
  if (e.kind !== 'message') return work.closeWith((outcome) => [markProcessed(e.id, outcome)]);
  const replyKey = messageKeys.reply(e.message.wamid);
  work.readAhead('reply', e.reply).readAhead('placement', e.placement).readAhead('inbox', e.inbox);
  return work.closeWith((outcome) => {
    // The answer's reservation, when no send used it: deleted. None reserved (a re-drive): a lapsed one left by a dead request.
    const unused = work.take('reply');
    const release = unused ? [releaseReservation(unused)] : e.reply ? [] : [releaseLapsedReservation(replyKey)];
    return [markProcessed(e.id, outcome), ...release];
  });
}


