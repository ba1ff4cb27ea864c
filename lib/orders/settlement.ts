import type { Claimed } from '../messaging/outbox.js';
import { deliverClaimed, deliverNotices, deliverPendingNotices, sendQuietly, type Notice } from '../messaging/record.js';
import { raiseOpsAlert, type OpsAlertInput } from '../alerts/ops-alerts.js';
import type { CheckoutShippingFacts } from './shipping.js';
import type { Order } from './order.js';
import type { ActionAnswer, PaidWith } from './store.js';
import type { Work } from '../work.js';

/**
 * What a lifecycle step did. What to send once that is durable goes on the flow's Work (`work.after`, lib/work.ts):
 * the Stripe webhook's flow runs it after its answer, a staff action after its answer, the other callers at once. A send never throws: everything it
 * sends is in the outbox (the next replay or the cleanup run sends what it could not).
 */
export type Settled<T> = { outcome: T; summary: string };

declare module '../work.js' {
  interface ReadAhead {
    /** The order as the flow just read it (`order: null`: read, unknown), e.g. by the statement recording a Stripe event. */
    order: { order: Order | null };
    /** The inbound event a payment's own statement marks processed (taken by the step whose statement did). */
    inboundEvent: string;
    /** A staff action's answer, stored by the statement that pays or closes the order (taken by the step whose statement did). */
    answer: ActionAnswer;
    /** What else the owner of a staff action records with the payment (storePaid's PaidWith), taken with `answer`. */
    paidWith: PaidWith;
  }
}

/** Puts a step's sends on the work (run after its commit) and returns what it did. */
export function done<T>(work: Work, s: Settled<T> & { deliver?: () => Promise<void> }): Settled<T> {
  if (s.deliver && s.deliver !== nothing) work.after(`${s.summary}: sends`, s.deliver);
  return { outcome: s.outcome, summary: s.summary };
}

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

export type PaySettled = Settled<SettleOutcome>;

export function ignored(reason: string): PaySettled {
  return { outcome: { status: 'ignored', reason }, summary: `ignored: ${reason}` };
}
export const alreadyPaid = (work: Work, orderId: string): PaySettled => done(work, { outcome: { status: 'already_paid', orderId }, summary: 'already_paid', deliver: sendPending(orderId) });


