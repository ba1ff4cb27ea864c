import { getConfig } from '../config.js';

/**
 * Fulfilment (docs/fulfilment.md): how an order reaches its customer, and what was paid for it.
 *   - the mode, decided when the order is placed: `none` (nothing to ship: every product is
 *     `requires_shipping = false`, or the shop ships nothing), `delivery` (to an address) or
 *     `pickup` (the order API's choice; a delivery order becomes pickup when the payer picks the
 *     pickup rate at Checkout);
 *   - the rates offered, derived from config and the order alone (so a Checkout Session's
 *     parameters are the same for every call for one order, and the rate Stripe reports can be
 *     found again by its position among the session's options, without a Stripe round trip);
 *   - what the completed Checkout Session says was paid for (address, rate, shipping, tax), read
 *     from `collected_information.shipping_details` (API 2025-03-31.basil and later) or
 *     `shipping_details` (earlier versions), `shipping_cost` and `total_details`.
 */

export type ShippingMode = 'none' | 'delivery' | 'pickup';
export type ShippingAddress = { line1: string; line2: string | null; postalCode: string | null; city: string | null; state: string | null; country: string };
export type ShippingRate = { id: string; name: string; amountMinor: number; minDays: number | null; maxDays: number | null; kind: 'delivery' | 'pickup' };
/** The order API's own choice: a rate (by id, or pickup) and/or the address, given up front. */
export type ShippingChoice = { rateId?: string; name?: string; address?: ShippingAddress; phone?: string };

/** What the order records at payment (lib/orders/store.ts storePaid), every amount in the order's currency. */
export type PaidFulfilment = {
  mode: ShippingMode;
  name: string | null;
  address: ShippingAddress | null;
  phone: string | null;
  rate: ShippingRate | null;
  itemsMinor: number;
  shippingMinor: number;
  taxMinor: number;
  totalMinor: number;
  /** Why it cannot ship as it is (null: nothing missing): the console flags it and ops hear about it. */
  problem: string | null;
};

export const PICKUP_RATE_ID = 'pickup';

/** Whether the shop ships or offers pickup at all. */
export function shopShips(): boolean {
  const c = getConfig();
  return c.SHIPPING_COUNTRIES !== undefined || c.SHIPPING_PICKUP !== undefined;
}

/** The order's mode when placed: `requiresShipping` per line (the catalog's flag), `choice` the order API's. */
export function shippingModeFor(requiresShipping: boolean[], choice?: ShippingChoice | null): ShippingMode {
  if (!shopShips() || !requiresShipping.some(Boolean)) return 'none';
  if (choice?.rateId === PICKUP_RATE_ID) return 'pickup';
  return getConfig().SHIPPING_COUNTRIES ? 'delivery' : 'pickup';
}

/** The rates an order is offered, in the order Checkout lists them (the first is preselected). */
export function offeredRates(o: { shippingMode?: ShippingMode; shippingChoice?: ShippingChoice | null; itemsMinor: number; currency: string }): ShippingRate[] {
  const mode = o.shippingMode ?? 'none';
  if (mode === 'none') return [];
  const c = getConfig();
  const pickup: ShippingRate[] = c.SHIPPING_PICKUP
    ? [{ id: PICKUP_RATE_ID, name: `${c.SHIPPING_PICKUP.name}: ${c.SHIPPING_PICKUP.address}`, amountMinor: 0, minDays: null, maxDays: null, kind: 'pickup' }]
    : [];
  if (mode === 'pickup') return pickup;
  const rates: ShippingRate[] = c.SHIPPING_RATES.filter((r) => r.currency === o.currency.toUpperCase()).map((r) => ({
    id: r.id,
    name: r.name,
    amountMinor: r.freeOverMinor !== undefined && o.itemsMinor >= r.freeOverMinor ? 0 : r.amountMinor,
    minDays: r.minDays ?? r.maxDays ?? null,
    maxDays: r.maxDays ?? r.minDays ?? null,
    kind: 'delivery',
  }));
  const chosen = o.shippingChoice?.rateId;
  if (chosen) return rates.filter((r) => r.id === chosen);
  // A given address is a delivery: pickup is not offered then.
  return o.shippingChoice?.address ? rates : [...rates, ...pickup];
}

