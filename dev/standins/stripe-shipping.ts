/**
 * The Stripe stand-in's shipping and tax (dev/standins/stripe.ts wires it in): Checkout Session
 * parameters `shipping_address_collection`, `shipping_options` (`shipping_rate_data` of type
 * fixed_amount, or an existing `shipping_rate` id) and `automatic_tax`, and the session fields
 * Stripe fills from them, as Stripe's API reference and OpenAPI fixtures show them
 * (tests/conformance/fixtures/stripe/fixtures3.json, `checkout.session`):
 *   shipping_address_collection  { allowed_countries }                    (null when not asked)
 *   shipping_options             [{ shipping_amount, shipping_rate: "shr_…" }] in the order given
 *   shipping_cost                { amount_subtotal, amount_tax, amount_total, shipping_rate }   (null without options)
 *   collected_information        { shipping_details: { name, address }, business_name, individual_name }
 *   automatic_tax                { enabled, liability, provider, status }  status requires_location_inputs → complete
 *   total_details                { amount_discount, amount_shipping, amount_tax }
 * The first option is preselected (amounts include it from creation), as on Stripe's page. The
 * pinned API version (2025-03-31.basil and later) has no top-level `shipping_details`: only
 * `collected_information.shipping_details`.
 * Tax is deterministic: STANDIN_TAX_BPS (10 %) of each line and of the shipping, rounded half up,
 * added on top (tax_behavior exclusive), once the payer's address is known.
 */

export const STANDIN_TAX_BPS = 1000;

export interface ShippingRateObject {
  id: string;
  object: 'shipping_rate';
  active: boolean;
  created: number;
  delivery_estimate: null | { minimum: { unit: string; value: number } | null; maximum: { unit: string; value: number } | null };
  display_name: string;
  fixed_amount: { amount: number; currency: string };
  livemode: false;
  metadata: Record<string, string>;
  tax_behavior: 'exclusive' | 'inclusive' | 'unspecified';
  tax_code: null;
  type: 'fixed_amount';
}

export interface StripeAddress {
  city: string | null;
  country: string | null;
  line1: string | null;
  line2: string | null;
  postal_code: string | null;
  state: string | null;
}

export interface SessionShippingFields {
  shipping_address_collection: { allowed_countries: string[] } | null;
  shipping_options: { shipping_amount: number; shipping_rate: string }[];
  shipping_cost: { amount_subtotal: number; amount_tax: number; amount_total: number; shipping_rate: string } | null;
  collected_information: { business_name: null; individual_name: null; shipping_details: { name: string; address: StripeAddress } | null } | null;
  automatic_tax: { enabled: boolean; liability: { type: 'self' } | null; provider: string | null; status: 'complete' | 'requires_location_inputs' | null };
}

/** The parts of a session this module prices (structurally the stand-in's Session and line items). */
type PricedSession = SessionShippingFields & {
  amount_subtotal: number;
  amount_total: number;
  currency: string;
  total_details: { amount_discount: number; amount_shipping: number; amount_tax: number };
};
type PricedLine = { amount_subtotal: number; amount_tax: number; amount_total: number };

export type ApiErrors = {
  invalid: (message: string, param?: string, code?: string) => Error;
  missing: (param: string) => Error;
  noSuch: (kind: string, id: string, param: string) => Error;
  control: (status: number, message: string) => Error;
  genId: (prefix: string, len?: number) => string;
  now: () => number;
};

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const tax = (amount: number) => Math.floor((amount * STANDIN_TAX_BPS + 5000) / 10000);

