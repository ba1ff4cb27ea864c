import { beforeAll, describe, expect, it } from 'vitest';
import { buildInboundPayload, makeWamid, type InboundInput } from '../dev/standins/graph.js';
import { upsertCatalogProduct } from '../lib/catalog/index.js';
import { processRecordedEvents, recordWebhookEvents, redriveUnprocessed, type RecordedEvent } from '../lib/conversation/inbound-events.js';
import { db } from '../lib/db.js';
import { messageKeys, outboxKey } from '../lib/messaging/keys.js';
import { retryDueMessages } from '../lib/messaging/retry.js';
import { parseWebhookPayload } from '../lib/whatsapp/inbound-payload.js';
import { newCustomer, sentTo, useStack } from './support/stack.js';

/**
 * The answer's outbox row is reserved by the statement that records the message
 * (lib/messaging/reply.ts). Processing is driven here step by step, in this process, to stop it
 * where a function could die: the answer is never lost and never sent twice.
 */
const stack = useStack({ functions: 'in-process' });
const biz = () => ({ wabaId: '102290129340398', phoneNumberId: stack().env.WHATSAPP_PHONE_NUMBER_ID!, displayPhoneNumber: '15550100001' });

beforeAll(async () => {
  await upsertCatalogProduct({ sku: 'RES-1', name: 'Reserved tea', priceMinor: 1000, currency: 'EUR', stock: 100 });
});

/** Records one inbound message as the webhook does before its 200, without processing it. */
async function record(input: InboundInput): Promise<{ events: RecordedEvent[]; wamid: string }> {
  const wamid = input.wamid ?? makeWamid(input.from);
  const parsed = parseWebhookPayload(buildInboundPayload(biz(), { ...input, wamid }), stack().env.WHATSAPP_PHONE_NUMBER_ID);
  if ('error' in parsed) throw new Error(parsed.error);
  return { events: await recordWebhookEvents(parsed), wamid };
}

const replyRow = async (wamid: string) =>
  (await db()`SELECT status, payload, attempts, locked_until FROM outbound_messages WHERE idempotency_key = ${outboxKey(messageKeys.reply(wamid))}`)[0];
const eventRow = async (wamid: string) => (await db()`SELECT processed_at, attempts, last_error FROM inbound_events WHERE external_id = ${wamid}`)[0]!;
const lapse = (wamid: string) => db()`UPDATE outbound_messages SET locked_until = now() - interval '1 second' WHERE idempotency_key = ${outboxKey(messageKeys.reply(wamid))}`;
/** Makes the event old enough for the re-drive. */
const age = (wamid: string) => db()`UPDATE inbound_events SET received_at = now() - interval '2 minutes' WHERE external_id = ${wamid}`;

