/**
 * No configured secret in any log line: a whole shop runs here (real Postgres + Redis behind the
 * bridges, the Meta and Stripe stand-ins, Netlify's local runtime) at LOG_LEVEL=debug, every
 * line written to this process's stdout/stderr (the functions' worker threads write there) and
 * every console call is captured while the shop goes through its happy paths and its error paths
 * (forged signatures, wrong keys, a missing ADMIN_API_KEY, Graph failures, a sold-out order), then
 * every captured line is scanned for the configured secret values.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { configuredSecrets } from '../lib/config.js';
import { db } from '../lib/db.js';
import { eventually, newCustomer, sentTo, useStack } from './support/stack.js';

const DATABASE_URL = 'postgresql://shop:Db-Pa55w0rd-scan-7f3@localhost/shop';
const stack = useStack({ functions: 'netlify', env: { LOG_LEVEL: 'debug', DATABASE_URL } });

const captured: string[] = [];
const originals = { out: process.stdout.write.bind(process.stdout), err: process.stderr.write.bind(process.stderr) };
beforeAll(() => {
  const tee = (original: typeof originals.out) =>
    ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      captured.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
      return (original as (...a: unknown[]) => boolean)(chunk, ...rest);
    }) as typeof process.stdout.write;
  process.stdout.write = tee(originals.out);
  process.stderr.write = tee(originals.err);
  for (const method of ['log', 'info', 'warn', 'error', 'debug'] as const) {
    const original = console[method].bind(console);
    vi.spyOn(console, method).mockImplementation((...args: unknown[]) => {
      captured.push(args.map(String).join(' '));
      original(...args);
    });
  }
});
afterAll(() => {
  process.stdout.write = originals.out;
  process.stderr.write = originals.err;
  vi.restoreAllMocks();
});

const post = (path: string, body: string, headers: Record<string, string> = {}) =>
  fetch(`${stack().url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });

describe('log lines of a whole run', () => {
  it('go through happy and error paths', async () => {
    const s = stack();
    await s.dev!.handle(new Request(`${s.url}/.netlify/functions/webhook?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1`));
    await fetch(`${s.url}/.netlify/functions/webhook?hub.mode=subscribe&hub.verify_token=${s.env.WHATSAPP_VERIFY_TOKEN}&hub.challenge=1`);
    await post('/.netlify/functions/webhook', '{"object":"whatsapp_business_account"}', { 'x-hub-signature-256': `sha256=${'0'.repeat(64)}` });
    await post('/.netlify/functions/payment-callback', '{"id":"evt_forged"}', { 'stripe-signature': 't=1,v1=00' });
    await post('/.netlify/functions/create-order-proxy', '{}', { authorization: `Bearer ${s.env.ADMIN_API_KEY}-wrong` });
    await fetch(`${s.url}/api/orders/00000000-0000-0000-0000-000000000000`, { headers: { authorization: 'Bearer wrong' } });
    await fetch(`${s.url}/w/invite/unknown-token-0000000000`);

    const { upsertCatalogProduct } = await import('../lib/catalog/index.js');
    await upsertCatalogProduct({ sku: 'SCAN-1', name: 'Scan tea', priceMinor: 500, currency: 'EUR', stock: 1 });
    const { rebuildRedisStock } = await import('../lib/orders/stock-resync.js');
    await rebuildRedisStock();

    const waId = newCustomer();
    await s.graph.sendInbound({ from: waId, name: 'Ada', text: 'menu' });
    await s.graph.sendInbound({ from: waId, name: 'Ada', text: 'buy SCAN-1 1' });
    await eventually(() => sentTo(s, waId).length >= 2, 30_000);
    // The only order so far (no customer columns here: the customer's identity is another issue's to change).
    const [order] = await db()`SELECT stripe_session_id FROM orders WHERE stripe_session_id IS NOT NULL ORDER BY created_at DESC LIMIT 1`;
    await fetch(`${s.stripe.url}/_standin/sessions/${order!.stripe_session_id}/complete`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    await eventually(() => sentTo(s, waId).length >= 4, 30_000);

    // Sold out, a Graph failure on the reply, and the APIs without ADMIN_API_KEY.
    await fetch(`${s.graph.url}/_standin/fail`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ count: 2, status: 401, code: 190, message: 'Invalid OAuth access token' }) });
    await s.graph.sendInbound({ from: newCustomer(), name: 'Bo', text: 'buy SCAN-1 1' });
    const key = process.env.ADMIN_API_KEY;
    delete process.env.ADMIN_API_KEY;
    try {
      expect((await post('/.netlify/functions/create-order-proxy', '{}', { authorization: 'Bearer x' })).status).toBe(503);
    } finally {
      process.env.ADMIN_API_KEY = key;
    }
    await new Promise((r) => setTimeout(r, 2_000)); // after-response work (waitUntil) logs too
  }, 120_000);

  it('contain no configured secret', () => {
    const secrets = configuredSecrets(stack().env).filter((s) => s.value.length >= 6);
    expect(secrets.map((s) => s.name)).toEqual(expect.arrayContaining(['DATABASE_URL', 'DATABASE_URL password', 'WHATSAPP_ACCESS_TOKEN', 'STRIPE_SECRET_KEY', 'ADMIN_API_KEY']));
    const lines = captured.join('').split('\n').filter((l) => l.trim());
    expect(lines.filter((l) => l.includes('"level":"error"') || l.includes('"level":"warn"')).length).toBeGreaterThan(3);
    const leaksIn = (ls: string[]) => ls.flatMap((line) => secrets.filter((s) => line.includes(s.value)).map((s) => `${s.name} in: ${line.slice(0, 300)}`));
    expect(leaksIn([`{"error":"connect to ${DATABASE_URL} failed"}`])).not.toEqual([]); // the scan itself can fail
    expect(leaksIn(lines)).toEqual([]);
  });
});
