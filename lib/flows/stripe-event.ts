import { createHash } from 'node:crypto';
import type Stripe from 'stripe';
import { z } from '../zod.js';
import { getConfig } from '../config.js';
import { db } from '../db.js';
import { DomainError } from '../errors.js';
import { log } from '../log.js';
import { deliverPendingNotices } from '../messaging/record.js';
import { applyCheckoutSession, close } from '../orders/close.js';
import { isOrderId, orderQuery, toOrder, type Order } from '../orders/order.js';
import { markProcessedOnce, recordFailure, recordMalformedStripeEvent, recordStripeEventQuery } from '../inbound/store.js';
import type { Settled } from '../orders/settlement.js';
import { Work } from '../work.js';
import { logSafe, nestedDeeperThan, pgSafe } from '../safe-text.js';
import { applyDispute, type DisputeFacts } from '../orders/disputes.js';
import { applyChargeRefunded, applyRefund, type ChargeFacts, type RefundFacts } from '../orders/stripe-refunds.js';
import { stripeWebhooks } from '../payments/stripe-client.js';
import { chargeSchema, disputeSchema, envelopeSchema, refundSchema, sessionSchema } from '../payments/stripe-object-schemas.js';

/**
 * Stripe webhook events: verified on the raw body, recorded durably (one round trip), acknowledged, then applied
 * after the answer (waitUntil; the cleanup's re-drive applies what a dead function left unprocessed).
 *
 * Dedupe: `inbound_events` (source 'stripe', external_id = event id) is the durable record and
 * guard (no Redis fast path: it would cost two Redis round trips per event to save one Postgres
 * trip on a replay). Every state change is itself idempotent (conditional
 * updates, see lib/orders/store.ts), so concurrent deliveries of one event, or the same session under
 * another event id, change the order once. A replay of a processed event changes nothing but
 * re-attempts the order's notices still unsent (after the answer).
 *
 * A Checkout Session that may pay its order has the order read in the round trip that records the
 * event, and the payment marks the event processed in its own statement (lib/orders/store.ts
 * storePaid): a paid event is record+read before the answer; commitHold (Redis), storePaid and the
 * sends after it.
 *
 * The answer is 2xx once the event is recorded; only a failure to record it answers 5xx so Stripe
 * redelivers (it retries for up to 3 days). A failure applying it is kept on its row and re-driven
 * by the cleanup run (attempts < 10), as for Meta's events. A validly signed body that is not an event we
 * can use (no id/type/data, an object that is not what its type promises, an unknown type) is
 * recorded and acknowledged with 200 and the reason: a retry would bring the same bytes.
 * Strings go through pgSafe() before anything is stored (a NUL or a lone surrogate in, say,
 * the payer's name would otherwise fail every delivery), and ids/types are logged size-capped.
 */

/** Stripe's events nest a dozen levels at most. */
const MAX_EVENT_DEPTH = 64;
/** The events that may pay their order (dispatch → pay), whose order is read with the event's record. */
const PAYING = new Set(['checkout.session.completed', 'checkout.session.async_payment_succeeded']);

/**
 * Verifies the `Stripe-Signature` header over the raw body (default tolerance, 300 s): the parsed body, or null when
 * it does not verify. A validly signed body that is not JSON, or nests deeper than any Stripe event (the recursive
 * steps after would overflow the stack), comes back as its text, recorded and acknowledged as malformed: refusing
 * it would make Stripe redeliver the same bytes for days.
 */
export async function verifyStripeEvent(raw: string, signature: string | null): Promise<{ body: unknown } | null> {
  if (!signature) return null;
  const webhooks = await stripeWebhooks();
  try {
    webhooks.signature!.verifyHeader(raw, signature, getConfig().STRIPE_WEBHOOK_SECRET, webhooks.DEFAULT_TOLERANCE);
  } catch {
    return null;
  }
  try {
    const body = JSON.parse(raw) as unknown;
    return { body: nestedDeeperThan(body, MAX_EVENT_DEPTH) ? raw : body };
  } catch {
    return { body: raw };
  }
}

/**
 * The event's outcome: `received` (the facts to acknowledge it with, and the WhatsApp sends to run after the
 * answer, context.waitUntil; never rejects), or `refused`: not recorded or not applied, Stripe retries.
 */
export type StripeEventResult =
  | { received: Record<string, unknown>; after?: () => Promise<void> }
  | { refused: DomainError };

