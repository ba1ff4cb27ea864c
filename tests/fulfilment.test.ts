import { describe, expect, it, beforeAll } from 'vitest';
import { makeWamid } from '../dev/standins/graph.js';
import { upsertCatalogProduct } from '../lib/catalog/index.js';
import { ConfigError, parseConfig } from '../lib/config.js';
import { db } from '../lib/db.js';
import { fixtureFile } from './conformance/manifest.js';
import { rewriteStripeObject } from './conformance/rewrite.js';
import { useBrowser } from './support/browser.js';
import { shop } from './support/shop.js';
import { bodyOf, eventually, newCustomer, sentTo, useStack, type Body } from './support/stack.js';

/**
 * Fulfilment end to end (issue 26, docs/fulfilment.md): a WhatsApp order and an order-API order go
 * through Checkout with an address and a rate chosen at the Stripe stand-in (its control API, and
 * its page in Chromium); the stored order, the confirmation, the console API, the courier CSV and the
 * order view say what was paid for and where it goes; then shipped → delivered (staff and carrier),
 * pickup, a product that needs no shipping, a session without an address, and Stripe's own fixture.
 */

const PICKUP = { address: 'Teestraße 1, 10115 Berlin', hours: 'Mon–Fri 10–18' };
const stack = useStack({
  env: {
    SHIPPING_COUNTRIES: 'DE, AT',
    SHIPPING_RATES: JSON.stringify([
      { name: 'Standard', amountMinor: 490, currency: 'EUR', minDays: 2, maxDays: 4, freeOverMinor: 10_000 },
      { id: 'express', name: 'Express', amountMinor: 1290, currency: 'EUR', minDays: 1, maxDays: 1 },
    ]),
    SHIPPING_PICKUP: JSON.stringify(PICKUP),
    STRIPE_AUTOMATIC_TAX: 'true',
  },
});
const s = shop(stack, { inProcess: true });
const browser = useBrowser('fulfilment');

