import type Stripe from 'stripe';
import { z } from 'zod';
import { getConfig } from '../config.js';
import { db } from '../db.js';
import { log } from '../log.js';
import { deliverPendingNotices } from '../notifications/order-paid.js';
import { redis } from '../redis.js';
import { applyCheckoutSession, applyClose, type Settlement } from './settle.js';
import { stripeWebhooks } from './stripe-client.js';

/**
 * Stripe webhook events: verified on the raw body, recorded durably, applied, then acknowledged.
 *
 * Dedupe: `inbound_events` (source 'stripe', external_id = event id) is the durable record and
 * guard; Redis `seen:stripe:<eventId>` is a fast path written only once the event's effect is
 * durable (row recorded AND processed). Every state change is itself idempotent (conditional
 * updates, see settle.ts), so concurrent deliveries of one event, or the same session under
 * another event id, change the order once. A replay of a processed event changes nothing but
 * re-attempts the order's notices still unsent (after the answer).
 *
 * The answer is 2xx only once the order's new state is committed; a failure answers 5xx so
 * Stripe redelivers (it retries for up to 3 days).
 */

const SEEN_TTL_SECONDS = 4 * 24 * 3600;
const seenKey = (eventId: string) => `seen:stripe:${eventId}`;

/** The Checkout Session fields the payment path relies on; anything else Stripe sends is kept as is. */
const sessionSchema = z.looseObject({
  id: z.string().min(1),
  object: z.literal('checkout.session'),
  status: z.enum(['open', 'complete', 'expired']).nullable(),
  payment_status: z.enum(['paid', 'unpaid', 'no_payment_required']),
  client_reference_id: z.string().nullable().optional(),
  metadata: z.record(z.string(), z.string()).nullable().optional(),
  amount_total: z.number().int().nullable(),
  currency: z.string().nullable(),
  payment_intent: z.union([z.string(), z.looseObject({ id: z.string() })]).nullable().optional(),
});

/** Verifies the `Stripe-Signature` header over the raw body (default tolerance, 300 s). Null when it does not verify. */
export async function verifyStripeEvent(raw: string, signature: string | null): Promise<Stripe.Event | null> {
  if (!signature) return null;
  const webhooks = await stripeWebhooks();
  try {
    return webhooks.constructEvent(raw, signature, getConfig().STRIPE_WEBHOOK_SECRET);
  } catch {
    return null;
  }
}

export type StripeEventResult = {
  status: number;
  body: Record<string, unknown>;
  /** The WhatsApp sends, to run after the answer (context.waitUntil). Never rejects. */
  after?: () => Promise<void>;
};

function orderIdOf(event: Stripe.Event): string | null {
  const o = event.data.object as { object?: string; client_reference_id?: string | null; metadata?: Record<string, string> | null };
  if (o?.object !== 'checkout.session') return null;
  return o.client_reference_id ?? o.metadata?.order_id ?? null;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function resendPending(orderId: string | null): (() => Promise<void>) | undefined {
  if (!orderId || !UUID.test(orderId)) return undefined;
  return async () => {
    try {
      await deliverPendingNotices(orderId);
    } catch (error) {
      log.error('notice.delivery_failed', { what: 'pending', orderId, error });
    }
  };
}

/** Records, dedupes and applies one verified event. */
export async function handleStripeEvent(event: Stripe.Event): Promise<StripeEventResult> {
  const orderId = orderIdOf(event);
  const seen = await redis()
    .get(seenKey(event.id))
    .catch((error) => {
      log.warn('stripe.seen_check_failed', { error });
      return null;
    });
  if (seen !== null && seen !== undefined) {
    log.info('stripe.duplicate', { eventId: event.id, type: event.type, via: 'redis' });
    return { status: 200, body: { received: true, duplicate: true }, after: resendPending(orderId) };
  }

  let recorded: { id: string; processed: boolean };
  try {
    const [row] = await db()`
      INSERT INTO inbound_events (source, external_id, kind, payload)
      VALUES ('stripe', ${event.id}, ${event.type}, ${JSON.stringify(event)}::jsonb)
      ON CONFLICT (source, external_id) DO UPDATE SET kind = excluded.kind
      RETURNING id, processed_at`;
    recorded = { id: String(row!.id), processed: row!.processed_at !== null };
  } catch (error) {
    log.error('stripe.record_failed', { eventId: event.id, error });
    return { status: 503, body: { error: 'temporarily unavailable' } };
  }
  if (recorded.processed) {
    await markSeen(event.id);
    log.info('stripe.duplicate', { eventId: event.id, type: event.type, via: 'postgres' });
    return { status: 200, body: { received: true, duplicate: true }, after: resendPending(orderId) };
  }

  let settled: Settlement<unknown>;
  try {
    settled = await dispatch(event);
  } catch (error) {
    log.error('stripe.processing_failed', { eventId: event.id, type: event.type, error });
    await db()`UPDATE inbound_events SET attempts = attempts + 1, last_error = ${String((error as Error).message).slice(0, 500)} WHERE id = ${recorded.id}`.catch(() => {});
    return { status: 500, body: { error: 'processing failed' } };
  }
  await db()`
    UPDATE inbound_events SET processed_at = COALESCE(processed_at, now()), attempts = attempts + 1, last_error = NULL, outcome = ${settled.summary}
    WHERE id = ${recorded.id}`;
  await markSeen(event.id);
  log.info('stripe.processed', { eventId: event.id, type: event.type, outcome: settled.summary });
  return { status: 200, body: { received: true, outcome: settled.summary }, after: settled.deliver };
}

async function markSeen(eventId: string): Promise<void> {
  await redis()
    .set(seenKey(eventId), 1, { ex: SEEN_TTL_SECONDS })
    .catch((error) => log.warn('stripe.seen_mark_failed', { error }));
}

const ignore = (reason: string): Settlement<unknown> => ({ outcome: null, summary: `ignored: ${reason}`, deliver: async () => {} });

async function dispatch(event: Stripe.Event): Promise<Settlement<unknown>> {
  switch (event.type) {
    case 'checkout.session.completed':
    case 'checkout.session.async_payment_succeeded':
    case 'checkout.session.async_payment_failed':
    case 'checkout.session.expired':
      break;
    default:
      return ignore(`unhandled type ${event.type}`);
  }
  const parsed = sessionSchema.safeParse(event.data.object);
  if (!parsed.success) {
    log.warn('stripe.malformed_session', { eventId: event.id, issues: parsed.error.issues.map((i) => i.path.join('.')) });
    return ignore('malformed session');
  }
  const session = event.data.object as Stripe.Checkout.Session;
  const orderId = orderIdOf(event);
  if (!orderId || !UUID.test(orderId)) {
    log.warn('stripe.session_without_order', { eventId: event.id });
    return ignore('no order reference');
  }
  switch (event.type) {
    case 'checkout.session.async_payment_failed':
      return applyClose(orderId, 'payment_failed', 'async_payment_failed', session.id);
    case 'checkout.session.expired':
      return applyClose(orderId, 'expired', 'checkout_session_expired', session.id);
    default:
      // completed (paid, or unpaid for a delayed method) and async_payment_succeeded
      return applyCheckoutSession(session);
  }
}
