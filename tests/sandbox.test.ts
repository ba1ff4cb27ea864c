import { statSync } from 'node:fs';
import path from 'node:path';
import type { Locator, Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { sandboxRoutes } from '../dev/sandbox/routes.js';
import { db } from '../lib/db.js';
import { useStack } from './support/stack.js';
import { screenshots, useBrowser, WAIT } from './support/browser.js';

/**
 * The browser sandbox (/sandbox) driven in headless Chromium (Debian's `chromium`, never a
 * downloaded browser), against a full local stack: what the page sends goes through the Graph
 * stand-in to the real webhook, the payment link opens the Stripe stand-in's checkout page, the
 * invite link goes through the real /w/invite/:token redirect. Assertions are on what the page
 * shows and on Postgres. Screenshots of the chat and the checkout page go to test-artifacts/screenshots/
 * (docs/screenshots/ with UPDATE_SCREENSHOTS=1).
 */

const chrome = useBrowser('sandbox');
const stack = useStack({ functions: 'netlify', routes: sandboxRoutes, autoStatuses: true, seedDemoCatalog: true });

/** Polls until the matcher passes (patiently: the machine may be busy). */
const until = <T>(fn: () => T | Promise<T>) => expect.poll(fn, { timeout: WAIT, interval: 250 });

async function openSandbox(query = ''): Promise<Page> {
  const page = await chrome().context.newPage();
  await page.goto(`${stack().url}/sandbox${query}`);
  await page.locator('body[data-ready]').waitFor();
  return page;
}

async function chatAs(page: Page, name: string, phone: string): Promise<void> {
  await page.getByTestId('customer-name').fill(name);
  await page.getByTestId('customer-phone').fill(phone);
  await page.getByTestId('customer-start').click();
  await until(() => page.getByTestId('whoami').textContent()).toContain(name);
}

async function say(page: Page, text: string): Promise<void> {
  await page.getByTestId('composer-input').fill(text);
  await page.getByTestId('composer-send').click();
}

/** The shop's messages in the open chat. */
const shopMessages = (page: Page, type?: string): Locator =>
  page.locator(`[data-testid="msg"][data-dir="out"]${type ? `[data-type="${type}"]` : ''}`);

async function lastVisible(locator: Locator): Promise<Locator> {
  await locator.last().waitFor({ state: 'visible' });
  return locator.last();
}

async function saveScreenshot(page: Page, name: string): Promise<void> {
  const file = path.join(screenshots, name);
  await page.screenshot({ path: file });
  expect(statSync(file).size).toBeLessThan(300 * 1024);
}

/** Clicks Pay on the stand-in's checkout page; a delivery the local runtime could not take is resent, as Stripe does. */
async function pay(checkout: Page): Promise<void> {
  await checkout.getByTestId('pay').click();
  await until(() => checkout.getByTestId('result').textContent()).toMatch(/Payment succeeded — webhook (answered|not delivered)/);
  const result = (await checkout.getByTestId('result').textContent()) ?? '';
  if (/webhook answered 200/.test(result)) return;
  // The local runtime was rebuilding (another test file starting its stack): resend the event, as Stripe retries.
  const stripeControl = (p: string, init?: RequestInit) => fetch(`${stack().stripe.url}/_standin/${p}`, init).then((r) => r.json());
  const events = (await stripeControl('events')) as { id: string; type: string }[];
  const completed = events.filter((e) => e.type === 'checkout.session.completed').at(-1)!;
  const resend = () => stripeControl('events', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id: completed.id }) }) as Promise<{ status: number }>;
  await until(async () => (await resend()).status).toBe(200);
}

const orderOf = async (waId: string) =>
  (await db()`SELECT o.id, o.reference, o.payment_status, o.fulfillment_status, o.items, o.total_minor FROM orders o JOIN customers c ON c.id = o.customer_id WHERE c.wa_id = ${waId} ORDER BY o.created_at DESC LIMIT 1`)[0];

