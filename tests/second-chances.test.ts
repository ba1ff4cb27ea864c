/**
 * Second chances (docs/second-chances.md), end to end through the webhook, the scheduled cleanup and
 * the Stripe stand-in, against real Postgres and Redis: the reminder before a hold lapses, "Keep it",
 * "Order again", the back-in-stock waitlist with its own holds, "stop", and replays/crashes.
 * Time is moved the way tests/cleanup.test.ts moves it: a hold's expiry is set (Postgres and Redis,
 * where its own expiry would have put it), never slept through.
 */
import { describe, expect, it } from 'vitest';
import { makeWamid } from '../dev/standins/graph.js';
import { upsertCatalogProduct } from '../lib/catalog/index.js';
import { cleanupLapsedOrder, type CleanupSummary } from '../lib/flows/cleanup.js';
import { db } from '../lib/db.js';
import { messageKeys, outboxKey } from '../lib/messaging/keys.js';
import { orderIdFor } from '../lib/orders/order.js';
import { redis } from '../lib/redis.js';
import { availableStock } from '../lib/stock/index.js';
import { claimEntry } from '../lib/waitlist/store.js';
import { invokeInProcess, shop } from './support/shop.js';
import { bodyOf, eventually, newCustomer, sentTo, useStack } from './support/stack.js';

const stack = useStack({ functions: 'in-process', env: { LOG_LEVEL: 'error' } });
const s = shop(stack, { inProcess: true });
let seq = 0;

async function cleanup(): Promise<CleanupSummary> {
  const r = await invokeInProcess('reservation-cleanup', `${stack().url}/.netlify/functions/reservation-cleanup`, { method: 'POST' });
  expect(r.status, r.text).toBe(200);
  return JSON.parse(r.text) as CleanupSummary;
}

async function product(stock: number): Promise<string> {
  const sku = `SC-${process.pid}-${++seq}`;
  await upsertCatalogProduct({ sku, name: `Oolong ${seq}`, priceMinor: 700, currency: 'EUR', stock });
  return sku;
}

/** Moves an order's hold expiry to `at` (Postgres and every Redis index), as if that much time had passed. */
async function holdUntil(orderId: string, at: number): Promise<void> {
  const [o] = await db()`UPDATE orders SET hold_expires_at = ${new Date(at).toISOString()} WHERE id = ${orderId} RETURNING items`;
  await redis().zadd('holds:exp', { xx: true }, { score: at, member: orderId });
  for (const item of o!.items as { sku: string }[]) await redis().zadd(`holds:sku:${item.sku}`, { xx: true }, { score: at, member: orderId });
  await redis().hset(`hold:${orderId}`, { exp: at });
}

const tap = (waId: string, id: string, title = 'tap', wamid = makeWamid(waId)) => s.inbound({ from: waId, name: 'Ada', interactive: { type: 'button_reply', id, title }, wamid });
const say = (waId: string, text: string) => s.inbound({ from: waId, name: 'Ada', text, wamid: makeWamid(waId) });
const last = (waId: string) => bodyOf(sentTo(stack(), waId).at(-1)!);
const textOf = (b: ReturnType<typeof last>) => b.text?.body ?? ((b.interactive as { body?: { text?: string } } | undefined)?.body?.text ?? '');
const buttonIds = (b: ReturnType<typeof last>) => ((b.interactive?.action as { buttons?: { reply: { id: string } }[] } | undefined)?.buttons ?? []).map((x) => x.reply.id);
const kindsTo = async (orderId: string) => (await db()`SELECT kind FROM outbound_messages WHERE order_id = ${orderId} ORDER BY seq`).map((r) => r.kind as string);
const statusOf = async (orderId: string) => (await db()`SELECT payment_status FROM orders WHERE id = ${orderId}`)[0]!.payment_status as string;
const latestOrderOf = async (waId: string) =>
  (await db()`SELECT o.id, o.reference, o.payment_status, o.items, o.stripe_session_id FROM orders o JOIN customers c ON c.id = o.customer_id WHERE c.wa_id = ${waId} ORDER BY o.created_at DESC LIMIT 1`)[0]!;

