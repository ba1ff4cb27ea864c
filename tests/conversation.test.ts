import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { upsertCatalogProduct } from '../lib/catalog/index.js';
import { db } from '../lib/db.js';
import { availableStock } from '../lib/stock/index.js';
import { bodyOf, eventually, newCustomer, sentTo, useStack, waitForMessages, type Body } from './support/stack.js';

const stack = useStack();

type Session = { id: string; url: string; amount_total: number; currency: string; client_reference_id: string; metadata: Record<string, string>; expires_at: number; line_items?: unknown };
const sessions = () => stack().stripe.sessions() as unknown as Session[];
const ordersOf = (waId: string) =>
  db()`SELECT o.* FROM orders o JOIN customers c ON c.id = o.customer_id WHERE c.wa_id = ${waId} ORDER BY o.created_at`;

beforeAll(async () => {
  await upsertCatalogProduct({ sku: 'TEA-1', name: 'Green tea', priceMinor: 1299, currency: 'EUR', stock: 40 });
  await upsertCatalogProduct({ sku: 'MUG-1', name: 'Stoneware mug', priceMinor: 800, currency: 'EUR', stock: 3 });
  await upsertCatalogProduct({
    sku: 'HONEY', name: 'Honey', priceMinor: 900, currency: 'EUR',
    variants: [{ sku: 'HONEY-250', name: '250 g', stock: 20 }, { sku: 'HONEY-500', name: '500 g', priceDeltaMinor: 700, stock: 20 }],
  });
  await upsertCatalogProduct({ sku: 'RARE-1', name: 'Rare tea', priceMinor: 5000, currency: 'EUR', stock: 50 });
});

afterAll(() => {
  // Every message the bot sent passed the Graph stand-in's validation of Meta's limits.
  expect(stack().graph.messages({ status: 'rejected' })).toEqual([]);
});

/** Asserts the payment-link message and its Checkout Session agree with the order. */
async function expectPaymentLink(waId: string, expectedTotal: number) {
  const [order] = await eventually(async () => {
    const rows = await ordersOf(waId);
    return rows.length && rows[0]!.checkout_url ? rows : null;
  });
  const link = await eventually(() => sentTo(stack(), waId).find((m) => bodyOf(m).interactive?.type === 'cta_url'));
  const session = sessions().find((s) => s.client_reference_id === order!.id)!;
  expect(session).toBeDefined();
  expect(session.amount_total).toBe(expectedTotal);
  expect(session.currency).toBe('eur');
  expect(session.metadata.order_id).toBe(order!.id);
  expect(session.expires_at).toBeGreaterThanOrEqual(Math.floor(Date.now() / 1000) + 29 * 60);
  expect(order!.total_minor).toBe(expectedTotal);
  expect(order!.payment_status).toBe('pending');
  const params = (bodyOf(link).interactive!.action as Body).parameters as { url: string; display_text: string };
  expect(params.url).toBe(session.url);
  expect(order!.checkout_url).toBe(session.url);
  const text = (bodyOf(link).interactive!.body as { text: string }).text;
  expect(text).toContain(`Total: €${(expectedTotal / 100).toFixed(2)}`);
  expect(text).toMatch(/holding these for you until \d\d:\d\d UTC/);
  return { order: order!, session, link };
}

