import { statSync } from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { seedOrders } from '../dev/seed-orders.js';
import { db } from '../lib/db.js';
import { placeOrder, type Order } from '../lib/orders/place.js';
import { newCustomer, useStack } from './support/stack.js';
import { screenshots, useBrowser, WAIT } from './support/browser.js';

/**
 * The shop console (/admin, static files in public/admin) in headless Chromium (Debian's
 * `chromium`, never a downloaded browser), against a full local stack: what the page does goes
 * through the admin API; assertions are on the page and on Postgres. Screenshots go to
 * test-artifacts/screenshots/ (docs/screenshots/ with UPDATE_SCREENSHOTS=1, shown in docs/shop.md).
 */

const chrome = useBrowser('console');
const stack = useStack({ autoStatuses: true, seedDemoCatalog: true });

const until = <T>(fn: () => T | Promise<T>) => expect.poll(fn, { timeout: WAIT, interval: 250 });

async function saveScreenshot(page: Page, name: string): Promise<void> {
  const file = path.join(screenshots, name);
  await page.screenshot({ path: file });
  expect(statSync(file).size).toBeLessThan(400 * 1024);
}

const api = async (method: string, p: string, body?: unknown) => {
  const r = await fetch(`${stack().url}/api${p}`, {
    method,
    headers: { authorization: `Bearer ${stack().env.ADMIN_API_KEY}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!r.ok) throw new Error(`${method} ${p}: HTTP ${r.status} ${await r.text()}`);
  return r.json();
};

async function place(name: string, sku: string, quantity: number): Promise<{ waId: string; order: Order }> {
  const waId = newCustomer('4917');
  const r = await placeOrder({ customer: { waId, userId: null, profileName: name }, source: 'api', sourceKey: `console-ui:${waId}`, lines: [{ sku, quantity }] });
  if (r.status !== 'created') throw new Error(`order not created: ${r.status}`);
  return { waId, order: r.order };
}

let toPay: { waId: string; order: Order };
let toShip: { waId: string; order: Order };

beforeAll(async () => {

  // History to browse, then two live orders: one awaiting payment, one paid (offline) and waiting to ship.
  const past = [{ waId: newCustomer('4917'), name: 'Grace Hopper' }, { waId: newCustomer('4917'), name: 'Alan Turing' }];
  await seedOrders({ count: 40, prefix: 'HIST', customers: past, newest: new Date(Date.now() - 3600_000), stepMs: 3 * 3600_000 });
  toPay = await place('Ada Lovelace', 'TEA-CHAI', 2);
  // A customer whose number is not on WhatsApp: Meta refuses the confirmation (131026), later messages are skipped.
  const undeliverable = await place('Dora Nowhere', 'HONEY-250', 1);
  const graphControl = stack().graph.baseUrl.replace(/\/v[\d.]+$/, '');
  await fetch(`${graphControl}/_standin/fail`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ count: 1, status: 400, code: 131026 }) });
  await api('POST', '/offline-payments', { orderId: undeliverable.order.id, amountMinor: 900, currency: 'EUR', paidAt: new Date().toISOString().slice(0, 10), reference: `setup-${undeliverable.order.reference}` });
  toShip = await place('Carl Friedrich', 'TEA-GREEN', 1);
  await api('POST', '/offline-payments', { orderId: toShip.order.id, amountMinor: 1299, currency: 'EUR', paidAt: new Date().toISOString().slice(0, 10), reference: `setup-${toShip.order.reference}` });
  // An alert the shop should act on: a payment that did not match its order.
  await db()`INSERT INTO ops_alerts (alert_key, kind, order_id, payload)
             VALUES (${`payment-mismatch:${toPay.order.id}:ui`}, 'payment_mismatch', ${toPay.order.id}::uuid, '{"reason":"amount_mismatch","gotMinor":500,"method":"stripe"}'::jsonb)`;
}, 180_000);

async function openConsole(): Promise<Page> {
  const page = await chrome().context.newPage();
  await page.goto(`${stack().url}/admin`);
  await page.locator('body[data-ready]').waitFor();
  return page;
}

async function signIn(page: Page, key: string): Promise<void> {
  await page.getByTestId('signin-key').fill(key);
  await page.getByTestId('signin-submit').click();
}

const rows = (page: Page) => page.getByTestId('order-row');
const orderRow = (page: Page, reference: string) => page.locator(`[data-testid="order-row"][data-reference="${reference}"]`);

describe('the shop console', () => {
  it('a wrong key shows an error and no data', async () => {
    const page = await openConsole();
    await signIn(page, 'not-the-key');
    await until(() => page.getByTestId('signin-error').textContent()).toContain('That key was refused');
    expect(await page.getByTestId('orders-view').isHidden()).toBe(true);
    expect(await rows(page).count()).toBe(0);
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
    expect(page.url()).toBe(`${stack().url}/admin`);
    await page.close();
  }, 120_000);

  it('signs in, filters, opens a timeline, marks an order shipped and records an offline payment', async () => {
    const page = await openConsole();
    const key = stack().env.ADMIN_API_KEY!;
    await signIn(page, key);
    await rows(page).first().waitFor();
    // The key lives in this tab's sessionStorage only: not in the URL, not in a cookie.
    expect(page.url()).toBe(`${stack().url}/admin`);
    expect(await page.evaluate(() => Object.values(sessionStorage))).toEqual([key]);
    expect((await chrome().context.cookies()).length).toBe(0);
    await until(() => page.getByTestId('total-all').getAttribute('data-count')).toBe('43');
    expect(await rows(page).first().getAttribute('data-reference')).toBe(toShip.order.reference);
    // Phones are masked in the list.
    expect(await page.getByTestId('order-list').textContent()).not.toContain(toPay.waId);
    await saveScreenshot(page, 'console-orders.png');

    // Filter: awaiting payment, by the customer's phone typed with spaces → exactly Ada's order.
    await page.getByTestId('filter-payment').selectOption('pending,awaiting_payment');
    await page.getByTestId('filter-customer').fill(`+${toPay.waId.slice(0, 2)} ${toPay.waId.slice(2, 5)} ${toPay.waId.slice(5)}`);
    await page.getByTestId('filter-apply').click();
    await until(() => rows(page).count()).toBe(1);
    expect(await rows(page).first().getAttribute('data-reference')).toBe(toPay.order.reference);
    await until(() => page.getByTestId('total-all').getAttribute('data-count')).toBe('1');
    expect(await page.getByTestId('total-all').textContent()).toContain('€23.00');

    // "Paid, to ship" → Carl's order; open its timeline.
    await page.getByTestId('filter-reset').click();
    await page.getByTestId('filter-to-ship').click();
    await until(() => rows(page).first().getAttribute('data-reference')).toBe(toShip.order.reference);
    await orderRow(page, toShip.order.reference).click();
    const drawer = page.getByTestId('order-drawer');
    await until(() => page.getByTestId('drawer-title').textContent()).toBe(`Order ${toShip.order.reference}`);
    // Every WhatsApp message with its ticks: the confirmation, invite link and offline-payment notice reach "read".
    const ticks = drawer.locator('[data-testid="tl-message"] [data-testid="ticks"]');
    await until(async () => {
      await openFresh(page, toShip.order.reference);
      return (await ticks.evaluateAll((els) => els.map((e) => (e as HTMLElement).dataset.status))).filter((s) => s === 'read').length;
    }).toBeGreaterThanOrEqual(3);
    expect(await drawer.getByTestId('timeline').textContent()).toContain('offline payment €12.99');
    expect(await drawer.getByTestId('tl-event').first().textContent()).toContain('created');
    expect(await page.getByTestId('customer-phone').textContent()).not.toContain(toShip.waId);
    await saveScreenshot(page, 'console-timeline.png');

    // Reveal the number on demand.
    await page.getByTestId('reveal-phone').click();
    await until(() => page.getByTestId('customer-phone').textContent()).toBe(`+${toShip.waId}`);

    // Mark shipped, with a double click on the confirmation: one shipment, one message.
    await page.getByTestId('action-ship').click();
    await page.getByTestId('ship-tracking').fill('https://track.example/parcel/ABC123');
    await page.getByTestId('ship-carrier').fill('DHL');
    await page.getByTestId('ship-form-confirm').dblclick();
    await until(() => page.getByTestId('action-result').textContent()).toContain('Marked shipped');
    await until(() => page.getByTestId('drawer-fulfillment').textContent()).toBe('shipped');
    const [shipped] = await db()`SELECT fulfillment_status, carrier, tracking_url FROM orders WHERE id = ${toShip.order.id}`;
    expect(shipped).toEqual({ fulfillment_status: 'shipped', carrier: 'DHL', tracking_url: 'https://track.example/parcel/ABC123' });
    const shippedMessages = await db()`SELECT count(*)::int AS n FROM outbound_messages WHERE order_id = ${toShip.order.id} AND kind = 'order_shipped'`;
    expect(shippedMessages[0]!.n).toBe(1);
    expect(await page.getByTestId('action-ship').count()).toBe(0);
    await page.getByTestId('drawer-close').click();

    // Record Ada's bank transfer: the amount is prefilled with the order total.
    await page.getByTestId('filter-reset').click();
    await page.getByTestId('filter-reference').fill(toPay.order.reference.toLowerCase());
    await page.getByTestId('filter-apply').click();
    await until(() => rows(page).count()).toBe(1);
    await orderRow(page, toPay.order.reference).click();
    await until(() => page.getByTestId('drawer-title').textContent()).toBe(`Order ${toPay.order.reference}`);
    await page.getByTestId('action-offline-pay').click();
    expect(await page.getByTestId('offline-amount').inputValue()).toBe('23.00');
    await page.getByTestId('offline-reference').fill('BANK-2026-0042');
    await page.getByTestId('offline-form-confirm').click();
    await until(() => page.getByTestId('action-result').textContent()).toContain('Payment of €23.00 recorded');
    await until(() => page.getByTestId('drawer-payment').textContent()).toBe('paid');
    const [paid] = await db()`SELECT o.payment_status, p.amount_minor, p.reference FROM orders o JOIN payments p ON p.order_id = o.id WHERE o.id = ${toPay.order.id}`;
    expect(paid).toEqual({ payment_status: 'paid', amount_minor: 2300, reference: 'BANK-2026-0042' });
    // The list behind the drawer followed.
    await until(() => orderRow(page, toPay.order.reference).getByTestId('order-payment').textContent()).toBe('paid');
    await page.getByTestId('drawer-close').click();

    // Alerts: what failed and what to do, linked to the order.
    await page.locator('[data-testid="tabs"] button[data-view="alerts"]').click();
    const alert = page.locator('[data-testid="alert"][data-kind="payment_mismatch"]');
    await alert.waitFor();
    expect(await alert.getByTestId('alert-order').textContent()).toBe(toPay.order.reference);
    expect(await alert.getByTestId('alert-advice').textContent()).toContain('Check the payment in Stripe');
    const undelivered = page.locator('[data-testid="alert"][data-kind="message_failed"]');
    await undelivered.first().waitFor();
    expect(await undelivered.first().getByTestId('alert-error').textContent()).toContain('131026');
    expect(await undelivered.first().getByTestId('alert-advice').textContent()).toContain('not on WhatsApp');
    await page.locator('[data-testid="alert"][data-kind="message_skipped"]').first().waitFor();
    await saveScreenshot(page, 'console-alerts.png');

    // Catalog: stock and availability; an import with a bad row shows the rejected row.
    await page.locator('[data-testid="tabs"] button[data-view="catalog"]').click();
    const chai = page.locator('[data-testid="catalog-row"][data-sku="TEA-CHAI"]');
    await until(() => chai.getByTestId('catalog-stock').textContent()).toBe('10');
    const csv = 'sku,name,description,priceMinor,currency,imageUrl,stock,variantSku,variantName,priceDeltaMinor,variantStock,category\n'
      + 'TEA-WHITE,White tea,Silver needle,2450,EUR,,7,,,,,Tea\n'
      + 'TEA-BAD,Broken tea,,-5,EUR,,1,,,,,\n';
    await page.getByTestId('import-file').setInputFiles({ name: 'catalog.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) });
    await page.getByTestId('import-submit').click();
    await until(() => page.getByTestId('import-summary').textContent()).toContain('1 products created');
    expect(await page.getByTestId('import-summary').textContent()).toContain('1 rows rejected');
    expect(await page.getByTestId('rejected-row').textContent()).toContain('TEA-BAD');
    await page.locator('[data-testid="catalog-row"][data-sku="TEA-WHITE"]').waitFor();
    expect(await page.locator('[data-testid="catalog-row"][data-sku="TEA-WHITE"]').getByTestId('catalog-category').textContent()).toBe('Tea');
    expect((await db()`SELECT stock FROM variants WHERE sku = 'TEA-WHITE'`)[0]!.stock).toBe(7);
    await page.getByTestId('catalog-sync').click();
    await until(() => page.getByTestId('sync-summary').textContent()).toMatch(/Pushed to Meta: \d+ changed/);
    await saveScreenshot(page, 'console-catalog.png');
    await page.close();

    // No CDN, no fonts, no analytics: every request stayed on the console's own origin.
    expect(chrome().requested.size).toBeGreaterThan(10);
    expect([...chrome().requested].filter((u) => new URL(u).origin !== stack().url)).toEqual([]);
  }, 420_000);

  it('is usable on a phone: no sideways scrolling, orders as cards, the timeline full width', async () => {
    const page = await chrome().context.newPage();
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${stack().url}/admin`);
    await page.locator('body[data-ready]').waitFor();
    // A new tab has its own sessionStorage: sign in again.
    await signIn(page, stack().env.ADMIN_API_KEY!);
    await rows(page).first().waitFor();
    const overflowing = await page.evaluate(() =>
      [...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right > 390.5).map((e) => `${e.tagName}.${e.className}[${e.getAttribute('data-testid') ?? ''}]`));
    expect(overflowing).toEqual([]);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    expect(await page.locator('thead').first().isHidden()).toBe(true);
    await saveScreenshot(page, 'console-phone.png');
    await rows(page).first().click();
    await page.getByTestId('timeline').waitFor();
    expect((await page.getByTestId('order-drawer').boundingBox())!.width).toBeLessThanOrEqual(390);
    await saveScreenshot(page, 'console-phone-timeline.png');
    await page.close();
    expect([...chrome().requested].filter((u) => new URL(u).origin !== stack().url)).toEqual([]);
  }, 180_000);
});

/** Re-opens the order's drawer (its row may have been re-rendered), so the timeline is fresh. */
async function openFresh(page: Page, reference: string): Promise<void> {
  await page.getByTestId('drawer-close').click();
  await orderRow(page, reference).click();
  await page.locator('[data-testid="drawer-title"]', { hasText: `Order ${reference}` }).waitFor();
  await page.getByTestId('timeline').waitFor();
}
