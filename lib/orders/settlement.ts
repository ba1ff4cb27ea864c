import type { Claimed } from '../messaging/outbox.js';
import { deliverClaimed, deliverNotices, deliverPendingNotices, sendQuietly, type Notice } from '../messaging/record.js';
import { raiseOpsAlert, type OpsAlertInput } from '../alerts/ops-alerts.js';
import type { CheckoutShippingFacts } from './shipping.js';

/**
 * What a lifecycle step did, and what to send once that is durable: the Stripe webhook answers
 * first and sends after (waitUntil); the other callers send at once. `deliver` never throws:
 * everything it sends is in the outbox (the next replay or the cleanup run sends what it could not).
 */
export type Settlement<T> = {
  outcome: T;
  summary: string;
  deliver: () => Promise<void>;
  /** The inbound event that caused it was marked processed by the step's own statement (the caller need not). */
  eventProcessed?: boolean;
  /** The staff action's answer given to the step (KnownOrder `answer`) was stored by its own statement. */
  answered?: boolean;
};

export const nothing = async () => {};
export const sendNotices = (orderId: string, notices: Notice[]) => sendQuietly('notices', orderId, () => deliverNotices(notices));
/** Notices the step's own statement recorded already claimed (store.ts storePaid). */
export const sendClaimed = (orderId: string, claimed: Claimed[]) => sendQuietly('notices', orderId, () => deliverClaimed(claimed));
export const sendPending = (orderId: string) => sendQuietly('pending', orderId, () => deliverPendingNotices(orderId));
/** Operators hear about it (once per key). */
export const alert = (a: OpsAlertInput) => sendQuietly('ops_alert', a.orderId ?? null, () => raiseOpsAlert(a));
export const inSequence =
  (...steps: (() => Promise<void>)[]) =>
  async () => {
    for (const step of steps) await step();
  };

export type PaymentRecord = {
  method: 'stripe' | 'offline';
  amountMinor: number;
  currency: string;
  /** Stripe session id / payment intent, or the shop's offline payment reference. */
  reference: string;
  stripeSessionId?: string | null;
  stripePaymentIntent?: string | null;
  paidAt?: Date;
  /** A completed Checkout Session's shipping and tax (lib/orders/shipping.ts): the amount then covers items + shipping + tax. */
  checkout?: CheckoutShippingFacts | null;
};

export type SettleOutcome =
  | { status: 'paid' | 'already_paid'; orderId: string }
  | { status: 'refunded'; orderId: string }
  | { status: 'awaiting_payment'; orderId: string }
  | { status: 'ignored'; reason: string };

export type PaySettlement = Settlement<SettleOutcome>;

export function ignored(reason: string): PaySettlement {
  return { outcome: { status: 'ignored', reason }, summary: `ignored: ${reason}`, deliver: nothing };
}
export const alreadyPaid = (orderId: string): PaySettlement => ({ outcome: { status: 'already_paid', orderId }, summary: 'already_paid', deliver: sendPending(orderId) });


