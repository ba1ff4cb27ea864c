/**
 * Security (issue 14, item 4), against the whole stack in process (and a few cases over HTTP through the
 * shop's server): forged, truncated, stale and replayed signatures write nothing; the invite answers only
 * 302 to https://wa.me/…; tokens carry ≥ 128 bits and an unknown token costs what a near miss costs;
 * every credential comparison is constant-time; SQL and Lua metacharacters in every field stay data.
 * The log-leak scan over every line of this file is tests/reliability/support/log-leaks.ts.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import Stripe from 'stripe';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildEntry, buildInboundMessageValue, buildWebhookPayload, makeWamid, signMetaPayload } from '../../dev/standins/graph.js';
import { projectRoot } from '../../dev/stack.js';
import { upsertCatalogProduct } from '../../lib/catalog/index.js';
import { db } from '../../lib/db.js';
import { newInviteToken } from '../../lib/invites/store.js';
import { rebuildRedisStock } from '../../lib/orders/stock-resync.js';
import { shop, type PaidOrder } from '../support/shop.js';
import { newCustomer, sentTo, useStack } from '../support/stack.js';
import { SQL_AND_LUA } from './support/hostile.js';
import { dbDigest, send, writeProbe, type Req } from './support/probe.js';

const stack = useStack({ functions: 'in-process', env: { LOG_LEVEL: 'debug' } });
const s = () => stack();
const helpers = shop(stack, { inProcess: true });
const admin = () => ({ authorization: `Bearer ${s().env.ADMIN_API_KEY}` });
const biz = () => ({ wabaId: '102290129340398', phoneNumberId: s().env.WHATSAPP_PHONE_NUMBER_ID!, displayPhoneNumber: s().env.WHATSAPP_BUSINESS_NUMBER_E164!.replace(/\D/g, '') });
const stripeSig = (payload: string, secret = s().env.STRIPE_WEBHOOK_SECRET!, timestamp?: number) => new Stripe('sk_test_x').webhooks.generateTestHeaderString({ payload, secret, timestamp });

const snapshot = () => writeProbe(s());

let paid: PaidOrder;
let token: string;
beforeAll(async () => {
  await upsertCatalogProduct({ sku: 'SEC-1', name: 'Security tea', priceMinor: 500, currency: 'EUR', stock: 1000 });
  await rebuildRedisStock();
  paid = await helpers.paidOrder('SEC-1', 1);
  token = (await db()`SELECT token FROM invite_tokens WHERE order_id = ${paid.orderId}`)[0]!.token as string;
}, 120_000);

describe('signatures: forged, truncated, stale and replayed requests change nothing', () => {
  it('Meta webhook: forged, truncated, wrong-secret, other-body, missing → 401, nothing written', async () => {
    const raw = JSON.stringify(buildWebhookPayload([buildEntry(biz().wabaId, [buildInboundMessageValue(biz(), { from: newCustomer(), text: 'buy SEC-1 1', wamid: makeWamid('1') })])]));
    const valid = signMetaPayload(raw, s().env.WHATSAPP_APP_SECRET!);
    const forged = [undefined, '', 'sha256=', `sha256=${'0'.repeat(64)}`, valid.slice(0, -1), valid.slice(0, 20), signMetaPayload(raw, 'wrong'), signMetaPayload(`${raw} `, s().env.WHATSAPP_APP_SECRET!), valid.replace('sha256=', 'sha1='), valid.slice(7), `${valid}00`, `${valid.slice(0, 7)}${valid.slice(7).toUpperCase().replace(/^./, 'G')}`];
    const before = await snapshot();
    for (const sig of forged) {
      const a = await send(s(), { method: 'POST', path: '/.netlify/functions/webhook', headers: { 'content-type': 'application/json', 'x-hub-signature-256': sig }, body: raw });
      expect(a!.status, `signature ${sig}`).toBe(401);
    }
    expect(await snapshot()).toEqual(before);
  });

  it('Stripe: forged, truncated, wrong-secret, stale (past the 300 s tolerance) → 400, nothing written', async () => {
    const payload = helpers.eventOf('checkout.session.completed', { id: paid.sessionId, object: 'checkout.session' });
    const now = Math.floor(Date.now() / 1000);
    const valid = stripeSig(payload);
    const forged = [undefined, '', 't=1', `t=${now},v1=${'0'.repeat(64)}`, valid.slice(0, -1), valid.split(',v1=')[0], stripeSig(payload, 'whsec_wrong'), stripeSig(payload, undefined, now - 301), stripeSig(payload, undefined, now - 86_400 * 3), valid.replace('v1=', 'v0='), stripeSig(`${payload} `)];
    // (A future timestamp with a valid signature passes Stripe's own verifier, as in every Stripe SDK: it needs the secret.)
    const before = await snapshot();
    for (const sig of forged) {
      const a = await send(s(), { method: 'POST', path: '/.netlify/functions/payment-callback', headers: { 'content-type': 'application/json', 'stripe-signature': sig }, body: payload });
      expect(a!.status, `signature ${sig}`).toBe(400);
    }
    expect(await snapshot()).toEqual(before);
  });

  it('replays of delivered, signed events (10× each, concurrently) write nothing new and send nothing twice', async () => {
    const events = await helpers.stripeEvents();
    const completed = events.find((e) => e.payload.includes('"checkout.session.completed"') && e.payload.includes(paid.sessionId))!.payload;
    const raw = JSON.stringify(buildWebhookPayload([buildEntry(biz().wabaId, [buildInboundMessageValue(biz(), { from: paid.waId, text: 'status', wamid: makeWamid(paid.waId) })])]));
    const metaReq: Req = { method: 'POST', path: '/.netlify/functions/webhook', headers: { 'content-type': 'application/json', 'x-hub-signature-256': signMetaPayload(raw, s().env.WHATSAPP_APP_SECRET!) }, body: raw };
    expect((await send(s(), metaReq))!.status).toBe(200); // first delivery: recorded and answered
    const sentBefore = sentTo(s(), paid.waId).length;
    const before = await dbDigest();
    const stripeReq = (): Req => ({ method: 'POST', path: '/.netlify/functions/payment-callback', headers: { 'stripe-signature': stripeSig(completed) }, body: completed });
    const answers = await Promise.all([...Array.from({ length: 10 }, () => send(s(), metaReq)), ...Array.from({ length: 10 }, () => send(s(), stripeReq()))]);
    expect(answers.map((a) => a!.status)).toEqual(Array(20).fill(200));
    expect(await dbDigest()).toEqual(before);
    expect(sentTo(s(), paid.waId).length).toBe(sentBefore);
  });
});

describe('invite redirect: only ever 302 to https://wa.me/…', () => {
  const tricks = () => [
    `${token}`,
    `${token}/`,
    `${token}%2F%2Fevil.example`,
    `${token}%0d%0aLocation:%20https://evil.example`,
    `${token}%00`,
    `..%2F..%2Fapi%2Forders`,
    `%2F%2Fevil.example`,
    `https:%2F%2Fevil.example`,
    `%252F%252Fevil.example`,
    `${token.slice(0, 31)}%`,
    `${encodeURIComponent(token + '?next=https://evil.example')}`,
    `${token}?next=https://evil.example&url=//evil.example`,
    `${token}#https://evil.example`,
    `\\evil.example`,
    `${token.toUpperCase()}`,
    `${'A'.repeat(10_000)}`,
  ];
  const location = (a: { headers: Headers }) => a.headers.get('location');
  const waMe = () => new RegExp(`^https://wa\\.me/${biz().displayPhoneNumber}\\?text=[^\\s]*$`);

  it('through every trick in the token, path, encoding and headers (in process)', async () => {
    const results: string[] = [];
    for (const t of tricks())
      for (const headers of [{}, { host: 'evil.example', 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'javascript', referer: 'https://evil.example/', 'x-original-url': '//evil.example' }]) {
        const a = (await send(s(), { method: 'GET', path: `/w/invite/${t}`, headers }))!;
        results.push(`${a.status}`);
        expect([302, 404, 405, 410]).toContain(a.routed ? a.status : 404);
        if (a.status === 302) expect(location(a)).toMatch(waMe());
        else expect(location(a)).toBeNull();
      }
    expect(results.filter((r) => r === '302').length).toBeGreaterThanOrEqual(2); // the real token still works
  });

  it('over HTTP through the shop server, following nothing', async () => {
    for (const t of tricks()) {
      const r = await fetch(`${s().url}/w/invite/${t}`, { redirect: 'manual', headers: { 'x-forwarded-host': 'evil.example' } });
      expect([302, 404, 405, 410]).toContain(r.status);
      if (r.status === 302) expect(r.headers.get('location')).toMatch(waMe());
      else expect(r.headers.get('location')).toBeNull();
      await r.arrayBuffer();
    }
    for (const method of ['POST', 'PUT', 'DELETE']) expect((await fetch(`${s().url}/w/invite/${token}`, { method, redirect: 'manual' })).status).toBe(405);
  });

  it('the prefilled text carries only the reference and the token, encoded', async () => {
    const a = (await send(s(), { method: 'GET', path: `/w/invite/${token}` }))!;
    const url = new URL(location(a)!);
    expect(url.origin).toBe('https://wa.me');
    expect(url.searchParams.get('text')).toBe(`Hi, I'm contacting on behalf of order ${paid.reference}. Token: ${token}`);
  });
});

describe('tokens', () => {
  it('invite tokens carry ≥ 128 bits (nanoid alphabet, 6 bits a character) and never repeat', () => {
    const tokens = Array.from({ length: 20_000 }, () => newInviteToken());
    for (const t of tokens.slice(0, 100)) expect(t).toMatch(/^[A-Za-z0-9_-]+$/);
    const bits = Math.min(...tokens.map((t) => t.length)) * 6;
    expect(bits).toBeGreaterThanOrEqual(128);
    expect(new Set(tokens).size).toBe(tokens.length);
    expect(token.length * 6).toBeGreaterThanOrEqual(128);
    console.log(`[security] invite tokens: ${token.length} characters, ${bits} bits; 20 000 generated, 0 repeats`);
  });

  it('an unknown token costs exactly what a near miss costs (Postgres statements, Redis commands, answer)', async () => {
    const cost = async (t: string) => {
      s().neonBridge!.resetStats();
      s().upstashBridge!.resetStats();
      const a = (await send(s(), { method: 'GET', path: `/w/invite/${t}` }))!;
      return { status: a.status, body: a.text, pg: { ...s().neonBridge!.stats }, redis: { ...s().upstashBridge!.stats } };
    };
    const unknown = await cost(newInviteToken());
    // Each differs from the real token (a near miss equal to it would be the token itself: 1 in 64 for a fixed first character).
    const other = (c: string) => (c === 'A' ? 'B' : 'A');
    const nearMisses = [token.slice(0, -1) + other(token.at(-1)!), token.slice(0, 16) + newInviteToken().slice(16), other(token[0]!) + token.slice(1)];
    for (const t of nearMisses) expect(t).not.toBe(token);
    for (const t of nearMisses) expect(await cost(t)).toEqual(unknown);
    expect(unknown.status).toBe(404);
    expect(unknown.pg).toEqual({ requests: 1, queries: 1 });
    console.log(`[security] unknown vs near-miss invite token: ${JSON.stringify({ pg: unknown.pg, redis: unknown.redis })} each`);
  });
});

describe('credential comparisons are constant-time', () => {
  const sources = () => {
    const out: { file: string; text: string }[] = [];
    const walk = (dir: string) => {
      for (const name of readdirSync(dir)) {
        const p = path.join(dir, name);
        if (statSync(p).isDirectory()) walk(p);
        else if (p.endsWith('.ts')) out.push({ file: path.relative(projectRoot, p), text: readFileSync(p, 'utf8') });
      }
    };
    for (const d of ['lib', 'netlify', 'backend']) walk(path.join(projectRoot, d));
    return out;
  };
  const SECRET = /\b(ADMIN_API_KEY|WHATSAPP_VERIFY_TOKEN|VERIFY_TOKEN|BACKEND_SHARED_SECRET|WHATSAPP_APP_SECRET|STRIPE_WEBHOOK_SECRET|UPSTASH_REDIS_REST_TOKEN)\b|authorization|verify_token|signature/i;

  it('no secret or credential is compared with ===, !==, startsWith, includes or a regex', () => {
    const offenders: string[] = [];
    for (const { file, text } of sources())
      text.split('\n').forEach((line, i) => {
        const code = line.replace(/\/\/.*$|^\s*\*.*$/, '');
        if (SECRET.test(code) && /[!=]==?(?!>)|\.startsWith\(|\.endsWith\(|\.includes\(|\.indexOf\(|\.localeCompare\(/.test(code.replace(/=>/g, '')) && !/secretsEqual|timingSafeEqual|verifyHeader|headers\.(has|get)\(|typeof|=== undefined|!== undefined|\.length ===/.test(code))
          offenders.push(`${file}:${i + 1}: ${line.trim()}`);
      });
    expect(offenders).toEqual([]);
  });

  it('every place that checks a caller credential goes through secretsEqual, timingSafeEqual or Stripe’s verifier', () => {
    const checks = sources().flatMap(({ file, text }) => [...text.matchAll(/secretsEqual\(|timingSafeEqual\(|signature!?\.verifyHeader\(/g)].map((m) => `${file}:${m[0]}`));
    expect(checks).toEqual(
      expect.arrayContaining([
        'lib/http/auth.ts:secretsEqual(',
        'lib/http/webhook.ts:secretsEqual(',
        'lib/whatsapp/signature.ts:timingSafeEqual(',
        'lib/http/backend-proxy.ts:timingSafeEqual(',
        'lib/flows/stripe-event.ts:signature!.verifyHeader(',
      ]),
    );
    // secretsEqual compares fixed-length digests, so neither the length nor a common prefix shows in the time taken.
    const http = readFileSync(path.join(projectRoot, 'lib/http/respond.ts'), 'utf8');
    expect(http).toMatch(/createHash\('sha256'\)\.update\(given\)[\s\S]*timingSafeEqual\(a, b\)/);
  });
});

describe('SQL and Lua metacharacters are data, through every field', () => {
  it('stored and answered exactly as sent, nothing else changes', async () => {
    const before = { orders: (await db()`SELECT count(*)::int AS n FROM orders`)[0]!.n as number, stock: (await db()`SELECT stock FROM variants WHERE sku = 'SEC-1'`)[0]!.stock };
    const probe = await writeProbe(s());
    const problems: string[] = [];
    const check = (what: string, status: number | undefined, ok: number[]) => {
      if (status === undefined || !ok.includes(status)) problems.push(`${what}: ${status}`);
    };

    for (const [i, meta] of SQL_AND_LUA.entries()) {
      // Catalog: a product named with metacharacters (SKUs are letters, digits and . _ - / only: a metacharacter SKU is a
      // 422 on import and an unknown SKU on order), then ordered through the order API: a Lua hold on that SKU.
      const sku = `SECM-${i}`;
      const imported = await send(s(), { method: 'PUT', path: '/api/catalog', headers: { ...admin(), 'content-type': 'application/json' }, body: JSON.stringify({ products: [{ sku, name: `${meta} name`, priceMinor: 100, currency: 'EUR', stock: 3 }, { sku: meta, name: 'x', priceMinor: 100, currency: 'EUR', stock: 3 }] }) });
      check(`catalog import ${JSON.stringify(meta)}`, imported?.status, [200]);
      check(`order of SKU ${JSON.stringify(meta)}`, (await send(s(), { method: 'POST', path: '/.netlify/functions/create-order-proxy', headers: { ...admin(), 'content-type': 'application/json' }, body: JSON.stringify({ customerPhone: '+4916100000001', items: [{ sku: meta, quantity: 1 }] }) }))?.status, /^[A-Za-z0-9][A-Za-z0-9._\-/]*$/.test(meta.trim()) ? [201] : [422]);
      const phone = `+4916${String(1_000_000 + i).padStart(8, '0')}`;
      const order = await send(s(), {
        method: 'POST',
        path: '/.netlify/functions/create-order-proxy',
        headers: { ...admin(), 'content-type': 'application/json', 'idempotency-key': `k${i}${meta.replace(/[^\x21-\x7e]/g, '')}`.slice(0, 200) },
        body: JSON.stringify({ customerPhone: phone, customerName: meta.trim() || 'x', items: [{ sku, quantity: 2 }] }),
      });
      check(`order ${JSON.stringify(meta)}`, order?.status, [201]);
      if (order?.status === 201) {
        const body = JSON.parse(order.text) as { orderId: string };
        const [row] = await db()`SELECT o.items, c.profile_name FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.id = ${body.orderId}`;
        const item = (row!.items as { sku: string; name: string }[])[0]!;
        if (item.sku !== sku || !item.name.startsWith(meta.trim())) problems.push(`line stored as ${JSON.stringify(item)}`);
        if (row!.profile_name !== (meta.trim() || 'x')) problems.push(`customer name stored as ${JSON.stringify(row!.profile_name)}`);
        const catalog = JSON.parse((await send(s(), { method: 'GET', path: '/api/catalog', headers: admin() }))!.text) as { variants: { sku: string; available: number | null; stock: number }[] };
        const v = catalog.variants.find((x) => x.sku === sku);
        if (!v || v.stock !== 3 || v.available !== 1) problems.push(`stock of ${JSON.stringify(sku)}: ${JSON.stringify(v)}`);
      }

      // Admin query parameters and the order view.
      for (const p of ['customer', 'reference', 'cursor', 'paymentStatus', 'createdFrom']) {
        const a = await send(s(), { method: 'GET', path: `/api/orders?${new URLSearchParams({ [p]: meta })}`, headers: admin() });
        check(`orders?${p}=${JSON.stringify(meta)}`, a?.status, [200, 422]);
      }
      check(`order view ${JSON.stringify(meta)}`, (await send(s(), { method: 'GET', path: `/api/orders/${encodeURIComponent(meta)}`, headers: admin() }))?.status, [404, 422]);
      check(
        `offline payment ${JSON.stringify(meta)}`,
        (await send(s(), { method: 'POST', path: '/api/offline-payments', headers: { ...admin(), 'content-type': 'application/json' }, body: JSON.stringify({ customerPhone: phone, customerName: meta.trim().slice(0, 60) || 'x', amountMinor: 100, currency: 'EUR', paidAt: '2026-11-25', reference: meta.trim() || 'x' }) }))?.status,
        [200, 201, 404, 409, 422],
      );

      // A customer's WhatsApp message and name, and a Stripe event's metadata.
      const waId = `4917${String(2_000_000 + i).padStart(8, '0')}`;
      await helpers.inbound({ from: waId, name: meta, text: `buy ${meta} 1` });
      const stripe = await helpers.postStripe(helpers.eventOf('checkout.session.completed', { id: `cs_${i}`, object: 'checkout.session', status: 'complete', payment_status: 'paid', client_reference_id: meta, metadata: { order_id: meta }, amount_total: 100, currency: 'eur', payment_intent: meta }));
      check(`stripe event ${JSON.stringify(meta)}`, stripe.status, [200]);
    }

    expect(problems).toEqual([]);
    // Nothing dropped, nothing flushed: the earlier paid order, its stock and Redis' counters are as they were.
    expect((await db()`SELECT payment_status FROM orders WHERE id = ${paid.orderId}`)[0]!.payment_status).toBe('paid');
    expect((await db()`SELECT count(*)::int AS n FROM orders`)[0]!.n).toBeGreaterThanOrEqual(before.orders);
    expect((await db()`SELECT stock FROM variants WHERE sku = 'SEC-1'`)[0]!.stock).toBe(before.stock);
    const catalog = JSON.parse((await send(s(), { method: 'GET', path: '/api/catalog', headers: admin() }))!.text) as { variants: { sku: string; available: number | null; stock: number }[] };
    expect(catalog.variants.find((v) => v.sku === 'SEC-1')).toMatchObject({ stock: before.stock, available: before.stock });
    expect((await writeProbe(s())).redisChanges).toBeGreaterThan(probe.redisChanges); // the holds above did reach Redis
    console.log(`[security] ${SQL_AND_LUA.length} SQL/Lua metacharacter strings × catalog, order API, admin queries, offline payment, WhatsApp message, Stripe event: 0 problems`);
  }, 120_000);
});
