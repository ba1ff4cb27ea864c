import { createHash } from 'node:crypto';
import { displayName } from '../catalog/store.js';
import { getConfig } from '../config.js';
import { resolvedCustomerOf } from '../customers/store.js';
import { claimedOf, type Claimed } from '../messaging/outbox.js';
import { paymentLinkNotice } from '../messaging/order-notices.js';
import { outboxRows } from '../messaging/record.js';
import { createCheckoutSession } from './checkout.js';
import { reholdStock, releaseHold, reserveStock, type ReserveResult, type Shortage } from '../stock/index.js';
import { getOrder, orderIdFor, toOrder, type Order, type OrderItem } from './order.js';
import { insertPendingOrderRow, placementReadSql, readForPlacement } from './store-place.js';
import { shippingModeFor, type ShippingChoice, type ShippingMode } from './shipping.js';
import { DomainError } from '../errors.js';
import type { Work } from '../work.js';

export type { Order };
/** Step 1's select list (./store-place.ts), fused by the inbound recording statement. */
export { placementReadSql };

/** A known customer (`id`), or an identity to find or create one by (never linked: see findOrCreateCustomer). */
export type OrderCustomer = { id?: string; waId: string | null; userId: string | null; profileName: string | null };
export type RequestedLine = { sku: string; quantity: number };

export type PlaceOrderResult =
  /** `paymentLink`: the payment link the order's own write recorded already claimed (notify), for sendPaymentLink to deliver. */
  | { status: 'created' | 'existing'; order: Order; customerId: string; paymentLink?: Claimed | null }
  | { status: 'unknown_skus'; skus: string[] }
  | { status: 'invalid_quantity'; sku: string; max: number; quantity: number; name: string }
  | { status: 'mixed_currency' }
  | { status: 'too_many_open_orders'; max: number }
  | { status: 'out_of_stock'; shortages: (Shortage & { name: string })[] };

/** Only for a customer given by identity (no id): the identities name different customers. */
export type CustomerConflict = { status: 'customer_conflict'; field: 'customerPhone' | 'customerUserId'; message: string };

type PlaceOrderInput<C extends OrderCustomer = OrderCustomer> = {
  customer: C;
  source: Order['source'];
  sourceKey: string;
  lines: RequestedLine[];
  /** The payment link will be sent (sendPaymentLink): the order's write claims it. Default: WhatsApp orders. */
  notify?: boolean;
  /**
   * The caller's unit of work (lib/work.ts): its pending Redis writes ride with the hold script, and step 1 is taken
   * from its `placement` fact when an earlier statement read it for these lines (the inbound flow's recording
   * statement, placementReadSql).
   */
  work?: Work;
  /** The order API's shipping choice (validated there): a rate, pickup, and/or the address; else Checkout asks. */
  shipping?: ShippingChoice | null;
  /** The hold's length when not RESERVATION_TTL_SECONDS (a back-in-stock offer's own hold: lib/waitlist). */
  holdSeconds?: number;
};

/** What step 1 reads for one order: the order id and SKUs it was read for, and the row. */
export type PlacementRead = { orderId: string; skus: string[]; row: Record<string, unknown> };

/** The order id, SKUs and candidate references of the order one business event places: step 1 reads by these. */
export function placementOf(sourceKey: string, lines: RequestedLine[]): { orderId: string; skus: string[]; references: string[] } {
  const orderId = orderIdFor(sourceKey);
  return { orderId, skus: [...new Set(lines.map((l) => l.sku))], references: [0, 1, 2].map((n) => referenceFor(orderId, n)) };
}

const sameSkus = (a: string[], b: string[]) => a.length === b.length && a.every((s) => b.includes(s));

declare module '../work.js' {
  interface ReadAhead {
    /** An order's step 1, read by an earlier statement of the flow (the inbound recording statement: placementReadSql). */
    placement: PlacementRead;
  }
}

