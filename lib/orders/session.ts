import type Stripe from 'stripe';
import { awaitPayment, pay } from './pay.js';
import type { PaySettled } from './settlement.js';
import type { Work } from '../work.js';
import { checkoutShippingFacts, type CheckoutShippingFacts } from './shipping.js';

/** The facts of a Stripe Checkout Session the lifecycle relies on. */
export type CheckoutSessionFacts = {
  id: string;
  status: string | null;
  paymentStatus: string;
  orderId: string | null;
  amountTotal: number | null;
  currency: string | null;
  paymentIntent: string | null;
  /** Address, rate, shipping and tax as the session reports them (any API version). */
  shipping: CheckoutShippingFacts;
};

export function sessionFacts(session: Stripe.Checkout.Session): CheckoutSessionFacts {
  const pi = session.payment_intent;
  return {
    id: session.id,
    status: session.status,
    paymentStatus: session.payment_status,
    orderId: session.client_reference_id ?? session.metadata?.order_id ?? null,
    amountTotal: session.amount_total,
    currency: session.currency,
    paymentIntent: typeof pi === 'string' ? pi : (pi?.id ?? null),
    shipping: checkoutShippingFacts(session),
  };
}

/** A complete session: `paid` when the money is there, else `payment_submitted` (a delayed method). */
export function applyCompletedSession(work: Work, s: CheckoutSessionFacts & { orderId: string }): Promise<PaySettled> {
  const payment = { method: 'stripe' as const, amountMinor: s.amountTotal ?? -1, currency: s.currency ?? '', reference: s.id, stripeSessionId: s.id, stripePaymentIntent: s.paymentIntent, checkout: s.shipping };
  if (s.paymentStatus === 'paid' || s.paymentStatus === 'no_payment_required') return pay(work, s.orderId, payment);
  return awaitPayment(work, s.orderId, payment);
}
