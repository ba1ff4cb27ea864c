import { dateFromUnixSeconds } from '../safe-text.js';
import { log } from '../log.js';
import { stripeKeyedEvent } from './events.js';
import { alert, done, type Settled } from './settlement.js';
import type { Work } from '../work.js';
import { idOf, ignored, orderOf, type StripeIdRef } from './stripe-refunds.js';
import { stripe } from '../payments/stripe-client.js';

/**
 * Disputes: charge.dispute.created / charge.dispute.closed each record one order event (unique per
 * dispute and phase) and raise one alert. The order's status does not change: whether the goods
 * go out (or come back) is the shop's decision.
 */

export type DisputeFacts = {
  id: string;
  amount: number;
  currency: string;
  status: string;
  reason: string;
  charge: StripeIdRef;
  payment_intent?: StripeIdRef;
  metadata?: Record<string, string> | null;
  evidence_details?: { due_by?: number | null } | null;
};

/** A charge Stripe does not know (another account's, a deleted test object) has no order here; other errors are worth a retry. */
async function paymentIntentOfCharge(chargeId: string): Promise<string | null> {
  try {
    return idOf((await stripe().charges.retrieve(chargeId)).payment_intent);
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) return null;
    throw error;
  }
}

/** charge.dispute.created / charge.dispute.closed: one order event and one alert per dispute and phase. */
export async function applyDispute(work: Work, dispute: DisputeFacts, phase: 'created' | 'closed'): Promise<Settled<unknown>> {
  let paymentIntent = idOf(dispute.payment_intent);
  const chargeId = idOf(dispute.charge);
  if (!paymentIntent && chargeId) paymentIntent = await paymentIntentOfCharge(chargeId);
  const orderId = await orderOf(paymentIntent, dispute.metadata);
  if (!orderId) {
    log.info('dispute.not_ours', { disputeId: dispute.id });
    return ignored('dispute of a payment that is not an order of this shop');
  }
  const stripeKey = `dispute:${dispute.id}:${phase}`;
  const details = {
    disputeId: dispute.id,
    amountMinor: dispute.amount,
    currency: dispute.currency.toUpperCase(),
    reason: dispute.reason,
    status: dispute.status,
    evidenceDueBy: dateFromUnixSeconds(dispute.evidence_details?.due_by)?.toISOString() ?? null,
  };
  const [row] = await stripeKeyedEvent(orderId, phase === 'created' ? 'dispute_opened' : 'dispute_closed', { ...details, stripeKey });
  if (!row) return { outcome: { orderId }, summary: `dispute_${phase}_already_recorded` };
  log.warn(`order.dispute_${phase}`, { orderId, disputeId: dispute.id, status: dispute.status });
  return done(work, {
    outcome: { orderId, disputeId: dispute.id },
    summary: `dispute_${phase}`,
    deliver: alert({ key: stripeKey, kind: phase === 'created' ? 'dispute_created' : 'dispute_closed', orderId, details }),
  });
}
