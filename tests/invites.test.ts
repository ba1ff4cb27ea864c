import Stripe from 'stripe';
import { beforeAll, describe, expect, it } from 'vitest';
import { makeWamid, type InboundInput, type RecordedMessage } from '../dev/standins/graph.js';
import { upsertCatalogProduct } from '../lib/catalog/index.js';
import { db } from '../lib/db.js';
import { bodyOf, eventually, newCustomer, sentTo, useStack, payCheckoutSession } from './support/stack.js';

// The business number as the spec's .env writes it (digits, no +): the shop starts and invite links use wa.me/<digits>.
const stack = useStack({ env: { WHATSAPP_BUSINESS_NUMBER_E164: '15550100001' } });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const INVITE_PREFIX = 'Please forward this link to your elder for direct chat: ';

/** eventually(), patient: the machine running the tests may be busy. */
const until = <T>(check: () => T | Promise<T>) => eventually(check, 60_000);
async function waitFor(waId: string, count: number, quietMs = 400): Promise<RecordedMessage[]> {
  await until(() => sentTo(stack(), waId).length >= count);
  await sleep(quietMs);
  return sentTo(stack(), waId);
}

const invoke = (url: string, init: RequestInit = {}): Promise<Response> => fetch(url, init);
/** A customer's WhatsApp message, delivered by the Graph stand-in. */
const inbound = (input: InboundInput) => stack().graph.sendInbound({ ...input, wamid: input.wamid ?? makeWamid(input.from) });

/**
 * Completes a Checkout Session at the Stripe stand-in and delivers its event to payment-callback as
 * Stripe does (exact bytes, fresh signature). The stand-in's own delivery is off in this file: it
 * gives up after 15 s, which a busy machine can exceed.
 */
const completeSession = (sessionId: string) => payCheckoutSession(stack(), sessionId, invoke);

type PaidOrder = { waId: string; orderId: string; reference: string; token: string; link: string };

/** A customer orders over WhatsApp and pays through the Stripe stand-in; returns the forwarded link. */
async function paidOrder(): Promise<PaidOrder> {
  const waId = newCustomer();
  await inbound({ from: waId, name: 'Grace', text: 'buy TEA-1 2' });
  await waitFor(waId, 1, 0);
  const [order] = await db()`
    SELECT o.id, o.reference, o.stripe_session_id FROM orders o JOIN customers c ON c.id = o.customer_id WHERE c.wa_id = ${waId}`;
  await completeSession(order!.stripe_session_id as string);
  const messages = await waitFor(waId, 3, 0);
  const text = messages.map((m) => bodyOf(m).text?.body ?? '').find((t) => t.startsWith(INVITE_PREFIX))!;
  const link = text.slice(INVITE_PREFIX.length).split(/\s/)[0]!;
  const [invite] = await db()`SELECT token FROM invite_tokens WHERE order_id = ${order!.id}`;
  expect(link).toBe(`${stack().env.APP_BASE_URL}/w/invite/${invite!.token}`);
  return { waId, orderId: order!.id as string, reference: order!.reference as string, token: invite!.token as string, link };
}

const invite = async (token: string) =>
  (await db()`SELECT clicks, last_clicked_at, consumed_at FROM invite_tokens WHERE token = ${token}`)[0]!;
const lastText = (waId: string) => bodyOf(sentTo(stack(), waId).at(-1)!).text?.body ?? '';

beforeAll(async () => {
  await fetch(`${stack().stripe.url}/_standin/webhook-url`, { method: 'POST', body: JSON.stringify({ url: '' }) });
  await upsertCatalogProduct({ sku: 'TEA-1', name: 'Green tea', priceMinor: 1299, currency: 'EUR', stock: 500 });
});

describe('GET /w/invite/:token', () => {
  it('redirects a valid token to wa.me with the prefilled text, counting each click', async () => {
    const o = await paidOrder();
    const first = await invoke(o.link, { redirect: 'manual' });
    expect(first.status).toBe(302);
    const location = new URL(first.headers.get('location')!);
    expect(location.protocol).toBe('https:');
    expect(location.host).toBe('wa.me');
    expect(location.pathname).toBe('/15550100001');
    expect(location.searchParams.get('text')).toBe(`Hi, I'm contacting on behalf of order ${o.reference}. Token: ${o.token}`);
    expect(first.headers.get('cache-control')).toBe('no-store');
    expect((await invite(o.token)).clicks).toBe(1);
    expect((await invoke(o.link, { redirect: 'manual' })).status).toBe(302);
    const after = await invite(o.token);
    expect(after.clicks).toBe(2);
    expect(after.last_clicked_at).toBeInstanceOf(Date);
    expect(after.consumed_at).toBeNull(); // opening the link is not using it
  });

  it('answers an unknown or malformed token with a small 404 page', async () => {
    for (const token of ['A'.repeat(32), 'short', 'has.dots.in.it.and.more.than.sixteen']) {
      const r = await invoke(`${stack().url}/w/invite/${token}`, { redirect: 'manual' });
      expect(r.status).toBe(404);
      expect(r.headers.get('location')).toBeNull();
      expect(r.headers.get('content-type')).toContain('text/html');
      expect(await r.text()).toContain('We could not find this link');
    }
  });

  it('answers an expired token with 410 and a page offering to contact the shop', async () => {
    const o = await paidOrder();
    await db()`UPDATE invite_tokens SET expires_at = now() - interval '1 minute' WHERE token = ${o.token}`;
    const r = await invoke(o.link, { redirect: 'manual' });
    expect(r.status).toBe(410);
    expect(r.headers.get('location')).toBeNull();
    const html = await r.text();
    expect(html).toContain('This order link has expired');
    expect(html).toContain('href="https://wa.me/15550100001?text=');
    expect(html).not.toContain(o.token);
    expect((await invite(o.token)).clicks).toBe(0);
  });
});

