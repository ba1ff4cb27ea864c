import { statSync } from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { sandboxRoutes } from '../dev/sandbox/routes.js';
import { pushCatalogChanges } from '../lib/catalog/index.js';
import { importCatalogJson } from '../lib/admin/catalog-import.js';
import { db } from '../lib/db.js';
import { availableStock } from '../lib/stock/index.js';
import { screenshots, useBrowser, WAIT } from './support/browser.js';
import { useStack } from './support/stack.js';

/**
 * The sandbox storefront in headless Chromium (Debian's chromium through playwright-core): with a
 * Meta catalog (WHATSAPP_CATALOG_MESSAGES=on, items pushed by CATALOG_PUSH_ITEMS=on) "menu" is a
 * multi-product message rendered with pictures and prices; the customer fills a cart of three
 * lines and sends it as the `order` message Meta sends; the shop answers with one order, a hold
 * and a payment link. Screenshots: docs/screenshots/storefront-*.png (UPDATE_SCREENSHOTS=1).
 */
const chrome = useBrowser('storefront');
const stack = useStack({ routes: sandboxRoutes, env: { WHATSAPP_CATALOG_MESSAGES: 'on', CATALOG_PUSH_ITEMS: 'on', SHOP_NAME: 'Tea & Honey' } });
const until = <T>(fn: () => T | Promise<T>) => expect.poll(fn, { timeout: WAIT, interval: 250 });

const PRODUCTS = [
  ['TEA-GREEN', 'Green tea', 'Tea', 1299],
  ['TEA-JASMINE', 'Jasmine tea', 'Tea', 1499],
  ['TEA-EARL', 'Earl grey', 'Tea', 1199],
  ['HONEY-500', 'Forest honey 500 g', 'Honey', 1600],
  ['HONEY-250', 'Acacia honey 250 g', 'Honey', 900],
  ['MUG-1', 'Stoneware mug', 'Kitchen', 800],
  ['POT-1', 'Glass teapot', 'Kitchen', 2400],
] as const;

beforeAll(async () => {
  const result = await importCatalogJson({
    products: PRODUCTS.map(([sku, name, category, priceMinor]) => ({
      sku, name, category, priceMinor, currency: 'EUR', stock: 20, description: `${name} from the sandbox shop`,
      imageUrl: `${stack().url}/sandbox/placeholder/${encodeURIComponent(name)}.svg`,
    })),
  });
  expect(result.rejected).toEqual([]);
  expect(await pushCatalogChanges()).toMatchObject({ status: 'pushed', pushed: PRODUCTS.length });
}, 120_000);

async function shot(page: Page, name: string): Promise<void> {
  const file = path.join(screenshots, name);
  await page.screenshot({ path: file });
  expect(statSync(file).size).toBeLessThan(300 * 1024);
}

describe('the sandbox storefront', () => {
  it('menu → multi-product message with pictures → a 3-line cart → one order with a hold and a payment link', async () => {
    const page = await chrome().context.newPage();
    await page.goto(`${stack().url}/sandbox`);
    await page.locator('body[data-ready]').waitFor();
    await page.getByTestId('customer-name').fill('Ada');
    await page.getByTestId('customer-phone').fill('+4915112340001');
    await page.getByTestId('customer-start').click();
    await until(() => page.getByTestId('whoami').textContent()).toContain('Ada');

    await page.getByTestId('composer-input').fill('menu');
    await page.getByTestId('composer-send').click();
    const menu = page.locator('[data-testid="msg"][data-dir="out"][data-type="interactive:product_list"]').last();
    await menu.waitFor({ state: 'visible' });
    await until(() => menu.locator('img.thumb').count()).toBe(4);
    await shot(page, 'storefront-menu.png');

    await menu.getByTestId('product-list-open').click();
    const sheet = page.getByTestId('catalog-sheet');
    await until(() => sheet.getByTestId('catalog-section').allTextContents()).toEqual(['Honey', 'Kitchen', 'Tea']);
    const plus = (sku: string) => sheet.locator(`[data-testid="catalog-item"][data-sku="${sku}"] [data-testid="catalog-plus"]`);
    await plus('TEA-GREEN').click();
    await plus('TEA-GREEN').click();
    await plus('HONEY-500').click();
    await plus('MUG-1').click();
    await until(() => page.getByTestId('cart-total').textContent()).toBe('4 items · €49.98');
    await shot(page, 'storefront-cart.png');
    await page.getByTestId('cart-send').click();

    // The shop's answer to the cart: the payment link.
    await page.locator('[data-testid="msg"][data-dir="out"][data-type="interactive:cta_url"]').last().waitFor({ state: 'visible' });
    const [order] = await db()`SELECT o.id, o.items, o.total_minor, o.checkout_url, o.hold_expires_at FROM orders o JOIN customers c ON c.id = o.customer_id WHERE c.wa_id = '4915112340001'`;
    expect((order!.items as { sku: string; quantity: number }[]).map((i) => [i.sku, i.quantity]).sort()).toEqual([['HONEY-500', 1], ['MUG-1', 1], ['TEA-GREEN', 2]]);
    expect(order!.total_minor).toBe(4998);
    expect(order!.checkout_url).toBeTruthy();
    expect(new Date(order!.hold_expires_at as string).getTime()).toBeGreaterThan(Date.now());
    const available = await availableStock(['TEA-GREEN', 'HONEY-500', 'MUG-1']);
    expect([...available.values()]).toEqual([18, 19, 19]);
    await shot(page, 'storefront-order.png');

    // A search: a product carousel of the teas, each card with its picture, price and View.
    await page.getByTestId('composer-input').fill('tea');
    await page.getByTestId('composer-send').click();
    const carousel = page.locator('[data-testid="msg"][data-dir="out"][data-type="interactive:carousel"]').last();
    await carousel.waitFor({ state: 'visible' });
    // Green and Jasmine tea (name), Earl grey (its category), the Glass teapot ("tea" in a word).
    await until(() => carousel.getByTestId('product-card').count()).toBe(4);
    await shot(page, 'storefront-carousel.png');
    expect(stack().graph.messages({ status: 'rejected' })).toEqual([]);
    expect([...chrome().requested].filter((u) => !['localhost', '127.0.0.1'].includes(new URL(u).hostname))).toEqual([]);
    await page.close();
  }, 240_000);
});