describe('the browser sandbox', () => {
  it('menu → list → quantity 2 → pay on the checkout page → confirmation + invite link → the elder chats about the order', async () => {
    const customer = { name: 'Ada', phone: '+4915112345678', waId: '4915112345678' };
    const page = await openSandbox();
    await chatAs(page, customer.name, customer.phone);

    // "menu" → the catalog as an interactive list; its rows open in a sheet, as on a phone.
    await say(page, 'menu');
    const list = await lastVisible(shopMessages(page, 'interactive:list'));
    await until(() => list.textContent()).toContain('Welcome to');
    await list.getByTestId('list-open').click();
    const row = page.locator('[data-testid="list-row"][data-row-id="variant:TEA-GREEN"]');
    await until(() => row.textContent()).toContain('Green tea');
    await row.click();
    await until(() => page.locator('[data-testid="msg"][data-dir="in"][data-type="interactive"]').last().textContent()).toContain('Green tea');

    // Reply buttons for the quantity.
    const question = await lastVisible(shopMessages(page, 'interactive:button'));
    await until(() => question.textContent()).toContain('How many Green tea');
    await question.locator('[data-testid="reply-button"][data-button-id="qty:2:TEA-GREEN"]').click();

    // The payment link: a CTA URL button to the Stripe stand-in's checkout page.
    const link = await lastVisible(shopMessages(page, 'interactive:cta_url'));
    await until(() => link.textContent()).toContain('2 × Green tea: €25.98');
    const [checkout] = await Promise.all([chrome().context.waitForEvent('page'), link.getByTestId('cta-button').click()]);
    await checkout.waitForLoadState();
    expect(checkout.url()).toContain(`${stack().stripe.url}/checkout/cs_`);
    await until(() => checkout.getByTestId('line-items').textContent()).toContain('Green tea');
    expect(await checkout.getByTestId('total').textContent()).toBe('€25.98');
    await saveScreenshot(checkout, 'sandbox-checkout.png');
    await pay(checkout);
    await checkout.close();

    // Paid: Postgres says so, and the chat shows the confirmation template and the invite link.
    await until(async () => (await orderOf(customer.waId))?.payment_status).toBe('paid');
    const order = (await orderOf(customer.waId))!;
    expect(order.items).toEqual([expect.objectContaining({ sku: 'TEA-GREEN', quantity: 2 })]);
    expect(order.total_minor).toBe(2598);

    await page.bringToFront();
    const confirmation = page.locator('[data-testid="template"][data-template="order_confirmed"]');
    await confirmation.waitFor();
    expect(await confirmation.textContent()).toContain(`Thank you! Your order ${order.reference} is confirmed. We received €25.98.`);
    const invite = page.locator('[data-testid="message-link"][data-kind="invite"]');
    await invite.waitFor();
    expect(await invite.getAttribute('title')).toMatch(new RegExp(`^${stack().url}/w/invite/[A-Za-z0-9_-]{32}$`));
    // Delivery ticks driven by the stand-in's status webhooks: the confirmation reaches "read".
    await until(() => page.locator('[data-testid="msg"][data-dir="out"]', { has: confirmation }).getByTestId('ticks').getAttribute('data-status'))
      .toBe('read');
    await page.locator('[data-testid="order-row"]').first().waitFor();
    await saveScreenshot(page, 'sandbox-chat.png');

    // The invite link: the real 302 to wa.me lands in a second sandbox chat as the elder.
    const [elderPage] = await Promise.all([chrome().context.waitForEvent('page'), invite.click()]);
    await elderPage.locator('body[data-ready]').waitFor();
    expect(new URL(elderPage.url()).searchParams.get('as')).toBe('elder');
    await until(() => elderPage.getByTestId('whoami').textContent()).toContain('Grandpa Joe');
    const prefilled = await elderPage.getByTestId('composer-input').inputValue();
    expect(prefilled).toMatch(new RegExp(`^Hi, I'm contacting on behalf of order ${order.reference}\\. Token: [A-Za-z0-9_-]{32}$`));
    const clicks = await db()`SELECT clicks FROM invite_tokens WHERE order_id = ${order.id}`;
    expect(clicks[0]!.clicks).toBe(1);

    await elderPage.getByTestId('composer-send').click();
    const summary = await lastVisible(shopMessages(elderPage, 'text'));
    await until(() => summary.textContent()).toContain(`Order ${order.reference}: paid.`);
    expect(await summary.textContent()).toContain("Hello Grandpa Joe! You're now connected with");
    expect(await summary.textContent()).toContain('2 × Green tea: €25.98');
    await elderPage.locator('[data-testid="order-row"]').first().waitFor();
    await until(() => elderPage.getByTestId('ticks').last().getAttribute('data-status')).toBe('read');
    await saveScreenshot(elderPage, 'sandbox-elder.png');
    const contacts = await db()`SELECT ic.wa_id FROM invite_contacts ic JOIN invite_tokens t ON t.id = ic.invite_id WHERE t.order_id = ${order.id}`;
    expect(contacts.map((c) => c.wa_id)).toEqual(['4915187654321']);
    await elderPage.close();
    await page.close();

    // No CDN, no fonts, no analytics: every request stayed on this machine.
    expect(chrome().requested.size).toBeGreaterThan(10);
    expect([...chrome().requested].filter((u) => !['localhost', '127.0.0.1'].includes(new URL(u).hostname))).toEqual([]);
  }, 420_000);

  it('an unknown invite link shows the shop’s page; its wa.me chat link stays in the sandbox', async () => {
    const link = `${stack().url}/w/invite/${'x'.repeat(32)}`;
    const r = await fetch(`${stack().url}/sandbox/open?url=${encodeURIComponent(link)}`, { redirect: 'manual' });
    expect(r.status).toBe(404);
    const html = await r.text();
    expect(html).toContain('We could not find this link');
    const chat = /href="(\/sandbox\/open\?url=[^"]+)"/.exec(html)![1]!;
    const landing = await fetch(`${stack().url}${chat}`, { redirect: 'manual' });
    expect(landing.status).toBe(302);
    expect(landing.headers.get('location')).toBe('/sandbox?as=elder');
  });

  it('shows a refused send in red with Meta’s error, then the retry that went through', async () => {
    const page = await openSandbox();
    await chatAs(page, 'Rita', '+4915122223333');
    await page.getByTestId('fail-kind').selectOption('429');
    await page.getByTestId('fail-switch').check();
    await until(() => page.getByTestId('fail-state').textContent()).toContain('armed');
    await say(page, 'help');
    const refused = page.locator('[data-testid="msg"][data-dir="out"].failed');
    await refused.first().waitFor();
    expect(await refused.first().getByTestId('ticks').getAttribute('data-status')).toBe('rejected');
    expect(await refused.first().getByTestId('send-error').textContent()).toContain('code 130429');
    // The outbox retried: the same reply arrives, delivered.
    const delivered = page.locator('[data-testid="msg"][data-dir="out"]:not(.failed)');
    await until(() => delivered.last().textContent()).toContain('Here is what I can do');
    await until(() => page.getByTestId('fail-state').textContent()).toContain('off');
    await page.close();
  }, 240_000);

  it('a username-only customer: known to the shop by a business-scoped user ID, answered by recipient', async () => {
    const page = await openSandbox();
    await page.getByTestId('customer-name').fill('Uma');
    await page.getByTestId('customer-phone').fill('+4915144445555');
    await page.getByTestId('customer-username-only').check();
    await page.getByTestId('customer-start').click();
    await until(() => page.getByTestId('whoami').textContent()).toContain('username only');
    await say(page, 'help');
    await until(() => shopMessages(page).last().textContent()).toContain('Here is what I can do');
    const sent = stack().graph.messages({ status: 'accepted' }).filter((m) => m.addressedBy === 'recipient');
    expect(sent.at(-1)!.to).toBe('US.84915144445555');
    expect((sent.at(-1)!.body as { to?: string }).to).toBeUndefined();
    const [customer] = await db()`SELECT wa_id, bsuid, username FROM customers WHERE bsuid = 'US.84915144445555'`;
    expect(customer).toMatchObject({ wa_id: null, username: 'uma' });
    await page.close();
  }, 240_000);

  it('catalog cart order, stock in the shop panel, offline payment and "mark shipped" from the panel, cleanup on demand', async () => {
    const waId = '4915144445555';
    const page = await openSandbox();
    await chatAs(page, 'Carl', `+${waId}`);
    const mugAvailable = page.locator('[data-testid="stock-row"][data-sku="MUG"] [data-testid="stock-available"]');
    await until(() => mugAvailable.textContent()).toMatch(/^\d+$/);
    const before = Number(await mugAvailable.textContent());

    await page.getByTestId('open-catalog').click();
    const mug = page.locator('[data-testid="catalog-item"][data-sku="MUG"]');
    await mug.getByTestId('catalog-plus').click();
    const chai = page.locator('[data-testid="catalog-item"][data-sku="TEA-CHAI"]');
    await chai.getByTestId('catalog-plus').click();
    await chai.getByTestId('catalog-plus').click();
    expect(await page.getByTestId('cart-total').textContent()).toBe('3 items · €41.00');
    await page.getByTestId('cart-send').click();
    await until(() => page.locator('[data-testid="msg"][data-dir="in"][data-type="order"]').last().textContent()).toContain('1 × Stoneware mug');

    const link = await lastVisible(shopMessages(page, 'interactive:cta_url'));
    await until(() => link.textContent()).toContain('Total: €41.00');
    await until(() => mugAvailable.textContent()).toBe(String(before - 1));

    // The shop panel: the order is pending with its hold; record an offline payment.
    const order = (await orderOf(waId))!;
    const row = page.locator(`[data-testid="order-row"][data-order-id="${order.id}"]`);
    await until(() => row.getByTestId('order-hold').textContent()).toContain('held');
    expect(await row.getByTestId('order-status').textContent()).toBe('pending');
    await row.getByTestId('order-offline-pay').click();
    await until(async () => (await orderOf(waId))?.payment_status).toBe('paid');
    await until(() => row.getByTestId('order-status').textContent()).toBe('paid');
    await page.locator('[data-testid="template"][data-template="offline_payment"]').waitFor();
    expect(await page.locator('[data-testid="template"][data-template="offline_payment"]').textContent()).toContain('we received your payment of €41.00');

    // Ship it: the order_shipped template arrives, with its header filled in.
    await row.getByTestId('order-ship').click();
    await until(async () => (await orderOf(waId))?.fulfillment_status).toBe('shipped');
    const shipped = page.locator('[data-testid="template"][data-template="order_shipped"]');
    await shipped.waitFor();
    expect(await shipped.textContent()).toContain(`Order ${order.reference} is on its way.`);
    expect(await shipped.textContent()).toContain('Hi Carl, your order has shipped.');
    await until(() => row.getByTestId('order-fulfillment').textContent()).toBe('shipped');

    await page.getByTestId('run-cleanup').click();
    await until(() => page.getByTestId('cleanup-result').textContent()).toMatch(/^HTTP 200/);
    await page.close();
  }, 300_000);
});
