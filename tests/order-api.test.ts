import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { faults } from '../dev/faults.js';
import { freePort } from '../dev/services/postgres.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildInboundPayload, makeWamid, serializeMetaPayload, signMetaPayload } from '../dev/standins/graph.js';
import { projectRoot } from '../dev/stack.js';
import { signBackendRequest } from '../lib/http/backend-proxy.js';
import { upsertCatalogProduct } from '../lib/catalog/index.js';
import { db } from '../lib/db.js';
import { availableStock } from '../lib/stock/index.js';
import { redis } from '../lib/redis.js';
import { bodyOf, eventually, newCustomer, sentTo, useStack } from './support/stack.js';

/**
 * The order API over HTTP in both modes: inline (the function creates the order) and proxy (the
 * function forwards, signed, to a real `npm run backend` process started here). The function's
 * mode is switched per request through process.env, which the local runtime hands to each
 * invocation; both modes share one Postgres/Redis, so their answers can be compared directly.
 */


const backendPort = await freePort();
const backendUrl = `http://127.0.0.1:${backendPort}`;
const SHARED_SECRET = 'order-api-test-shared-secret';

const stack = useStack({ env: { BACKEND_MODE: 'inline', BACKEND_URL: backendUrl, BACKEND_SHARED_SECRET: SHARED_SECRET } });

type Mode = 'inline' | 'proxy';
type Reply = { status: number; body: Record<string, any>; headers: Headers; ms: number };