const notRecorded = () => ({ refused: new DomainError('unavailable', 'temporarily_unavailable', 'the event could not be recorded; Stripe retries') });

/** The order a Checkout Session names (client_reference_id, else metadata.order_id), read before the session is validated: strings only. */
function orderIdOf(event: Stripe.Event): string | null {
  const o = event.data?.object as { object?: unknown; client_reference_id?: unknown; metadata?: { order_id?: unknown } | null };
  if (o?.object !== 'checkout.session') return null;
  const id = o.client_reference_id ?? o.metadata?.order_id;
  return typeof id === 'string' ? id : null;
}

function resendPending(orderId: string | null): (() => Promise<void>) | undefined {
  if (!orderId || !isOrderId(orderId)) return undefined;
  return async () => {
    try {
      await deliverPendingNotices(orderId);
    } catch (error) {
      log.error('notice.delivery_failed', { what: 'pending', orderId, error });
    }
  };
}

/**
 * Records and dedupes one verified event (the parsed, signed body) in ONE round trip, and answers: the event is
 * durable. Applying it (pay, close, refunds, disputes) and the sends are left to `after`
 * (context.waitUntil): if the function dies after the answer, the event stays unprocessed and the re-drive
 * (redriveStripeEvents, run by the cleanup) applies it. A replay of an event recorded but not processed yet
 * applies it again (every state change is one conditional write: nothing happens twice).
 */
export async function handleStripeEvent(body: unknown): Promise<StripeEventResult> {
  const safe = pgSafe(body);
  const envelope = envelopeSchema.safeParse(safe);
  if (!envelope.success) return acknowledgeMalformed(safe, envelope.error.issues.map((i) => i.path.join('.') || '(root)').join(', '));
  const event = safe as Stripe.Event;
  const orderId = orderIdOf(event);
  let recorded: { id: string; processed: boolean; order?: Order | null };
  try {
    recorded = await recordEvent(event, PAYING.has(event.type) && orderId && isOrderId(orderId) ? orderId : null);
  } catch (error) {
    log.error('stripe.record_failed', { eventId: logSafe(event.id), error });
    return notRecorded();
  }
  if (recorded.processed) {
    log.info('stripe.duplicate', { eventId: logSafe(event.id), type: logSafe(event.type) });
    return { received: { duplicate: true }, after: resendPending(orderId) };
  }
  return { received: { recorded: true }, after: () => processStripeEvent(event, recorded.id, recorded.order) };
}

/**
 * The Stripe event's flow after the answer (or from the re-drive), as named steps over one Work
 * (docs/architecture.md, "The unit of work"):
 *   1. open the work: the order read with the event's record (`order`, fused into recordEvent's transaction) and
 *      the event to mark processed, which a payment's own statement takes (`inboundEvent`, fused into storePaid);
 *   2. apply the event (dispatch: pay, close, refunds, disputes);
 *   3. mark the event processed, unless the payment's statement did;
 *   4. run what the steps left for after the commit (the WhatsApp sends, alerts).
 * Never rejects: a failure is kept on the event row (attempts, last_error), which stays unprocessed for the re-drive.
 */
export async function processStripeEvent(event: Stripe.Event, inboundEventId: string, order?: Order | null): Promise<void> {
  const work = new Work(`stripe ${logSafe(event.id)}`).readAhead('inboundEvent', inboundEventId);
  if (order !== undefined) work.readAhead('order', { order });
  let settled: Settled<unknown>;
  try {
    settled = await dispatch(work, event);
    if (work.take('inboundEvent'))
      await markProcessedOnce(inboundEventId, settled.summary);
  } catch (error) {
    log.error('stripe.processing_failed', { eventId: logSafe(event.id), type: logSafe(event.type), error });
    await recordFailure(inboundEventId, error).catch(() => {});
    return;
  }
  log.info('stripe.processed', { eventId: logSafe(event.id), type: logSafe(event.type), outcome: settled.summary });
  await work.runAfter();
}

/** The re-drive of Stripe events recorded but never processed (rows read by lib/inbound/store.ts unprocessedEventsQuery, handed over by lib/flows/cleanup.ts). */
export async function redriveStripeEvents(rows: { id: string; payload: unknown }[]): Promise<void> {
  for (const r of rows) await processStripeEvent(r.payload as Stripe.Event, r.id);
}

