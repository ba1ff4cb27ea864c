import { z } from '../zod.js';

/** An address as the order API and the console take it (the shop's countries are checked by the caller). */
const text = (max: number) => z.string().trim().min(1).max(max);
export const addressSchema = z
  .object({
    line1: text(200),
    line2: text(200).nullish().transform((v) => v ?? null),
    postalCode: text(20).nullish().transform((v) => v ?? null),
    city: text(100),
    state: text(100).nullish().transform((v) => v ?? null),
    country: z.string().trim().regex(/^[A-Za-z]{2}$/, 'must be a two-letter ISO country code').transform((c) => c.toUpperCase()),
  })
  .strict();

/** The order API's `shipping`: a rate id (or "pickup"), and/or the recipient and address; all optional (Checkout asks). */
export const shippingChoiceSchema = z
  .object({
    rate: z.string().trim().min(1).max(40).optional(),
    name: text(100).optional(),
    address: addressSchema.optional(),
  })
  .strict();