describe('text intents', () => {
  it('buy <sku> <qty> → one payment link and one Checkout Session with our prices', async () => {
    const waId = newCustomer();
    const before = sessions().length;
    await stack().graph.sendInbound({ from: waId, name: 'Ada', text: 'buy TEA-1 2' });
    const { order } = await expectPaymentLink(waId, 2598);
    expect(order.items).toEqual([{ sku: 'TEA-1', name: 'Green tea', quantity: 2, unitPriceMinor: 1299, lineTotalMinor: 2598 }]);
    expect(await waitForMessages(stack(), waId, 1)).toHaveLength(1);
    expect(sessions().length).toBe(before + 1);
  });

  it('"<qty> x <name>" and accents/case are understood', async () => {
    const waId = newCustomer();
    await stack().graph.sendInbound({ from: waId, text: '2 X Stoneware Múg' });
    await expectPaymentLink(waId, 1600);
  });

  it('status shows the latest order; cancel cancels it and releases its hold', async () => {
    const waId = newCustomer();
    const before = (await availableStock(['TEA-1'])).get('TEA-1')!;
    await stack().graph.sendInbound({ from: waId, text: 'buy green tea 3' });
    const { order } = await expectPaymentLink(waId, 3897);
    expect((await availableStock(['TEA-1'])).get('TEA-1')).toBe(before - 3);

    await stack().graph.sendInbound({ from: waId, text: 'status' });
    const status = (await waitForMessages(stack(), waId, 2)).at(-1)!;
    expect(bodyOf(status).text!.body).toContain(`Order ${order.reference}: waiting for payment`);

    await stack().graph.sendInbound({ from: waId, text: 'cancel please' });
    const cancelled = (await waitForMessages(stack(), waId, 3)).at(-1)!;
    expect(bodyOf(cancelled).text!.body).toContain(`Order ${order.reference} is cancelled`);
    expect((await ordersOf(waId))[0]!.payment_status).toBe('cancelled');
    expect((await availableStock(['TEA-1'])).get('TEA-1')).toBe(before);
    // The Checkout Session can no longer be paid.
    await eventually(() => sessions().find((s) => s.id === order.stripe_session_id && (s as unknown as { status: string }).status === 'expired'));

    await stack().graph.sendInbound({ from: waId, text: 'cancel' });
    expect(bodyOf((await waitForMessages(stack(), waId, 4)).at(-1)!).text!.body).toContain('nothing to cancel');
  });

  it('a payment racing the customer\'s cancel: the Checkout Session is expired first, so the paid order is kept, never released', async () => {
    const waId = newCustomer();
    const before = (await availableStock(['TEA-1'])).get('TEA-1')!;
    await stack().graph.sendInbound({ from: waId, text: 'buy green tea 2' });
    const { order } = await expectPaymentLink(waId, 2598);
    // The customer pays; Stripe's webhook has not arrived when they type "cancel".
    const webhookUrl = `${stack().url}/.netlify/functions/payment-callback`;
    stack().stripe.setWebhookUrl(null);
    await fetch(`${stack().stripe.url}/_standin/sessions/${order.stripe_session_id}/complete`, { method: 'POST', body: '{}' });
    stack().stripe.setWebhookUrl(webhookUrl);

    await stack().graph.sendInbound({ from: waId, text: 'cancel' });
    await eventually(() => sentTo(stack(), waId).some((m) => bodyOf(m).text?.body.includes('was already paid')));
    expect((await ordersOf(waId))[0]!.payment_status).toBe('paid');
    // The units stay sold: committed with the payment, never released by the cancel.
    expect((await availableStock(['TEA-1'])).get('TEA-1')).toBe(before - 2);
    expect(stack().stripe.refunds().filter((r) => r.metadata.order_id === order.id)).toHaveLength(0);
  });

  it('help, and anything else gets the menu with a short explanation, never silence', async () => {
    const waId = newCustomer();
    await stack().graph.sendInbound({ from: waId, text: 'help' });
    expect(bodyOf((await waitForMessages(stack(), waId, 1))[0]!).text!.body).toContain('"menu"');
    await stack().graph.sendInbound({ from: waId, text: 'what is the weather like?' });
    const fallback = (await waitForMessages(stack(), waId, 2))[1]!;
    expect(bodyOf(fallback).interactive!.type).toBe('list');
    expect((bodyOf(fallback).interactive!.body as { text: string }).text).toContain("didn't quite get that");
  });

  it('an unknown product and too large a quantity get clear answers, and nothing is held', async () => {
    const waId = newCustomer();
    await stack().graph.sendInbound({ from: waId, text: 'buy unicorn 1' });
    expect(bodyOf((await waitForMessages(stack(), waId, 1))[0]!).text!.body).toContain('couldn\'t find "unicorn"');
    await stack().graph.sendInbound({ from: waId, text: 'buy TEA-1 11' });
    expect(bodyOf((await waitForMessages(stack(), waId, 2))[1]!).text!.body).toContain('between 1 and 10');
    expect(await ordersOf(waId)).toHaveLength(0);
  });

  it('out of stock says which item and how many are left; nothing is held', async () => {
    const waId = newCustomer();
    await stack().graph.sendInbound({ from: waId, text: 'buy MUG-1 5' });
    const reply = (await waitForMessages(stack(), waId, 1))[0]!;
    expect(bodyOf(reply).text!.body).toMatch(/only \d × Stoneware mug left/);
    expect(await ordersOf(waId)).toHaveLength(0);
    expect((await availableStock(['MUG-1'])).get('MUG-1')).toBeGreaterThan(0);
  });

  it(`refuses a customer's 4th open order`, async () => {
    const waId = newCustomer();
    for (let i = 1; i <= 3; i++) {
      await stack().graph.sendInbound({ from: waId, text: `buy HONEY-250 1` });
      await eventually(async () => (await ordersOf(waId)).length === i);
    }
    await eventually(() => sentTo(stack(), waId).length === 3);
    await stack().graph.sendInbound({ from: waId, text: 'buy HONEY-250 1' });
    expect(bodyOf((await waitForMessages(stack(), waId, 4))[3]!).text!.body).toContain('already have 3 orders waiting');
    expect(await ordersOf(waId)).toHaveLength(3);
  });
});

