import { beforeAll, describe, expect, it } from 'vitest';
import { makeWamid, type InboundInput, type RecordedMessage } from '../dev/standins/graph.js';
import { upsertCatalogProduct } from '../lib/catalog/index.js';
import { db } from '../lib/db.js';
import { bodyOf, eventually, newCustomer, sentTo, useStack, payCheckoutSession } from './support/stack.js';

/**
 * Customers known by phone, by business-scoped user ID (BSUID, Meta's `user_id`), or both: a
 * username-only customer and elder complete the whole journey addressed by `recipient`, and one
 * person seen under both identities stays one customer.
 */
const stack = useStack({ autoStatuses: true });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const until = <T>(check: () => T | Promise<T>) => eventually(check, 60_000);
const INVITE_PREFIX = 'Please forward this link to your elder for direct chat: ';

let bsuidCounter = 0;
/** A fresh BSUID shaped like Meta's (country code, a dot, digits). */
const newBsuid = () => `US.${String(process.pid).padStart(8, '0')}${String(Date.now()).slice(-8)}${String(++bsuidCounter).padStart(4, '0')}`;

const inbound = (input: InboundInput) => stack().graph.sendInbound({ ...input, wamid: input.wamid ?? makeWamid(input.from ?? input.userId) });
async function waitFor(who: string, count: number, quietMs = 400): Promise<RecordedMessage[]> {
  await until(() => sentTo(stack(), who).length >= count);
  await sleep(quietMs);
  return sentTo(stack(), who);
}
const customersOf = (waId: string | null, bsuid: string | null) =>
  db()`SELECT * FROM customers WHERE wa_id = ${waId} OR bsuid = ${bsuid} ORDER BY created_at`;

const pay = (sessionId: string) => payCheckoutSession(stack(), sessionId);

beforeAll(async () => {
  await fetch(`${stack().stripe.url}/_standin/webhook-url`, { method: 'POST', body: JSON.stringify({ url: '' }) });
  await upsertCatalogProduct({ sku: 'TEA-1', name: 'Green tea', priceMinor: 1299, currency: 'EUR', stock: 500 });
});