describe('the reminder before a hold lapses', () => {
  it('goes once, with the link and the three buttons; never after payment or cancel', async () => {
    const sku = await product(10);
    const o = await s.orderOverWhatsApp(sku, 1);
    const paid = await s.paidOrder(sku, 1);
    const cancelled = await s.orderOverWhatsApp(sku, 1);
    await say(cancelled.waId, 'cancel');
    await eventually(async () => (await statusOf(cancelled.orderId)) === 'cancelled');
    for (const id of [o.orderId, paid.orderId, cancelled.orderId]) await holdUntil(id, Date.now() + 60_000).catch(() => undefined);

    const before = sentTo(stack(), o.waId).length;
    expect((await cleanup()).reminded).toBeGreaterThanOrEqual(1);
    await eventually(() => sentTo(stack(), o.waId).length === before + 1);
    const reminder = last(o.waId);
    expect(reminder.interactive?.type).toBe('button');
    expect(textOf(reminder)).toContain(o.reference);
    expect(textOf(reminder)).toMatch(/Pay here: http/);
    expect(buttonIds(reminder)).toEqual([`sc:pay:${o.orderId}`, `sc:keep:${o.orderId}`, `sc:cancel:${o.orderId}`]);

    // A second run (and a third, concurrently) sends nothing more.
    await Promise.all([cleanup(), cleanup()]);
    expect(sentTo(stack(), o.waId)).toHaveLength(before + 1);
    expect(await kindsTo(o.orderId)).toEqual(['payment_link', 'hold_reminder']);
    expect(await kindsTo(paid.orderId)).not.toContain('hold_reminder');
    expect(await kindsTo(cancelled.orderId)).not.toContain('hold_reminder');

    // "Pay now" answers with the same Checkout link.
    await tap(o.waId, `sc:pay:${o.orderId}`, 'Pay now');
    await eventually(() => sentTo(stack(), o.waId).length === before + 2);
    expect(last(o.waId).interactive?.type).toBe('cta_url');
  });

  it('is not sent outside the 24-hour window, to a customer who wrote "stop", or past the daily cap', async () => {
    const sku = await product(10);
    const outside = await s.orderOverWhatsApp(sku, 1);
    await db()`UPDATE customers SET last_inbound_at = now() - interval '25 hours' WHERE wa_id = ${outside.waId}`;
    const stopped = await s.orderOverWhatsApp(sku, 1);
    await say(stopped.waId, 'stop');
    await eventually(() => textOf(last(stopped.waId)).includes("won't send you reminders"));
    const capped = await s.orderOverWhatsApp(sku, 1);
    // Three proactive messages today already (PROACTIVE_DAILY_CAP, default 3).
    for (let i = 0; i < 3; i++)
      await db()`INSERT INTO outbound_messages (idempotency_key, kind, customer_id, to_wa_id, payload, status)
                 SELECT ${`test-cap:${capped.orderId}:${i}`}, 'back_in_stock', customer_id, ${capped.waId}, '{}'::jsonb, 'sent' FROM orders WHERE id = ${capped.orderId}`;
    const all = [outside, stopped, capped];
    for (const o of all) await holdUntil(o.orderId, Date.now() + 60_000);
    await cleanup();
    const skipped = await db()`SELECT order_id, data->>'reason' AS reason FROM order_events WHERE type = 'reminder_skipped' AND order_id = ANY(${all.map((o) => o.orderId)}::uuid[])`;
    expect(Object.fromEntries(skipped.map((r) => [r.order_id, r.reason]))).toEqual({ [outside.orderId]: 'outside_window', [stopped.orderId]: 'stopped', [capped.orderId]: 'daily_cap' });
    for (const o of all) expect(await kindsTo(o.orderId)).not.toContain('hold_reminder');
  });
});