/**
 * Stripe's answer failed or never came: the hold stays, and a retry of the same event completes the same order.
 * Not a DomainError: no answer by itself. The order API reads its cause (Stripe's "same key, other parameters"
 * is a reused key, anything else an upstream failure); the WhatsApp flow retries the event.
 */
export class CheckoutUnavailableError extends Error {
  constructor(
    readonly orderId: string,
    override readonly cause: unknown,
  ) {
    super(`Checkout Session for order ${orderId} could not be created: ${String((cause as Error)?.message ?? cause)}`);
  }
}

/**
 * An order-API idempotency key used for another request: the order id it derives is held for other lines,
 * or was placed with others (or Stripe refused the same key with other parameters). `invalid` (422).
 */
export class IdempotencyKeyReusedError extends DomainError {
  constructor(readonly orderId: string) {
    super('invalid', 'idempotency_key_reused', 'This idempotency key was already used for a different order request.', [
      { path: 'idempotencyKey', message: 'was already used for a different order request' },
    ]);
    this.name = 'IdempotencyKeyReusedError';
  }
}

/**
 * Places the order for one business event (sourceKey), idempotently, in two Postgres round trips:
 *   1. read: the customer (found or created when given by identity), "does this order exist", the
 *      catalog rows of the SKUs (prices always from Postgres), the customer's open orders and which
 *      of the order's candidate references are taken;
 *   2. hold every line (Redis, all or nothing), with the expiry of a hold an earlier attempt took;
 *   3. the Checkout Session (Stripe), every parameter derived from the event and the hold;
 *   4. write: the order with its session, its `created` event and (notify) its payment link recorded and
 *      claimed in the outbox, in one statement; the result carries that claim (`paymentLink`) and
 *      sendPaymentLink(order, { claimed }) sends it.
 * A crash anywhere converges on the retry of the same event: before 4 nothing is recorded but the
 * hold (reused, same expiry, so Stripe returns the same session for the same idempotency key), after
 * 4 the read finds the order. A hold whose order is never written is released by the cleanup once it
 * lapses; a session made for it was never shown to anyone and expires by itself.
 */