/** What is wrong with the order API's choice for this shop: [path, message] (null: fine). The rate's currency is the catalog's. */
export function choiceProblem(choice: ShippingChoice): [string, string] | null {
  const c = getConfig();
  if (!shopShips()) return ['shipping', 'this shop ships nothing (SHIPPING_COUNTRIES and SHIPPING_PICKUP are not set)'];
  if (choice.rateId === PICKUP_RATE_ID) {
    if (!c.SHIPPING_PICKUP) return ['shipping.rate', 'this shop offers no pickup'];
    return choice.address ? ['shipping.address', 'a pickup order takes no address'] : null;
  }
  if (choice.address && !c.SHIPPING_COUNTRIES?.includes(choice.address.country))
    return ['shipping.address.country', `the shop ships to ${c.SHIPPING_COUNTRIES?.join(', ') ?? 'no country'}`];
  if (choice.rateId && !c.SHIPPING_RATES.some((r) => r.id === choice.rateId))
    return ['shipping.rate', `unknown rate "${choice.rateId}" (rates: ${[...c.SHIPPING_RATES.map((r) => r.id), ...(c.SHIPPING_PICKUP ? [PICKUP_RATE_ID] : [])].join(', ') || 'none'})`];
  return null;
}

/** The facts of a completed Checkout Session about shipping and tax (lib/orders/session.ts sessionFacts reads them). */
export type CheckoutShippingFacts = {
  name: string | null;
  address: Record<string, unknown> | null;
  phone: string | null;
  /** shipping_cost.shipping_rate (an id, or the object when expanded) and the session's options, in our order. */
  rateId: string | null;
  rateName: string | null;
  options: { rateId: string | null; amount: number }[];
  shippingMinor: number;
  taxMinor: number;
  discountMinor: number;
};

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj | null => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : null);
const str = (v: unknown): string | null => (typeof v === 'string' && v.trim() !== '' ? v.trim() : null);
/** A non-negative amount a Postgres integer holds; anything else counts as 0 (then the payment's amount cannot match: refused, alerted). */
const int = (v: unknown): number => (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 2_147_483_647 ? v : 0);
const idOf = (v: unknown): string | null => str(v) ?? str(obj(v)?.id);

/** Reads a Checkout Session (as Stripe sends it, any API version) for its shipping and tax. */
export function checkoutShippingFacts(session: unknown): CheckoutShippingFacts {
  const s = obj(session) ?? {};
  const collected = obj(obj(s.collected_information)?.shipping_details);
  const legacy = obj(s.shipping_details) ?? obj(s.shipping);
  const details = collected ?? legacy;
  const cost = obj(s.shipping_cost);
  const totals = obj(s.total_details);
  const customer = obj(s.customer_details);
  const rate = cost?.shipping_rate;
  const options = Array.isArray(s.shipping_options) ? s.shipping_options.map((o) => ({ rateId: idOf(obj(o)?.shipping_rate), amount: int(obj(o)?.shipping_amount) })) : [];
  return {
    name: str(details?.name),
    address: obj(details?.address),
    phone: str(details?.phone) ?? str(customer?.phone),
    rateId: idOf(rate),
    rateName: str(obj(rate)?.display_name),
    options,
    shippingMinor: totals?.amount_shipping != null ? int(totals.amount_shipping) : int(cost?.amount_subtotal),
    taxMinor: int(totals?.amount_tax),
    discountMinor: int(totals?.amount_discount),
  };
}

/** A Stripe address → ours; null unless it has at least a first line and a country. */
export function addressOf(a: Record<string, unknown> | null): ShippingAddress | null {
  if (!a) return null;
  const line1 = str(a.line1);
  const country = str(a.country)?.toUpperCase() ?? null;
  if (!line1 || !country) return null;
  return { line1, line2: str(a.line2), postalCode: str(a.postal_code) ?? str(a.postalCode), city: str(a.city), state: str(a.state), country };
}

