import type { Context } from '@netlify/functions';
import { handlePaymentCallback } from '../../lib/http/payment-callback.js';

/** Stripe's webhook: signed Checkout Session, refund and dispute events, lib/http/payment-callback.ts. */
export default (req: Request, context: Context) => handlePaymentCallback(req, context);