describe("the elder's message", () => {
  it('links the contact to the order, answers with the order summary, and tells the customer once', async () => {
    const o = await paidOrder();
    const location = new URL((await invoke(o.link, { redirect: 'manual' })).headers.get('location')!);
    const prefilled = location.searchParams.get('text')!;

    const elder = newCustomer('3361');
    await inbound({ from: elder, name: 'Margaret', text: prefilled });
    const [reply] = await waitFor(elder, 1);
    const body = bodyOf(reply!).text!.body;
    expect(body).toContain(`Order ${o.reference}: paid.`);
    expect(body).toContain('2 × Green tea: €25.98');
    expect(body).toContain('Total: €25.98');

    const [contact] = await db()`
      SELECT ic.wa_id, ic.profile_name FROM invite_contacts ic JOIN invite_tokens t ON t.id = ic.invite_id WHERE t.order_id = ${o.orderId}`;
    expect(contact).toMatchObject({ wa_id: elder, profile_name: 'Margaret' });
    const consumedAt = (await invite(o.token)).consumed_at as Date;
    expect(consumedAt).toBeInstanceOf(Date);

    await until(() => sentTo(stack(), o.waId).length === 4);
    expect(lastText(o.waId)).toContain(`Margaret joined the chat about your order ${o.reference}`);

    // Later uses, by the same contact or another one, still work; the customer hears about it once.
    await inbound({ from: elder, name: 'Margaret', text: prefilled });
    const second = newCustomer('3361');
    await inbound({ from: second, text: `Hello! ${prefilled}` });
    await waitFor(elder, 2);
    const [secondReply] = await waitFor(second, 1);
    expect(bodyOf(secondReply!).text!.body).toContain(`Order ${o.reference}: paid.`);
    await sleep(500);
    expect(sentTo(stack(), o.waId)).toHaveLength(4);
    expect((await invite(o.token)).consumed_at).toEqual(consumedAt);
    const contacts = await db()`SELECT ic.wa_id FROM invite_contacts ic JOIN invite_tokens t ON t.id = ic.invite_id WHERE t.order_id = ${o.orderId}`;
    expect(contacts.map((c) => c.wa_id).sort()).toEqual([elder, second].sort());
    const joined = await db()`SELECT count(*)::int AS n FROM order_events WHERE order_id = ${o.orderId} AND type = 'invite_contact_joined'`;
    expect(joined[0]!.n).toBe(2);
  });

  it('answers an unknown token politely and links nothing', async () => {
    const stranger = newCustomer('3362');
    await inbound({ from: stranger, text: "Hi, I'm contacting on behalf of order ABCD2345. Token: Zz9_Zz9_Zz9_Zz9_Zz9_Zz9_Zz9_Zz9_" });
    const [reply] = await waitFor(stranger, 1);
    expect(bodyOf(reply!).text!.body).toContain("We couldn't find an order for that link");
    expect((await db()`SELECT count(*)::int AS n FROM invite_contacts WHERE wa_id = ${stranger}`)[0]!.n).toBe(0);
  });

  it('answers an expired token politely and links nothing', async () => {
    const o = await paidOrder();
    await db()`UPDATE invite_tokens SET expires_at = now() - interval '1 day' WHERE token = ${o.token}`;
    const elder = newCustomer('3363');
    await inbound({ from: elder, text: `Hi, I'm contacting on behalf of order ${o.reference}. Token: ${o.token}` });
    const [reply] = await waitFor(elder, 1);
    expect(bodyOf(reply!).text!.body).toContain('That order link has expired');
    expect((await invite(o.token)).consumed_at).toBeNull();
    expect((await db()`SELECT count(*)::int AS n FROM invite_contacts WHERE wa_id = ${elder}`)[0]!.n).toBe(0);
    await sleep(300);
    expect(sentTo(stack(), o.waId)).toHaveLength(3);
  });
});