/**
 * Records the event (or finds it recorded) and, for `orderId`, reads that order in the same round trip (one
 * transaction of two statements): `order` is then the order as read (null: unknown).
 */
async function recordEvent(event: Stripe.Event, orderId: string | null): Promise<{ id: string; processed: boolean; order?: Order | null }> {
  const record = recordStripeEventQuery(event.id, event.type, JSON.stringify(event));
  const [rows, orders] = orderId
    ? await db().transaction([record, orderQuery(orderId)])
    : [await record, undefined];
  const row = rows[0]!;
  return { id: String(row.id), processed: row.processed_at !== null, ...(orders ? { order: orders[0] ? toOrder(orders[0]) : null } : {}) };
}

/**
 * A signed body without a usable id/type/data: kept (keyed by the hash of what it says) so nothing
 * is lost, logged with capped fields, and acknowledged: Stripe would redeliver the same bytes.
 */
async function acknowledgeMalformed(body: unknown, problems: string): Promise<StripeEventResult> {
  const text = JSON.stringify(body) ?? 'null';
  const key = `malformed:${createHash('sha256').update(text).digest('hex')}`;
  const b = (body && typeof body === 'object' ? body : {}) as { id?: unknown; type?: unknown };
  log.warn('stripe.malformed_event', { id: logSafe(b.id), type: logSafe(b.type), problems: logSafe(problems, 200) });
  try {
    await recordMalformedStripeEvent(key, text, `ignored: malformed event (${problems})`.slice(0, 500));
  } catch (error) {
    log.error('stripe.record_failed', { eventId: key, error });
    return notRecorded();
  }
  return { received: { ignored: `malformed event: ${problems}`.slice(0, 300) } };
}

const ignore = (reason: string): Settled<unknown> => ({ outcome: null, summary: `ignored: ${reason}` });

function withShape<T>(event: Stripe.Event, schema: z.ZodType<T>, apply: (object: T) => Promise<Settled<unknown>>): Promise<Settled<unknown>> {
  const parsed = schema.safeParse(event.data.object);
  if (!parsed.success) {
    log.warn('stripe.malformed_object', { eventId: logSafe(event.id), type: logSafe(event.type), issues: parsed.error.issues.map((i) => i.path.join('.')).slice(0, 10) });
    return Promise.resolve(ignore(`malformed ${logSafe((event.data.object as { object?: unknown }).object, 40) ?? 'object'} under ${event.type}`));
  }
  return apply(parsed.data);
}

async function dispatch(work: Work, event: Stripe.Event): Promise<Settled<unknown>> {
  switch (event.type) {
    case 'checkout.session.completed':
    case 'checkout.session.async_payment_succeeded':
    case 'checkout.session.async_payment_failed':
    case 'checkout.session.expired':
      break;
    case 'charge.refunded':
      return withShape(event, chargeSchema, (charge) => applyChargeRefunded(work, charge as ChargeFacts));
    case 'refund.created':
    case 'refund.updated':
    case 'refund.failed':
    case 'charge.refund.updated':
      return withShape(event, refundSchema, (refund) => applyRefund(work, refund as RefundFacts));
    case 'charge.dispute.created':
    case 'charge.dispute.closed':
      return withShape(event, disputeSchema, (dispute) => applyDispute(work, dispute as DisputeFacts, event.type === 'charge.dispute.created' ? 'created' : 'closed'));
    default:
      return ignore(`unhandled type ${logSafe(event.type, 80)}`);
  }
  const parsed = sessionSchema.safeParse(event.data.object);
  if (!parsed.success) {
    log.warn('stripe.malformed_session', { eventId: logSafe(event.id), issues: parsed.error.issues.map((i) => i.path.join('.')) });
    return ignore('malformed session');
  }
  const session = event.data.object as Stripe.Checkout.Session;
  const orderId = orderIdOf(event);
  if (!orderId || !isOrderId(orderId)) {
    log.warn('stripe.session_without_order', { eventId: logSafe(event.id) });
    return ignore('no order reference');
  }
  switch (event.type) {
    case 'checkout.session.async_payment_failed':
      return close(work, orderId, 'payment_failed', { sessionId: session.id });
    case 'checkout.session.expired':
      return close(work, orderId, 'session_expired', { sessionId: session.id });
    default:
      // completed (paid, or unpaid for a delayed method) and async_payment_succeeded
      return applyCheckoutSession(work, session);
  }
}
