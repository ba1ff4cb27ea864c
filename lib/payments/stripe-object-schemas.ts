import { z } from '../zod.js';

/** The shapes of the Stripe objects the Stripe flow (lib/flows/stripe-event.ts) applies (each parsed once, at the edge of its flow). */

/** The Checkout Session fields the payment path relies on; anything else Stripe sends is kept as is. */
export const sessionSchema = z.looseObject({
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

const stripeId = z.string().min(1).max(255);
const idRef = z.union([stripeId, z.looseObject({ id: stripeId })]).nullable().optional();
const metadata = z.record(z.string(), z.string()).nullable().optional();

/** What every event must carry to be applied; anything else is acknowledged and ignored. */
export const envelopeSchema = z.looseObject({
  id: stripeId,
  type: z.string().min(1).max(255),
  data: z.looseObject({ object: z.looseObject({}) }),
});

export const refundSchema = z.looseObject({
  id: stripeId,
  object: z.literal('refund'),
  amount: z.number().int().nonnegative().max(2_147_483_647),
  currency: z.string().length(3),
  status: z.string().nullable(),
  reason: z.string().nullable().optional(),
  charge: idRef,
  payment_intent: idRef,
  metadata,
});

export const chargeSchema = z.looseObject({
  id: stripeId,
  object: z.literal('charge'),
  amount_refunded: z.number().int().nonnegative(),
  refunded: z.boolean(),
  payment_intent: idRef,
  metadata,
  refunds: z.looseObject({ data: z.array(refundSchema), has_more: z.boolean() }).nullable().optional(),
});

export const disputeSchema = z.looseObject({
  id: stripeId,
  object: z.literal('dispute'),
  amount: z.number().int().nonnegative(),
  currency: z.string().length(3),
  status: z.string(),
  reason: z.string(),
  charge: idRef,
  payment_intent: idRef,
  metadata,
  evidence_details: z.looseObject({ due_by: z.number().nullable().optional() }).nullable().optional(),
});