/** Validates the create parameters (form-decoded) and returns the session's shipping fields and the rates it made. */
export function parseShippingParams(p: Record<string, unknown>, currency: string, rates: Map<string, ShippingRateObject>, e: ApiErrors): { fields: SessionShippingFields; made: ShippingRateObject[] } {
  let collection: SessionShippingFields['shipping_address_collection'] = null;
  if (p.shipping_address_collection !== undefined && p.shipping_address_collection !== '') {
    const sac = p.shipping_address_collection;
    if (!isObj(sac)) throw e.invalid('Invalid object', 'shipping_address_collection');
    const countries = sac.allowed_countries;
    if (countries === undefined) throw e.missing('shipping_address_collection[allowed_countries]');
    if (!Array.isArray(countries) || countries.length === 0) throw e.invalid('Invalid array', 'shipping_address_collection[allowed_countries]');
    for (const [i, c] of countries.entries())
      if (typeof c !== 'string' || !/^[A-Z]{2}$/.test(c)) throw e.invalid(`Invalid shipping_address_collection[allowed_countries][${i}]: must be one of the supported ISO country codes`, `shipping_address_collection[allowed_countries][${i}]`);
    collection = { allowed_countries: countries as string[] };
  }
  const made: ShippingRateObject[] = [];
  const options: SessionShippingFields['shipping_options'] = [];
  if (p.shipping_options !== undefined && p.shipping_options !== '') {
    if (!Array.isArray(p.shipping_options)) throw e.invalid('Invalid array', 'shipping_options');
    if (p.shipping_options.length > 5) throw e.invalid('You may only specify up to 5 shipping options.', 'shipping_options');
    for (const [i, raw] of p.shipping_options.entries()) {
      const base = `shipping_options[${i}]`;
      if (!isObj(raw)) throw e.invalid('Invalid object', base);
      if (raw.shipping_rate !== undefined && raw.shipping_rate_data !== undefined) throw e.invalid(`You may only specify one of these parameters: shipping_rate, shipping_rate_data.`, base);
      let rate: ShippingRateObject;
      if (raw.shipping_rate !== undefined) {
        const found = rates.get(String(raw.shipping_rate));
        if (!found) throw e.noSuch('shipping_rate', String(raw.shipping_rate), `${base}[shipping_rate]`);
        rate = found;
      } else {
        const d = raw.shipping_rate_data;
        if (!isObj(d)) throw e.missing(`${base}[shipping_rate_data]`);
        rate = rateFromData(d, `${base}[shipping_rate_data]`, e);
        rates.set(rate.id, rate);
        made.push(rate);
      }
      if (rate.fixed_amount.currency !== currency) throw e.invalid(`The shipping rate's currency (${rate.fixed_amount.currency}) must match the session's currency (${currency}).`, base);
      options.push({ shipping_amount: rate.fixed_amount.amount, shipping_rate: rate.id });
    }
  }
  let automatic: SessionShippingFields['automatic_tax'] = { enabled: false, liability: null, provider: null, status: null };
  if (p.automatic_tax !== undefined && p.automatic_tax !== '') {
    if (!isObj(p.automatic_tax)) throw e.invalid('Invalid object', 'automatic_tax');
    if (p.automatic_tax.enabled === undefined) throw e.missing('automatic_tax[enabled]');
    if (p.automatic_tax.enabled !== 'true' && p.automatic_tax.enabled !== 'false') throw e.invalid('Invalid boolean', 'automatic_tax[enabled]');
    if (p.automatic_tax.enabled === 'true') automatic = { enabled: true, liability: { type: 'self' }, provider: 'stripe', status: 'requires_location_inputs' };
  }
  const first = options[0];
  return {
    made,
    fields: {
      shipping_address_collection: collection,
      shipping_options: options,
      shipping_cost: first ? { amount_subtotal: first.shipping_amount, amount_tax: 0, amount_total: first.shipping_amount, shipping_rate: first.shipping_rate } : null,
      collected_information: null,
      automatic_tax: automatic,
    },
  };
}