describe('interactive path', () => {
  it('menu → list row → quantity buttons → order', async () => {
    const waId = newCustomer();
    await stack().graph.sendInbound({ from: waId, text: 'menu' });
    const list = bodyOf((await waitForMessages(stack(), waId, 1))[0]!).interactive!;
    const rows = (list.action!.sections as { rows: { id: string; title: string }[] }[])[0]!.rows;
    const honey = rows.find((r) => r.title === 'Honey (500 g)')!;
    expect(honey).toBeDefined();

    await stack().graph.sendInbound({ from: waId, interactive: { type: 'list_reply', id: honey.id, title: honey.title } });
    const question = bodyOf((await waitForMessages(stack(), waId, 2))[1]!).interactive!;
    expect(question.type).toBe('button');
    const buttons = (question.action!.buttons as { reply: { id: string; title: string } }[]).map((b) => b.reply);
    expect(buttons.map((b) => b.title)).toEqual(['1', '2', '3']);

    await stack().graph.sendInbound({ from: waId, interactive: { type: 'button_reply', id: buttons[1]!.id, title: buttons[1]!.title } });
    const { order } = await expectPaymentLink(waId, 3200);
    expect(order.items).toEqual([{ sku: 'HONEY-500', name: 'Honey (500 g)', quantity: 2, unitPriceMinor: 1600, lineTotalMinor: 3200 }]);
  });

  it('a stale or foreign button id is answered, not dropped', async () => {
    const waId = newCustomer();
    await stack().graph.sendInbound({ from: waId, interactive: { type: 'button_reply', id: 'something-old', title: 'Yes' } });
    expect(bodyOf((await waitForMessages(stack(), waId, 1))[0]!).text!.body).toContain('no longer available');
  });

  it('paginates a catalog larger than one list (≤ 10 rows each)', async () => {
    for (let i = 0; i < 12; i++) await upsertCatalogProduct({ sku: `ZZ-${i}`, name: `Zest ${String(i).padStart(2, '0')}`, priceMinor: 100, currency: 'EUR', stock: 1 });
    const waId = newCustomer();
    await stack().graph.sendInbound({ from: waId, text: 'catalog' });
    const first = bodyOf((await waitForMessages(stack(), waId, 1))[0]!).interactive!;
    // Categories are sections; the tenth row (its own "More" section) pages on.
    const rows = (first.action!.sections as { rows: { id: string; title: string }[] }[]).flatMap((s) => s.rows);
    expect(rows).toHaveLength(10);
    expect(rows.at(-1)!.id).toBe('page:2');
    await stack().graph.sendInbound({ from: waId, interactive: { type: 'list_reply', id: 'page:2', title: rows.at(-1)!.title } });
    const second = bodyOf((await waitForMessages(stack(), waId, 2))[1]!).interactive!;
    const secondRows = (second.action!.sections as { rows: { id: string; title: string }[] }[]).flatMap((s) => s.rows);
    expect(secondRows.length).toBeLessThanOrEqual(10);
    // Pages don't overlap, and page by page the whole catalog is reachable.
    const firstIds = new Set(rows.slice(0, -1).map((r) => r.id));
    expect(secondRows.filter((r) => firstIds.has(r.id))).toEqual([]);
    expect(secondRows.map((r) => r.title)).toContain('Zest 04');
    const variantCount = Number((await db()`SELECT count(*)::int AS n FROM variants`)[0]!.n);
    expect(Math.ceil(variantCount / 9)).toBe(Number(/Page \d+ of (\d+)/.exec(String((second.footer as { text: string }).text))![1]));
  });
});

