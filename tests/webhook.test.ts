import { describe, expect, it, beforeAll } from 'vitest';
import { buildEntry, buildInboundMessageValue, buildWebhookPayload, makeWamid, signMetaPayload } from '../dev/standins/graph.js';
import { upsertCatalogProduct } from '../lib/catalog/index.js';
import { db } from '../lib/db.js';
import { bodyOf, eventually, newCustomer, sentTo, useStack, waitForMessages } from './support/stack.js';

const stack = useStack({ functions: 'netlify' });
const biz = () => ({ wabaId: '102290129340398', phoneNumberId: stack().env.WHATSAPP_PHONE_NUMBER_ID!, displayPhoneNumber: '15550100001' });
const webhookUrl = () => `${stack().url}/.netlify/functions/webhook`;

async function postSigned(payload: unknown, signature?: string): Promise<Response> {
  const raw = JSON.stringify(payload);
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  const sig = signature ?? signMetaPayload(raw, stack().env.WHATSAPP_APP_SECRET!);
  if (sig) headers['x-hub-signature-256'] = sig;
  return fetch(webhookUrl(), { method: 'POST', headers, body: raw });
}

const inboundCount = async () => Number((await db()`SELECT count(*)::int AS n FROM inbound_events`)[0]!.n);

beforeAll(async () => {
  await upsertCatalogProduct({ sku: 'TEA-1', name: 'Green tea', priceMinor: 1299, currency: 'EUR', stock: 25 });
  await upsertCatalogProduct({ sku: 'MUG-1', name: 'Mug', priceMinor: 800, currency: 'EUR', stock: 3 });
});

describe('webhook verification handshake', () => {
  it('echoes the challenge for the right verify token', async () => {
    const r = await fetch(`${webhookUrl()}?hub.mode=subscribe&hub.verify_token=${stack().env.WHATSAPP_VERIFY_TOKEN}&hub.challenge=42`);
    expect(r.status).toBe(200);
    expect(await r.text()).toBe('42');
  });

  it('refuses a wrong token or mode', async () => {
    expect((await fetch(`${webhookUrl()}?hub.mode=subscribe&hub.verify_token=nope&hub.challenge=42`)).status).toBe(403);
    expect((await fetch(`${webhookUrl()}?hub.mode=unsubscribe&hub.verify_token=${stack().env.WHATSAPP_VERIFY_TOKEN}&hub.challenge=42`)).status).toBe(403);
  });
});

describe('webhook signature', () => {
  it.each([
    ['missing', ''],
    ['forged', 'sha256=' + 'ab'.repeat(32)],
    ['signed with another secret', signMetaPayload('{}', 'other-secret')],
    ['not hex', 'sha256=zz'],
  ])('answers 401 for a %s signature and writes nothing', async (_name, signature) => {
    const waId = newCustomer();
    const payload = buildInboundMessageValue(biz(), { from: waId, text: 'menu', wamid: makeWamid(waId) });
    const before = await inboundCount();
    const redisBefore = stack().upstashBridge!.stats.requests;
    const r = await postSigned(buildWebhookPayload([buildEntry('1', [payload])]), signature);
    expect(r.status).toBe(401);
    await new Promise((res) => setTimeout(res, 300));
    expect(await inboundCount()).toBe(before);
    expect(stack().upstashBridge!.stats.requests).toBe(redisBefore);
    expect(sentTo(stack(), waId)).toHaveLength(0);
  });

  it('verifies the raw bytes, not a re-serialisation (unicode escapes as Meta sends them)', async () => {
    const waId = newCustomer();
    const raw = `{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550100001","phone_number_id":"${stack().env.WHATSAPP_PHONE_NUMBER_ID}"},"contacts":[{"profile":{"name":"Jos\\u00e9"},"wa_id":"${waId}"}],"messages":[{"from":"${waId}","id":"${makeWamid(waId)}","timestamp":"${Math.floor(Date.now() / 1000)}","type":"text","text":{"body":"men\\u00fa \\/ hello"}}]}}]}]}`;
    const r = await fetch(webhookUrl(), {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-hub-signature-256': signMetaPayload(raw, stack().env.WHATSAPP_APP_SECRET!) },
      body: raw,
    });
    expect(r.status).toBe(200);
    const [reply] = await waitForMessages(stack(), waId, 1);
    expect(bodyOf(reply!).type).toBe('interactive');
    const [customer] = await db()`SELECT profile_name, phone_e164, last_inbound_at FROM customers WHERE wa_id = ${waId}`;
    expect(customer).toMatchObject({ profile_name: 'José', phone_e164: `+${waId}` });
    expect(customer!.last_inbound_at).toBeInstanceOf(Date);
  });
});