describe('a username-only customer and elder', () => {
  it('menu → list → buttons → order → Checkout → paid → confirmation + invite → elder → summary, every send by recipient', async () => {
    const customer = newBsuid();
    const elder = newBsuid();

    await inbound({ userId: customer, username: 'ada.tea', name: 'Ada', text: 'menu' });
    const [list] = await waitFor(customer, 1, 0);
    expect(bodyOf(list!).interactive?.type).toBe('list');

    await inbound({ userId: customer, interactive: { type: 'list_reply', id: 'variant:TEA-1', title: 'Green tea' } });
    const buttons = (await waitFor(customer, 2, 0))[1]!;
    expect(bodyOf(buttons).interactive?.type).toBe('button');

    await inbound({ userId: customer, interactive: { type: 'button_reply', id: 'qty:2:TEA-1', title: '2' } });
    const link = (await waitFor(customer, 3, 0))[2]!;
    expect(bodyOf(link).interactive?.type).toBe('cta_url');

    const [row] = await customersOf(null, customer);
    expect(row).toMatchObject({ wa_id: null, phone_e164: null, bsuid: customer, username: 'ada.tea' });
    const [order] = await db()`SELECT id, reference, stripe_session_id, payment_status FROM orders WHERE customer_id = ${row!.id}`;
    expect(order!.payment_status).toBe('pending');

    await pay(order!.stripe_session_id as string);
    const afterPay = await waitFor(customer, 5, 0);
    expect(bodyOf(afterPay[3]!).template).toMatchObject({ name: 'order_confirmed' });
    const inviteText = bodyOf(afterPay[4]!).text!.body;
    expect(inviteText.startsWith(INVITE_PREFIX)).toBe(true);
    const [invite] = await db()`SELECT token FROM invite_tokens WHERE order_id = ${order!.id}`;

    await inbound({ userId: elder, username: 'grandpa.joe', name: 'Joe', text: `Hi, I'm contacting on behalf of order ${order!.reference}. Token: ${invite!.token}` });
    const [summary] = await waitFor(elder, 1, 0);
    expect(bodyOf(summary!).text!.body).toContain(`Order ${order!.reference}: paid`);
    const joined = (await waitFor(customer, 6))[5]!;
    expect(bodyOf(joined).text!.body).toContain('Joe joined the chat');

    const [elderRow] = await customersOf(null, elder);
    expect(elderRow).toMatchObject({ wa_id: null, bsuid: elder });
    const contacts = await db()`SELECT customer_id, wa_id FROM invite_contacts ic JOIN invite_tokens t ON t.id = ic.invite_id WHERE t.order_id = ${order!.id}`;
    expect(contacts).toEqual([{ customer_id: elderRow!.id, wa_id: null }]);

    // Every send went by `recipient` (the BSUID), none by `to`, and Meta answered with user_id.
    const all = [...sentTo(stack(), customer), ...sentTo(stack(), elder)];
    expect(all).toHaveLength(7);
    for (const m of all) {
      expect(bodyOf(m).to).toBeUndefined();
      expect([customer, elder]).toContain(bodyOf(m).recipient);
      expect(m.addressedBy).toBe('recipient');
    }
    expect(stack().graph.messages({ status: 'rejected' })).toEqual([]);

    // Statuses (carrying recipient_user_id, no recipient_id) reconcile by wamid.
    await until(async () => {
      const rows = await db()`SELECT delivery_status, to_wa_id, to_user_id FROM outbound_messages WHERE customer_id = ${row!.id}`;
      return rows.length === 6 && rows.every((r) => r.delivery_status === 'read' && r.to_wa_id === null && r.to_user_id === customer);
    });

    // The admin view shows the BSUID, masked unless full=1.
    const view = async (full: boolean) =>
      (await (await fetch(`${stack().url}/api/orders/${order!.id}${full ? '?full=1' : ''}`, { headers: { authorization: `Bearer ${stack().env.ADMIN_API_KEY}` } })).json()) as {
        customer: { phone: string | null; userId: string | null; username: string | null };
        invite: { contacts: { phone: string | null; userId: string | null }[] };
      };
    const masked = await view(false);
    expect(masked.customer.phone).toBeNull();
    expect(masked.customer.userId).toMatch(/^US\.\*+\d{4}$/);
    expect(masked.customer.userId).not.toBe(customer);
    expect(masked.invite.contacts[0]!.userId).toMatch(/^US\.\*+\d{4}$/);
    const full = await view(true);
    expect(full.customer).toMatchObject({ phone: null, userId: customer, username: 'ada.tea' });
  }, 240_000);
});

describe('one person, two identities', () => {
  it('a customer seen first by phone and later by phone + BSUID stays one customer; the reply goes to the phone', async () => {
    const phone = newCustomer();
    const bsuid = newBsuid();
    await inbound({ from: phone, text: 'menu' });
    await waitFor(phone, 1, 0);
    await inbound({ from: phone, userId: bsuid, username: 'grace', text: 'status' });
    const [, status] = await waitFor(phone, 2);
    expect(bodyOf(status!).text!.body).toContain('no orders yet');
    expect(bodyOf(status!).to).toBe(phone);
    expect(bodyOf(status!).recipient).toBeUndefined();
    const rows = await customersOf(phone, bsuid);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ wa_id: phone, bsuid, username: 'grace' });
    // Later messages under either identity alone still reach the same customer.
    await inbound({ userId: bsuid, text: 'help' });
    await waitFor(phone, 3);
    expect(sentTo(stack(), bsuid)).toHaveLength(0);
    expect(await customersOf(phone, bsuid)).toHaveLength(1);
  }, 120_000);

  it('a delivery status naming the recipient_user_id gives a phone-only customer their BSUID', async () => {
    const phone = newCustomer();
    const bsuid = newBsuid();
    await inbound({ from: phone, text: 'help' });
    const [reply] = await waitFor(phone, 1, 0);
    const r = await fetch(`${stack().graph.url}/_standin/statuses`, {
      method: 'POST',
      body: JSON.stringify({ wamid: reply!.wamid, status: 'delivered', recipient_id: phone, recipient_user_id: bsuid }),
    });
    expect(r.status).toBe(200);
    const [row] = await until(async () => {
      const rows = await customersOf(phone, null);
      return rows[0]?.bsuid === bsuid ? rows : null;
    });
    expect(row).toMatchObject({ wa_id: phone, bsuid });
    // Now a username-only message from the same person finds the same customer.
    await inbound({ userId: bsuid, text: 'status' });
    await waitFor(phone, 2);
    expect(await customersOf(phone, bsuid)).toHaveLength(1);
  }, 120_000);

  it('a phone-only and a BSUID-only customer are merged when one message names both: orders and sends move', async () => {
    const phone = newCustomer();
    const bsuid = newBsuid();
    await inbound({ from: phone, text: 'buy TEA-1 1' });
    await waitFor(phone, 1, 0);
    await inbound({ userId: bsuid, text: 'menu' });
    await waitFor(bsuid, 1, 0);
    const before = await customersOf(phone, bsuid);
    expect(before).toHaveLength(2);
    const [phoneRow, bsuidRow] = [before.find((r) => r.wa_id === phone)!, before.find((r) => r.bsuid === bsuid)!];

    await inbound({ from: phone, userId: bsuid, text: 'status' });
    const status = (await waitFor(phone, 2)).at(-1)!;
    expect(bodyOf(status).text!.body).toMatch(/Order [A-Z0-9]{8}: waiting for payment/);
    const after = await customersOf(phone, bsuid);
    expect(after).toHaveLength(1);
    expect(after[0]).toMatchObject({ id: phoneRow.id, wa_id: phone, bsuid });
    expect(await db()`SELECT 1 FROM customers WHERE id = ${bsuidRow.id}`).toHaveLength(0);
    const sends = await db()`SELECT DISTINCT customer_id FROM outbound_messages WHERE customer_id IN (${phoneRow.id}, ${bsuidRow.id})`;
    expect(sends.map((r) => r.customer_id)).toEqual([phoneRow.id]);
    const [merged] = await db()`SELECT type FROM customer_identity_events WHERE customer_id = ${phoneRow.id}`;
    expect(merged).toMatchObject({ type: 'merged' });
  }, 120_000);
});