describe('catalog order messages', () => {
  it('a 3-line order → one payment link and one session at our prices (a mismatched payload price is ignored)', async () => {
    const waId = newCustomer();
    const before = sessions().length;
    await stack().graph.sendInbound({
      from: waId,
      order: {
        catalog_id: stack().env.WHATSAPP_CATALOG_ID!,
        text: 'gift wrap please',
        product_items: [
          { product_retailer_id: 'TEA-1', quantity: 2, item_price: 12.99, currency: 'EUR' },
          { product_retailer_id: 'HONEY-250', quantity: 1, item_price: 1.0, currency: 'EUR' },
          { product_retailer_id: 'MUG-1', quantity: 1, item_price: 8, currency: 'EUR' },
        ],
      },
    });
    const { order } = await expectPaymentLink(waId, 2598 + 900 + 800);
    expect((order.items as { sku: string }[]).map((i) => i.sku).sort()).toEqual(['HONEY-250', 'MUG-1', 'TEA-1']);
    await waitForMessages(stack(), waId, 1);
    expect(sessions().length).toBe(before + 1);
  });

  it('names unknown SKUs instead of dropping them; nothing is held', async () => {
    const waId = newCustomer();
    const before = (await availableStock(['TEA-1'])).get('TEA-1');
    await stack().graph.sendInbound({
      from: waId,
      order: { catalog_id: '1', product_items: [{ product_retailer_id: 'TEA-1', quantity: 1, item_price: 12.99, currency: 'EUR' }, { product_retailer_id: 'GHOST-9', quantity: 1, item_price: 1, currency: 'EUR' }] },
    });
    expect(bodyOf((await waitForMessages(stack(), waId, 1))[0]!).text!.body).toContain('"GHOST-9"');
    expect((await availableStock(['TEA-1'])).get('TEA-1')).toBe(before);
    expect(await ordersOf(waId)).toHaveLength(0);
  });

  it('all lines or none: one short line holds nothing', async () => {
    const waId = newCustomer();
    const before = await availableStock(['TEA-1', 'MUG-1']);
    await stack().graph.sendInbound({
      from: waId,
      order: { catalog_id: '1', product_items: [{ product_retailer_id: 'TEA-1', quantity: 1, item_price: 12.99, currency: 'EUR' }, { product_retailer_id: 'MUG-1', quantity: 9, item_price: 8, currency: 'EUR' }] },
    });
    // A sold-out line's answer carries "Notify me when back" (docs/second-chances.md): an interactive body.
    const answer = bodyOf((await waitForMessages(stack(), waId, 1))[0]!);
    expect(answer.text?.body ?? (answer.interactive as { body: { text: string } } | undefined)?.body.text).toContain('Stoneware mug');
    expect(await availableStock(['TEA-1', 'MUG-1'])).toEqual(before);
  });
});

describe('no oversell', () => {
  it('200 concurrent buyers for 50 units: exactly 50 orders with holds, 150 polite refusals, counter 0', async () => {
    await upsertCatalogProduct({ sku: 'HOT-1', name: 'Hot item', priceMinor: 999, currency: 'EUR', stock: 50 });
    const buyers = Array.from({ length: 200 }, () => newCustomer('4477'));
    // 20 webhook POSTs at once, each carrying 10 buyers' messages, as Meta batches them under load.
    const biz = { wabaId: '1', phoneNumberId: stack().env.WHATSAPP_PHONE_NUMBER_ID!, displayPhoneNumber: '15550100001' };
    const { buildEntry, buildInboundMessageValue, buildWebhookPayload, signMetaPayload } = await import('../dev/standins/graph.js');
    const posts = Array.from({ length: 20 }, (_, i) => {
      const values = buyers.slice(i * 10, i * 10 + 10).map((from) => buildInboundMessageValue(biz, { from, text: 'buy HOT-1 1' }));
      const raw = JSON.stringify(buildWebhookPayload([buildEntry('1', values)]));
      return fetch(`${stack().url}/.netlify/functions/webhook`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-hub-signature-256': signMetaPayload(raw, stack().env.WHATSAPP_APP_SECRET!) },
        body: raw,
      });
    });
    expect((await Promise.all(posts)).map((r) => r.status)).toEqual(Array(20).fill(200));

    await eventually(() => buyers.every((b) => sentTo(stack(), b).length >= 1), 90_000, 200);
    await new Promise((r) => setTimeout(r, 500));
    const replies = buyers.map((b) => sentTo(stack(), b));
    expect(replies.every((r) => r.length === 1)).toBe(true);
    const links = replies.filter((r) => bodyOf(r[0]!).interactive?.type === 'cta_url');
    // Sold out: the refusal offers the waitlist (docs/second-chances.md), so its text is an interactive body.
    const refusals = replies.filter((r) => (bodyOf(r[0]!).interactive as { body?: { text?: string } } | undefined)?.body?.text?.includes('Hot item is sold out'));
    expect(links).toHaveLength(50);
    expect(refusals).toHaveLength(150);
    const [{ n }] = (await db()`SELECT count(*)::int AS n FROM orders WHERE items @> '[{"sku":"HOT-1"}]'`) as [{ n: number }];
    expect(n).toBe(50);
    expect((await availableStock(['HOT-1'])).get('HOT-1')).toBe(0);
  }, 180_000);
});
