import type { Context } from '@netlify/functions';
import { json, text, withConfig } from '../../lib/http.js';
import { log } from '../../lib/log.js';
import { handleStripeEvent, verifyStripeEvent } from '../../lib/payments/stripe-events.js';

/**
 * Stripe's webhook (Checkout Session, refund and dispute events). Verify the signature on the raw body, then record
 * and apply the event: the answer is 2xx only once the order's new state is durable. The
 * WhatsApp messages are already in the outbox by then and go out after the answer.
 */
export default (req: Request, context: Context) =>
  withConfig('payment-callback', async () => {
    if (req.method !== 'POST') return text('method not allowed', 405);
    const raw = await req.text();
    const verified = verifyStripeEvent(raw, req.headers.get('stripe-signature'));
    if (!verified) {
      log.warn('stripe.bad_signature', { bytes: raw.length });
      return json({ error: 'invalid signature' }, 400);
    }
    const result = await handleStripeEvent(verified.body);
    if (result.after) context.waitUntil(result.after());
    return json(result.body, result.status);
  });