describe('"Keep it"', () => {
  it('extends once, within the Checkout Session, and a payment in the extended time is taken', async () => {
    const sku = await product(5);
    const o = await s.orderOverWhatsApp(sku, 2);
    const lapsesAt = Date.now() + 3_000;
    await holdUntil(o.orderId, lapsesAt);
    await tap(o.waId, `sc:keep:${o.orderId}`, 'Keep 10 more min');
    await eventually(() => textOf(last(o.waId)).startsWith('Done: we'));
    const [row] = await db()`SELECT hold_expires_at, hold_extended_at FROM orders WHERE id = ${o.orderId}`;
    const until = new Date(row!.hold_expires_at as string).getTime();
    expect(until).toBe(lapsesAt + 600_000);
    expect(Number(await redis().hget(`hold:${o.orderId}`, 'exp'))).toBe(until);
    expect(await redis().zscore('holds:exp', o.orderId)).toBe(until);
    // The session (expires_at set when it was made) still covers the extended hold.
    const session = await s.dashboard().checkout.sessions.retrieve(o.sessionId);
    expect(session.expires_at * 1000).toBeGreaterThan(until);

    // Once only, also when tapped many times at once (a replay storm and separate taps).
    const wamid = makeWamid(o.waId);
    await Promise.all([...Array.from({ length: 4 }, () => tap(o.waId, `sc:keep:${o.orderId}`, 'Keep', wamid)), tap(o.waId, `sc:keep:${o.orderId}`), tap(o.waId, `sc:keep:${o.orderId}`)]);
    expect((await s.eventsOf(o.orderId)).filter((e) => e.type === 'hold_extended')).toHaveLength(1);
    expect(Number(await redis().hget(`hold:${o.orderId}`, 'exp'))).toBe(until);
    await tap(o.waId, `sc:keep:${o.orderId}`, 'Keep 10 more min');
    await eventually(() => textOf(last(o.waId)).includes("can't be extended again"));

    // The first expiry passes: the cleanup leaves the order alone, and the stock stays held.
    await eventually(() => Date.now() > lapsesAt + 50, 10_000, 100);
    expect((await cleanup()).expired).toBe(0);
    // A run that read the expiry index before the extension hands the order over anyway: left alone.
    await cleanupLapsedOrder(o.orderId);
    expect(await statusOf(o.orderId)).toBe('pending');
    expect((await availableStock([sku])).get(sku)).toBe(3);

    // Paid in the extension: at the stand-in and in our order, no refund.
    const completed = await s.control(`sessions/${o.sessionId}/complete`);
    const payload = (await s.stripeEvents()).find((e) => e.id === completed.eventId)!.payload;
    expect((await s.postStripe(payload)).status).toBe(200);
    expect(await statusOf(o.orderId)).toBe('paid');
    expect((await s.eventsOf(o.orderId)).map((e) => e.type)).not.toContain('refund_required');
    expect((await availableStock([sku])).get(sku)).toBe(3);

    // Refused, clearly, once paid.
    await tap(o.waId, `sc:keep:${o.orderId}`, 'Keep 10 more min');
    await eventually(() => textOf(last(o.waId)).includes('already paid'));
  });
});