export function placeOrder(input: PlaceOrderInput<OrderCustomer & { id: string }>): Promise<PlaceOrderResult>;
export function placeOrder(input: PlaceOrderInput): Promise<PlaceOrderResult | CustomerConflict>;
export async function placeOrder(input: PlaceOrderInput): Promise<PlaceOrderResult | CustomerConflict> {
  const config = getConfig();
  const { orderId, skus, references } = placementOf(input.sourceKey, input.lines);
  const p = input.work?.ahead('placement');
  const read = p && p.orderId === orderId && sameSkus(p.skus, skus) ? p.row : await readForPlacement(orderId, input.customer, skus, references);

  const customer = resolvedCustomerOf(read);
  if (!customer.ok) return { status: 'customer_conflict', field: customer.field, message: customer.message };
  const customerId = customer.id;
  if (read.existing) return { status: 'existing', order: toOrder(read.existing as Record<string, unknown>), customerId };

  const catalog = new Map((read.variants as CatalogRow[]).map((v) => [v.sku, v]));
  const unknown = skus.filter((s) => !catalog.has(s));
  if (unknown.length) return { status: 'unknown_skus', skus: unknown };
  const merged = new Map<string, number>();
  for (const l of input.lines) merged.set(l.sku, (merged.get(l.sku) ?? 0) + l.quantity);
  for (const [sku, quantity] of merged) {
    if (!Number.isInteger(quantity) || quantity < 1 || quantity > config.MAX_QUANTITY_PER_LINE)
      return { status: 'invalid_quantity', sku, max: config.MAX_QUANTITY_PER_LINE, quantity, name: nameOf(catalog.get(sku)!) };
  }
  const variants = [...merged.keys()].map((s) => catalog.get(s)!);
  const currency = variants[0]!.currency.trim();
  if (variants.some((v) => v.currency.trim() !== currency)) return { status: 'mixed_currency' };
  if (Number(read.open_orders ?? 0) >= config.MAX_ACTIVE_HOLDS_PER_CUSTOMER)
    return { status: 'too_many_open_orders', max: config.MAX_ACTIVE_HOLDS_PER_CUSTOMER };

  const items = [...merged].map(([sku, quantity]) => lineOf(catalog.get(sku)!, quantity));
  // An API key reused for other lines at the same time finds the order id held for those: refused, never
  // written with a hold that is not its own (nor a Checkout Session Stripe would refuse with idempotency_error).
  const hold = await holdLines(orderId, items, { work: input.work, sameLinesOnly: input.source === 'api', holdSeconds: input.holdSeconds });
  if (hold.status === 'short') {
    const name = (sku: string) => (catalog.get(sku) ? nameOf(catalog.get(sku)!) : sku);
    return { status: 'out_of_stock', shortages: hold.shortages.map((s) => ({ ...s, name: name(s.sku) })) };
  }
  // Free at the read; a reference another order took since (two 8-character draws colliding in that
  // instant) fails the write, and the retry's read picks the next candidate.
  const taken = new Set(read.taken as string[]);
  const reference = references.find((r) => !taken.has(r));
  if (!reference) throw new Error(`order ${orderId}: every candidate reference is taken`);

  const shipping = input.shipping ?? null;
  const shippingMode = shippingModeFor([...merged.keys()].map((s) => catalog.get(s)!.requires_shipping !== false), shipping);
  const pending = { id: orderId, reference, items, currency, holdExpiresAt: hold.expiresAt, shippingMode, shippingChoice: shippingMode === 'none' ? null : shipping };
  let session;
  try {
    session = await createCheckoutSession(pending);
  } catch (error) {
    throw new CheckoutUnavailableError(orderId, error);
  }
  const link = (input.notify ?? input.source === 'whatsapp')
    ? paymentLinkNotice({ ...pending, customerId, customerName: input.customer.profileName, totalMinor: totalOf(items) }, session.url!)
    : null;
  const written = await insertPendingOrder(pending, customerId, input, { id: session.id, url: session.url! }, link ? outboxRows([link]) : '[]', config.MAX_ACTIVE_HOLDS_PER_CUSTOMER);
  if (written.status === 'too_many_open_orders') {
    // Refused by the write (concurrent orders of this customer took the last slots since the read): the hold is
    // given back now; the session made for it was never shown to anyone and expires by itself.
    await releaseHold(orderId);
    return { status: 'too_many_open_orders', max: config.MAX_ACTIVE_HOLDS_PER_CUSTOMER };
  }
  // The payment link the write recorded already claimed goes back to the caller, who delivers it (sendPaymentLink);
  // never delivered (the caller died): the claim lapses and the outbox retry sends it.
  return { status: written.status, order: written.order, customerId, paymentLink: written.link ?? null };
}

type CatalogRow = { sku: string; product_name: string; variant_name: string; price_minor: number; currency: string; requires_shipping?: boolean; weight_grams?: number | null };

const totalOf = (items: OrderItem[]) => items.reduce((s, i) => s + i.lineTotalMinor, 0);
const nameOf = (v: CatalogRow) => displayName(v.product_name, v.variant_name);

function lineOf(v: CatalogRow, quantity: number): OrderItem {
  const unit = Number(v.price_minor);
  const line: OrderItem = { sku: v.sku, name: nameOf(v), quantity, unitPriceMinor: unit, lineTotalMinor: unit * quantity };
  if (v.weight_grams != null) line.weightGrams = Number(v.weight_grams);
  return line;
}

const REFERENCE_ALPHABET = '23456789ABCDEFGHJKLMNPQRSTUVWXYZ';

/** The order's n-th candidate reference: 8 characters of 32 derived from the order id, so a retry draws the same. */
export function referenceFor(orderId: string, n: number): string {
  const bytes = createHash('sha256').update(`reference:${orderId}:${n}`).digest();
  return Array.from(bytes.subarray(0, 8), (b) => REFERENCE_ALPHABET[b % 32]).join('');
}