const auth = () => ({ authorization: `Bearer ${stack().env.ADMIN_API_KEY}` });
async function api(method: string, path: string, body?: unknown) {
  const r = await fetch(`${stack().url}/api${path}`, { method, headers: { ...auth(), 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  return { status: r.status, text, body: r.headers.get('content-type')?.includes('json') ? JSON.parse(text) : null };
}
async function createOrder(body: Record<string, unknown>, key = `ful-${Math.random().toString(36).slice(2)}`) {
  const r = await fetch(`${stack().url}/.netlify/functions/create-order-proxy`, {
    method: 'POST',
    headers: { ...auth(), 'content-type': 'application/json', 'idempotency-key': key },
    body: JSON.stringify(body),
  });
  return { status: r.status, body: (await r.json()) as Record<string, any> };
}
const session = async (id: string) => (await (await fetch(`${stack().stripe.url}/_standin/sessions/${id}`)).json()) as Record<string, any>;
const orderRow = async (id: string) => (await db()`SELECT * FROM orders WHERE id = ${id}`)[0]!;
const paid = (id: string) => eventually(async () => (await orderRow(id)).payment_status === 'paid', 60_000);
/** The CSV's rows as objects, by header. */
async function csvRows(query: string): Promise<Record<string, string>[]> {
  const r = await api('GET', `/orders.csv${query}`);
  expect(r.status).toBe(200);
  const parse = (line: string) => [...line.matchAll(/("(?:[^"]|"")*"|[^,]*)(,|$)/g)].map((m) => m[1]!.replace(/^"|"$/g, '').replace(/""/g, '"')).slice(0, -1);
  const [header, ...lines] = r.text.trim().split('\r\n');
  const names = parse(header!);
  return lines.map((l) => Object.fromEntries(parse(l).map((v, i) => [names[i], v])));
}
const templateParams = (m: Body) => ((m.template as { components: { type: string; parameters: { text: string }[] }[] }).components.find((c) => c.type === 'body')?.parameters ?? []).map((p) => p.text);
const textOf = (m: Body) => (m.text as { body?: string } | undefined)?.body ?? JSON.stringify(m);

beforeAll(async () => {
  await upsertCatalogProduct({ sku: 'FUL-TEA', name: 'Ful Sencha', priceMinor: 1250, currency: 'EUR', stock: 500, weightGrams: 250 });
  await upsertCatalogProduct({ sku: 'FUL-EBOOK', name: 'Tea e-book', priceMinor: 500, currency: 'EUR', stock: 500, requiresShipping: false });
});

describe('a WhatsApp order shipped to the address entered at Checkout', () => {
  it('Checkout asks for the address and a rate; the order records what was paid for; console, CSV, order view; shipped → delivered', async () => {
    const o = await s.orderOverWhatsApp('FUL-TEA', 2);
    expect(JSON.stringify(bodyOf(sentTo(stack(), o.waId)[0]!).interactive)).toContain('Plus shipping: enter your address and choose how it comes at checkout.');
    const cs = await session(o.sessionId);
    expect(cs.shipping_address_collection).toEqual({ allowed_countries: ['DE', 'AT'] });
    expect(cs.shipping_options.map((x: { shipping_amount: number }) => x.shipping_amount)).toEqual([490, 1290, 0]);
    expect(cs.automatic_tax.enabled).toBe(true);

    // The payer enters an Austrian address and picks Express (the second option).
    const address = { line1: 'Hauptstraße 5', line2: 'Top 3', postal_code: '1010', city: 'Wien', country: 'AT' };
    const done = await s.control(`sessions/${o.sessionId}/complete`, { shippingName: 'Ada Lovelace', address, shippingRate: 1 });
    const completed = done.session as Record<string, any>;
    expect(completed.collected_information.shipping_details).toEqual({ name: 'Ada Lovelace', address: { ...address, state: null } });
    expect(completed.shipping_cost).toMatchObject({ amount_subtotal: 1290, amount_tax: 129, amount_total: 1419 });
    expect(completed.total_details).toMatchObject({ amount_shipping: 1290, amount_tax: 250 + 129 });
    expect(completed.amount_total).toBe(2500 + 1290 + 379);
    await paid(o.orderId);

    const row = await orderRow(o.orderId);
    expect(row).toMatchObject({ shipping_mode: 'delivery', shipping_name: 'Ada Lovelace', items_minor: 2500, shipping_minor: 1290, tax_minor: 379, total_minor: 4169, shipping_problem: null });
    expect(row.shipping_address).toEqual({ line1: 'Hauptstraße 5', line2: 'Top 3', postalCode: '1010', city: 'Wien', state: null, country: 'AT' });
    expect(row.shipping_rate).toMatchObject({ id: 'express', name: 'Express', amountMinor: 1290, minDays: 1, maxDays: 1, kind: 'delivery' });

    // The confirmation says how and when it arrives.
    const confirmation = await eventually(() => sentTo(stack(), o.waId).map(bodyOf).find((m) => (m.template as { name?: string } | undefined)?.name === 'order_confirmed'), 60_000);
    expect(templateParams(confirmation)).toEqual([o.reference, '€41.69', 'Express shipping to Hauptstraße 5, Top 3, 1010 Wien, AT, arriving in 1 business day once it ships. We\'ll message you here as soon as it ships.']);

    // The console: "Paid, to ship" lists what the courier needs; the order view has the address, method and totals.
    const list = await api('GET', `/orders?paymentStatus=paid&fulfillmentStatus=unfulfilled&reference=${o.reference}`);
    expect(list.body.orders[0].shipping).toMatchObject({ mode: 'delivery', name: 'Ada Lovelace', addressText: 'Hauptstraße 5, Top 3, 1010 Wien, AT', method: 'Express', weightGrams: 500, problem: null });
    const view = await api('GET', `/orders/${o.orderId}`);
    expect(view.body.order.fulfilment).toMatchObject({
      mode: 'delivery',
      addressText: 'Hauptstraße 5, Top 3, 1010 Wien, AT',
      rate: { name: 'Express', estimate: '1 business day' },
      totals: { items: '€25.00', shipping: '€12.90', tax: '€3.79', total: '€41.69' },
    });
    const [csv] = await csvRows(`?reference=${o.reference}&full=1`);
    expect(csv).toMatchObject({
      shipping_mode: 'delivery', ship_name: 'Ada Lovelace', ship_line1: 'Hauptstraße 5', ship_line2: 'Top 3', ship_postcode: '1010', ship_city: 'Wien', ship_country: 'AT',
      // The customer's WhatsApp number in full (with the CSV's formula guard, as every cell starting with +).
      ship_phone: `'+${o.waId}`, shipping_method: 'Express', shipping_minor: '1290', tax_minor: '379', weight_grams: '500', total_minor: '4169', items: '2 × Ful Sencha',
    });

    // The console page: "Paid, to ship" shows where it goes and how; the drawer the address, method and totals.
    const page = await browser().context.newPage();
    await page.goto(`${stack().url}/admin`);
    await page.locator('body[data-ready]').waitFor();
    await page.getByTestId('signin-key').fill(stack().env.ADMIN_API_KEY!);
    await page.getByTestId('signin-submit').click();
    await page.getByTestId('filter-reference').fill(o.reference);
    await page.getByTestId('filter-to-ship').click();
    const listed = page.locator(`[data-testid="order-row"][data-reference="${o.reference}"]`);
    await expect.poll(() => listed.getByTestId('order-ship-to').textContent(), { timeout: 60_000 }).toBe('Ada Lovelace, Hauptstraße 5, Top 3, 1010 Wien, AT · Express');
    await listed.click();
    await expect.poll(() => page.getByTestId('drawer-ship-method').textContent(), { timeout: 60_000 }).toBe('Express (1 business day)');
    expect(await page.getByTestId('drawer-ship-address').textContent()).toBe('Ada Lovelace, Hauptstraße 5, Top 3, 1010 Wien, AT');
    await page.close();

    // Staff correct the address before it ships: on the timeline.
    const corrected = { line1: 'Hauptstraße 7', postalCode: '1010', city: 'Wien', country: 'AT' };
    expect((await api('PUT', `/orders/${o.orderId}/shipping-address`, { address: corrected })).status).toBe(200);
    expect((await api('PUT', `/orders/${o.orderId}/shipping-address`, { address: { ...corrected, country: 'FR' } })).status).toBe(422);
    const events = await s.eventsOf(o.orderId);
    expect(events.find((e) => e.type === 'shipping_address_changed')?.data).toMatchObject({ by: 'staff', address: { line1: 'Hauptstraße 7' }, from: { address: { line1: 'Hauptstraße 5' } } });

    // Shipped: no more address changes; "status" answers with the carrier and the tracking link.
    expect((await api('POST', `/orders/${o.orderId}/delivered`)).status).toBe(409);
    expect((await api('POST', `/orders/${o.orderId}/shipped`, { trackingUrl: 'https://track.example/pkg/AT123', carrier: 'DHL' })).status).toBe(200);
    const refused = await api('PUT', `/orders/${o.orderId}/shipping-address`, { address: corrected });
    expect(refused.status).toBe(409);
    expect(refused.body).toMatchObject({ error: 'already_shipped', fulfillmentStatus: 'shipped' });
    const before = sentTo(stack(), o.waId).length;
    await s.inbound({ from: o.waId, name: 'Ada', text: 'status', wamid: makeWamid(o.waId) });
    const status = await eventually(() => sentTo(stack(), o.waId).slice(before).map(bodyOf).find((m) => textOf(m).includes(o.reference)), 60_000);
    expect(textOf(status)).toContain('Shipping: on its way with DHL, track it: https://track.example/pkg/AT123.');

    // The carrier's tracking status: in transit is recorded; delivered delivers once (a retry changes nothing, sends nothing).
    expect((await api('POST', `/orders/${o.orderId}/tracking`, { status: 'in_transit' })).body).toMatchObject({ fulfillmentStatus: 'shipped', trackingStatus: 'in_transit' });
    expect((await api('POST', `/orders/${o.orderId}/tracking`, { status: 'delivered' })).body).toMatchObject({ fulfillmentStatus: 'delivered', changed: true });
    expect((await api('POST', `/orders/${o.orderId}/tracking`, { status: 'delivered' })).body).toMatchObject({ fulfillmentStatus: 'delivered', changed: false });
    expect((await api('POST', `/orders/${o.orderId}/delivered`)).body).toMatchObject({ error: 'already_delivered', fulfillmentStatus: 'delivered' });
    // A delivered order is never cancelled (nor refunded) by the shop's cancel.
    expect((await api('POST', `/orders/${o.orderId}/cancel`)).body).toMatchObject({ error: 'already_shipped' });
    expect(stack().stripe.refunds().filter((r) => (r as { metadata?: { order_id?: string } }).metadata?.order_id === o.orderId)).toHaveLength(0);
    const deliveredTexts = () => sentTo(stack(), o.waId).map(bodyOf).filter((m) => textOf(m).includes('has been delivered'));
    await eventually(() => deliveredTexts().length >= 1, 60_000);
    await new Promise((r) => setTimeout(r, 500));
    expect(deliveredTexts()).toHaveLength(1);
    expect((await s.eventsOf(o.orderId)).map((e) => e.type)).toEqual(expect.arrayContaining(['paid', 'shipping_address_changed', 'shipped', 'tracking_status', 'delivered']));
  }, 180_000);
});

describe('an order-API order', () => {
  it('leaves the address to Checkout: the payer enters it and picks a rate on the stand-in page', async () => {
    const waId = newCustomer('4930');
    const created = await createOrder({ customerPhone: `+${waId}`, customerName: 'Bea Berger', items: [{ sku: 'FUL-TEA', quantity: 1 }] });
    expect(created.status).toBe(201);
    expect(created.body.shippingMode).toBe('delivery');
    const page = await browser().context.newPage();
    await page.goto(created.body.checkoutUrl);
    await page.getByTestId('ship-name').fill('Bea Berger');
    await page.getByTestId('ship-line1').fill('Musterweg 3');
    await page.getByTestId('ship-postal_code').fill('80331');
    await page.getByTestId('ship-city').fill('München');
    await page.getByTestId('ship-country').selectOption('DE');
    await page.getByTestId('rate-0').check(); // Standard
    await page.getByTestId('pay').click();
    await page.getByTestId('success-link').waitFor();
    await page.close();
    await paid(created.body.orderId);
    const row = await orderRow(created.body.orderId);
    expect(row).toMatchObject({ shipping_name: 'Bea Berger', items_minor: 1250, shipping_minor: 490, tax_minor: 125 + 49, total_minor: 1250 + 490 + 174 });
    expect(row.shipping_address).toMatchObject({ line1: 'Musterweg 3', postalCode: '80331', city: 'München', country: 'DE' });
    expect(row.shipping_rate).toMatchObject({ id: 'standard', name: 'Standard', minDays: 2, maxDays: 4 });
    const view = await api('GET', `/orders/${created.body.orderId}`);
    expect(view.body.order.fulfilment).toMatchObject({ mode: 'delivery', addressText: 'Musterweg 3, 80331 München, DE', rate: { estimate: '2–4 business days' }, totalMinor: 1914 });
    const [csv] = await csvRows(`?reference=${row.reference}`);
    expect(csv).toMatchObject({ ship_name: 'Bea Berger', ship_city: 'München', ship_postcode: '80331', ship_country: 'DE', shipping_method: 'Standard', weight_grams: '250' });
    expect(csv!.ship_phone).not.toBe(`+${waId}`); // masked without ?full=1
  }, 180_000);

  it('may give the address and the rate itself (validated): Checkout then asks for neither', async () => {
    const waId = newCustomer('4930');
    const base = { customerPhone: `+${waId}`, items: [{ sku: 'FUL-TEA', quantity: 8 }] };
    const address = { line1: 'Ring 1', postalCode: '1010', city: 'Wien', country: 'AT' };
    const bad = await createOrder({ ...base, shipping: { rate: 'overnight', address } });
    expect(bad.status).toBe(422);
    expect(bad.body.fields).toEqual([{ path: 'shipping.rate', message: expect.stringContaining('unknown rate "overnight"') }]);
    expect((await createOrder({ ...base, shipping: { address: { ...address, country: 'FR' } } })).body.fields[0].path).toBe('shipping.address.country');
    const request = { ...base, shipping: { rate: 'standard', name: 'Carl', address } };
    const created = await createOrder(request, `ful-carl-${waId}`);
    expect(created.status).toBe(201);
    // A retry: the same order and Checkout Session (every parameter derives from the order).
    const again = await createOrder(request, `ful-carl-${waId}`);
    expect([again.body.orderId, again.body.checkoutUrl]).toEqual([created.body.orderId, created.body.checkoutUrl]);
    expect(stack().stripe.sessions().filter((x) => x.client_reference_id === created.body.orderId)).toHaveLength(1);
    const other = await createOrder({ ...request, shipping: { ...request.shipping, rate: 'express' } }, `ful-carl-${waId}`);
    expect([other.status, other.body.fields?.[0]?.path]).toEqual([422, 'idempotencyKey']);
    const cs = await session((await orderRow(created.body.orderId)).stripe_session_id);
    expect(cs.shipping_address_collection).toBeNull();
    // 8 × 12.50 = 100.00: Standard is free from 100.00 up.
    expect(cs.shipping_options).toEqual([{ shipping_amount: 0, shipping_rate: expect.stringMatching(/^shr_/) }]);
    await s.control(`sessions/${cs.id}/complete`);
    await paid(created.body.orderId);
    expect(await orderRow(created.body.orderId)).toMatchObject({ shipping_name: 'Carl', shipping_minor: 0, tax_minor: 1000, total_minor: 11_000, shipping_problem: null, shipping_address: { ...address, line2: null, state: null } });
  }, 120_000);
});

describe('pickup', () => {
  it('a pickup order: no address, the pickup place in the confirmation, "ready for pickup" instead of "shipped", then collected', async () => {
    const waId = newCustomer('4930');
    await s.inbound({ from: waId, name: 'Dora', text: 'hi', wamid: makeWamid(waId) }); // inside the 24-hour window: free-form texts
    await eventually(() => sentTo(stack(), waId).length >= 1, 60_000);
    const created = await createOrder({ customerPhone: `+${waId}`, items: [{ sku: 'FUL-TEA', quantity: 1 }], shipping: { rate: 'pickup' } });
    expect(created.body.shippingMode).toBe('pickup');
    const cs = await session((await orderRow(created.body.orderId)).stripe_session_id);
    expect(cs.shipping_address_collection).toBeNull();
    expect(cs.shipping_options).toHaveLength(1);
    await s.control(`sessions/${cs.id}/complete`);
    await paid(created.body.orderId);
    expect(await orderRow(created.body.orderId)).toMatchObject({ shipping_mode: 'pickup', shipping_address: null, shipping_minor: 0, shipping_problem: null, shipping_rate: { id: 'pickup', kind: 'pickup' } });
    const confirmation = await eventually(() => sentTo(stack(), waId).map(bodyOf).find((m) => (m.template as { name?: string } | undefined)?.name === 'order_confirmed'), 60_000);
    expect(templateParams(confirmation)[2]).toBe(`Pick it up at ${PICKUP.address} (${PICKUP.hours}); we'll message you when it's ready.`);

    expect((await api('POST', `/orders/${created.body.orderId}/shipped`, { trackingSlug: 'x' })).body.error).toBe('pickup_order');
    expect((await api('POST', `/orders/${created.body.orderId}/ready-for-pickup`)).status).toBe(200);
    expect((await api('POST', `/orders/${created.body.orderId}/ready-for-pickup`)).status).toBe(200); // a replay: the same answer, no second notice
    await eventually(() => sentTo(stack(), waId).map(bodyOf).some((m) => textOf(m).includes('is ready for pickup at Teestraße 1')), 60_000);
    expect((await api('POST', `/orders/${created.body.orderId}/delivered`)).body.fulfillmentStatus).toBe('delivered');
    await eventually(() => sentTo(stack(), waId).map(bodyOf).some((m) => textOf(m).includes('Thanks for picking up')), 60_000);
    await new Promise((r) => setTimeout(r, 400));
    expect(sentTo(stack(), waId).map(bodyOf).filter((m) => textOf(m).includes('ready for pickup'))).toHaveLength(1);
  }, 120_000);
});

describe('a product that needs no shipping', () => {
  it('skips the address and the rates; the confirmation says nothing ships', async () => {
    const o = await s.orderOverWhatsApp('FUL-EBOOK', 1);
    const cs = await session(o.sessionId);
    expect(cs.shipping_address_collection).toBeNull();
    expect(cs.shipping_options).toEqual([]);
    await s.control(`sessions/${o.sessionId}/complete`);
    await paid(o.orderId);
    expect(await orderRow(o.orderId)).toMatchObject({ shipping_mode: 'none', shipping_minor: 0, tax_minor: 50, total_minor: 550, shipping_problem: null });
    const confirmation = await eventually(() => sentTo(stack(), o.waId).map(bodyOf).find((m) => (m.template as { name?: string } | undefined)?.name === 'order_confirmed'), 60_000);
    expect(templateParams(confirmation)[2]).toBe('Nothing in it needs shipping.');
  }, 120_000);
});

describe('a completed session without an address for a shipped product', () => {
  it('is acknowledged and paid, flagged in the console and alerted, and staff can add the address', async () => {
    const o = await s.orderOverWhatsApp('FUL-TEA', 1);
    const done = await s.control(`sessions/${o.sessionId}/complete`, { address: null });
    expect((done as { status?: number }).status).toBe(200);
    await paid(o.orderId);
    expect((await orderRow(o.orderId)).shipping_problem).toBe('no_shipping_address');
    await eventually(async () => (await s.alertsOf(o.orderId)).includes('shipping_problem'), 60_000);
    const list = await api('GET', `/orders?reference=${o.reference}`);
    expect(list.body.orders[0].shipping.problem).toBe('no_shipping_address');
    expect((await api('PUT', `/orders/${o.orderId}/shipping-address`, { name: 'Ada', address: { line1: 'Weg 1', postalCode: '10115', city: 'Berlin', country: 'DE' } })).status).toBe(200);
    expect((await orderRow(o.orderId)).shipping_problem).toBeNull();
  }, 120_000);
});

describe("conformance: Stripe's OpenAPI fixture of a Checkout Session with shipping details", () => {
  it('parses into the order (collected_information.shipping_details, shipping_cost, total_details)', async () => {
    const o = await s.orderOverWhatsApp('FUL-TEA', 1);
    const fixture = fixtureFile('stripe/fixtures3.json').resources!['checkout.session']!;
    expect((fixture.collected_information as { shipping_details: { name: string } }).shipping_details.name).toBe('name');
    // Ids, amounts and the address's values pointed at this order (its structure is Stripe's own); the session completed and paid.
    const object = rewriteStripeObject(fixture, { orderId: o.orderId, sessionId: o.sessionId, paymentIntent: 'pi_conf_ship', charge: 'ch_x', refundId: 're_x', disputeId: 'dp_x', amountMinor: 1250 + 490 + 174, refundedMinor: 0 });
    const shippingRate = (await session(o.sessionId)).shipping_options[0].shipping_rate;
    const ci = structuredClone(fixture.collected_information) as { shipping_details: { address: Record<string, string | null> } };
    Object.assign(ci.shipping_details.address, { line1: 'Alexanderplatz 1', postal_code: '10178', city: 'Berlin', country: 'DE' });
    Object.assign(object, {
      status: 'complete',
      payment_status: 'paid',
      currency: 'eur',
      amount_subtotal: 1250,
      collected_information: ci,
      shipping_cost: { ...(fixture.shipping_cost as object), amount_subtotal: 490, amount_tax: 49, amount_total: 539, shipping_rate: shippingRate },
      shipping_options: (await session(o.sessionId)).shipping_options,
      total_details: { ...(fixture.total_details as object), amount_discount: 0, amount_shipping: 490, amount_tax: 174 },
    });
    const r = await s.postStripe(s.eventOf('checkout.session.completed', object));
    expect(r.status).toBe(200);
    expect(r.body.outcome).toBe('paid');
    expect(await orderRow(o.orderId)).toMatchObject({
      shipping_name: 'name',
      shipping_address: { line1: 'Alexanderplatz 1', line2: null, postalCode: '10178', city: 'Berlin', state: null, country: 'DE' },
      shipping_rate: { name: 'Standard', amountMinor: 490 },
      shipping_minor: 490,
      tax_minor: 174,
      total_minor: 1914,
      shipping_problem: null,
    });
  }, 120_000);
});

describe('shipping configuration', () => {
  it('is validated by name: JSON, fields, limits', () => {
    const problem = (env: Record<string, string>) => {
      try {
        parseConfig(env, ['SHIPPING_COUNTRIES', 'SHIPPING_RATES', 'SHIPPING_PICKUP', 'STRIPE_AUTOMATIC_TAX']);
        return null;
      } catch (e) {
        return (e as ConfigError).variables.join('; ');
      }
    };
    expect(problem({})).toBeNull();
    const ok = parseConfig({ SHIPPING_COUNTRIES: 'de at', SHIPPING_RATES: '[{"name":"Next Day","amountMinor":990,"currency":"eur"}]' }, ['SHIPPING_COUNTRIES', 'SHIPPING_RATES']);
    expect(ok.SHIPPING_COUNTRIES).toEqual(['DE', 'AT']);
    expect(ok.SHIPPING_RATES).toEqual([{ id: 'next-day', name: 'Next Day', amountMinor: 990, currency: 'EUR' }]);
    expect(problem({ SHIPPING_RATES: '[{name:1}]' })).toBe('SHIPPING_RATES: must be JSON (see .env.example)');
    expect(problem({ SHIPPING_RATES: '[{"name":"A","amountMinor":-1,"currency":"EUR"}]' })).toMatch(/^SHIPPING_RATES: /);
    expect(problem({ SHIPPING_RATES: '[{"name":"A","amountMinor":1,"currency":"EUR"},{"name":"a","amountMinor":2,"currency":"EUR"}]' })).toBe('SHIPPING_RATES: rate ids (or names) must be distinct');
    expect(problem({ SHIPPING_COUNTRIES: 'Germany' })).toMatch(/^SHIPPING_COUNTRIES: must be two-letter ISO country codes/);
    expect(problem({ SHIPPING_PICKUP: '{"address":"x"}' })).toMatch(/^SHIPPING_PICKUP: /);
    expect(problem({ STRIPE_AUTOMATIC_TAX: 'yes' })).toMatch(/^STRIPE_AUTOMATIC_TAX: /);
  });
});
