import http from 'node:http';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import Stripe from 'stripe';
import {
  buildEntry,
  buildInboundMessageValue,
  buildStatusValue,
  buildWebhookPayload,
  serializeMetaPayload,
  signMetaPayload,
  startGraphStandIn,
  type GraphStandIn,
  type MetaBusiness,
} from '../dev/standins/graph.js';
import { parseStripeForm, startStripeStandIn, type StripeStandIn } from '../dev/standins/stripe.js';

// ---------------------------------------------------------------------------------------------
// A tiny webhook receiver that keeps the exact bytes
// ---------------------------------------------------------------------------------------------

interface Received {
  raw: Buffer;
  headers: http.IncomingHttpHeaders;
  path: string;
}

interface Receiver {
  url: string;
  received: Received[];
  respondWith: { status: number; body: string };
  close(): Promise<void>;
}

async function startReceiver(): Promise<Receiver> {
  const received: Received[] = [];
  const respondWith = { status: 200, body: 'ok' };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ raw: Buffer.concat(chunks), headers: req.headers, path: req.url ?? '/' });
      res.writeHead(respondWith.status, { 'content-type': 'text/plain' });
      res.end(respondWith.body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as import('node:net').AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    received,
    respondWith,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

async function waitFor<T>(fn: () => T | undefined, ms = 3000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

const json = (body: unknown): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

// ---------------------------------------------------------------------------------------------
// Graph (WhatsApp Cloud API) stand-in
// ---------------------------------------------------------------------------------------------

describe('Graph stand-in', () => {
  const TOKEN = 'EAAG-test-token';
  const SECRET = 'app-secret-123';
  const PHONE_ID = '106540352242922';
  let graph: GraphStandIn;
  let hook: Receiver;

  const send = (body: unknown, token = TOKEN, phoneId = PHONE_ID): Promise<Response> =>
    fetch(`${graph.baseUrl}/${phoneId}/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify(body),
    });
  const ctl = (path: string, init?: RequestInit): Promise<Response> => fetch(`${graph.url}/_standin/${path}`, init);

  const text = (to: string, body: string) => ({ messaging_product: 'whatsapp', recipient_type: 'individual', to, type: 'text', text: { body } });
  const list = (rowsPerSection: number[], rowTitle = 'Row') => ({
    messaging_product: 'whatsapp',
    to: '31612345678',
    type: 'interactive',
    interactive: {
      type: 'list',
      header: { type: 'text', text: 'Our menu' },
      body: { text: 'Pick something' },
      footer: { text: 'Prices incl. VAT' },
      action: {
        button: 'See options',
        sections: rowsPerSection.map((n, s) => ({
          title: `Section ${s}`,
          rows: Array.from({ length: n }, (_, r) => ({ id: `s${s}r${r}`, title: rowTitle, description: 'desc' })),
        })),
      },
    },
  });
  const buttons = (n: number, title = 'OK') => ({
    messaging_product: 'whatsapp',
    to: '31612345678',
    type: 'interactive',
    interactive: {
      type: 'button',
      body: { text: 'Confirm your order?' },
      action: { buttons: Array.from({ length: n }, (_, i) => ({ type: 'reply', reply: { id: `b${i}`, title: n > 1 ? `${title}${i}` : title } })) },
    },
  });

  beforeAll(async () => {
    hook = await startReceiver();
    graph = await startGraphStandIn({
      accessToken: TOKEN,
      appSecret: SECRET,
      phoneNumberId: PHONE_ID,
      businessNumber: '+15550783881',
      webhookUrl: hook.url,
      port: 0,
    });
  });
  afterAll(async () => {
    await graph.close();
    await hook.close();
  });
  beforeEach(async () => {
    await ctl('messages', { method: 'DELETE' });
    hook.received.length = 0;
    graph.resetStats();
  });

  it('exposes a versioned base URL', () => {
    expect(graph.baseUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v21\.0$/);
  });

  it('accepts a text message and answers like Meta', async () => {
    const r = await send(text('+31612345678', 'Hallo!'));
    expect(r.status).toBe(200);
    const body = (await r.json()) as { messaging_product: string; contacts: Array<{ input: string; wa_id: string }>; messages: Array<{ id: string }> };
    expect(body.messaging_product).toBe('whatsapp');
    expect(body.contacts).toEqual([{ input: '+31612345678', wa_id: '31612345678' }]);
    expect(body.messages[0]!.id).toMatch(/^wamid\.[A-Za-z0-9+/=]+$/);

    const recorded = (await (await ctl('messages?to=31612345678')).json()) as Array<{ wamid: string; to: string; type: string; status: string; body: unknown }>;
    expect(recorded).toHaveLength(1);
    expect(recorded[0]).toMatchObject({ wamid: body.messages[0]!.id, to: '31612345678', type: 'text', status: 'accepted' });
    expect(recorded[0]!.body).toMatchObject({ text: { body: 'Hallo!' } });
    expect(graph.stats.requests).toBe(1);
  });

  it('accepts valid list, buttons, cta_url and template messages', async () => {
    const ctaUrl = {
      messaging_product: 'whatsapp',
      to: '31612345678',
      type: 'interactive',
      interactive: {
        type: 'cta_url',
        header: { type: 'text', text: 'Payment' },
        body: { text: 'Tap to pay for order #42' },
        footer: { text: 'Secure checkout' },
        action: { name: 'cta_url', parameters: { display_text: 'Pay now', url: 'https://example.com/pay/42' } },
      },
    };
    const template = {
      messaging_product: 'whatsapp',
      to: '31612345678',
      type: 'template',
      biz_opaque_callback_data: 'order:42',
      template: {
        name: 'order_confirmed',
        language: { code: 'nl' },
        components: [
          { type: 'header', parameters: [{ type: 'image', image: { link: 'https://example.com/a.png' } }] },
          {
            type: 'body',
            parameters: [
              { type: 'text', text: 'Anna' },
              { type: 'currency', currency: { fallback_value: '€12.50', code: 'EUR', amount_1000: 12500 } },
              { type: 'date_time', date_time: { fallback_value: '1 May 2026' } },
            ],
          },
          { type: 'button', sub_type: 'url', index: '0', parameters: [{ type: 'text', text: 'ord_42' }] },
          { type: 'button', sub_type: 'quick_reply', index: 1, parameters: [{ type: 'payload', payload: 'CANCEL_42' }] },
        ],
      },
    };
    for (const msg of [list([3, 2]), buttons(3), ctaUrl, template]) {
      const r = await send(msg);
      const b = await r.json();
      expect(r.status, JSON.stringify(b)).toBe(200);
    }
    const tpl = (await (await send(template)).json()) as { messages: Array<{ message_status?: string }> };
    expect(tpl.messages[0]!.message_status).toBe('accepted');
    expect(graph.messages({ status: 'accepted' })).toHaveLength(5);
  });

  it.each([
    ['a 25-char row title', list([2], 'x'.repeat(25)), /rows'?\]?\[0\]\['title'\]/],
    ['11 rows across sections', list([6, 5]), /at most 10 rows/],
    ['4 reply buttons', buttons(4), /buttons/],
    ['a 21-char button title', buttons(1, 'y'.repeat(21)), /\['title'\]/],
  ])('rejects %s with 400 code 100', async (_name, msg, detail) => {
    const r = await send(msg);
    expect(r.status).toBe(400);
    const b = (await r.json()) as { error: { message: string; type: string; code: number; error_data: { messaging_product: string; details: string }; fbtrace_id: string } };
    expect(b.error).toMatchObject({ message: '(#100) Invalid parameter', type: 'OAuthException', code: 100 });
    expect(b.error.error_data.messaging_product).toBe('whatsapp');
    expect(b.error.error_data.details).toMatch(detail);
    expect(b.error.fbtrace_id).toBeTruthy();
    const rec = graph.messages();
    expect(rec).toHaveLength(1);
    expect(rec[0]).toMatchObject({ status: 'rejected', wamid: null });
  });

  it('rejects a bad token with 401 / 190 and an unknown phone number id with 400 / 100', async () => {
    const r1 = await send(text('31612345678', 'hi'), 'wrong');
    expect(r1.status).toBe(401);
    expect(((await r1.json()) as { error: { code: number; type: string } }).error).toMatchObject({ code: 190, type: 'OAuthException' });
    const r2 = await send(text('31612345678', 'hi'), TOKEN, '999');
    expect(r2.status).toBe(400);
    expect(((await r2.json()) as { error: { code: number } }).error.code).toBe(100);
    expect(graph.messages()).toHaveLength(0);
    expect(graph.stats.requests).toBe(2);
  });

  it('serves queued failures (429 then success)', async () => {
    const q = await ctl('fail', json({ status: 429, code: 130429 }));
    expect(q.status).toBe(200);
    const r1 = await send(text('31612345678', 'one'));
    expect(r1.status).toBe(429);
    const e = (await r1.json()) as { error: { code: number; message: string; error_data: { details: string } } };
    expect(e.error.code).toBe(130429);
    expect(e.error.message).toContain('130429');
    const r2 = await send(text('31612345678', 'two'));
    expect(r2.status).toBe(200);
    const rec = graph.messages();
    expect(rec.map((m) => m.status)).toEqual(['rejected', 'accepted']);
    expect(rec[0]!.injected).toBe(true);

    await ctl('fail', json({ count: 2, status: 400, code: 131047 }));
    await ctl('fail', { method: 'DELETE' });
    expect((await send(text('31612345678', 'three'))).status).toBe(200);
  });

  it('delivers a signed inbound text webhook in Meta shape', async () => {
    const r = await ctl('inbound', json({ from: '31612345678', name: 'Zoë', text: 'Hoi / 👋', timestamp: 1760000000 }));
    expect(r.status).toBe(200);
    const out = (await r.json()) as { wamid: string; status: number; body: string };
    expect(out).toMatchObject({ status: 200, body: 'ok' });
    expect(hook.received).toHaveLength(1);
    const got = hook.received[0]!;

    // Signature over the exact received bytes.
    const header = String(got.headers['x-hub-signature-256']);
    const expected = 'sha256=' + createHmac('sha256', SECRET).update(got.raw).digest('hex');
    expect(timingSafeEqual(Buffer.from(header), Buffer.from(expected))).toBe(true);
    // Meta escapes non-ASCII and slashes, so the raw bytes differ from JSON.stringify(parsed).
    const rawText = got.raw.toString('utf8');
    expect(rawText).toContain('Zo\\u00eb');
    expect(rawText).toContain('\\/');
    const payload = JSON.parse(rawText);
    expect(JSON.stringify(payload)).not.toBe(rawText);

    expect(payload).toEqual({
      object: 'whatsapp_business_account',
      entry: [
        {
          id: expect.any(String),
          changes: [
            {
              field: 'messages',
              value: {
                messaging_product: 'whatsapp',
                metadata: { display_phone_number: '15550783881', phone_number_id: PHONE_ID },
                contacts: [{ profile: { name: 'Zoë' }, wa_id: '31612345678' }],
                messages: [{ from: '31612345678', id: out.wamid, timestamp: '1760000000', type: 'text', text: { body: 'Hoi / 👋' } }],
              },
            },
          ],
        },
      ],
    });
  });

  it('business-scoped user IDs: sends by recipient, username-only inbound, statuses with recipient_user_id, 131062', async () => {
    const bsuid = 'US.13491208655302741918';
    const r = await send({ messaging_product: 'whatsapp', recipient_type: 'individual', recipient: bsuid, type: 'text', text: { body: 'Hi' } });
    expect(r.status).toBe(200);
    const body = (await r.json()) as { contacts: unknown[]; messages: Array<{ id: string }> };
    expect(body.contacts).toEqual([{ input: bsuid, user_id: bsuid }]);
    expect(graph.messages({ to: bsuid })).toMatchObject([{ to: bsuid, input: bsuid, addressedBy: 'recipient', status: 'accepted' }]);
    // `to` wins when both are present; neither is a missing parameter; a malformed BSUID is refused.
    const both = (await (await send({ ...text('31612345678', 'x'), recipient: bsuid })).json()) as { contacts: unknown[] };
    expect(both.contacts).toEqual([{ input: '31612345678', wa_id: '31612345678' }]);
    const neither = await send({ messaging_product: 'whatsapp', type: 'text', text: { body: 'x' } });
    expect(neither.status).toBe(400);
    expect(((await neither.json()) as { error: { code: number } }).error.code).toBe(131008);
    expect((await send({ messaging_product: 'whatsapp', recipient: 'not a bsuid', type: 'text', text: { body: 'x' } })).status).toBe(400);

    // A status for the BSUID send names the BSUID, not a phone.
    await ctl('statuses', json({ wamid: body.messages[0]!.id, status: 'read' }));
    const status = JSON.parse(hook.received.at(-1)!.raw.toString('utf8')).entry[0].changes[0].value.statuses[0];
    expect(status).toMatchObject({ id: body.messages[0]!.id, status: 'read', recipient_user_id: bsuid });
    expect(status.recipient_id).toBeUndefined();

    // A username-only user writes in: from_user_id, contacts with user_id and profile.username, no phone.
    const inbound = await ctl('inbound', json({ userId: bsuid, username: 'zoe.tea', name: 'Zoë', text: 'hi', timestamp: 1760000000 }));
    expect(inbound.status).toBe(200);
    const value = JSON.parse(hook.received.at(-1)!.raw.toString('utf8')).entry[0].changes[0].value;
    expect(value.contacts).toEqual([{ profile: { name: 'Zoë', username: 'zoe.tea' }, user_id: bsuid }]);
    expect(value.messages[0]).toMatchObject({ from_user_id: bsuid, type: 'text', text: { body: 'hi' } });
    expect(value.messages[0].from).toBeUndefined();
    expect((await ctl('inbound', json({ text: 'nobody' }))).status).toBe(400);

    // 131062: BSUID recipients not supported for this message.
    await ctl('fail', json({ status: 400, code: 131062 }));
    const refused = await send({ messaging_product: 'whatsapp', recipient: bsuid, type: 'text', text: { body: 'x' } });
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { error: { code: number; message: string } }).error).toMatchObject({ code: 131062 });
  });

  it('fills context for interactive replies and builds order messages', async () => {
    const sent = (await (await send(list([2]))).json()) as { messages: Array<{ id: string }> };
    await ctl('inbound', json({ from: '31612345678', interactive: { type: 'list_reply', id: 's0r1', title: 'Row', description: 'desc' } }));
    await ctl(
      'inbound',
      json({
        from: '31612345678',
        order: { catalog_id: 'cat1', text: 'thanks', product_items: [{ product_retailer_id: 'sku-1', quantity: 2, item_price: 12.5, currency: 'EUR' }] },
      }),
    );
    expect(hook.received).toHaveLength(2);
    const [listReply, order] = hook.received.map((x) => JSON.parse(x.raw.toString('utf8')).entry[0].changes[0].value.messages[0]);
    expect(listReply).toMatchObject({
      context: { from: '15550783881', id: sent.messages[0]!.id },
      type: 'interactive',
      interactive: { type: 'list_reply', list_reply: { id: 's0r1', title: 'Row', description: 'desc' } },
    });
    expect(order).toMatchObject({
      type: 'order',
      order: { catalog_id: 'cat1', text: 'thanks', product_items: [{ product_retailer_id: 'sku-1', quantity: 2, item_price: 12.5, currency: 'EUR' }] },
    });
  });

  it('delivers signed status webhooks with conversation / pricing', async () => {
    const sent = (await (await send({ ...text('31612345678', 'hi'), biz_opaque_callback_data: 'ord-7' })).json()) as { messages: Array<{ id: string }> };
    const wamid = sent.messages[0]!.id;
    const r = await ctl('statuses', json({ wamid, status: 'delivered' }));
    expect(((await r.json()) as { status: number }).status).toBe(200);
    const f = await ctl('statuses', json({ wamid, status: 'failed', errors: [{ code: 131026, title: 'Message undeliverable' }] }));
    expect(f.status).toBe(200);
    expect(hook.received).toHaveLength(2);
    for (const got of hook.received) {
      expect(got.headers['x-hub-signature-256']).toBe(signMetaPayload(got.raw, SECRET));
    }
    const [delivered, failed] = hook.received.map((x) => JSON.parse(x.raw.toString('utf8')).entry[0].changes[0].value.statuses[0]);
    expect(delivered).toMatchObject({
      id: wamid,
      status: 'delivered',
      timestamp: expect.stringMatching(/^\d+$/),
      recipient_id: '31612345678',
      biz_opaque_callback_data: 'ord-7',
      conversation: { id: expect.any(String), origin: { type: 'service' } },
      pricing: { billable: false, pricing_model: 'PMP', category: 'service' },
    });
    expect(failed).toMatchObject({ status: 'failed', errors: [{ code: 131026, title: 'Message undeliverable', message: 'Message undeliverable' }] });
    expect(failed.pricing).toBeUndefined();
    expect(graph.messages()[0]!.statuses.map((s) => s.status)).toEqual(['delivered', 'failed']);
  });

  it('exports builders for multi-entry payloads and posts raw bytes with forged signatures', async () => {
    const biz: MetaBusiness = { wabaId: 'waba1', phoneNumberId: PHONE_ID, displayPhoneNumber: '15550783881' };
    const payload = buildWebhookPayload([
      buildEntry('waba1', [buildInboundMessageValue(biz, { from: '31611111111', text: 'a' }), buildStatusValue(biz, { wamid: 'wamid.X', status: 'read', recipient_id: '31611111111' })]),
      buildEntry('waba1', [buildInboundMessageValue(biz, { from: '31622222222', text: 'b' })]),
    ]);
    const raw = serializeMetaPayload(payload);
    const good = await ctl('webhook/raw', json({ payload: raw }));
    expect(good.status).toBe(200);
    const forged = await ctl('webhook/raw', json({ payload: raw, signature: signMetaPayload(raw, 'not-the-secret') }));
    expect(forged.status).toBe(200);
    expect(hook.received).toHaveLength(2);
    expect(hook.received[0]!.raw.toString('utf8')).toBe(raw);
    expect(hook.received[0]!.headers['x-hub-signature-256']).toBe(signMetaPayload(raw, SECRET));
    expect(hook.received[1]!.headers['x-hub-signature-256']).not.toBe(signMetaPayload(raw, SECRET));
    expect(JSON.parse(raw).entry).toHaveLength(2);
  });

  it('records catalog items_batch calls and rejects > 5000 requests', async () => {
    const ok = await fetch(`${graph.baseUrl}/cat123/items_batch`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify({
        allow_upsert: true,
        item_type: 'PRODUCT_ITEM',
        requests: [
          { method: 'UPDATE', data: { id: 'sku-1', availability: 'in stock', inventory: 5 } },
          { method: 'DELETE', data: { id: 'sku-2' } },
        ],
      }),
    });
    expect(ok.status).toBe(200);
    const body = (await ok.json()) as { handles: string[]; validation_status: unknown[] };
    expect(body.handles).toHaveLength(1);
    const batches = (await (await ctl('catalog-batches')).json()) as Array<{ catalogId: string; requests: Array<{ retailerId: string }> }>;
    expect(batches[0]).toMatchObject({ catalogId: 'cat123', requests: [{ retailerId: 'sku-1' }, { retailerId: 'sku-2' }] });

    const tooMany = await fetch(`${graph.baseUrl}/cat123/items_batch`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify({ item_type: 'PRODUCT_ITEM', requests: Array.from({ length: 5001 }, (_, i) => ({ method: 'UPDATE', data: { id: `s${i}` } })) }),
    });
    expect(tooMany.status).toBe(400);
    expect(((await tooMany.json()) as { error: { code: number } }).error.code).toBe(100);
    expect(graph.catalogBatches()).toHaveLength(1);
  });

  it('streams recorded messages over SSE', async () => {
    const ac = new AbortController();
    const r = await fetch(`${graph.url}/_standin/events`, { signal: ac.signal });
    expect(r.headers.get('content-type')).toContain('text/event-stream');
    const reader = r.body!.getReader();
    await send(text('31612345678', 'sse!'));
    let buf = '';
    const dec = new TextDecoder();
    while (!buf.includes('event: message')) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value);
    }
    ac.abort();
    const frame = buf.split('\n\n').find((f) => f.startsWith('event: message'))!;
    const data = JSON.parse(frame.split('\n').find((l) => l.startsWith('data: '))!.slice(6));
    expect(data).toMatchObject({ type: 'text', status: 'accepted', to: '31612345678' });
  });

  it('posts sent → delivered → read automatically when autoStatuses is on', async () => {
    const rx = await startReceiver();
    const g2 = await startGraphStandIn({ accessToken: TOKEN, appSecret: SECRET, phoneNumberId: PHONE_ID, webhookUrl: rx.url, autoStatuses: true, autoStatusDelayMs: 10 });
    try {
      const r = await fetch(`${g2.baseUrl}/${PHONE_ID}/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
        body: JSON.stringify(text('31612345678', 'ticks')),
      });
      expect(r.status).toBe(200);
      await waitFor(() => (rx.received.length >= 3 ? true : undefined));
      const statuses = rx.received.map((x) => JSON.parse(x.raw.toString('utf8')).entry[0].changes[0].value.statuses[0].status);
      expect(statuses).toEqual(['sent', 'delivered', 'read']);
    } finally {
      await g2.close();
      await rx.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Stripe stand-in, driven by the real stripe client
// ---------------------------------------------------------------------------------------------

describe('Stripe stand-in', () => {
  const KEY = 'sk_test_standin_0123456789';
  const WHSEC = 'whsec_standin_secret';
  let st: StripeStandIn;
  let hook: Receiver;
  let stripe: Stripe;

  const ctl = (path: string, init?: RequestInit): Promise<Response> => fetch(`${st.url}/_standin/${path}`, init);
  const params = (over: Partial<Stripe.Checkout.SessionCreateParams> = {}): Stripe.Checkout.SessionCreateParams => ({
    mode: 'payment',
    line_items: [
      { price_data: { currency: 'eur', unit_amount: 1250, product_data: { name: 'T-shirt' } }, quantity: 2 },
      { price_data: { currency: 'eur', unit_amount: 499, product_data: { name: 'Socks & more' } }, quantity: 1 },
    ],
    success_url: 'https://shop.example/ok?session_id={CHECKOUT_SESSION_ID}',
    cancel_url: 'https://shop.example/cancel',
    client_reference_id: 'order_42',
    metadata: { order_id: 'order_42', chat: '31612345678' },
    expires_at: Math.floor(Date.now() / 1000) + 45 * 60,
    ...over,
  });

  beforeAll(async () => {
    hook = await startReceiver();
    st = await startStripeStandIn({ secretKey: KEY, webhookSecret: WHSEC, webhookUrl: hook.url, port: 0 });
    stripe = new Stripe(KEY, { host: '127.0.0.1', port: st.port, protocol: 'http' });
  });
  afterAll(async () => {
    await st.close();
    await hook.close();
  });
  beforeEach(async () => {
    await ctl('reset', { method: 'DELETE' });
    hook.received.length = 0;
    st.resetStats();
  });

  it('parses bracket notation like the client sends it', () => {
    expect(
      parseStripeForm('line_items[0][price_data][currency]=eur&line_items[0][quantity]=2&metadata[0]=x&metadata[order_id]=o%2F1&expand[0]=line_items&a[]=1&a[]=2'),
    ).toEqual({ line_items: [{ price_data: { currency: 'eur' }, quantity: '2' }], metadata: { '0': 'x', order_id: 'o/1' }, expand: ['line_items'], a: ['1', '2'] });
  });

  it('creates a Checkout Session with the real client', async () => {
    const p = params();
    const s = await stripe.checkout.sessions.create(p);
    expect(s.id).toMatch(/^cs_test_/);
    expect(s).toMatchObject({
      object: 'checkout.session',
      url: `${st.url}/checkout/${s.id}`,
      status: 'open',
      payment_status: 'unpaid',
      amount_subtotal: 2999,
      amount_total: 2999,
      currency: 'eur',
      client_reference_id: 'order_42',
      metadata: { order_id: 'order_42', chat: '31612345678' },
      expires_at: p.expires_at,
      payment_intent: null,
      mode: 'payment',
      success_url: p.success_url,
      cancel_url: p.cancel_url,
      livemode: false,
    });
    expect(s.created).toBeGreaterThan(0);
    expect(st.sessions()).toHaveLength(1);
    expect(st.stats.requests).toBe(1);
  });

  it('honours Idempotency-Key', async () => {
    const p = params();
    const a = await stripe.checkout.sessions.create(p, { idempotencyKey: 'order_42:checkout' });
    const b = await stripe.checkout.sessions.create(p, { idempotencyKey: 'order_42:checkout' });
    expect(b.id).toBe(a.id);
    expect(b.lastResponse.headers['idempotent-replayed']).toBe('true');
    expect(st.sessions()).toHaveLength(1);
    const err = await stripe.checkout.sessions
      .create({ ...p, client_reference_id: 'other' }, { idempotencyKey: 'order_42:checkout' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Stripe.errors.StripeIdempotencyError);
    expect(st.sessions()).toHaveLength(1);
    // A different key creates another session.
    await stripe.checkout.sessions.create(p, { idempotencyKey: 'order_43:checkout' });
    expect(st.sessions()).toHaveLength(2);
    expect(st.stats.requests).toBe(4);
  });

  it('validates like Stripe', async () => {
    const nowS = Math.floor(Date.now() / 1000);
    const soon = await stripe.checkout.sessions.create(params({ expires_at: nowS + 10 * 60 })).catch((e: unknown) => e);
    expect(soon).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect((soon as Stripe.errors.StripeError).message).toMatch(/at least 30 minutes/);
    expect((soon as Stripe.errors.StripeError).param).toBe('expires_at');
    const late = await stripe.checkout.sessions.create(params({ expires_at: nowS + 25 * 3600 })).catch((e: unknown) => e);
    expect((late as Stripe.errors.StripeError).message).toMatch(/less than 24 hours/);
    const qty = await stripe.checkout.sessions
      .create(params({ line_items: [{ price_data: { currency: 'eur', unit_amount: 100, product_data: { name: 'x' } }, quantity: 0 }] }))
      .catch((e: unknown) => e);
    expect((qty as Stripe.errors.StripeError).param).toBe('line_items[0][quantity]');
    const noSuccess = await stripe.checkout.sessions.create({ ...params(), success_url: undefined }).catch((e: unknown) => e);
    expect((noSuccess as Stripe.errors.StripeError).message).toBe('Missing required param: success_url.');
    const ref = await stripe.checkout.sessions.create(params({ client_reference_id: 'r'.repeat(201) })).catch((e: unknown) => e);
    expect((ref as Stripe.errors.StripeError).param).toBe('client_reference_id');
    const meta = Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, 'v']));
    const tooMuch = await stripe.checkout.sessions.create(params({ metadata: meta })).catch((e: unknown) => e);
    expect((tooMuch as Stripe.errors.StripeError).param).toBe('metadata');
    expect(st.sessions()).toHaveLength(0);
  });

  it('rejects a wrong secret key with 401', async () => {
    const bad = new Stripe('sk_test_wrong_key_000000', { host: '127.0.0.1', port: st.port, protocol: 'http' });
    const err = await bad.checkout.sessions.create(params()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Stripe.errors.StripeAuthenticationError);
    expect((err as Stripe.errors.StripeError).message).toMatch(/^Invalid API Key provided/);
  });

  it('retrieves and expires sessions; a second expire fails', async () => {
    const s = await stripe.checkout.sessions.create(params());
    const got = await stripe.checkout.sessions.retrieve(s.id, { expand: ['line_items'] });
    expect(got.id).toBe(s.id);
    expect(got.line_items?.data.map((l) => [l.description, l.quantity, l.amount_total])).toEqual([
      ['T-shirt', 2, 2500],
      ['Socks & more', 1, 499],
    ]);
    const exp = await stripe.checkout.sessions.expire(s.id);
    expect(exp.status).toBe('expired');
    expect(exp.url).toBeNull();
    const again = await stripe.checkout.sessions.expire(s.id).catch((e: unknown) => e);
    expect(again).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect((again as Stripe.errors.StripeError).message).toMatch(/Only Checkout Sessions with a status in \["open"\] can be expired/);
    const missing = await stripe.checkout.sessions.retrieve('cs_test_nope').catch((e: unknown) => e);
    expect((missing as Stripe.errors.StripeError).statusCode).toBe(404);
    expect(st.stats.requests).toBe(5);
  });

  it('completes a session and delivers a verifiable checkout.session.completed event', async () => {
    const s = await stripe.checkout.sessions.create(params());
    st.resetStats();
    const r = await ctl(`sessions/${s.id}/complete`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(r.status).toBe(200);
    const out = (await r.json()) as { eventId: string; status: number; body: string };
    expect(out).toMatchObject({ eventId: expect.stringMatching(/^evt_/), status: 200, body: 'ok' });
    expect(hook.received).toHaveLength(1);
    const got = hook.received[0]!;
    const event = stripe.webhooks.constructEvent(got.raw, String(got.headers['stripe-signature']), WHSEC);
    expect(event).toMatchObject({ id: out.eventId, object: 'event', type: 'checkout.session.completed', livemode: false, api_version: Stripe.API_VERSION });
    const obj = event.data.object as Stripe.Checkout.Session;
    expect(obj).toMatchObject({ id: s.id, status: 'complete', payment_status: 'paid', metadata: { order_id: 'order_42' } });
    expect(obj.payment_intent).toMatch(/^pi_/);
    // Wrong secret fails verification.
    expect(() => stripe.webhooks.constructEvent(got.raw, String(got.headers['stripe-signature']), 'whsec_wrong')).toThrow(
      Stripe.errors.StripeSignatureVerificationError,
    );
    // Control calls do not count as API round trips.
    expect(st.stats.requests).toBe(0);
    const again = await ctl(`sessions/${s.id}/complete`, json({}));
    expect(again.status).toBe(409);
  });

  it('handles delayed payments (unpaid → async_payment_succeeded) and expiry events', async () => {
    const s = await stripe.checkout.sessions.create(params());
    await ctl(`sessions/${s.id}/complete`, json({ paid: false }));
    await ctl(`sessions/${s.id}/async-succeeded`, json({}));
    const s2 = await stripe.checkout.sessions.create(params());
    await ctl(`sessions/${s2.id}/expire`, json({}));
    const events = hook.received.map((x) => stripe.webhooks.constructEvent(x.raw, String(x.headers['stripe-signature']), WHSEC));
    expect(events.map((e) => [e.type, (e.data.object as Stripe.Checkout.Session).payment_status])).toEqual([
      ['checkout.session.completed', 'unpaid'],
      ['checkout.session.async_payment_succeeded', 'paid'],
      ['checkout.session.expired', 'unpaid'],
    ]);
    expect((await stripe.checkout.sessions.retrieve(s2.id)).status).toBe('expired');
  });

  it('refunds a paid session with the real client', async () => {
    const s = await stripe.checkout.sessions.create(params());
    const done = (await (await ctl(`sessions/${s.id}/complete`, json({}))).json()) as { session: { payment_intent: string } };
    const pi = done.session.payment_intent;
    const part = await stripe.refunds.create({ payment_intent: pi, amount: 1000, metadata: { reason: 'oos' } }, { idempotencyKey: `refund:${pi}:1` });
    expect(part).toMatchObject({ object: 'refund', amount: 1000, currency: 'eur', status: 'succeeded', payment_intent: pi, metadata: { reason: 'oos' } });
    expect(part.id).toMatch(/^re_/);
    const replay = await stripe.refunds.create({ payment_intent: pi, amount: 1000, metadata: { reason: 'oos' } }, { idempotencyKey: `refund:${pi}:1` });
    expect(replay.id).toBe(part.id);
    const rest = await stripe.refunds.create({ payment_intent: pi });
    expect(rest.amount).toBe(1999);
    const over = await stripe.refunds.create({ payment_intent: pi, amount: 1 }).catch((e: unknown) => e);
    expect(over).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    const listed = await stripe.refunds.list({ payment_intent: pi });
    expect(listed.data.map((r) => r.amount)).toEqual([1999, 1000]);
    expect(st.refunds()).toHaveLength(2);
    const unknown = await stripe.refunds.create({ payment_intent: 'pi_nope' }).catch((e: unknown) => e);
    expect((unknown as Stripe.errors.StripeError).statusCode).toBe(404);
    const piObj = await stripe.paymentIntents.retrieve(pi);
    expect(piObj).toMatchObject({ id: pi, status: 'succeeded', amount: 2999 });
  });

  it('replays the same event id and posts raw payloads with forged signatures', async () => {
    const s = await stripe.checkout.sessions.create(params());
    for (let i = 0; i < 3; i++) {
      const r = await ctl('events', json({ type: 'checkout.session.completed', object: s.id, id: 'evt_replay_1' }));
      expect(((await r.json()) as { eventId: string }).eventId).toBe('evt_replay_1');
    }
    expect(hook.received).toHaveLength(3);
    const bodies = new Set(hook.received.map((x) => x.raw.toString('utf8')));
    expect(bodies.size).toBe(1);
    for (const x of hook.received) {
      expect(stripe.webhooks.constructEvent(x.raw, String(x.headers['stripe-signature']), WHSEC).id).toBe('evt_replay_1');
    }

    hook.received.length = 0;
    const payload = JSON.stringify({ id: 'evt_forged', object: 'event', type: 'checkout.session.completed', data: { object: {} } });
    const forged = stripe.webhooks.generateTestHeaderString({ payload, secret: 'whsec_attacker' });
    await ctl('events/raw', json({ payload, signature: forged }));
    await ctl('events/raw', json({ payload }));
    const [bad, good] = hook.received;
    expect(() => stripe.webhooks.constructEvent(bad!.raw, String(bad!.headers['stripe-signature']), WHSEC)).toThrow();
    expect(stripe.webhooks.constructEvent(good!.raw, String(good!.headers['stripe-signature']), WHSEC).id).toBe('evt_forged');
  });

  it('serves a hosted checkout page with stable test ids', async () => {
    const s = await stripe.checkout.sessions.create(params());
    const r = await fetch(s.url!);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toContain('text/html');
    const html = await r.text();
    for (const tid of ['pay', 'pay-later', 'expire', 'total']) expect(html).toContain(`data-testid="${tid}"`);
    expect(html).toContain('Socks &amp; more');
    expect(html).toContain('€29.99');
    expect(html).not.toMatch(/<(link|script)[^>]+(src|href)=["']https?:/);
    expect(st.stats.requests).toBe(1);
  });
});