describe('inbound messages', () => {
  it('answers "menu" with one interactive list of the catalog', async () => {
    const waId = newCustomer();
    const delivery = await stack().graph.sendInbound({ from: waId, name: 'Ada', text: 'Menu please' });
    expect(delivery.status).toBe(200);
    const messages = await waitForMessages(stack(), waId, 1);
    expect(messages).toHaveLength(1);
    const list = bodyOf(messages[0]!).interactive!;
    expect(list.type).toBe('list');
    const rows = (list.action!.sections as { rows: { id: string; title: string; description: string }[] }[])[0]!.rows;
    expect(rows.map((r) => r.title)).toEqual(['Green tea', 'Mug']);
    expect(rows[0]!.description).toContain('€12.99');
    expect(rows[1]!.description).toContain('3 left');
  });

  it('the same wamid posted twice produces one reply', async () => {
    const waId = newCustomer();
    const wamid = makeWamid(waId);
    const first = await stack().graph.sendInbound({ from: waId, text: 'menu', wamid });
    const second = await stack().graph.sendInbound({ from: waId, text: 'menu', wamid });
    expect([first.status, second.status]).toEqual([200, 200]);
    const messages = await waitForMessages(stack(), waId, 1, 800);
    expect(messages).toHaveLength(1);
    expect(Number((await db()`SELECT count(*)::int AS n FROM inbound_events WHERE external_id = ${wamid}`)[0]!.n)).toBe(1);
  });

  it('a wamid replayed 10 times concurrently, and again later, has one effect', async () => {
    const waId = newCustomer();
    const wamid = makeWamid(waId);
    const results = await Promise.all(Array.from({ length: 10 }, () => stack().graph.sendInbound({ from: waId, text: 'hello', wamid })));
    expect(results.map((r) => r.status)).toEqual(Array(10).fill(200));
    await waitForMessages(stack(), waId, 1, 800);
    // Meta retries for days: the Postgres row (the only dedupe, issue 30) still dedupes.
    expect((await stack().graph.sendInbound({ from: waId, text: 'hello', wamid })).status).toBe(200);
    await new Promise((r) => setTimeout(r, 600));
    expect(sentTo(stack(), waId)).toHaveLength(1);
  });

  it('handles every entry, change and message of one POST', async () => {
    const [a, b, c] = [newCustomer(), newCustomer(), newCustomer()];
    const v1 = buildInboundMessageValue(biz(), { from: a, name: 'A', text: 'menu' });
    const v2 = buildInboundMessageValue(biz(), { from: b, name: 'B', text: 'help' });
    const v3 = buildInboundMessageValue(biz(), { from: c, name: 'C', text: 'status' });
    v2.messages!.push(buildInboundMessageValue(biz(), { from: b, text: 'menu' }).messages![0]!);
    const r = await postSigned(buildWebhookPayload([buildEntry('1', [v1, v2]), buildEntry('2', [v3])]));
    expect(r.status).toBe(200);
    expect((await waitForMessages(stack(), a, 1)).length).toBe(1);
    expect((await waitForMessages(stack(), b, 2)).length).toBe(2);
    const [statusReply] = await waitForMessages(stack(), c, 1);
    expect(bodyOf(statusReply!).text!.body).toContain('no orders yet');
  });

  it('a NUL or a lone surrogate in one message loses nothing: the whole batch is recorded and answered', async () => {
    const [a, b] = [newCustomer(), newCustomer()];
    const bad = buildInboundMessageValue(biz(), { from: a, name: 'Nul\u0000 \ud83d', text: 'menu\u0000\ud83d' });
    const good = buildInboundMessageValue(biz(), { from: b, name: 'B', text: 'menu' });
    const r = await postSigned(buildWebhookPayload([buildEntry('1', [bad, good])]));
    expect(r.status).toBe(200);
    expect((await waitForMessages(stack(), a, 1)).length).toBe(1);
    expect((await waitForMessages(stack(), b, 1)).length).toBe(1);
    const [row] = await db()`SELECT profile_name FROM customers WHERE wa_id = ${a}`;
    expect(row!.profile_name).toBe('Nul\ufffd \ufffd');
  });

  it('acknowledges a signed but malformed payload with 200 and records nothing', async () => {
    const before = await inboundCount();
    const notJson = '{"object": "whatsapp_business_account", "entry": [';
    const r1 = await fetch(webhookUrl(), {
      method: 'POST',
      headers: { 'x-hub-signature-256': signMetaPayload(notJson, stack().env.WHATSAPP_APP_SECRET!) },
      body: notJson,
    });
    expect(r1.status).toBe(200);
    const r2 = await postSigned({ hello: 'world' });
    expect(r2.status).toBe(200);
    // One bad message among good ones: the good one is still handled.
    const waId = newCustomer();
    const value = buildInboundMessageValue(biz(), { from: waId, text: 'menu' });
    value.messages!.unshift({ id: 'wamid.bad', type: 'text' }); // no "from"
    expect((await postSigned(buildWebhookPayload([buildEntry('1', [value])]))).status).toBe(200);
    await waitForMessages(stack(), waId, 1);
    expect(await inboundCount()).toBe(before + 1);
  });

  it('answers 503 when the durable record cannot be written, so Meta retries; the retry is handled', async () => {
    const waId = newCustomer();
    const wamid = makeWamid(waId);
    const original = process.env.NEON_FETCH_ENDPOINT!;
    process.env.NEON_FETCH_ENDPOINT = 'http://127.0.0.1:9/sql'; // nothing listens there
    try {
      const down = await stack().graph.sendInbound({ from: waId, text: 'menu', wamid });
      expect(down.status).toBe(503);
    } finally {
      process.env.NEON_FETCH_ENDPOINT = original;
    }
    expect(sentTo(stack(), waId)).toHaveLength(0);
    const retry = await stack().graph.sendInbound({ from: waId, text: 'menu', wamid });
    expect(retry.status).toBe(200);
    await eventually(() => sentTo(stack(), waId).length === 1);
  });
});
