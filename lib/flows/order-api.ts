import { randomUUID } from 'node:crypto';
import { z } from '../zod.js';
import { getConfig } from '../config.js';
import { BSUID_PATTERN, type WaIdentity } from '../identity.js';
import { log, maskIdentity } from '../log.js';
import { CheckoutUnavailableError, IdempotencyKeyReusedError, placeOrder, type Order, type RequestedLine } from '../orders/place.js';
import { ensureCheckoutSession, sendPaymentLink } from '../orders/payment-link.js';
import { e164ToWaId, normalizePhone } from '../phone.js';
import { conflict, DomainError, fieldPath, invalidRequest, zodFields, type FieldError } from '../errors.js';
import { UNSAFE_TEXT_MESSAGE, unsafeTextPath } from '../safe-text.js';
import { choiceProblem, type ShippingChoice } from '../orders/shipping.js';
import { shippingChoiceSchema } from '../orders/shipping-schema.js';

/**
 * The order API for storefronts and integrations (server to server): request schema and the
 * inline create, shared by the create-order-proxy function (BACKEND_MODE=inline) and the
 * dedicated backend's POST /create-order (BACKEND_MODE=proxy) through lib/http/order-api.ts, so
 * both answer identically. Refusals are thrown as DomainError (lib/errors.ts; the edge answers each
 * with its kind's status), every one `{ error, message, fields? }`:
 *
 *   201 { orderId, reference, status, totalMinor, currency, checkoutUrl, holdExpiresAt, shippingMode }
 *       A replay with the same idempotency key answers 201 with the same order (its current
 *       state) and the header `Idempotent-Replayed: true`; no second order or hold is made.
 *   409 out_of_stock (+ shortages: [{ sku, available }]), too_many_open_orders (+ max)
 *   422 invalid_request with fields: [{ path, message }], paths like `items[1].sku` (bad input,
 *       unknown SKU, quantity over the limit, mixed currencies); 422 idempotency_key_reused (field
 *       idempotencyKey) for a key used for another request, also when both arrive at the same time
 *   400 invalid_json   413 payload_too_large (+ maxBytes)
 *   502 payment_provider_unavailable (+ orderId) when Stripe failed after the hold was
 *       taken (the order is recorded only once its Checkout Session exists): retrying with the
 *       same idempotency key completes the same order with the same hold.
 */

export const MAX_BODY_BYTES = 64 * 1024;
export const MAX_ITEMS = 50;

const idempotencyKey = z
  .string()
  .trim()
  .min(1)
  .max(200)
  .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces');

export const createOrderRequestSchema = z.object({
  customerPhone: z
    .string()
    .transform((value, ctx) => {
      const phone = normalizePhone(value);
      if (!phone) {
        ctx.addIssue({ code: 'custom', message: 'must be a phone number in E.164 format, e.g. +14155550100' });
        return z.NEVER;
      }
      return phone;
    })
    .optional(),
  /** The customer's WhatsApp business-scoped user ID (for customers known only by their username). */
  customerUserId: z.string().trim().regex(BSUID_PATTERN, 'must be a WhatsApp business-scoped user ID, e.g. US.13491208655302741918').optional(),
  customerName: z.string().trim().min(1).max(100).optional(),
  items: z
    .array(z.object({ sku: z.string().trim().min(1).max(100), quantity: z.number().int().min(1).max(1_000_000) }))
    .min(1)
    .max(MAX_ITEMS),
  idempotencyKey: idempotencyKey.optional(),
  notify: z.boolean().optional(),
  /** Fulfilment (docs/fulfilment.md): { rate?: id | "pickup", name?, address? }; absent: Checkout asks for the address and the rate. */
  shipping: shippingChoiceSchema.optional(),
});

export type CreateOrderRequest = z.output<typeof createOrderRequestSchema>;

/** The order created, or found again for its idempotency key (`replayed`): the edge answers it 201. */
export type OrderApiAnswer = { order: Record<string, unknown>; replayed: boolean };

/**
 * Parses and validates a raw request body. The key may come in the body (`idempotencyKey`) or in
 * the `Idempotency-Key` header; both given and different is an error. Throws DomainError.
 */