describe('the answer reserved by the recording statement', () => {
  it('is reserved with the message, sent from the reservation and recorded with the event processed', async () => {
    const waId = newCustomer();
    const { events, wamid } = await record({ from: waId, name: 'Ada', text: 'menu' });
    expect(events).toHaveLength(1);
    expect(await replyRow(wamid)).toMatchObject({ status: 'sending', payload: { type: 'reserved' } });

    await processRecordedEvents(events);
    expect(sentTo(stack(), waId).map((m) => (m.body as { type: string }).type)).toEqual(['interactive']);
    const row = await replyRow(wamid);
    expect(row).toMatchObject({ status: 'sent', payload: { type: 'list' } });
    expect((await eventRow(wamid)).processed_at).toBeInstanceOf(Date);
  });

  it('a function that died before sending: the re-drive waits for the lock, then answers once; the outbox retry never takes the reservation', async () => {
    const waId = newCustomer();
    const { wamid } = await record({ from: waId, name: 'Ada', text: 'help' });
    await age(wamid);

    // The lock is live: the re-drive leaves the event for later and sends nothing.
    await redriveUnprocessed(100);
    expect(sentTo(stack(), waId)).toHaveLength(0);
    const waiting = await eventRow(wamid);
    expect(waiting.processed_at).toBeNull();
    expect(waiting.last_error).toMatch(/reserved/);

    // Lapsed: the outbox retry still has nothing to send (no payload), the re-drive answers.
    await lapse(wamid);
    await retryDueMessages(100);
    expect(sentTo(stack(), waId)).toHaveLength(0);
    expect(await replyRow(wamid)).toMatchObject({ status: 'sending', payload: { type: 'reserved' } });

    await redriveUnprocessed(100);
    expect(sentTo(stack(), waId)).toHaveLength(1);
    expect(await replyRow(wamid)).toMatchObject({ status: 'sent', payload: { type: 'text' } });
    expect((await eventRow(wamid)).processed_at).toBeInstanceOf(Date);

    // Nothing sends it again.
    await lapse(wamid);
    await retryDueMessages(100);
    await redriveUnprocessed(100);
    expect(sentTo(stack(), waId)).toHaveLength(1);
  });

  it('a holder past its trust window retakes its own reservation by its lock; one another request retook is not sent twice', async () => {
    const waId = newCustomer();
    const { events, wamid } = await record({ from: waId, name: 'Ada', text: 'help' });
    const late = events.map((e) => (e.kind === 'message' && e.reply ? { ...e, reply: { ...e.reply, trustUntil: 0 } } : e));
    await processRecordedEvents(late);
    expect(sentTo(stack(), waId)).toHaveLength(1);
    expect(await replyRow(wamid)).toMatchObject({ status: 'sent', attempts: 2, payload: { type: 'text' } });

    const other = newCustomer();
    const second = await record({ from: other, name: 'Bo', text: 'help' });
    // Someone else took the lapsed reservation meanwhile (its lock changed): the late holder sends nothing.
    await db()`UPDATE outbound_messages SET locked_until = now() + interval '5 minutes', attempts = attempts + 1 WHERE idempotency_key = ${outboxKey(messageKeys.reply(second.wamid))}`;
    await processRecordedEvents(second.events.map((e) => (e.kind === 'message' && e.reply ? { ...e, reply: { ...e.reply, trustUntil: 0 } } : e)));
    expect(sentTo(stack(), other)).toHaveLength(0);
  });

  it('an answer that is not sent under reply:<wamid> (an order placed: its payment link) deletes the reservation as the event finishes', async () => {
    const waId = newCustomer();
    const { events, wamid } = await record({ from: waId, name: 'Ada', text: 'buy RES-1 1' });
    expect(await replyRow(wamid)).toBeDefined();
    await processRecordedEvents(events);
    expect(sentTo(stack(), waId).map((m) => (m.body as { type: string; interactive?: { type: string } }).interactive?.type)).toEqual(['cta_url']);
    expect(await replyRow(wamid)).toBeUndefined();
    expect((await eventRow(wamid)).processed_at).toBeInstanceOf(Date);
  });

  it('a reaction, or a message outside the 24-hour window, reserves nothing', async () => {
    const waId = newCustomer();
    const { wamid } = await record({ from: waId, name: 'Ada', raw: { type: 'reaction', reaction: { message_id: makeWamid('1'), emoji: '👍' } } });
    expect(await replyRow(wamid)).toBeUndefined();
    const old = await record({ from: waId, name: 'Ada', text: 'menu', wamid: makeWamid(`${waId}9`), timestamp: Math.floor(Date.now() / 1000) - 25 * 3600 });
    expect(await replyRow(old.wamid)).toBeUndefined();
  });

  it('a replayed wamid is not recorded again and reserves nothing more: one answer', async () => {
    const waId = newCustomer();
    const wamid = makeWamid(waId);
    const first = await record({ from: waId, name: 'Ada', text: 'help', wamid });
    const again = await record({ from: waId, name: 'Ada', text: 'help', wamid });
    expect(again.events).toHaveLength(0);
    await processRecordedEvents(first.events);
    await processRecordedEvents(again.events);
    expect(sentTo(stack(), waId)).toHaveLength(1);
  });
});