function rateFromData(d: Record<string, unknown>, base: string, e: ApiErrors): ShippingRateObject {
  if (d.display_name === undefined || d.display_name === '') throw e.missing(`${base}[display_name]`);
  const name = String(d.display_name);
  if (name.length > 100) throw e.invalid('display_name must be at most 100 characters', `${base}[display_name]`);
  if (d.type !== undefined && d.type !== 'fixed_amount') throw e.invalid('Invalid type: must be fixed_amount', `${base}[type]`);
  const fa = d.fixed_amount;
  if (!isObj(fa)) throw e.missing(`${base}[fixed_amount]`);
  if (fa.amount === undefined || !/^\d+$/.test(String(fa.amount))) throw e.missing(`${base}[fixed_amount][amount]`);
  if (fa.currency === undefined || !/^[a-z]{3}$/i.test(String(fa.currency))) throw e.missing(`${base}[fixed_amount][currency]`);
  const estimate = (v: unknown, param: string) => {
    if (v === undefined) return null;
    if (!isObj(v)) throw e.invalid('Invalid object', param);
    if (!['business_day', 'day', 'hour', 'month', 'week'].includes(String(v.unit))) throw e.invalid('Invalid unit', `${param}[unit]`);
    if (!/^\d+$/.test(String(v.value)) || Number(v.value) < 1) throw e.invalid('value must be a positive integer', `${param}[value]`);
    return { unit: String(v.unit), value: Number(v.value) };
  };
  let delivery: ShippingRateObject['delivery_estimate'] = null;
  if (d.delivery_estimate !== undefined) {
    if (!isObj(d.delivery_estimate)) throw e.invalid('Invalid object', `${base}[delivery_estimate]`);
    delivery = { minimum: estimate(d.delivery_estimate.minimum, `${base}[delivery_estimate][minimum]`), maximum: estimate(d.delivery_estimate.maximum, `${base}[delivery_estimate][maximum]`) };
  }
  const behavior = d.tax_behavior === undefined ? 'unspecified' : String(d.tax_behavior);
  if (!['exclusive', 'inclusive', 'unspecified'].includes(behavior)) throw e.invalid('Invalid tax_behavior', `${base}[tax_behavior]`);
  const metadata: Record<string, string> = {};
  if (isObj(d.metadata)) for (const [k, v] of Object.entries(d.metadata)) metadata[k] = String(v);
  return {
    id: e.genId('shr_'),
    object: 'shipping_rate',
    active: true,
    created: e.now(),
    delivery_estimate: delivery,
    display_name: name,
    fixed_amount: { amount: Number(fa.amount), currency: String(fa.currency).toLowerCase() },
    livemode: false,
    metadata,
    tax_behavior: behavior as ShippingRateObject['tax_behavior'],
    tax_code: null,
    type: 'fixed_amount',
  };
}

/** Recomputes the session's amounts: items, the chosen rate, and the tax once the address is known. */
export function priceSession(s: PricedSession, lines: PricedLine[]): void {
  const shipping = s.shipping_cost?.amount_subtotal ?? 0;
  const taxed = s.automatic_tax.enabled && s.automatic_tax.status === 'complete';
  let itemsTax = 0;
  for (const l of lines) {
    l.amount_tax = taxed ? tax(l.amount_subtotal) : 0;
    l.amount_total = l.amount_subtotal + l.amount_tax;
    itemsTax += l.amount_tax;
  }
  const shippingTax = taxed ? tax(shipping) : 0;
  if (s.shipping_cost) s.shipping_cost = { ...s.shipping_cost, amount_tax: shippingTax, amount_total: shipping + shippingTax };
  s.total_details = { ...s.total_details, amount_shipping: shipping, amount_tax: itemsTax + shippingTax };
  s.amount_total = s.amount_subtotal + shipping + itemsTax + shippingTax - s.total_details.amount_discount;
}

export type ShippingInput = { name?: unknown; address?: unknown; shippingRate?: unknown };

/** A test address in the first allowed country (the page prefills it; the control API uses it when none is given). */
export const defaultAddress = (country: string): StripeAddress => ({ city: 'Berlin', country, line1: 'Teststraße 1', line2: null, postal_code: '10115', state: null });

/**
 * What the payer entered on the page: the address (required when the session collects one, in an
 * allowed country), the chosen option (a shipping_rate id or an index; default the first), the
 * tax once the address is known. `address: null` completes WITHOUT an address (a test of what the
 * shop does when Stripe reports none): Stripe's own page never allows that.
 */
