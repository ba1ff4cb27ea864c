import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { localSecrets } from '../../dev/local-env.js';
import { projectRoot } from '../../dev/stack.js';

/**
 * `npm start` itself, as a developer runs it (a child process, embedded PGlite persisted in a
 * directory, a fresh Redis on every start), started and stopped several times on the same data:
 * how fast it is ready again, what a request doing no I/O costs, that a restart rebuilds Redis
 * from Postgres with the holds of open orders, and that the scheduled cleanup runs by itself.
 * Times are reported, never asserted (the machine is shared).
 */

type Shop = { url: string; readyMs: number; output: () => string; stop(): Promise<void> };
const running = new Set<Shop>();
const dataDir = mkdtempSync(path.join(tmpdir(), 'npm-start-test-'));
const pgliteDir = path.join(dataDir, 'pglite');

async function npmStart(env: Record<string, string> = {}): Promise<Shop> {
  const started = Date.now();
  // Only what a developer's shell has: no DATABASE_URL, Upstash, Meta or Stripe variables.
  const child: ChildProcess = spawn('npm', ['start'], {
    cwd: projectRoot,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH!, HOME: process.env.HOME ?? dataDir, TMPDIR: tmpdir(), PORT: '0', PGLITE_DIR: pgliteDir, ...env },
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setInterval(() => {
      const m = /running at (http:\/\/\S+)/.exec(output);
      if (m) {
        clearInterval(timer);
        resolve(m[1]!);
      } else if (child.exitCode !== null || Date.now() - started > 90_000) {
        clearInterval(timer);
        reject(new Error(`npm start did not get ready:\n${output}`));
      }
    }, 20);
  });
  const shop: Shop = {
    url,
    readyMs: Date.now() - started,
    output: () => output,
    async stop() {
      running.delete(shop);
      // Ctrl-C stops the whole process group; wait until every process of it is gone (PGlite closed).
      try {
        process.kill(-child.pid!, 'SIGINT');
      } catch {
        return;
      }
      for (const deadline = Date.now() + 30_000; Date.now() < deadline; ) {
        try {
          process.kill(-child.pid!, 0);
        } catch {
          return;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      process.kill(-child.pid!, 'SIGKILL');
    },
  };
  running.add(shop);
  return shop;
}

afterAll(async () => {
  await Promise.all([...running].map((s) => s.stop()));
  rmSync(dataDir, { recursive: true, force: true });
}, 60_000);

const admin = { authorization: `Bearer ${localSecrets.ADMIN_API_KEY}` };
const available = async (shop: Shop, sku: string): Promise<number> => {
  const { variants } = (await (await fetch(`${shop.url}/api/catalog`, { headers: admin })).json()) as { variants: { sku: string; available: number }[] };
  return variants.find((v) => v.sku === sku)!.available;
};
const orderView = async (shop: Shop, id: string) =>
  (await (await fetch(`${shop.url}/api/orders/${id}`, { headers: admin })).json()) as { order: { paymentStatus: string }; holds: { state?: string } | null };
async function createOrder(shop: Shop, sku: string, quantity: number, key: string): Promise<string> {
  const r = await fetch(`${shop.url}/.netlify/functions/create-order-proxy`, {
    method: 'POST',
    headers: { ...admin, 'content-type': 'application/json' },
    body: JSON.stringify({ customerPhone: '+4915199990001', items: [{ sku, quantity }], idempotencyKey: key }),
  });
  expect(r.status, await r.clone().text()).toBe(201);
  return ((await r.json()) as { orderId: string }).orderId;
}
async function until<T>(check: () => Promise<T | undefined | false>, timeoutMs: number): Promise<T> {
  for (const deadline = Date.now() + timeoutMs; ; ) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('npm start over time', () => {
  let openOrder = '';
  let availableWithHold = 0;

  it('a first start creates the data; an order holds stock', async () => {
    const shop = await npmStart({ LOCAL_SCHEDULE: 'off' });
    console.log(`npm start, first start (creates PGlite, migrates, seeds): ready in ${shop.readyMs} ms`);
    expect(shop.output()).toContain('Schedule   off');
    const before = await available(shop, 'TEA-GREEN');
    openOrder = await createOrder(shop, 'TEA-GREEN', 3, 'npm-start-open-order');
    availableWithHold = await available(shop, 'TEA-GREEN');
    expect(availableWithHold).toBe(before - 3);
    await shop.stop();
  }, 150_000);

  it('a restart (Redis empty again) keeps the open order\'s hold and the availability; a request doing no I/O is cheap', async () => {
    const shop = await npmStart({ LOCAL_SCHEDULE: 'off' });
    console.log(`npm start, second start (data kept): ready in ${shop.readyMs} ms`);
    expect(shop.output()).toMatch(/rebuilt from Postgres: \d+ SKUs, 1 holds of open orders/);
    expect(await available(shop, 'TEA-GREEN')).toBe(availableWithHold);
    const view = await orderView(shop, openOrder);
    expect(view.order.paymentStatus).toBe('pending');
    expect(view.holds?.state).toBe('held');

    const handshake = `${shop.url}/.netlify/functions/webhook?hub.mode=subscribe&hub.verify_token=${localSecrets.WHATSAPP_VERIFY_TOKEN}&hub.challenge=42`;
    const times: number[] = [];
    for (let i = 0; i < 21; i++) {
      const t = performance.now();
      const r = await fetch(handshake);
      expect(await r.text()).toBe('42');
      times.push(performance.now() - t);
    }
    times.sort((a, b) => a - b);
    console.log(`npm start, verify handshake (no I/O): median ${times[10]!.toFixed(1)} ms, max ${times[20]!.toFixed(1)} ms over 21 requests`);
    await shop.stop();
  }, 150_000);

  it('runs the scheduled cleanup by itself: a lapsed hold expires its order and returns its stock, a live one stays', async () => {
    const shop = await npmStart({ LOCAL_SCHEDULE_EVERY_MS: '300', RESERVATION_TTL_SECONDS: '1' });
    expect(shop.output()).toContain('reservation-cleanup every 300 ms');
    const before = await available(shop, 'TEA-CHAI');
    const lapsing = await createOrder(shop, 'TEA-CHAI', 2, 'npm-start-lapsing-order');
    // Nobody calls the cleanup: the schedule does, once the 1 s hold has lapsed.
    await until(async () => (await orderView(shop, lapsing)).order.paymentStatus === 'expired', 30_000);
    expect(await available(shop, 'TEA-CHAI')).toBe(before);
    // The first order's hold (10 minutes) is untouched by the runs.
    expect((await orderView(shop, openOrder)).order.paymentStatus).toBe('pending');
    expect(await available(shop, 'TEA-GREEN')).toBe(availableWithHold);
    await shop.stop();
  }, 150_000);
});