describe('sending to a BSUID', () => {
  it('131062 (a BSUID recipient is not supported for the message) alerts the shop and marks the customer', async () => {
    const bsuid = newBsuid();
    const queued = await fetch(`${stack().graph.url}/_standin/fail`, { method: 'POST', body: JSON.stringify({ status: 400, code: 131062 }) });
    expect(queued.status).toBe(200);
    await inbound({ userId: bsuid, text: 'help' });
    const row = await until(async () => {
      const [m] = await db()`
        SELECT m.id, m.status, m.error_code, c.unreachable_at FROM outbound_messages m JOIN customers c ON c.id = m.customer_id WHERE c.bsuid = ${bsuid}`;
      return m?.status === 'failed' && m.unreachable_at ? m : null;
    });
    expect(row.error_code).toBe(131062);
    const [alert] = await until(async () => {
      const rows = await db()`SELECT kind, payload FROM ops_alerts WHERE message_id = ${row.id}`;
      return rows.length ? rows : null;
    });
    expect(alert!.kind).toBe('message_failed');
    const text = JSON.stringify(alert!.payload);
    expect(text).toContain('"customerMarkedUnreachable":true');
    expect(text).not.toContain(bsuid); // masked
    expect(text).toContain(bsuid.slice(-4));
  }, 120_000);
});

describe('order API', () => {
  const api = (body: unknown) =>
    fetch(`${stack().url}/.netlify/functions/create-order-proxy`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack().env.ADMIN_API_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  it('accepts a BSUID as the customer (customerUserId), and wants at least one identity', async () => {
    const bsuid = newBsuid();
    const r = await api({ customerUserId: bsuid, items: [{ sku: 'TEA-1', quantity: 1 }], idempotencyKey: `id-test-${bsuid}`, notify: true });
    expect(r.status).toBe(201);
    const [link] = await waitFor(bsuid, 1);
    expect(bodyOf(link!).recipient).toBe(bsuid);
    const [row] = await customersOf(null, bsuid);
    expect(row).toMatchObject({ wa_id: null, bsuid });

    const none = await api({ items: [{ sku: 'TEA-1', quantity: 1 }] });
    expect(none.status).toBe(422);
    expect(JSON.stringify(await none.json())).toContain('customerUserId');
    const bad = await api({ customerUserId: 'not a bsuid', items: [{ sku: 'TEA-1', quantity: 1 }] });
    expect(bad.status).toBe(422);
  }, 120_000);
});