function startBackend(port: number): { child: ChildProcess; output: () => string } {
  let output = '';
  // What `npm run backend` runs: one node process with tsx's loader, so SIGTERM reaches the server itself.
  const child = spawn(process.execPath, ['--import', 'tsx', 'backend/server.ts'], {
    cwd: projectRoot,
    env: { ...process.env, ...stack().env, PORT: String(port), BACKEND_SHARED_SECRET: SHARED_SECRET, LOG_LEVEL: 'warn', BACKEND_DRAIN_SECONDS: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  return { child, output: () => output };
}

async function waitHealthy(url: string): Promise<void> {
  await eventually(async () => (await fetch(`${url}/healthz`).catch(() => null))?.status === 200, 30_000, 100);
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => (child.exitCode !== null ? resolve(child.exitCode) : child.once('exit', (code) => resolve(code))));
}

let backend: ReturnType<typeof startBackend>;
// Accepts connections and never answers: a backend that hangs.
const hung = new Set<net.Socket>();
const hangingServer = net.createServer((socket) => void hung.add(socket));
let hangingUrl = '';

beforeAll(async () => {
  await upsertCatalogProduct({ sku: 'API-TEA', name: 'Sencha', priceMinor: 1250, currency: 'EUR', stock: 500 });
  await upsertCatalogProduct({ sku: 'API-MUG', name: 'Mug', priceMinor: 800, currency: 'EUR', stock: 500 });
  await upsertCatalogProduct({ sku: 'API-RARE', name: 'Rare tea', priceMinor: 9900, currency: 'EUR', stock: 2 });
  await upsertCatalogProduct({ sku: 'API-USD', name: 'Import', priceMinor: 500, currency: 'USD', stock: 50 });
  backend = startBackend(backendPort);
  await waitHealthy(backendUrl);
  await new Promise<void>((resolve) => hangingServer.listen(0, '127.0.0.1', () => resolve()));
  hangingUrl = `http://127.0.0.1:${(hangingServer.address() as net.AddressInfo).port}`;
  // Warm-up: the local runtime's first invocation of a function waits for its build.
  const warm = await invokeFunction(`${stack().url}/.netlify/functions/create-order-proxy`, { method: 'GET' });
  expect(warm.response.status).toBe(405);
}, 120_000);

afterAll(async () => {
  for (const s of hung) s.destroy();
  hangingServer.close();
  if (backend && backend.child.exitCode === null) {
    backend.child.kill('SIGTERM');
    await exited(backend.child);
  }
});

async function withEnv<T>(vars: Record<string, string | undefined>, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  for (const [k, v] of Object.entries(vars)) (v === undefined ? delete process.env[k] : (process.env[k] = v));
  try {
    return await fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) (v === undefined ? delete process.env[k] : (process.env[k] = v));
  }
}

/**
 * The local runtime's builds live in the shared .netlify/functions-serve; another test process
 * starting its stack rebuilds them, and an invocation in that instant fails to load the module
 * (the function never ran; also when a source edit triggers a rebuild). Only that answer is
 * retried, for up to ~30 s.
 */
async function invokeFunction(url: string, init: RequestInit): Promise<{ response: Response; text: string; ms: number }> {
  const started = Date.now();
  const response = await fetch(url, init);
  const text = await response.text();
  return { response, text, ms: Date.now() - started };
}

async function call(mode: Mode, body: unknown, headers: Record<string, string> = {}): Promise<Reply> {
  return withEnv({ BACKEND_MODE: mode }, async () => {
    const { response: r, text, ms } = await invokeFunction(`${stack().url}/.netlify/functions/create-order-proxy`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack().env.ADMIN_API_KEY}`, 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    let parsed: Record<string, any>;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new Error(`${mode}: non-JSON ${r.status} answer: ${text.slice(0, 200)}`);
    }
    return { status: r.status, body: parsed, headers: r.headers, ms };
  });
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** Status, replay header and body with the values that differ per order replaced by their kind. */
function shape(r: Reply) {
  const body = { ...r.body };
  if (typeof body.orderId === 'string' && UUID.test(body.orderId)) body.orderId = '<uuid>';
  if (typeof body.reference === 'string' && /^[2-9A-HJ-NP-Z]{8}$/.test(body.reference)) body.reference = '<reference>';
  if (typeof body.checkoutUrl === 'string' && body.checkoutUrl.startsWith(`${stack().stripe.url}/checkout/cs_test_`)) body.checkoutUrl = '<checkout-url>';
  if (typeof body.holdExpiresAt === 'string' && !Number.isNaN(Date.parse(body.holdExpiresAt))) body.holdExpiresAt = '<timestamp>';
  return { status: r.status, replayed: r.headers.get('idempotent-replayed'), body };
}

/** Runs the same scenario in both modes (fresh customers and keys per mode) and expects identical answers. */
async function bothModes(scenario: (mode: Mode) => Promise<Reply>): Promise<Record<Mode, Reply>> {
  const inline = await scenario('inline');
  const proxy = await scenario('proxy');
  expect(shape(proxy)).toEqual(shape(inline));
  return { inline, proxy };
}

const phoneOf = (waId: string) => `+${waId}`;
let keyCounter = 0;
const newKey = () => `key-${process.pid}-${++keyCounter}-${Date.now()}`;

describe('create-order-proxy: the same answers inline and through the backend', () => {
  it('creates an order: 201 with the order, its Checkout Session and its hold', async () => {
    const { inline, proxy } = await bothModes((mode) =>
      call(mode, {
        customerPhone: phoneOf(newCustomer()),
        customerName: 'Ada',
        items: [
          { sku: 'API-TEA', quantity: 2 },
          { sku: 'API-MUG', quantity: 1 },
        ],
        idempotencyKey: newKey(),
      }),
    );
    for (const r of [inline, proxy]) {
      expect(r.status).toBe(201);
      expect(r.headers.get('idempotent-replayed')).toBeNull();
      expect(r.body).toMatchObject({ status: 'pending', totalMinor: 2 * 1250 + 800, currency: 'EUR' });
      expect(Object.keys(r.body).sort()).toEqual(['checkoutUrl', 'currency', 'holdExpiresAt', 'orderId', 'reference', 'shippingMode', 'status', 'totalMinor']);
      const ttl = Date.parse(r.body.holdExpiresAt) - Date.now();
      expect(ttl).toBeGreaterThan(500_000);
      expect(ttl).toBeLessThanOrEqual(600_000);
      const [row] = await db()`SELECT source, source_key, stripe_session_id, checkout_url, payment_status FROM orders WHERE id = ${r.body.orderId}`;
      expect(row).toMatchObject({ source: 'api', payment_status: 'pending', checkout_url: r.body.checkoutUrl });
      const session = stack().stripe.sessions().find((s) => s.id === row!.stripe_session_id)!;
      expect(session).toMatchObject({ status: 'open', client_reference_id: r.body.orderId, amount_total: 3300 });
      expect(await redis().hget(`hold:${r.body.orderId}`, 'state')).toBe('held');
    }
    expect(inline.body.orderId).not.toBe(proxy.body.orderId);
  });

  it('the same idempotency key (body or Idempotency-Key header) returns the same order, held once', async () => {
    const { inline, proxy } = await bothModes(async (mode) => {
      const key = newKey();
      const body = { customerPhone: phoneOf(newCustomer()), items: [{ sku: 'API-TEA', quantity: 3 }] };
      const before = (await availableStock(['API-TEA'])).get('API-TEA')!;
      const first = await call(mode, { ...body, idempotencyKey: key });
      const second = await call(mode, body, { 'idempotency-key': key });
      const third = await call(mode, { ...body, idempotencyKey: key }, { 'idempotency-key': key });
      expect(first.status).toBe(201);
      for (const replay of [second, third]) {
        expect(replay.status).toBe(201);
        expect(replay.headers.get('idempotent-replayed')).toBe('true');
        expect(replay.body).toEqual(first.body);
      }
      expect((await availableStock(['API-TEA'])).get('API-TEA')).toBe(before - 3);
      const rows = await db()`SELECT id FROM orders WHERE source_key = ${`api:${key}`}`;
      expect(rows.map((r) => r.id)).toEqual([first.body.orderId]);
      expect(stack().stripe.sessions().filter((s) => s.client_reference_id === first.body.orderId)).toHaveLength(1);
      return second;
    });
    expect(inline.body.orderId).not.toBe(proxy.body.orderId);
  });

  it('a key is one order whichever mode sees it (created inline, replayed through the backend)', async () => {
    const key = newKey();
    const body = { customerPhone: phoneOf(newCustomer()), items: [{ sku: 'API-MUG', quantity: 1 }], idempotencyKey: key };
    const first = await call('inline', body);
    const again = await call('proxy', body);
    expect(first.status).toBe(201);
    expect(again.status).toBe(201);
    expect(again.body).toEqual(first.body);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
  });

  it('without a key every request is a new order', async () => {
    await bothModes(async (mode) => {
      const body = { customerPhone: phoneOf(newCustomer()), items: [{ sku: 'API-MUG', quantity: 1 }] };
      const a = await call(mode, body);
      const b = await call(mode, body);
      expect([a.status, b.status]).toEqual([201, 201]);
      expect(a.body.orderId).not.toBe(b.body.orderId);
      return b;
    });
  });

  it('a request without a key is answered with the key it was given; a retry with it is the same order', async () => {
    await bothModes(async (mode) => {
      const body = { customerPhone: phoneOf(newCustomer()), items: [{ sku: 'API-MUG', quantity: 1 }] };
      const first = await call(mode, body);
      expect(first.status).toBe(201);
      const key = first.headers.get('idempotency-key')!;
      expect(key).toMatch(UUID);
      const retry = await call(mode, body, { 'idempotency-key': key });
      expect(retry.status).toBe(201);
      expect(retry.headers.get('idempotent-replayed')).toBe('true');
      expect(retry.headers.get('idempotency-key')).toBe(key);
      expect(retry.body).toEqual(first.body);
      expect(await db()`SELECT id FROM orders WHERE source_key = ${`api:${key}`}`).toHaveLength(1);
      return retry;
    });
  });

  it('409 out_of_stock names the SKU and how many are left; nothing is held', async () => {
    const before = await availableStock(['API-RARE', 'API-TEA']);
    const { inline } = await bothModes((mode) =>
      call(mode, {
        customerPhone: phoneOf(newCustomer()),
        items: [
          { sku: 'API-TEA', quantity: 1 },
          { sku: 'API-RARE', quantity: 3 },
        ],
        idempotencyKey: newKey(),
      }),
    );
    expect(inline.status).toBe(409);
    expect(inline.body).toEqual({ error: 'out_of_stock', message: 'Not enough stock for this order.', shortages: [{ sku: 'API-RARE', available: 2 }] });
    expect(await availableStock(['API-RARE', 'API-TEA'])).toEqual(before);
  });

  it.each([
    ['a phone that is not E.164', { customerPhone: 'call me', items: [{ sku: 'API-TEA', quantity: 1 }] }, ['customerPhone']],
    ['no items', { customerPhone: '+4915112345678', items: [] }, ['items']],
    ['a zero and a fractional quantity', { customerPhone: '+4915112345678', items: [{ sku: 'API-TEA', quantity: 0 }, { sku: 'API-MUG', quantity: 1.5 }] }, ['items[0].quantity', 'items[1].quantity']],
    ['51 lines', { customerPhone: '+4915112345678', items: Array.from({ length: 51 }, () => ({ sku: 'API-TEA', quantity: 1 })) }, ['items']],
    ['a missing sku and phone', { items: [{ quantity: 1 }] }, ['customerPhone', 'items[0].sku']],
    ['a quantity over the per-line limit', { customerPhone: '+4915112345678', items: [{ sku: 'API-TEA', quantity: 11 }] }, ['items[0].quantity']],
    ['an unknown SKU', { customerPhone: '+4915112345678', items: [{ sku: 'API-TEA', quantity: 1 }, { sku: 'NOPE-1', quantity: 1 }] }, ['items[1].sku']],
    ['two currencies', { customerPhone: '+4915112345678', items: [{ sku: 'API-TEA', quantity: 1 }, { sku: 'API-USD', quantity: 1 }] }, ['items']],
    ['a JSON array', [], ['(body)']],
  ])('422 invalid_request with field errors for %s', async (_name, body, paths) => {
    const { inline } = await bothModes((mode) => call(mode, body));
    expect(inline.status).toBe(422);
    expect(inline.body.error).toBe('invalid_request');
    expect(inline.body.fields.map((f: { path: string }) => f.path)).toEqual(paths);
    for (const f of inline.body.fields) expect(typeof f.message).toBe('string');
  });

  it('422 for an unknown SKU names it', async () => {
    const { proxy } = await bothModes((mode) => call(mode, { customerPhone: phoneOf(newCustomer()), items: [{ sku: 'GHOST-9', quantity: 1 }] }));
    expect(proxy.body.fields).toEqual([{ path: 'items[0].sku', message: 'unknown SKU "GHOST-9"' }]);
  });

  it('422 when a key is reused for a different request, or body and header keys differ', async () => {
    await bothModes(async (mode) => {
      const key = newKey();
      const waId = newCustomer();
      const first = await call(mode, { customerPhone: phoneOf(waId), items: [{ sku: 'API-MUG', quantity: 1 }], idempotencyKey: key });
      expect(first.status).toBe(201);
      const other = await call(mode, { customerPhone: phoneOf(waId), items: [{ sku: 'API-MUG', quantity: 2 }], idempotencyKey: key });
      expect(other.status).toBe(422);
      expect(other.body.fields).toEqual([{ path: 'idempotencyKey', message: 'was already used for a different order request' }]);
      const mismatch = await call(mode, { customerPhone: phoneOf(waId), items: [{ sku: 'API-MUG', quantity: 1 }], idempotencyKey: key }, { 'idempotency-key': `${key}-x` });
      expect(mismatch.status).toBe(422);
      expect(mismatch.body.fields[0].path).toBe('idempotencyKey');
      return other;
    });
  });

  it('413 for a body over 64 KiB, before it is parsed or forwarded', async () => {
    await bothModes(async (mode) => {
      const r = await call(mode, JSON.stringify({ customerPhone: phoneOf(newCustomer()), items: [{ sku: 'API-MUG', quantity: 1 }], customerName: 'x'.repeat(64 * 1024) }));
      expect(r.status).toBe(413);
      expect(r.body).toEqual({ error: 'payload_too_large', message: expect.any(String), maxBytes: 64 * 1024 });
      return r;
    });
  });

  it('400 for a body that is not JSON', async () => {
    const { inline } = await bothModes((mode) => call(mode, '{"customerPhone": "+4915112345678", '));
    expect(inline.status).toBe(400);
    expect(inline.body.error).toBe('invalid_json');
  });

  it('401 without the right bearer key, in both modes, before anything is parsed or forwarded', async () => {
    for (const mode of ['inline', 'proxy'] as const) {
      for (const authorization of [undefined, 'Bearer wrong-key', `Basic ${stack().env.ADMIN_API_KEY}`, `Bearer ${stack().env.ADMIN_API_KEY}x`]) {
        const { response: r, text } = await withEnv({ BACKEND_MODE: mode }, () =>
          invokeFunction(`${stack().url}/.netlify/functions/create-order-proxy`, {
            method: 'POST',
            headers: authorization ? { authorization } : {},
            body: JSON.stringify({ customerPhone: '+4915112345678', items: [{ sku: 'API-TEA', quantity: 1 }] }),
          }),
        );
        expect(r.status).toBe(401);
        expect(JSON.parse(text)).toEqual({ error: 'unauthorized', message: 'Authorization: Bearer <ADMIN_API_KEY> required' });
      }
    }
  });

  it('notify: true sends the payment link on WhatsApp once', async () => {
    await bothModes(async (mode) => {
      const waId = newCustomer();
      const key = newKey();
      const body = { customerPhone: phoneOf(waId), items: [{ sku: 'API-TEA', quantity: 1 }], idempotencyKey: key, notify: true };
      const r = await call(mode, body);
      expect(r.status).toBe(201);
      await call(mode, body); // a replay sends nothing new
      const [message] = await eventually(() => (sentTo(stack(), waId).length ? sentTo(stack(), waId) : null));
      await new Promise((res) => setTimeout(res, 300));
      expect(sentTo(stack(), waId)).toHaveLength(1);
      const interactive = bodyOf(message!).interactive!;
      expect(interactive.type).toBe('cta_url');
      expect(JSON.stringify(interactive)).toContain(r.body.checkoutUrl);
      return r;
    });
  });

  it('without notify nothing is sent on WhatsApp', async () => {
    const waId = newCustomer();
    const r = await call('proxy', { customerPhone: phoneOf(waId), items: [{ sku: 'API-TEA', quantity: 1 }] });
    expect(r.status).toBe(201);
    await new Promise((res) => setTimeout(res, 300));
    expect(sentTo(stack(), waId)).toHaveLength(0);
  });
});

describe('proxy mode failures', () => {
  const request = () => ({ customerPhone: phoneOf(newCustomer()), items: [{ sku: 'API-MUG', quantity: 1 }], idempotencyKey: newKey() });

  it('backend down → 502 with a JSON error, quickly, and nothing is created', async () => {
    const closedPort = await freePort();
    const body = request();
    const r = await withEnv({ BACKEND_URL: `http://127.0.0.1:${closedPort}` }, () => call('proxy', body));
    expect(r.status).toBe(502);
    expect(r.body).toMatchObject({ error: 'backend_unavailable' });
    expect(r.ms).toBeLessThan(3_000);
    expect(await db()`SELECT 1 FROM orders WHERE source_key = ${`api:${body.idempotencyKey}`}`).toHaveLength(0);
  });

  it('backend slow → 504 within the forward timeout (8 s), never a hung function', async () => {
    const r = await withEnv({ BACKEND_URL: hangingUrl }, () => call('proxy', request()));
    expect(r.status).toBe(504);
    expect(r.body).toMatchObject({ error: 'backend_timeout' });
    expect(r.headers.get('idempotency-key')).toBe(r.body.idempotencyKey);
    expect(r.ms).toBeGreaterThanOrEqual(7_500);
    // 8 s plus the local runtime's own start-up of the invocation; a hung forward would run into the 30 s function limit.
    expect(r.ms).toBeLessThan(15_000);
  }, 30_000);

  it('a timeout, then a retry with the key the 504 returned: one order, held once', async () => {
    const customer = newCustomer();
    const body = { customerPhone: phoneOf(customer), items: [{ sku: 'API-TEA', quantity: 2 }] };
    const before = (await availableStock(['API-TEA'])).get('API-TEA')!;
    // The backend is slow: its Stripe call waits until released, past the proxy's timeout (1 s here).
    const stripe = faults.stall('stripe', /^POST \/v1\/checkout\/sessions$/);
    const timedOut = await withEnv({ BACKEND_TIMEOUT_MS: '1000' }, () => call('proxy', body));
    expect(timedOut.status).toBe(504);
    const key = timedOut.headers.get('idempotency-key')!;
    expect(key).toMatch(UUID);
    expect(timedOut.body).toMatchObject({ error: 'backend_timeout', idempotencyKey: key, message: expect.stringContaining(`Idempotency-Key: ${key}`) });
    await stripe.reached;
    stripe.release();
    // The backend went on and made the order the caller never heard about.
    const [made] = await eventually(async () => {
      const rows = await db()`SELECT id FROM orders WHERE source_key = ${`api:${key}`} AND stripe_session_id IS NOT NULL`;
      return rows.length ? rows : null;
    });
    const retry = await call('proxy', body, { 'idempotency-key': key });
    expect(retry.status).toBe(201);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(retry.body.orderId).toBe(made!.id);
    const orders = await db()`SELECT o.id FROM orders o JOIN customers c ON c.id = o.customer_id WHERE c.wa_id = ${customer}`;
    expect(orders.map((o) => o.id)).toEqual([made!.id]);
    expect((await availableStock(['API-TEA'])).get('API-TEA')).toBe(before - 2);
  }, 30_000);

  it('BACKEND_MODE=proxy without BACKEND_URL or BACKEND_SHARED_SECRET fails naming the variable', async () => {
    const noUrl = await withEnv({ BACKEND_URL: undefined }, () => call('proxy', request()));
    expect(noUrl.status).toBe(500);
    expect(noUrl.body).toMatchObject({ error: 'misconfigured', message: expect.stringContaining('BACKEND_URL') });
    const noSecret = await withEnv({ BACKEND_SHARED_SECRET: undefined }, () => call('proxy', request()));
    expect(noSecret.status).toBe(500);
    expect(noSecret.body.variables.join(' ')).toContain('BACKEND_SHARED_SECRET');
    expect(JSON.stringify(noSecret.body)).not.toContain(SHARED_SECRET);
  });

  it('a backend with another shared secret → 502 (not the caller’s 401)', async () => {
    const r = await withEnv({ BACKEND_SHARED_SECRET: 'not-the-backends-secret' }, () => call('proxy', request()));
    expect(r.status).toBe(502);
    expect(r.body.error).toBe('backend_unavailable');
  });
});