describe('"Order again" after a lapse', () => {
  it('holds the same lines anew, or says what is no longer there and offers the waitlist', async () => {
    const sku = await product(2);
    const o = await s.orderOverWhatsApp(sku, 2);
    await holdUntil(o.orderId, Date.now() - 1_000);
    await cleanup();
    await eventually(async () => (await statusOf(o.orderId)) === 'expired');
    await eventually(() => buttonIds(last(o.waId)).includes(`sc:again:${o.orderId}`));

    await tap(o.waId, `sc:again:${o.orderId}`, 'Order again');
    await eventually(() => last(o.waId).interactive?.type === 'cta_url');
    const again = await latestOrderOf(o.waId);
    expect(again.id).not.toBe(o.orderId);
    expect(again.payment_status).toBe('pending');
    expect(again.items).toEqual([expect.objectContaining({ sku, quantity: 2 })]);
    expect((await availableStock([sku])).get(sku)).toBe(0);

    // That one lapses too, and someone else takes the stock: "Order again" explains.
    await holdUntil(again.id as string, Date.now() - 1_000);
    await cleanup();
    await eventually(async () => (await statusOf(again.id as string)) === 'expired');
    await s.orderOverWhatsApp(sku, 2);
    await say(o.waId, 'order again');
    await eventually(() => textOf(last(o.waId)).includes('sold out'));
    expect(buttonIds(last(o.waId))).toEqual([`notify:2:${sku}`]);
  });
});

describe('back-in-stock waitlist', () => {
  it('a restock of 2 units with 5 waiting offers exactly 2, then the next ones as offers lapse; "stop" is honoured', async () => {
    const sku = await product(0);
    const customers = Array.from({ length: 5 }, () => newCustomer('4478'));
    for (const waId of customers) {
      await say(waId, `buy ${sku} 1`);
      await eventually(() => buttonIds(last(waId)).includes(`notify:1:${sku}`));
      await tap(waId, `notify:1:${sku}`, 'Notify me when back');
      await eventually(() => textOf(last(waId)).includes("we'll message you as soon as"));
    }
    expect(textOf(last(customers[4]!))).toContain('number 5 in line');
    const counts = () => customers.map((w) => sentTo(stack(), w).length);
    const waiting = counts();
    expect((await cleanup()).offered).toBe(0);

    await upsertCatalogProduct({ sku, name: `Oolong ${seq}`, priceMinor: 700, currency: 'EUR', stock: 2 });
    const [first, second] = await Promise.all([cleanup(), cleanup()]);
    expect(first!.offered + second!.offered).toBe(2);
    await cleanup();
    const offers = () => customers.map((w) => sentTo(stack(), w).filter((m) => bodyOf(m).interactive?.type === 'cta_url' && textOf(bodyOf(m)).includes('back in stock')).length);
    await eventually(() => offers().join() === '1,1,0,0,0');
    expect(counts()).toEqual(waiting.map((n, i) => (i < 2 ? n + 1 : n)));
    expect((await availableStock([sku])).get(sku)).toBe(0);
    const offered = await db()`SELECT order_id FROM waitlist_entries WHERE sku = ${sku} AND status = 'offered' ORDER BY id`;
    expect(offered).toHaveLength(2);

    // The 4th in line writes "stop": off the waitlist.
    await say(customers[3]!, 'stop');
    await eventually(() => textOf(last(customers[3]!)).includes('left 1 waitlist'));

    // The 1st lets the offer lapse: its unit goes to the 3rd.
    await holdUntil(offered[0]!.order_id as string, Date.now() - 1_000);
    await cleanup();
    await eventually(() => offers().join() === '1,1,1,0,0');
    // The 2nd's lapses too: the 4th said stop, so the 5th gets it.
    await holdUntil(offered[1]!.order_id as string, Date.now() - 1_000);
    await cleanup();
    await eventually(() => offers().join() === '1,1,1,0,1');
    await cleanup();
    expect(offers().join()).toBe('1,1,1,0,1');
  });

  it('a crash between claiming an entry and placing its order resumes the same order: nothing held or sent twice', async () => {
    const sku = await product(0);
    const waId = newCustomer('4479');
    await say(waId, `buy ${sku} 1`);
    await eventually(() => buttonIds(last(waId)).length === 1);
    await tap(waId, `notify:1:${sku}`);
    await eventually(() => textOf(last(waId)).includes('first in line'));
    const [entry] = await db()`SELECT id::text AS id FROM waitlist_entries WHERE sku = ${sku}`;
    await upsertCatalogProduct({ sku, name: 'x', priceMinor: 700, currency: 'EUR', stock: 3 });
    // The crash: claimed (offering, its order id fixed), nothing placed.
    const orderId = orderIdFor(`waitlist:${entry!.id}`);
    expect(await claimEntry(entry!.id as string, orderId, 1)).toBe(true);
    await Promise.all([cleanup(), cleanup(), cleanup()]);
    await eventually(async () => (await db()`SELECT status FROM waitlist_entries WHERE id = ${entry!.id}`)[0]!.status === 'offered');
    expect(await db()`SELECT id FROM orders WHERE id = ${orderId}`).toHaveLength(1);
    expect((await availableStock([sku])).get(sku)).toBe(2);
    const [{ customer_id: customerId }] = (await db()`SELECT customer_id FROM orders WHERE id = ${orderId}`) as [{ customer_id: string }];
    const key = outboxKey(messageKeys.waitlistOffer(sku, customerId, entry!.id as string));
    expect(await db()`SELECT status FROM outbound_messages WHERE idempotency_key = ${key}`).toEqual([{ status: 'sent' }]);
  });

  it('a replayed button tap answers once and joins once', async () => {
    const sku = await product(0);
    const waId = newCustomer('4470');
    const wamid = makeWamid(waId);
    await Promise.all([tap(waId, `notify:1:${sku}`, 'Notify', wamid), tap(waId, `notify:1:${sku}`, 'Notify', wamid)]);
    await tap(waId, `notify:1:${sku}`, 'Notify', wamid);
    await eventually(() => sentTo(stack(), waId).length >= 1);
    await new Promise((r) => setTimeout(r, 300));
    expect(sentTo(stack(), waId)).toHaveLength(1);
    expect(await db()`SELECT id FROM waitlist_entries WHERE sku = ${sku}`).toHaveLength(1);
  });
});