type Held = { status: 'held'; expiresAt: Date } | Extract<ReserveResult, { status: 'short' }>;

/**
 * Step 2: the hold, until now + RESERVATION_TTL_SECONDS, or the one an earlier attempt for this order
 * took (its expiry, so the session's parameters are the same). A hold that lapsed, or is about to, or
 * that the cleanup released as an orphan (a late retry) is taken again from now.
 */
async function holdLines(orderId: string, items: OrderItem[], opts: { work?: Work; sameLinesOnly?: boolean; holdSeconds?: number } = {}): Promise<Held> {
  const { work, sameLinesOnly = false } = opts;
  const ttlMs = (opts.holdSeconds ?? getConfig().RESERVATION_TTL_SECONDS) * 1000;
  const until = () => new Date(Date.now() + ttlMs);
  let r = await reserveStock(orderId, items, until(), work);
  if (r.status !== 'exists') return r;
  if (sameLinesOnly && !r.sameLines) throw new IdempotencyKeyReusedError(orderId);
  const live = r.state === 'held' && r.expiresAt !== null && r.expiresAt.getTime() > Date.now() + Math.min(30_000, ttlMs / 4);
  if (live) return { status: 'held', expiresAt: r.expiresAt! };
  if (r.state !== 'committed') r = await reholdStock(orderId, items, until(), r.expiresAt);
  if (r.status !== 'exists') return r;
  // Committed: the order was recorded and paid by another attempt since the read; the retry reads it.
  throw new Error(`order ${orderId}: its hold is ${r.state} but the order was not found`);
}

/**
 * Step 4: the order with its Checkout Session and its `created` event, and the payment link (`link`,
 * outboxRows: none or one) recorded and claimed for the order's customer; an order already written for
 * this event is returned as it is (its link left to sendOnce).
 *
 * The customer's open-order limit is decided here, by the write: the insert happens only while the customer
 * has fewer than `maxOpen` other open orders, counted after taking a transaction-level advisory lock on the
 * customer (the lock, then the insert, in one transaction: one HTTP round trip). Concurrent orders of one
 * customer (10 WhatsApp messages, 30 API calls at once) are thus counted one after another, each seeing the
 * ones committed before it (READ COMMITTED: each statement of the transaction takes a fresh snapshot), so no
 * more than `maxOpen` are ever open. Step 1's count stays the early refusal (no hold, no session).
 */
async function insertPendingOrder(
  order: { id: string; reference: string; items: OrderItem[]; currency: string; holdExpiresAt: Date; shippingMode: ShippingMode; shippingChoice: ShippingChoice | null },
  customerId: string,
  input: { source: Order['source']; sourceKey: string },
  session: { id: string; url: string },
  link: string,
  maxOpen: number,
): Promise<{ status: 'created' | 'existing'; order: Order; link?: Claimed } | { status: 'too_many_open_orders' }> {
  const row = await insertPendingOrderRow({
    id: order.id, reference: order.reference, customerId, source: input.source, sourceKey: input.sourceKey, items: JSON.stringify(order.items), total: totalOf(order.items),
    currency: order.currency, holdExpiresAt: order.holdExpiresAt.toISOString(), sessionId: session.id, sessionUrl: session.url, link, maxOpen,
    shippingMode: order.shippingMode, shippingChoice: order.shippingChoice ? JSON.stringify(order.shippingChoice) : null,
  });
  if (row?.id) return { status: 'created', order: toOrder(row), ...(row.payment_link ? { link: claimedOf(row.payment_link as Record<string, unknown>) } : {}) };
  // Written by a concurrent attempt for the same event (rare: the read found none), or refused by the limit.
  const existing = await getOrder(order.id);
  if (existing) return { status: 'existing', order: existing };
  if (row && Number(row.open_orders) >= maxOpen) return { status: 'too_many_open_orders' };
  // No customer row to record it for: the hold lapses and the cleanup releases it.
  throw new Error(`order ${order.id} not recorded: customer ${customerId} no longer exists`);
}
