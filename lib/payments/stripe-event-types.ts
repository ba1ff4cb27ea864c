/**
 * The Stripe events the payment-callback endpoint subscribes to: exactly those lib/flows/stripe-event.ts
 * `dispatch` applies (tests/setup-doctor.test.ts keeps both in step). `npm run setup` creates the
 * endpoint with these, `npm run doctor` checks them.
 */
export const subscribedStripeEvents = [
  'checkout.session.completed',
  'checkout.session.async_payment_succeeded',
  'checkout.session.async_payment_failed',
  'checkout.session.expired',
  'charge.refunded',
  'refund.created',
  'refund.updated',
  'refund.failed',
  'charge.dispute.created',
  'charge.dispute.closed',
] as const;

/** Handled when it arrives (endpoints created before refund.* existed send it) but not subscribed: refund.updated carries the same change. */
export const acceptedLegacyStripeEvents = ['charge.refund.updated'] as const;