/** The order as placed, for what it ships by. */
export type ShippingOrder = {
  totalMinor: number;
  currency: string;
  shippingMode: ShippingMode;
  shippingChoice: ShippingChoice | null;
  shippingName: string | null;
  shippingAddress: ShippingAddress | null;
  customerName: string | null;
};

/**
 * What the order records as paid for: from the completed session when there is one (`facts`), else
 * (an offline payment) as the order was placed. `totalMinor` is the order's items total before payment.
 */
export function paidFulfilment(order: ShippingOrder, facts: CheckoutShippingFacts | null): PaidFulfilment {
  const itemsMinor = order.totalMinor;
  const shippingMinor = facts?.shippingMinor ?? 0;
  const taxMinor = facts?.taxMinor ?? 0;
  const offered = offeredRates({ ...order, itemsMinor });
  let rate: ShippingRate | null = null;
  if (facts?.rateId) {
    const at = facts.options.findIndex((o) => o.rateId === facts.rateId);
    const ours = at >= 0 ? offered[at] : undefined;
    // Config changed since the session was made (or an option we never offered): what Stripe says was paid.
    rate = ours && ours.amountMinor === facts.options[at]!.amount ? ours : { id: facts.rateId, name: facts.rateName ?? 'Shipping', amountMinor: shippingMinor, minDays: null, maxDays: null, kind: 'delivery' };
  } else if (order.shippingMode !== 'none' && offered.length === 1) rate = offered[0]!;
  let mode = order.shippingMode;
  if (rate?.kind === 'pickup') mode = 'pickup';
  if (mode === 'none' && (addressOf(facts?.address ?? null) || facts?.rateId)) mode = 'delivery';
  const address = mode === 'pickup' ? null : (addressOf(facts?.address ?? null) ?? order.shippingAddress);
  const name = mode === 'pickup' ? (facts?.name ?? order.customerName) : (facts?.name ?? order.shippingName ?? null);
  let problem: string | null = null;
  if (mode === 'delivery' && !address) problem = facts?.address ? 'incomplete_shipping_address' : 'no_shipping_address';
  else if (mode === 'delivery' && address && getConfig().SHIPPING_COUNTRIES && !getConfig().SHIPPING_COUNTRIES!.includes(address.country)) problem = 'country_not_shipped';
  return {
    mode,
    name,
    address,
    phone: facts?.phone ?? order.shippingChoice?.phone ?? null,
    rate,
    itemsMinor,
    shippingMinor,
    taxMinor,
    totalMinor: itemsMinor + shippingMinor + taxMinor - (facts?.discountMinor ?? 0),
    problem,
  };
}

/** "2–4 business days", "1 business day", or null. */
export function estimateText(rate: Pick<ShippingRate, 'minDays' | 'maxDays'> | null): string | null {
  if (!rate?.minDays || !rate.maxDays) return null;
  const days = rate.minDays === rate.maxDays ? `${rate.minDays}` : `${rate.minDays}–${rate.maxDays}`;
  return `${days} business day${rate.maxDays === 1 ? '' : 's'}`;
}

/** One line for the courier, the console and the customer. */
export function addressText(a: ShippingAddress | null): string | null {
  if (!a) return null;
  return [a.line1, a.line2, [a.postalCode, a.city].filter(Boolean).join(' '), a.state, a.country].filter(Boolean).join(', ');
}

/** How it arrives, for the confirmation: null when nothing ships. */
export function arrivalText(f: Pick<PaidFulfilment, 'mode' | 'rate' | 'address'>): string | null {
  const c = getConfig();
  if (f.mode === 'pickup') {
    const p = c.SHIPPING_PICKUP;
    return p ? `Pick it up at ${p.address} (${p.hours}); we'll message you when it's ready.` : "We'll message you when it's ready for pickup.";
  }
  if (f.mode !== 'delivery') return shopShips() ? 'Nothing in it needs shipping.' : null;
  const estimate = estimateText(f.rate);
  const how = f.rate ? `${f.rate.name} shipping` : 'Shipping';
  const to = f.address ? ` to ${addressText(f.address)}` : '';
  return `${how}${to}${estimate ? `, arriving in ${estimate} once it ships` : ''}. We'll message you here as soon as it ships.`;
}