describe('the dedicated backend', () => {
  const raw = () => JSON.stringify({ customerPhone: phoneOf(newCustomer()), items: [{ sku: 'API-MUG', quantity: 1 }] });
  const post = (body: string, headers: Record<string, string>) =>
    fetch(`${backendUrl}/create-order`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  const ordersNow = async () => Number((await db()`SELECT count(*)::int AS n FROM orders`)[0]!.n);

  it('accepts a correctly signed request (control for the refusals below)', async () => {
    const body = raw();
    const r = await post(body, signBackendRequest(SHARED_SECRET, body));
    expect(r.status).toBe(201);
    expect((await r.json()).status).toBe('pending');
  });

  it.each([
    ['unsigned', (body: string) => ({ body, headers: {} })],
    ['a tampered body', (body: string) => ({ body: body.replace('"quantity":1', '"quantity":9'), headers: signBackendRequest(SHARED_SECRET, body) })],
    ['a tampered signature', (body: string) => {
      const h = signBackendRequest(SHARED_SECRET, body);
      const sig = h['x-backend-signature']!;
      return { body, headers: { ...h, 'x-backend-signature': sig.slice(0, -1) + (sig.endsWith('0') ? '1' : '0') } };
    }],
    ['a nonce changed after signing', (body: string) => {
      const h = signBackendRequest(SHARED_SECRET, body);
      return { body, headers: { ...h, 'x-backend-nonce': 'ab'.repeat(16) } };
    }],
    ['a timestamp changed after signing', (body: string) => {
      const h = signBackendRequest(SHARED_SECRET, body);
      return { body, headers: { ...h, 'x-backend-timestamp': String(Number(h['x-backend-timestamp']) + 1) } };
    }],
    ['another secret', (body: string) => ({ body, headers: signBackendRequest('another-secret', body) })],
    ['a stale timestamp (6 minutes old)', (body: string) => ({ body, headers: signBackendRequest(SHARED_SECRET, body, Date.now() - 6 * 60_000) })],
    ['a timestamp 6 minutes in the future', (body: string) => ({ body, headers: signBackendRequest(SHARED_SECRET, body, Date.now() + 6 * 60_000) })],
  ])('refuses %s with 401 and creates nothing', async (_name, make) => {
    const before = await ordersNow();
    const { body, headers } = make(raw());
    const r = await post(body, headers);
    expect(r.status).toBe(401);
    expect(await r.json()).toEqual({ error: 'invalid_signature', message: expect.any(String) });
    expect(await ordersNow()).toBe(before);
  });

  it('refuses a replay of a request it already accepted', async () => {
    const body = raw();
    const headers = signBackendRequest(SHARED_SECRET, body);
    expect((await post(body, headers)).status).toBe(201);
    const before = await ordersNow();
    const replay = await post(body, headers);
    expect(replay.status).toBe(401);
    expect(await ordersNow()).toBe(before);
  });

  it('serves /healthz and the same webhook route as the functions (verification and a signed message)', async () => {
    expect(await (await fetch(`${backendUrl}/healthz`)).json()).toEqual({ ok: true });
    const verify = await fetch(`${backendUrl}/.netlify/functions/webhook?hub.mode=subscribe&hub.verify_token=${stack().env.WHATSAPP_VERIFY_TOKEN}&hub.challenge=77`);
    expect(await verify.text()).toBe('77');

    const waId = newCustomer();
    const payload = serializeMetaPayload(
      buildInboundPayload(
        { wabaId: '1', phoneNumberId: stack().env.WHATSAPP_PHONE_NUMBER_ID!, displayPhoneNumber: '15550100001' },
        { from: waId, name: 'Bo', text: 'menu', wamid: makeWamid(waId) },
      ),
    );
    const unsigned = await fetch(`${backendUrl}/.netlify/functions/webhook`, { method: 'POST', body: payload });
    expect(unsigned.status).toBe(401);
    const r = await fetch(`${backendUrl}/.netlify/functions/webhook`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-hub-signature-256': signMetaPayload(payload, stack().env.WHATSAPP_APP_SECRET!) },
      body: payload,
    });
    expect(r.status).toBe(200);
    // The reply is sent after the 200, from work handed to context.waitUntil.
    await eventually(() => sentTo(stack(), waId).length === 1);
  });

  it('on SIGTERM finishes the work handed to waitUntil, then exits 0', async () => {
    const port = await freePort();
    const second = startBackend(port);
    const url = `http://127.0.0.1:${port}`;
    await waitHealthy(url);
    const waId = newCustomer();
    const payload = serializeMetaPayload(
      buildInboundPayload(
        { wabaId: '1', phoneNumberId: stack().env.WHATSAPP_PHONE_NUMBER_ID!, displayPhoneNumber: '15550100001' },
        { from: waId, text: 'menu', wamid: makeWamid(waId) },
      ),
    );
    const r = await fetch(`${url}/.netlify/functions/webhook`, {
      method: 'POST',
      headers: { 'x-hub-signature-256': signMetaPayload(payload, stack().env.WHATSAPP_APP_SECRET!) },
      body: payload,
    });
    expect(r.status).toBe(200);
    second.child.kill('SIGTERM');
    expect(await exited(second.child)).toBe(0);
    // It exited only after the reply went out.
    expect(sentTo(stack(), waId)).toHaveLength(1);
    expect(second.output()).not.toContain('"level":"error"');
    expect((await fetch(`${url}/healthz`).catch(() => null))?.status).toBeUndefined();
  }, 60_000);
});
