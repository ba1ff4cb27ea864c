import { statSync } from 'node:fs';
import { crc32, deflateSync } from 'node:zlib';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { makeWamid } from '../dev/standins/graph.js';
import { DEFAULT_TEMPLATES } from '../dev/standins/graph-inbox.js';
import { db } from '../lib/db.js';
import { HANDOVER_BUTTON_ID } from '../lib/conversation/handover.js';
import { screenshots, useBrowser, WAIT } from './support/browser.js';
import { shop } from './support/shop.js';
import { bodyOf, eventually, newCustomer, sentTo, useStack } from './support/stack.js';

/**
 * The team inbox (issue 25, docs/inbox.md): customers' messages kept per conversation at record time, staff
 * answering through the outbox (once per Idempotency-Key), the media proxy, templates outside the window,
 * the bot/staff handover, an invited contact linked to the order, retention and the unanswered alert; then
 * the console in Debian's chromium. Asserted on the page, in Postgres and at the Graph stand-in.
 */

const chrome = useBrowser('inbox');
const WABA = '102290129340398';
const ALICE = 'alice-key-0001-abcdef';
const BOB = 'bob-key-0002-abcdef';
const stack = useStack({
  autoStatuses: true,
  seedDemoCatalog: true,
  env: { ADMIN_API_KEYS: `alice:${ALICE},bob:${BOB}`, WHATSAPP_WABA_ID: WABA, SHOP_HOURS: 'Mon-Fri 9:00-17:00' },
});
const s = shop(stack);
// The WABA's templates as a shop has them once created and reviewed (one still pending).
beforeAll(() => stack().graph.setup.templates.seed(DEFAULT_TEMPLATES));
const until = <T>(fn: () => T | Promise<T>) => expect.poll(fn, { timeout: WAIT, interval: 250 });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A photo of a cracked mug (PNG, 120×120), as a customer's phone would upload it. */
const PNG = mugPng(120);
function mugPng(size: number): Buffer {
  const rows: Buffer[] = [];
  for (let y = 0; y < size; y++) {
    const row = [0];
    for (let x = 0; x < size; x++) {
      const u = x / size, v = y / size;
      const body = u > 0.2 && u < 0.68 && v > 0.25 && v < 0.85;
      const handle = u >= 0.68 && u < 0.85 && v > 0.38 && v < 0.7 && !(u > 0.72 && u < 0.8 && v > 0.45 && v < 0.63);
      const crack = body && Math.abs(u - 0.35 - (v - 0.25) * 0.4 - 0.04 * Math.sin(v * 40)) < 0.012;
      row.push(...(crack ? [250, 250, 250] : body || handle ? [176, 92, 52] : [228, 236, 242]));
    }
    rows.push(Buffer.from(row));
  }
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(Buffer.concat([Buffer.from(type), data])));
    return Buffer.concat([len, Buffer.from(type), data, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(size, 0);
  header.writeUInt32BE(size, 4);
  header.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', header), chunk('IDAT', deflateSync(Buffer.concat(rows))), chunk('IEND', Buffer.alloc(0))]);
}

type Answer = { status: number; body: Record<string, any>; headers: Headers; bytes?: Buffer };
async function api(method: string, p: string, opts: { key?: string; body?: unknown; headers?: Record<string, string>; raw?: boolean } = {}): Promise<Answer> {
  const r = await fetch(`${stack().url}/api${p}`, {
    method,
    headers: { authorization: `Bearer ${opts.key ?? ALICE}`, 'content-type': 'application/json', ...opts.headers },
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
  if (opts.raw) return { status: r.status, body: {}, headers: r.headers, bytes: Buffer.from(await r.arrayBuffer()) };
  return { status: r.status, body: (await r.json().catch(() => ({}))) as Record<string, any>, headers: r.headers };
}

const conversationOf = async (waId: string) => (await db()`SELECT id FROM customers WHERE wa_id = ${waId}`)[0]!.id as string;
const photo = async (waId: string, caption: string) => {
  const media = stack().graph.storeMedia(PNG, 'image/png');
  await s.inbound({ from: waId, name: 'Ada', raw: { type: 'image', image: { id: media.id, mime_type: 'image/png', sha256: media.sha256, caption } } });
  return media.id;
};
const staffTexts = (waId: string) => sentTo(stack(), waId).filter((m) => bodyOf(m).biz_opaque_callback_data && m.type === 'text');
const inviteTokenOf = async (orderId: string) => (await db()`SELECT token FROM invite_tokens WHERE order_id = ${orderId}`)[0]!.token as string;

describe('team inbox API', () => {
  it('keeps a customer\'s text and photo per conversation, serves the photo through the proxy, and a double send reaches the customer once', async () => {
    const o = await s.paidOrder('TEA-CHAI', 1);
    await s.inbound({ from: o.waId, name: 'Ada', text: 'When will it arrive?' });
    const mediaId = await photo(o.waId, 'The mug arrived broken');
    const id = await conversationOf(o.waId);
    await eventually(async () => (await db()`SELECT count(*)::int AS n FROM conversation_messages WHERE customer_id = ${id}`)[0]!.n === 3);

    // The list: found by the order reference, unread, with its order.
    const list = await api('GET', `/conversations?q=${o.reference}`);
    expect(list.status).toBe(200);
    const c = list.body.conversations.find((x: { id: string }) => x.id === id);
    expect(c).toMatchObject({ name: 'Ada', unread: 3, mode: 'bot', needsReply: false, lastMessage: { kind: 'image', body: 'The mug arrived broken' } });
    expect(c.phone).not.toContain(o.waId.slice(4, 8));
    expect(c.orders).toEqual([expect.objectContaining({ reference: o.reference, how: 'customer', paymentStatus: 'paid', open: true })]);

    // The thread: newest last, bot answers and notices in between, the photo with its media id.
    const thread = (await api('GET', `/conversations/${id}`)).body;
    expect(thread.insideWindow).toBe(true);
    const image = thread.messages.find((m: { kind: string }) => m.kind === 'image');
    expect(thread.messages.indexOf(image)).toBeGreaterThan(thread.messages.findIndex((m: { body: string }) => m.body === 'When will it arrive?'));
    expect(image).toMatchObject({ direction: 'in', kind: 'image', body: 'The mug arrived broken', data: { mediaId, mimeType: 'image/png' } });
    expect(thread.messages.find((m: { body: string }) => m.body === 'When will it arrive?')).toBeTruthy();
    expect(thread.messages.filter((m: { direction: string }) => m.direction === 'out').map((m: { from: string }) => m.from)).toEqual(expect.arrayContaining(['bot', 'notice']));

    // The media proxy: Meta's URL then the download with the token; only media a customer sent.
    const media = await api('GET', `/media/${mediaId}`, { raw: true });
    expect(media.status).toBe(200);
    expect(media.headers.get('content-type')).toBe('image/png');
    expect(media.bytes!.equals(PNG)).toBe(true);
    expect(stack().graph.mediaDownloads().filter((d) => d.id === mediaId)).toEqual([expect.objectContaining({ authorized: true })]);
    expect((await api('GET', '/media/1234567890')).status).toBe(404);

    // A double click: two sends under one Idempotency-Key → one message; attributed to alice on the thread and the order.
    const before = sentTo(stack(), o.waId).length;
    const send = () => api('POST', `/conversations/${id}/messages`, { body: { text: 'Sorry about the mug! A new one ships today.' }, headers: { 'idempotency-key': 'reply-0001-abcdef' } });
    const answers = await Promise.all([send(), send()]);
    expect(answers.map((a) => a.status).sort()).toEqual([200, 201]);
    expect(answers.find((a) => a.status === 200)!.headers.get('idempotent-replayed')).toBe('true');
    expect((await send()).status).toBe(200);
    await sleep(500);
    const after = sentTo(stack(), o.waId).slice(before);
    expect(after.map((m) => bodyOf(m).text?.body)).toEqual(['Sorry about the mug! A new one ships today.']);
    expect((await db()`SELECT sent_by, kind FROM outbound_messages WHERE customer_id = ${id} AND kind = 'staff'`)).toEqual([{ sent_by: 'alice', kind: 'staff' }]);
    expect(await s.eventsOf(o.orderId)).toContainEqual(expect.objectContaining({ type: 'staff_message', data: expect.objectContaining({ staff: 'alice', conversationId: id }) }));
    // The same key for another message is a conflict; no key is refused.
    expect((await api('POST', `/conversations/${id}/messages`, { body: { text: 'other' }, headers: { 'idempotency-key': 'reply-0001-abcdef' } })).status).toBe(409);
    expect((await api('POST', `/conversations/${id}/messages`, { body: { text: 'no key' } })).body).toMatchObject({ error: 'invalid_request', fields: [{ path: 'Idempotency-Key' }] });

    // Read: blue ticks for the newest message at Meta; typing at most once per 25 s.
    expect((await api('POST', `/conversations/${id}/read`)).body).toMatchObject({ readBy: 'alice', markedOnWhatsApp: true });
    expect(stack().graph.reads().map((r) => r.messageId)).toContain(image.wamid);
    expect((await api('GET', `/conversations/${id}`)).body.unread).toBe(0);
    expect((await api('POST', `/conversations/${id}/typing`)).body).toEqual({ sent: true });
    expect((await api('POST', `/conversations/${id}/typing`)).body).toEqual({ sent: false });
    const typing = stack().graph.reads().filter((r) => r.typingIndicator);
    expect(typing).toHaveLength(1);
    expect(typing[0]!.body).toEqual({ messaging_product: 'whatsapp', status: 'read', message_id: image.wamid, typing_indicator: { type: 'text' } });

    // Outside the window: free text refused, approved templates only (listed from the WABA), their parameters counted.
    await db()`UPDATE customers SET last_inbound_at = now() - interval '25 hours' WHERE id = ${id}`;
    const closed = await api('POST', `/conversations/${id}/messages`, { body: { text: 'hello?' }, headers: { 'idempotency-key': 'reply-0002-abcdef' } });
    expect(closed.status).toBe(409);
    expect(closed.body.error).toBe('window_closed');
    const templates = (await api('GET', '/templates')).body.templates as { name: string; header: number; body: number; urlButton: number }[];
    expect(templates.map((t) => t.name)).not.toContain('support_follow_up'); // pending at Meta
    expect(templates.find((t) => t.name === 'order_shipped')).toMatchObject({ header: 1, body: 1, urlButton: 1 });
    const wrong = await api('POST', `/conversations/${id}/messages`, { body: { template: 'hold_expired', language: 'en', parameters: [] }, headers: { 'idempotency-key': 'reply-0003-abcdef' } });
    expect(wrong.body).toMatchObject({ error: 'invalid_request', fields: [{ path: 'parameters', message: 'hold_expired takes 1 parameter(s), 0 given' }] });
    const template = await api('POST', `/conversations/${id}/messages`, { body: { template: 'hold_expired', language: 'en', parameters: [o.reference] }, headers: { 'idempotency-key': 'reply-0004-abcdef' } });
    expect(template.status).toBe(201);
    expect(bodyOf(sentTo(stack(), o.waId).at(-1)!).template).toMatchObject({ name: 'hold_expired', components: [{ type: 'body', parameters: [{ type: 'text', text: o.reference }] }] });
  }, 120_000);

  it('hands over to a person: "human" → staff mode, the bot stays silent on free text, staff hand back; two misunderstood texts offer a person', async () => {
    const waId = newCustomer('4917');
    await s.inbound({ from: waId, name: 'Ben', text: 'hi' });
    await eventually(() => sentTo(stack(), waId).length === 1);
    await s.inbound({ from: waId, name: 'Ben', text: 'I want to talk to a human please' });
    await eventually(() => sentTo(stack(), waId).length === 2);
    expect(bodyOf(sentTo(stack(), waId)[1]!).text?.body).toContain('A person from');
    expect(bodyOf(sentTo(stack(), waId)[1]!).text?.body).toContain('Mon-Fri 9:00-17:00');
    const id = await conversationOf(waId);
    // The mode is written with the statements recording the answer (after it went out).
    await until(async () => (await db()`SELECT mode, mode_changed_by FROM conversations WHERE customer_id = ${id}`)[0]).toEqual({ mode: 'staff', mode_changed_by: 'customer' });

    // Free text is left for staff; the conversation needs a reply.
    await s.inbound({ from: waId, name: 'Ben', text: 'hello? anyone?' });
    await eventually(async () => (await db()`SELECT outcome FROM inbound_events WHERE payload->'content'->>'body' = 'hello? anyone?'`)[0]?.outcome === 'staff mode: left for staff');
    await sleep(300);
    expect(sentTo(stack(), waId)).toHaveLength(2);
    const needing = (await api('GET', '/conversations?filter=needsReply')).body.conversations.map((c: { id: string }) => c.id);
    expect(needing).toContain(id);

    // Bob hands back: the bot answers again.
    expect((await api('PUT', `/conversations/${id}/mode`, { key: BOB, body: { mode: 'bot' } })).body).toMatchObject({ mode: 'bot', modeChangedBy: 'bob' });
    await s.inbound({ from: waId, name: 'Ben', text: 'menu' });
    await eventually(() => sentTo(stack(), waId).length === 3);

    // Two texts the bot did not understand → a "Talk to a person" button; tapping it hands over.
    const other = newCustomer('4917');
    await s.inbound({ from: other, name: 'Cy', text: 'blorp' });
    await eventually(() => sentTo(stack(), other).length === 1);
    // The count is written with the statements recording the answer (after it went out).
    await until(async () => (await db()`SELECT c.misunderstood FROM conversations c JOIN customers cu ON cu.id = c.customer_id WHERE cu.wa_id = ${other}`)[0]?.misunderstood).toBe(1);
    await s.inbound({ from: other, name: 'Cy', text: 'zzzz qqq' });
    await eventually(() => sentTo(stack(), other).length === 2);
    const offer = bodyOf(sentTo(stack(), other)[1]!);
    expect(offer.interactive?.type).toBe('button');
    expect(JSON.stringify(offer.interactive?.action)).toContain(HANDOVER_BUTTON_ID);
    await s.inbound({ from: other, name: 'Cy', interactive: { type: 'button_reply', id: HANDOVER_BUTTON_ID, title: 'Talk to a person' } });
    await eventually(() => sentTo(stack(), other).length === 3);
    const otherId = await conversationOf(other);
    await until(async () => (await db()`SELECT mode FROM conversations WHERE customer_id = ${otherId}`)[0]?.mode).toBe('staff');

    // Unanswered for longer than INBOX_UNANSWERED_ALERT_MINUTES → one ops alert, however many cleanup runs see it.
    await db()`UPDATE customers SET last_inbound_at = now() - interval '40 minutes' WHERE id = ${otherId}`;
    for (let i = 0; i < 2; i++) expect((await fetch(`${stack().url}/.netlify/functions/reservation-cleanup`, { method: 'POST' })).status).toBe(200);
    expect(await db()`SELECT kind FROM ops_alerts WHERE alert_key LIKE ${`unanswered:${otherId}:%`}`).toEqual([{ kind: 'conversation_unanswered' }]);
  }, 120_000);

  it('an invited contact starts with a person, linked to the order; merges move conversations; retention deletes old content', async () => {
    const o = await s.paidOrder('TEA-GREEN', 1);
    const token = await inviteTokenOf(o.orderId);
    const elder = newCustomer('4930');
    await s.inbound({ from: elder, name: 'Grandma Rose', text: `Hi, I'm contacting on behalf of order ${o.reference}. Token: ${token}` });
    await eventually(() => sentTo(stack(), elder).length === 1);
    const greeting = bodyOf(sentTo(stack(), elder)[0]!).text!.body;
    expect(greeting).toContain(o.reference);
    expect(greeting).toContain('A person from');
    const id = await conversationOf(elder);
    expect((await db()`SELECT mode, mode_changed_by, invited_order_id FROM conversations WHERE customer_id = ${id}`)[0]).toEqual({ mode: 'staff', mode_changed_by: 'invite', invited_order_id: o.orderId });
    await s.inbound({ from: elder, name: 'Grandma Rose', text: 'Is it gift wrapped?' });
    await sleep(800);
    expect(sentTo(stack(), elder)).toHaveLength(1);
    const invited = (await api('GET', '/conversations?filter=invited')).body.conversations.find((c: { id: string }) => c.id === id);
    expect(invited.orders).toEqual([expect.objectContaining({ reference: o.reference, how: 'invited' })]);
    expect(invited.needsReply).toBe(true);
    const answered = await api('POST', `/conversations/${id}/messages`, { key: BOB, body: { text: 'Yes, Rose, it is gift wrapped.' }, headers: { 'idempotency-key': 'elder-0001-abcdef' } });
    expect(answered.status).toBe(201);
    expect(bodyOf(sentTo(stack(), elder)[1]!).text?.body).toBe('Yes, Rose, it is gift wrapped.');
    expect(await s.eventsOf(o.orderId)).toContainEqual(expect.objectContaining({ type: 'staff_message', data: expect.objectContaining({ staff: 'bob' }) }));

    // A merge (the same person seen as a BSUID-only row) moves messages and the conversation to the survivor.
    const bsuid = `US.${Date.now()}${process.pid}`;
    await s.inbound({ userId: bsuid, name: 'Rose (username)', text: 'it is me again' });
    const loser = await eventually(async () => (await db()`SELECT id FROM customers WHERE bsuid = ${bsuid}`)[0]?.id as string | undefined);
    await db()`UPDATE conversations SET mode = 'staff', mode_changed_at = now() WHERE customer_id = ${loser}`;
    await db()`INSERT INTO conversations (customer_id, mode, mode_changed_at) VALUES (${loser}, 'staff', now()) ON CONFLICT DO NOTHING`;
    await s.inbound({ from: elder, userId: bsuid, name: 'Grandma Rose', text: 'both ids now' });
    await eventually(async () => (await db()`SELECT count(*)::int AS n FROM customers WHERE id = ${loser}`)[0]!.n === 0);
    expect((await db()`SELECT count(*)::int AS n FROM conversation_messages WHERE customer_id = ${id} AND body = 'it is me again'`)[0]!.n).toBe(1);
    expect((await db()`SELECT count(*)::int AS n FROM conversations WHERE customer_id = ${loser}`)[0]!.n).toBe(0);

    // Retention: content older than INBOX_RETENTION_DAYS is deleted by the cleanup run, metadata kept.
    await db()`UPDATE conversation_messages SET at = now() - interval '100 days' WHERE customer_id = ${id} AND body = 'Is it gift wrapped?'`;
    expect((await fetch(`${stack().url}/.netlify/functions/reservation-cleanup`, { method: 'POST' })).status).toBe(200);
    const [kept] = await db()`SELECT kind, body, data, content_deleted_at, wamid FROM conversation_messages WHERE customer_id = ${id} AND at < now() - interval '99 days'`;
    expect(kept).toMatchObject({ kind: 'text', body: null, data: null });
    expect(kept!.content_deleted_at).not.toBeNull();
    const [event] = await db()`SELECT payload->'content' AS content FROM inbound_events WHERE external_id = ${kept!.wamid}`;
    expect(event!.content).toEqual({ type: 'text', deleted: true });
  }, 120_000);
});

async function saveScreenshot(page: Page, name: string): Promise<void> {
  const file = path.join(screenshots, name);
  await page.screenshot({ path: file });
  expect(statSync(file).size).toBeLessThan(400 * 1024);
}

describe('the console inbox (chromium)', () => {
  it('shows the unread conversation with its order and photo; staff reply once; templates only outside the window; "human" → staff; the invited elder is linked and answered', async () => {
    const o = await s.paidOrder('HONEY-250', 1);
    const sent = sentTo(stack(), o.waId).length;
    await s.inbound({ from: o.waId, name: 'Ada', text: 'Hello! The jar lid is cracked, see the photo.' });
    await eventually(() => sentTo(stack(), o.waId).length === sent + 1);
    // The thread places an answer at its recorded send time: the photo comes after the answer is recorded sent
    // (the webhook answers Meta before processing, so without this the photo could be recorded first).
    await eventually(async () => (await db()`SELECT count(*)::int AS n FROM outbound_messages m JOIN customers c ON c.id = m.customer_id
      WHERE c.wa_id = ${o.waId} AND m.kind = 'reply' AND m.status = 'sent'`)[0]!.n === 1);
    const mediaId = await photo(o.waId, 'cracked lid');
    await eventually(() => sentTo(stack(), o.waId).length === sent + 2);
    const id = await conversationOf(o.waId);
    await eventually(async () => (await db()`SELECT count(*)::int AS n FROM conversation_messages WHERE customer_id = ${id}`)[0]!.n === 3);

    const page = await chrome().context.newPage();
    await page.goto(`${stack().url}/admin`);
    await page.locator('body[data-ready]').waitFor();
    await page.getByTestId('signin-key').fill(ALICE);
    await page.getByTestId('signin-submit').click();
    await page.getByTestId('inbox-tab').click();
    const row = page.locator(`[data-testid="conversation-row"][data-conversation-id="${id}"]`);
    await until(() => row.getByTestId('conversation-unread').textContent()).toBe('3');
    await until(() => row.getByTestId('conversation-order').getAttribute('data-reference')).toBe(o.reference);
    await until(() => page.getByTestId('inbox-count').textContent()).not.toBe('0');
    await saveScreenshot(page, 'inbox-list.png');

    // The thread: the photo inline through the media proxy, the reply box with the window's remaining time.
    await row.click();
    const img = page.locator(`[data-testid="message-image"][data-media-id="${mediaId}"]`);
    await until(() => img.evaluate((el) => (el as HTMLImageElement).naturalWidth)).toBe(120);
    await until(() => page.getByTestId('window-remaining').textContent()).toMatch(/^23 h \d+ min left/);
    await until(async () => (await db()`SELECT read_by FROM conversations WHERE customer_id = ${id}`)[0]?.read_by).toBe('alice');
    // Newest last, in the order the shop saw them: the customer's text, the bot's answer, the photo.
    const order = await page.getByTestId('message').evaluateAll((els) => els.map((e) => (e as HTMLElement).dataset.from + ':' + (e as HTMLElement).dataset.kind));
    expect(order.slice(-4)).toEqual(['customer:text', 'bot:list', 'customer:image', 'bot:text']);

    // A double click sends once.
    const before = sentTo(stack(), o.waId).length;
    await page.getByTestId('reply-text').fill('So sorry! A new jar is on its way today.');
    await page.getByTestId('reply-send').dblclick();
    await until(() => page.locator('[data-testid="message"][data-from="staff"]').count()).toBe(1);
    await sleep(600);
    expect(sentTo(stack(), o.waId).slice(before).map((m) => bodyOf(m).text?.body)).toEqual(['So sorry! A new jar is on its way today.']);
    const staffMessage = page.locator('[data-testid="message"][data-from="staff"]');
    await until(() => staffMessage.getByTestId('message-from').textContent()).toBe('alice');
    await until(() => staffMessage.getByTestId('ticks').getAttribute('data-status')).toBe('read');
    await img.scrollIntoViewIfNeeded();
    await saveScreenshot(page, 'inbox-thread.png');

    // Outside the window the box offers approved templates only.
    await db()`UPDATE customers SET last_inbound_at = now() - interval '25 hours' WHERE id = ${id}`;
    await until(() => page.getByTestId('template-form').count()).toBe(1);
    expect(await page.getByTestId('reply-text').count()).toBe(0);
    await page.getByTestId('template-select').selectOption('hold_expired/en');
    await until(() => page.getByTestId('template-param').count()).toBe(1);
    await saveScreenshot(page, 'inbox-template.png');
    await page.getByTestId('template-param').fill(o.reference);
    await page.getByTestId('template-send').click();
    await until(() => bodyOf(sentTo(stack(), o.waId).at(-1)!).template?.name).toBe('hold_expired');

    // "human" → staff mode, the page shows it; the bot stays silent on the next free text.
    await s.inbound({ from: o.waId, name: 'Ada', text: 'human' });
    await until(() => page.getByTestId('thread-mode').textContent()).toBe('Staff is answering');
    const count = sentTo(stack(), o.waId).length;
    await s.inbound({ from: o.waId, name: 'Ada', text: 'are you there?' });
    await until(() => page.locator('[data-testid="message-text"]', { hasText: 'are you there?' }).count()).toBe(1);
    expect(sentTo(stack(), o.waId)).toHaveLength(count);

    // The elder joins through the invite: listed as the order's invited contact; staff answer from the page.
    const token = await inviteTokenOf(o.orderId);
    const elder = newCustomer('4930');
    await s.inbound({ from: elder, name: 'Uncle Bo', text: `Hi, I'm contacting on behalf of order ${o.reference}. Token: ${token}` });
    await eventually(() => sentTo(stack(), elder).length === 1); // the greeting: from now on a person answers
    await s.inbound({ from: elder, name: 'Uncle Bo', text: 'When does it arrive?' });
    const elderId = await conversationOf(elder);
    await page.getByTestId('inbox-filter').selectOption('invited');
    const elderRow = page.locator(`[data-testid="conversation-row"][data-conversation-id="${elderId}"]`);
    await until(() => elderRow.getByTestId('conversation-order').textContent()).toBe(`${o.reference} (invited contact)`);
    await elderRow.click();
    await until(() => page.getByTestId('thread-order').getAttribute('data-how')).toBe('invited');
    await page.getByTestId('reply-text').fill('Hello Bo, it arrives on Friday.');
    await page.getByTestId('reply-send').click();
    await until(() => sentTo(stack(), elder).map((m) => bodyOf(m).text?.body)).toContain('Hello Bo, it arrives on Friday.');
    expect(staffTexts(elder)).toHaveLength(2); // the greeting and the staff answer; nothing from the bot to "When does it arrive?"
    await saveScreenshot(page, 'inbox-invited.png');
    await page.close();
  }, 180_000);
});