export function parseCreateOrderRequest(raw: string, idempotencyHeader: string | null): CreateOrderRequest {
  if (Buffer.byteLength(raw, 'utf8') > MAX_BODY_BYTES)
    throw new DomainError('too_large', 'payload_too_large', `The request body must be at most ${MAX_BODY_BYTES} bytes.`, undefined, { maxBytes: MAX_BODY_BYTES });
  let body: unknown;
  try {
    body = JSON.parse(raw);
  } catch {
    throw new DomainError('malformed', 'invalid_json', 'The request body must be a JSON object.');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw invalidRequest([{ path: '(body)', message: 'must be a JSON object' }]);
  const unsafe = unsafeTextPath(body);
  if (unsafe) throw invalidRequest([{ path: fieldPath(unsafe), message: UNSAFE_TEXT_MESSAGE }]);

  const result = createOrderRequestSchema.safeParse(body);
  const fields: FieldError[] = result.success ? [] : zodFields(result.error);
  // A customer is a phone, a WhatsApp business-scoped user ID, or both: at least one.
  const given = body as { customerPhone?: unknown; customerUserId?: unknown };
  if (given.customerPhone === undefined && given.customerUserId === undefined)
    fields.unshift({ path: 'customerPhone', message: 'give customerPhone or customerUserId (or both)' });
  let headerKey: string | undefined;
  if (idempotencyHeader !== null) {
    const parsedHeader = idempotencyKey.safeParse(idempotencyHeader);
    if (!parsedHeader.success) fields.push({ path: 'Idempotency-Key', message: parsedHeader.error.issues[0]!.message });
    else headerKey = parsedHeader.data;
  }
  if (!result.success || fields.length) throw invalidRequest(fields);

  const request = result.data;
  if (headerKey && request.idempotencyKey && headerKey !== request.idempotencyKey)
    throw invalidRequest([{ path: 'idempotencyKey', message: 'differs from the Idempotency-Key header' }]);
  const key = request.idempotencyKey ?? headerKey;
  return { ...request, ...(key ? { idempotencyKey: key } : {}) };
}

/** The body the proxy forwards: the validated request, normalised (phone in E.164, key resolved). */
export function serializeForBackend(request: CreateOrderRequest): string {
  return JSON.stringify(request);
}

function orderAnswer(order: Order, checkoutUrl: string | null, replayed: boolean): OrderApiAnswer {
  return {
    order: {
      orderId: order.id,
      reference: order.reference,
      status: order.paymentStatus,
      totalMinor: order.totalMinor,
      currency: order.currency,
      checkoutUrl: order.paymentStatus === 'pending' ? checkoutUrl : null,
      holdExpiresAt: order.holdExpiresAt?.toISOString() ?? null,
      shippingMode: order.shippingMode,
    },
    replayed,
  };
}

/** Quantities per SKU, as placeOrder merges them. */
function merged(lines: { sku: string; quantity: number }[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const l of lines) m.set(l.sku, (m.get(l.sku) ?? 0) + l.quantity);
  return m;
}

/** JSON with keys sorted at every level (jsonb stores an object's keys in its own order). */
const canonical = (v: unknown): string =>
  v && typeof v === 'object' && !Array.isArray(v)
    ? `{${Object.keys(v).sort().filter((k) => (v as Record<string, unknown>)[k] !== undefined).map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`).join(',')}}`
    : JSON.stringify(v ?? null);

/** The replay asks for the shipping the order was placed with (an order that ships nothing keeps none). */
function sameShipping(order: Order, shipping: ShippingChoice | null): boolean {
  return order.shippingMode === 'none' || canonical(order.shippingChoice) === canonical(shipping);
}

function sameRequest(order: Order, customerId: string, lines: RequestedLine[]): boolean {
  if (order.source !== 'api') return false;
  if (order.customerId !== customerId) return false;
  const a = merged(order.items);
  const b = merged(lines);
  return a.size === b.size && [...a].every(([sku, q]) => b.get(sku) === q);
}

/**
 * Creates (or, for a known idempotency key, finds) the order through placeOrder (sourceKey
 * "api:<key>", so the order id derives from the key; without a key every request is a new order):
 * customer, hold and Checkout Session; with `notify: true` it also sends the payment link on
 * WhatsApp (once per order).
 */
export async function createOrderFromApi(request: CreateOrderRequest): Promise<OrderApiAnswer> {
  const config = getConfig();
  const lines: RequestedLine[] = request.items.map((i) => ({ sku: i.sku, quantity: i.quantity }));

  const tooMany = request.items.flatMap((item, index) =>
    item.quantity > config.MAX_QUANTITY_PER_LINE ? [{ path: `items[${index}].quantity`, message: `must be at most ${config.MAX_QUANTITY_PER_LINE}` }] : [],
  );
  if (tooMany.length) throw invalidRequest(tooMany);

  let shipping: ShippingChoice | null = null;
  if (request.shipping) {
    const s = request.shipping;
    shipping = { ...(s.rate ? { rateId: s.rate } : {}), ...(s.name ? { name: s.name } : {}), ...(s.address ? { address: s.address } : {}) };
    const problem = choiceProblem(shipping);
    if (problem) throw invalidRequest([{ path: problem[0], message: problem[1] }]);
  }

  const customer: WaIdentity = { waId: request.customerPhone ? e164ToWaId(request.customerPhone) : null, userId: request.customerUserId ?? null };
  const sourceKey = `api:${request.idempotencyKey ?? `anonymous:${randomUUID()}`}`;
  let result: Awaited<ReturnType<typeof placeOrder>>;
  try {
    // The customer is found or created (never linked: a phone and a BSUID of two different customers are
    // refused) in placeOrder's first round trip.
    result = await placeOrder({ customer: { ...customer, profileName: request.customerName ?? null }, source: 'api', sourceKey, lines, notify: request.notify === true, shipping });
  } catch (error) {
    if (error instanceof CheckoutUnavailableError && isStripeIdempotencyError(error.cause)) throw new IdempotencyKeyReusedError(error.orderId);
    if (!(error instanceof CheckoutUnavailableError)) throw error; // IdempotencyKeyReusedError among them
    throw paymentProviderUnavailable(error.orderId, error.cause);
  }

  const indexesOf = (sku: string) => request.items.flatMap((item, index) => (item.sku === sku ? [index] : []));
  switch (result.status) {
    case 'customer_conflict':
      throw invalidRequest([{ path: result.field, message: result.message }]);
    case 'unknown_skus':
      throw invalidRequest(result.skus.flatMap((sku) => indexesOf(sku).map((i) => ({ path: `items[${i}].sku`, message: `unknown SKU "${sku}"` }))));
    case 'invalid_quantity':
      throw invalidRequest(indexesOf(result.sku).map((i) => ({ path: `items[${i}].quantity`, message: `at most ${result.max} of ${result.sku} per order` })));
    case 'mixed_currency':
      throw invalidRequest([{ path: 'items', message: 'all items of one order must be priced in the same currency' }]);
    case 'too_many_open_orders':
      throw conflict('too_many_open_orders', `This customer already has ${result.max} unpaid orders.`, { max: result.max });
    case 'out_of_stock':
      throw conflict('out_of_stock', 'Not enough stock for this order.', { shortages: result.shortages.map((s) => ({ sku: s.sku, available: s.available })) });
    case 'created':
    case 'existing':
      break;
  }

  const order = result.order;
  const replayed = result.status === 'existing';
  // The key names another order request (sequential or concurrent): 422, never Stripe's refusal as a 502.
  if (replayed && (!sameRequest(order, result.customerId, lines) || !sameShipping(order, shipping))) throw new IdempotencyKeyReusedError(order.id);

  let checkoutUrl: string | null;
  try {
    // A new order carries its session already; this only makes one for an order recorded without.
    checkoutUrl = await ensureCheckoutSession(order);
  } catch (error) {
    throw paymentProviderUnavailable(order.id, error);
  }
  if (request.notify && order.paymentStatus === 'pending') {
    // The outbox sends the link once per order; a replay after a crash completes a missing send.
    await sendPaymentLink(order, { claimed: result.paymentLink }).catch((error) => log.error('order_api.notify_failed', { orderId: order.id, error }));
  }
  log.info(replayed ? 'order_api.replayed' : 'order_api.created', { orderId: order.id, to: maskIdentity(customer), lines: lines.length });
  return orderAnswer(order, checkoutUrl, replayed);
}

/** Stripe's "same idempotency key with different parameters" (type idempotency_error): a reused key, not an outage. */
const isStripeIdempotencyError = (error: unknown) => (error as { type?: string } | null)?.type === 'StripeIdempotencyError' || (error as { rawType?: string } | null)?.rawType === 'idempotency_error';

function paymentProviderUnavailable(orderId: string, error: unknown): DomainError {
  log.error('order_api.checkout_failed', { orderId, error });
  const message = 'The order is held but its payment link could not be created. Retry with the same Idempotency-Key.';
  return new DomainError('upstream_failed', 'payment_provider_unavailable', message, undefined, { orderId });
}