export function completeShipping(s: PricedSession, lines: PricedLine[], input: ShippingInput, fallbackName: string, e: ApiErrors): void {
  if (input.shippingRate !== undefined && input.shippingRate !== null) {
    const want = input.shippingRate;
    const opt = typeof want === 'number' ? s.shipping_options[want] : s.shipping_options.find((o) => o.shipping_rate === want);
    if (!opt) throw e.control(400, `shippingRate ${JSON.stringify(want)} is not one of this session's shipping_options`);
    s.shipping_cost = { amount_subtotal: opt.shipping_amount, amount_tax: 0, amount_total: opt.shipping_amount, shipping_rate: opt.shipping_rate };
  }
  const allowed = s.shipping_address_collection?.allowed_countries;
  if (allowed) {
    let address: StripeAddress | null;
    if (input.address === null) address = null;
    else if (input.address === undefined) address = defaultAddress(allowed[0]!);
    else {
      if (!isObj(input.address)) throw e.control(400, 'address must be an object {line1, line2?, postal_code, city, state?, country}');
      const a = input.address;
      const text = (k: string) => (typeof a[k] === 'string' && (a[k] as string).trim() ? (a[k] as string).trim() : null);
      address = { line1: text('line1'), line2: text('line2'), postal_code: text('postal_code'), city: text('city'), state: text('state'), country: text('country')?.toUpperCase() ?? null };
      if (!address.line1 || !address.country) throw e.control(400, 'address needs line1 and country');
      if (!allowed.includes(address.country)) throw e.control(400, `country ${address.country} is not in shipping_address_collection.allowed_countries`);
    }
    const name = typeof input.name === 'string' && input.name.trim() ? input.name.trim() : fallbackName;
    s.collected_information = { business_name: null, individual_name: null, shipping_details: address ? { name, address } : null };
  }
  // Stripe Tax needs a location: the shipping address, else the billing address Checkout then asks for.
  if (s.automatic_tax.enabled) s.automatic_tax = { ...s.automatic_tax, status: 'complete' };
  priceSession(s, lines);
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** The hosted page's address form and rate choice (empty when the session asks for neither). */
export function shippingFormHtml(s: SessionShippingFields, rates: Map<string, ShippingRateObject>, money: (amount: number, currency: string) => string): string {
  const allowed = s.shipping_address_collection?.allowed_countries;
  const parts: string[] = [];
  if (allowed) {
    const a = defaultAddress(allowed[0]!);
    const field = (k: string, label: string, v: string | null) => `<label>${label} <input data-testid="ship-${k}" name="${k}" value="${esc(v ?? '')}"></label>`;
    parts.push(`<fieldset data-testid="shipping-address"><legend>Shipping address</legend>
${field('name', 'Name', 'Test Customer')}${field('line1', 'Address', a.line1)}${field('line2', 'Address line 2', null)}${field('postal_code', 'Postal code', a.postal_code)}${field('city', 'City', a.city)}
<label>Country <select data-testid="ship-country" name="country">${allowed.map((c) => `<option>${esc(c)}</option>`).join('')}</select></label></fieldset>`);
  }
  if (s.shipping_options.length) {
    const options = s.shipping_options.map((o, i) => {
      const r = rates.get(o.shipping_rate);
      const est = r?.delivery_estimate?.minimum && r.delivery_estimate.maximum ? ` · ${r.delivery_estimate.minimum.value}–${r.delivery_estimate.maximum.value} ${r.delivery_estimate.maximum.unit.replace('_', ' ')}s` : '';
      return `<label><input type="radio" name="shipping_rate" data-testid="rate-${i}" value="${esc(o.shipping_rate)}"${i === 0 ? ' checked' : ''}> ${esc(r?.display_name ?? o.shipping_rate)} — ${esc(money(o.shipping_amount, r?.fixed_amount.currency ?? 'usd'))}${esc(est)}</label>`;
    });
    parts.push(`<fieldset data-testid="shipping-options"><legend>Shipping method</legend>${options.join('<br>')}</fieldset>`);
  }
  return parts.join('\n');
}

/** The page's script: what to send with "Pay" (read from the form above). */
export const SHIPPING_FORM_SCRIPT = `const shippingInput = () => {
    const out = {};
    const v = (n) => { const el = document.querySelector('[name="' + n + '"]'); return el ? el.value : undefined; };
    if (document.querySelector('[data-testid="shipping-address"]')) {
      out.name = v('name');
      out.address = { line1: v('line1'), line2: v('line2'), postal_code: v('postal_code'), city: v('city'), country: v('country') };
    }
    const rate = document.querySelector('input[name="shipping_rate"]:checked');
    if (rate) out.shippingRate = rate.value;
    return out;
  };`;
