import { needs } from '../config-needs.js';
import { log } from '../log.js';
import { BODY_LIMITS, readBodyText } from './body.js';
import { withConfig, type EdgeContext } from './edge.js';
import { lazyModule } from '../lazy-module.js';
import { domainErrorResponse, errorResponse, json, text } from './respond.js';

/**
 * Stripe's webhook (Checkout Session, refund and dispute events). Verify the signature on the raw body, record the
 * event (one Postgres round trip) and answer: the event is durable. Applying it and the WhatsApp messages go after
 * the answer (waitUntil); a function that dies before it is done leaves the event unprocessed for the re-drive.
 */
const stripeEvents = lazyModule(() => import('../flows/stripe-event.js'));

export const handlePaymentCallback = (req: Request, context: EdgeContext): Promise<Response> =>
  withConfig('payment-callback', async () => {
    if (req.method !== 'POST') return text('method not allowed', 405);
    const raw = await readBodyText(req, BODY_LIMITS.paymentCallback);
    // Loaded here, not at import: keeps stripe out of the cold start of a request that isn't a POST.
    const { handleStripeEvent, verifyStripeEvent } = await stripeEvents();
    const verified = await verifyStripeEvent(raw, req.headers.get('stripe-signature'));
    if (!verified) {
      log.warn('stripe.bad_signature', { bytes: raw.length });
      return errorResponse(400, 'invalid_signature', 'Stripe-Signature does not match the body');
    }
    const result = await handleStripeEvent(verified.body);
    if ('refused' in result) return domainErrorResponse(result.refused);
    if (result.after) context.waitUntil(result.after());
    return json({ received: true, ...result.received });
  }, needs.paymentCallback);
