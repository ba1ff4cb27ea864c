import http from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { upsertCatalogProduct } from '../lib/catalog/index.js';
import { customerIdOf } from '../lib/customers/store.js';
import { db } from '../lib/db.js';
import { placeOrder, type Order } from '../lib/orders/place.js';
import { outboxKey } from '../lib/messaging/keys.js';
import { sendOnce } from '../lib/messaging/outbox.js';
import { buildTemplate } from '../lib/messaging/templates.js';
import { bodyOf, eventually, newCustomer, sentTo, useStack, waitForMessages, type Body } from './support/stack.js';

// A tiny ops-alert receiver, listening before the stack starts so its URL is the stack's OPS_ALERT_WEBHOOK_URL.
type Alert = Body & Record<string, any>;
const alerts: Alert[] = [];
const receiver = http.createServer((req, res) => {
  let raw = '';
  req.on('data', (c) => (raw += c));
  req.on('end', () => {
    alerts.push({ ...(JSON.parse(raw) as Alert), receivedContentType: req.headers['content-type'] });
    res.writeHead(204);
    res.end();
  });
});
await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', () => resolve()));
const alertUrl = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/ops-alerts`;
afterAll(() => new Promise<void>((resolve) => receiver.close(() => resolve())));

const stack = useStack({ env: { OPS_ALERT_WEBHOOK_URL: alertUrl } });
const auth = () => ({ authorization: `Bearer ${stack().env.ADMIN_API_KEY}`, 'content-type': 'application/json' });
const post = (path: string, body: unknown) => fetch(`${stack().url}/api${path}`, { method: 'POST', headers: auth(), body: JSON.stringify(body) });
const quiet = (ms = 600) => new Promise((r) => setTimeout(r, ms));
const alertsFor = (messageId: string) => alerts.filter((a) => a.message?.id === messageId);

let seq = 0;
async function paidOrder(name: string | null = 'Ada Lovelace'): Promise<{ waId: string; order: Order }> {
  const waId = newCustomer();
  const r = await placeOrder({ customer: { waId, userId: null, profileName: name }, source: 'api', sourceKey: `ds-test:${waId}:${seq++}`, lines: [{ sku: 'TEA-1', quantity: 1 }] });
  if (r.status !== 'created') throw new Error(r.status);
  await db()`UPDATE orders SET payment_status = 'paid', paid_at = now() WHERE id = ${r.order.id}`;
  return { waId, order: r.order };
}

/** Ships a paid order through the admin API: its order_shipped template is the message under test. */
async function shippedMessage() {
  const { waId, order } = await paidOrder();
  expect((await post(`/orders/${order.id}/shipped`, { trackingSlug: `T-${seq}` })).status).toBe(200);
  const [m] = await waitForMessages(stack(), waId, 1, 100);
  // Sent after the answer (waitUntil): its wamid is recorded once Meta answered.
  const row = await eventually(async () => (await db()`SELECT id FROM outbound_messages WHERE wamid = ${m!.wamid}`)[0]);
  return { waId, order, wamid: m!.wamid!, messageId: row.id as string };
}

const messageRow = async (id: string) => (await db()`SELECT * FROM outbound_messages WHERE id = ${id}`)[0]!;
const customerRow = async (waId: string) => (await db()`SELECT * FROM customers WHERE wa_id = ${waId}`)[0]!;

async function postStatus(wamid: string, waId: string, status: 'sent' | 'delivered' | 'read' | 'failed', at: number, errors?: { code: number; title: string }[], messageId?: string) {
  const before = messageId ? ((await messageRow(messageId)).delivery_statuses as unknown[]).length : 0;
  const d = await stack().graph.sendStatus({ wamid, status, recipient_id: waId, timestamp: at, ...(errors ? { errors } : {}) });
  expect(d.status).toBe(200);
  // Each status is processed after the webhook's 200: wait until it is recorded before posting the next.
  if (messageId) await eventually(async () => ((await messageRow(messageId)).delivery_statuses as unknown[]).length === before + 1);
}

beforeAll(async () => {
  await upsertCatalogProduct({ sku: 'TEA-1', name: 'Green tea', priceMinor: 1299, currency: 'EUR', stock: 1000 });
});

beforeEach(async () => {
  await fetch(`${stack().graph.url}/_standin/fail`, { method: 'DELETE' });
});

describe('delivery statuses', () => {
  it('delivered, sent, read, failed(131026) out of order → read with every status kept, the error recorded, one ops alert', async () => {
    const { waId, order, wamid, messageId } = await shippedMessage();
    const t = Math.floor(Date.now() / 1000);
    await postStatus(wamid, waId, 'delivered', t + 2, undefined, messageId);
    await postStatus(wamid, waId, 'sent', t + 1, undefined, messageId);
    expect((await messageRow(messageId)).delivery_status).toBe('delivered');
    await postStatus(wamid, waId, 'read', t + 3, undefined, messageId);
    await postStatus(wamid, waId, 'failed', t + 4, [{ code: 131026, title: 'Message undeliverable' }], messageId);

    const row = await messageRow(messageId);
    expect(row.delivery_status).toBe('read');
    expect((row.delivery_statuses as { status: string; at: string }[]).map((s) => [s.status, s.at])).toEqual([
      ['delivered', new Date((t + 2) * 1000).toISOString()],
      ['sent', new Date((t + 1) * 1000).toISOString()],
      ['read', new Date((t + 3) * 1000).toISOString()],
      ['failed', new Date((t + 4) * 1000).toISOString()],
    ]);
    expect(row).toMatchObject({ error_code: 131026, error_title: 'Message undeliverable', status: 'sent' });

    await eventually(() => alertsFor(messageId).length === 1);
    const [alert] = alertsFor(messageId);
    expect(alert).toMatchObject({
      alert: 'message_failed',
      key: `failed:${messageId}`,
      orderId: order.id,
      orderReference: order.reference,
      message: { id: messageId, kind: 'order_shipped', template: 'order_shipped' },
      error: { code: 131026, title: 'Message undeliverable' },
      source: 'status',
      deliveredBefore: true,
      customerMarkedUnreachable: false,
      receivedContentType: 'application/json',
    });
    expect(alert!.to).toMatch(/^\+\d\d\*+\d{4}$/);
    expect(JSON.stringify(alert)).not.toContain(waId);
    // The customer got it on another device: no fallback, they stay reachable.
    expect((await customerRow(waId)).unreachable_at).toBeNull();

    // Another device failing too, and a replay of the whole webhook: still one alert.
    await postStatus(wamid, waId, 'failed', t + 5, [{ code: 131026, title: 'Message undeliverable' }], messageId);
    await stack().graph.sendStatus({ wamid, status: 'failed', recipient_id: waId, timestamp: t + 4, errors: [{ code: 131026, title: 'Message undeliverable' }] });
    await quiet();
    expect(alertsFor(messageId)).toHaveLength(1);
    expect((await messageRow(messageId)).delivery_status).toBe('read');
    expect(sentTo(stack(), waId)).toHaveLength(1);
  });

  it('failed(131026) before any delivery marks the customer unreachable; later sends skip Meta and go straight to the alert', async () => {
    const { waId, wamid, messageId } = await shippedMessage();
    const t = Math.floor(Date.now() / 1000);
    await postStatus(wamid, waId, 'sent', t, undefined, messageId);
    await postStatus(wamid, waId, 'failed', t + 1, [{ code: 131026, title: 'Message undeliverable' }], messageId);
    expect((await messageRow(messageId)).delivery_status).toBe('failed');
    await eventually(() => alertsFor(messageId).length === 1);
    expect(alertsFor(messageId)[0]).toMatchObject({ deliveredBefore: false, customerMarkedUnreachable: true, error: { code: 131026 } });
    expect((await customerRow(waId)).unreachable_at).toBeInstanceOf(Date);

    // A later send to them: recorded, not sent to Meta, alerted.
    const graphCalls = stack().graph.stats.requests;
    const r = await post('/offline-payments', { customerPhone: `+${waId}`, amountMinor: 500, currency: 'EUR', paidAt: '2026-11-25', reference: `SKIP-${waId}` });
    expect(r.status).toBe(200);
    const key = outboxKey(`offline-payment:SKIP-${waId}`);
    // The notice is sent after the answer (waitUntil).
    const skippedRow = async () => (await db()`SELECT id, status, error_title FROM outbound_messages WHERE idempotency_key = ${key}`)[0];
    await eventually(async () => (await skippedRow())?.status === 'failed');
    const skipped = await skippedRow();
    expect(skipped).toMatchObject({ status: 'failed' });
    expect(skipped!.error_title).toContain('unreachable');
    expect(stack().graph.stats.requests).toBe(graphCalls);
    expect(sentTo(stack(), waId)).toHaveLength(1);
    await eventually(() => alertsFor(skipped!.id as string).length === 1);
    expect(alertsFor(skipped!.id as string)[0]).toMatchObject({ alert: 'message_skipped', reason: 'customer_unreachable', message: { kind: 'offline_payment' } });

    // Writing to the shop proves they are on WhatsApp again: replies go out. Meta's timestamps are whole
    // seconds: a message stamped with the very second of the mark counts as after it.
    const markedAt = (await customerRow(waId)).unreachable_at as Date;
    await stack().graph.sendInbound({ from: waId, text: 'menu', timestamp: Math.floor(markedAt.getTime() / 1000) });
    await waitForMessages(stack(), waId, 2);
  });

  it('131047 (outside the 24-hour window) is retried as the template where one exists; without one it alerts', async () => {
    const waId = newCustomer();
    const fallback = buildTemplate('hold_expired', { body: ['REF12345'] });
    await sendOnce({ eventKey: `test-reengage:${waId}`, kind: 'notice', customerId: await customerIdOf({ waId, userId: null }), message: { type: 'text', body: 'Your reservation lapsed.' }, fallback });
    const [text] = await waitForMessages(stack(), waId, 1, 100);
    const [row] = await db()`SELECT id FROM outbound_messages WHERE wamid = ${text!.wamid}`;
    await postStatus(text!.wamid!, waId, 'failed', Math.floor(Date.now() / 1000), [{ code: 131047, title: 'Re-engagement message' }], row!.id as string);
    const messages = await waitForMessages(stack(), waId, 2);
    expect(messages).toHaveLength(2);
    expect(bodyOf(messages[1]!).template).toMatchObject({ name: 'hold_expired', components: [{ type: 'body', parameters: [{ type: 'text', text: 'REF12345' }] }] });
    const [retry] = await db()`SELECT kind, template, status FROM outbound_messages WHERE idempotency_key = ${outboxKey(`reengage:${outboxKey(`test-reengage:${waId}`)}`)}`;
    expect(retry).toMatchObject({ kind: 'notice', template: 'hold_expired', status: 'sent' });
    await quiet();
    expect(alertsFor(row!.id as string)).toHaveLength(0);
    expect((await customerRow(waId).catch(() => null))?.unreachable_at ?? null).toBeNull();

    const other = newCustomer();
    await sendOnce({ eventKey: `test-reengage:${other}`, kind: 'notice', customerId: await customerIdOf({ waId: other, userId: null }), message: { type: 'text', body: 'No template for this one.' } });
    const [m] = await waitForMessages(stack(), other, 1, 100);
    const [r2] = await db()`SELECT id FROM outbound_messages WHERE wamid = ${m!.wamid}`;
    await postStatus(m!.wamid!, other, 'failed', Math.floor(Date.now() / 1000), [{ code: 131047, title: 'Re-engagement message' }], r2!.id as string);
    await eventually(() => alertsFor(r2!.id as string).length === 1);
    expect(alertsFor(r2!.id as string)[0]).toMatchObject({ error: { code: 131047 }, customerMarkedUnreachable: false });
    expect(sentTo(stack(), other)).toHaveLength(1);
  });

  it('a status for an unknown wamid is acknowledged and changes nothing', async () => {
    const d = await stack().graph.sendStatus({ wamid: 'wamid.unknown', status: 'failed', recipient_id: '491500000000' });
    expect(d.status).toBe(200);
    await quiet(300);
    expect(alerts.filter((a) => a.to === '+49******0000')).toHaveLength(0);
  });
});

describe('Meta send errors', () => {
  const fail = (body: Record<string, unknown>) =>
    fetch(`${stack().graph.url}/_standin/fail`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

  it('429 / 130429 are retried with backoff (after the shared cool-down) and the message goes out once', async () => {
    const { waId, order } = await paidOrder();
    await fail({ status: 429, count: 1 });
    expect((await post(`/orders/${order.id}/shipped`, { trackingSlug: 'RL-1' })).status).toBe(200);
    // The notice is sent after the answer (waitUntil).
    await eventually(async () => (await db()`SELECT status FROM outbound_messages WHERE order_id = ${order.id}`)[0]?.status === 'sent');
    const all = stack().graph.messages({ to: waId });
    expect(all.map((m) => m.status)).toEqual(['rejected', 'accepted']);
    expect(all.map((m) => m.error?.code ?? null)).toEqual([130429, null]);
    const [row] = await db()`SELECT status, attempts, error_code FROM outbound_messages WHERE order_id = ${order.id}`;
    expect(row).toMatchObject({ status: 'sent', error_code: null });
    await quiet(300);
    expect(alerts.filter((a) => a.orderId === order.id)).toHaveLength(0);
  });

  it('5xx that persists is deferred for a later retry (pending, backoff), not failed', async () => {
    const { waId, order } = await paidOrder();
    await fail({ status: 503, count: 3 });
    expect((await post(`/orders/${order.id}/shipped`, { trackingSlug: 'RL-2' })).status).toBe(200);
    await eventually(async () => (await db()`SELECT error_code FROM outbound_messages WHERE order_id = ${order.id}`)[0]?.error_code === 2);
    expect(stack().graph.messages({ to: waId }).map((m) => m.status)).toEqual(['rejected', 'rejected', 'rejected']);
    const [row] = await db()`SELECT status, error_code, next_attempt_at > now() AS later FROM outbound_messages WHERE order_id = ${order.id}`;
    expect(row).toMatchObject({ status: 'pending', error_code: 2, later: true });
    expect(alerts.filter((a) => a.orderId === order.id)).toHaveLength(0);
  });

  it('another 4xx is not retried: Meta’s code and title are recorded and ops alerted once', async () => {
    const { waId, order } = await paidOrder();
    await fail({ status: 400, code: 131009, message: 'Parameter value is not valid', count: 2 });
    expect((await post(`/orders/${order.id}/shipped`, { trackingSlug: 'BAD-1' })).status).toBe(200);
    await eventually(async () => (await db()`SELECT status FROM outbound_messages WHERE order_id = ${order.id}`)[0]?.status === 'failed');
    await quiet(500);
    expect(stack().graph.messages({ to: waId }).map((m) => m.status)).toEqual(['rejected']);
    const [row] = await db()`SELECT id, status, error_code, error_title FROM outbound_messages WHERE order_id = ${order.id}`;
    expect(row).toMatchObject({ status: 'failed', error_code: 131009 });
    expect(row!.error_title).toContain('Parameter value is not valid');
    await eventually(() => alertsFor(row!.id as string).length === 1);
    expect(alertsFor(row!.id as string)[0]).toMatchObject({ source: 'send', error: { code: 131009, httpStatus: 400 }, customerMarkedUnreachable: false });
    expect((await customerRow(waId)).unreachable_at).toBeNull();
  });

  it('a synchronous 131026 marks the customer unreachable', async () => {
    const { waId, order } = await paidOrder();
    await fail({ status: 400, code: 131026, count: 1 });
    expect((await post(`/orders/${order.id}/shipped`, { trackingSlug: 'NOWA-1' })).status).toBe(200);
    await eventually(async () => (await db()`SELECT status FROM outbound_messages WHERE order_id = ${order.id}`)[0]?.status === 'failed');
    const [row] = await db()`SELECT id, status, error_code FROM outbound_messages WHERE order_id = ${order.id}`;
    expect(row).toMatchObject({ status: 'failed', error_code: 131026 });
    expect((await customerRow(waId)).unreachable_at).toBeInstanceOf(Date);
    await eventually(() => alertsFor(row!.id as string).length === 1);
    expect(alertsFor(row!.id as string)[0]).toMatchObject({ customerMarkedUnreachable: true });
  });
});
