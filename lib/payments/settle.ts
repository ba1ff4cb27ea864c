import type Stripe from 'stripe';

/**
 * The payment path: every way an order gets paid (Stripe Checkout, async methods, offline
 * payments recorded by the shop, cleanup finding a session already complete) ends here, so an
 * order is confirmed exactly once whatever the route. (Being implemented for issue 5.)
 */

export type PaymentRecord = {
  method: 'stripe' | 'offline';
  amountMinor: number;
  currency: string;
  /** Stripe session id / payment intent, or the shop's offline payment reference. */
  reference: string;
  stripeSessionId?: string | null;
  stripePaymentIntent?: string | null;
  paidAt?: Date;
};

export type SettleOutcome =
  | { status: 'paid' | 'already_paid'; orderId: string }
  | { status: 'refunded'; orderId: string }
  | { status: 'awaiting_payment'; orderId: string }
  | { status: 'ignored'; reason: string };

/** Marks the order paid (commits or re-holds its stock; refunds when the stock is gone), then sends confirmation + invite link once. */
export async function markOrderPaid(_orderId: string, _payment: PaymentRecord): Promise<SettleOutcome> {
  throw new Error('not implemented yet');
}

/** Applies a Checkout Session Stripe reports (completed/paid, unpaid, expired) to its order. */
export async function settleCheckoutSession(_session: Stripe.Checkout.Session): Promise<SettleOutcome> {
  throw new Error('not implemented yet');
}

/** Closes an unpaid order (hold lapsed, session expired, async payment failed): releases its hold, records why, tells the customer once. */
export async function closeUnpaidOrder(_orderId: string, _status: 'expired' | 'payment_failed' | 'cancelled', _reason: string): Promise<{ closed: boolean }> {
  throw new Error('not implemented yet');
}