describe('the console', () => {
  it('reports reminders, extensions, offers and recoveries with their revenue per day', async () => {
    const sku = await product(5);
    const o = await s.orderOverWhatsApp(sku, 1);
    await holdUntil(o.orderId, Date.now() + 60_000);
    await cleanup();
    await eventually(async () => (await kindsTo(o.orderId)).includes('hold_reminder'));
    await tap(o.waId, `sc:keep:${o.orderId}`);
    await eventually(() => textOf(last(o.waId)).startsWith('Done: we'));
    const completed = await s.control(`sessions/${o.sessionId}/complete`);
    expect((await s.postStripe((await s.stripeEvents()).find((e) => e.id === completed.eventId)!.payload)).status).toBe(200);

    const r = await invokeInProcess('admin-api', `${stack().url}/api/second-chances?days=2`, { headers: { authorization: `Bearer ${stack().env.ADMIN_API_KEY}` } });
    expect(r.status, r.text).toBe(200);
    const { days } = JSON.parse(r.text) as { days: { day: string; remindersSent: number; extensions: number; waitlistOffers: number; recoveries: number; recoveredAfterReminder: number; revenue: { currency: string; amountMinor: number }[] }[] };
    expect(days).toHaveLength(2);
    const today = days[0]!;
    expect(today.day).toBe(new Date().toISOString().slice(0, 10));
    expect(today.remindersSent).toBeGreaterThanOrEqual(2);
    expect(today.extensions).toBeGreaterThanOrEqual(2);
    expect(today.waitlistOffers).toBeGreaterThanOrEqual(5);
    expect(today.recoveredAfterReminder).toBeGreaterThanOrEqual(1);
    expect(today.revenue.find((x) => x.currency === 'EUR')!.amountMinor).toBeGreaterThanOrEqual(o.totalMinor);
    const bad = await invokeInProcess('admin-api', `${stack().url}/api/second-chances?days=0`, { headers: { authorization: `Bearer ${stack().env.ADMIN_API_KEY}` } });
    expect(bad.status).toBe(422);
  });
});