describe("Redis writes riding with the work's next request (Work.redis, lib/work.ts)", () => {
  it('the hold script takes the waiting writes along: one request; a script Redis lost (NOSCRIPT) runs again alone', async () => {
    const { redis } = await import('../lib/redis.js');
    const { Work } = await import('../lib/work.js');
    const { reserveStock } = await import('../lib/stock/index.js');
    const bridge = stack().upstashBridge!;
    for (const [i, flush] of [false, true].entries()) {
      if (flush) await redis().scriptFlush();
      const work = new Work('test');
      work.redis.add('test mark', (p) => p.set(`test:rider:${i}`, 'x', { ex: 60 }));
      const before = bridge.stats.requests;
      const held = await reserveStock(`00000000-0000-4000-8000-00000000000${i}`, [{ sku: 'RES-1', quantity: 1 }], new Date(Date.now() + 60_000), work);
      expect(held).toMatchObject({ status: 'held', expiresAt: expect.any(Date) });
      expect(await redis().get(`test:rider:${i}`)).toBe('x');
      // Counted before the check's own GET: one pipeline, or after a flush that pipeline plus the script run alone (EVALSHA → EVAL).
      expect(bridge.stats.requests - before - 1).toBe(flush ? 3 : 1);
    }
  });

  it('a rider write that fails is logged, never fails the request it rode with', async () => {
    const { redis } = await import('../lib/redis.js');
    const { PendingRedis } = await import('../lib/work.js');
    await redis().set('test:rider:string', 'not a hash');
    const pending = new PendingRedis();
    pending.add('broken', (p) => p.hset('test:rider:string', { a: '1' }));
    const [value] = await pending.pipeline((p) => p.get('test:rider:string'));
    expect(value).toBe('not a hash');
    expect(pending.hasWaiting).toBe(false);
  });
});

describe("an order's first read made by the recording statement", () => {
  it('is made for the first order of each sender in a POST; later ones read for themselves, so the open-orders limit holds', async () => {
    const waId = newCustomer();
    const parsed = [1, 2, 3, 4].map((n) => {
      const p = parseWebhookPayload(
        buildInboundPayload(biz(), { from: waId, name: 'Ada', wamid: makeWamid(`${waId}-${n}`), interactive: { type: 'button_reply', id: 'qty:1:RES-1', title: '1' } }),
        stack().env.WHATSAPP_PHONE_NUMBER_ID,
      );
      if ('error' in p) throw new Error(p.error);
      return p;
    });
    const batch = { ...parsed[0]!, messages: parsed.flatMap((p) => p.messages) };
    const events = await recordWebhookEvents(batch);
    expect(events.map((e) => e.kind === 'message' && !!e.placement)).toEqual([true, false, false, false]);
    const first = events[0]!;
    if (first.kind !== 'message') throw new Error('not a message');
    expect(first.placement!.row).toMatchObject({ existing: null, open_orders: 0, variants: [expect.objectContaining({ sku: 'RES-1', price_minor: 1000 })] });

    await processRecordedEvents(events);
    const orders = await db()`SELECT o.id FROM orders o JOIN customers c ON c.id = o.customer_id WHERE c.wa_id = ${waId}`;
    expect(orders).toHaveLength(3); // MAX_ACTIVE_HOLDS_PER_CUSTOMER
    const texts = sentTo(stack(), waId).map((m) => JSON.stringify(m.body));
    expect(texts.filter((t) => t.includes('orders waiting for payment'))).toHaveLength(1);
  });
});

describe("an order's first read, for a customer known only by a BSUID", () => {
  it('is made for the linked customer and used: the order goes to that customer, its payment link to the BSUID', async () => {
    const userId = `US.${Date.now()}${Math.floor(Math.random() * 1e6)}`;
    const wamid = makeWamid(userId);
    const p = parseWebhookPayload(
      buildInboundPayload(biz(), { userId, username: 'ada.tea', name: 'Ada', wamid, interactive: { type: 'button_reply', id: 'qty:2:RES-1', title: '2' } }),
      stack().env.WHATSAPP_PHONE_NUMBER_ID,
    );
    if ('error' in p) throw new Error(p.error);
    const events = await recordWebhookEvents(p);
    const e = events[0]!;
    if (e.kind !== 'message') throw new Error('not a message');
    expect(e.placement?.row).toMatchObject({ id: e.customerId, open_orders: 0, existing: null });

    await processRecordedEvents(events);
    const [order] = await db()`SELECT o.items, c.bsuid, c.wa_id FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.source_key = ${wamid}`;
    expect(order).toMatchObject({ bsuid: userId, wa_id: null, items: [expect.objectContaining({ sku: 'RES-1', quantity: 2 })] });
    const link = stack().graph!.messages({ status: 'accepted' }).find((m) => (m.body as { recipient?: string }).recipient === userId);
    expect((link?.body as { interactive?: { type?: string } })?.interactive?.type).toBe('cta_url');
  });
});
