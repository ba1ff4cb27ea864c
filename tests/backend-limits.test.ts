/**
 * The dedicated backend (`npm run backend`, started here as its own process) as a hostile client
 * sees it (issue 31): oversized bodies are refused with 413 before they are read, or as soon as a
 * chunked body passes the route's limit, while the process's resident memory (its /proc status)
 * stays near its idle size; routes without a body read none; after SIGTERM health checks get 503
 * during the drain window, then it exits 0. None of this reaches Postgres or Redis: the variables
 * point nowhere.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../dev/services/postgres.js';
import { projectRoot } from '../dev/stack.js';
import { BODY_LIMITS, readBody } from '../lib/http/body.js';
import { DomainError } from '../lib/http/errors.js';
import { eventually } from './support/stack.js';

const MiB = 1024 * 1024;
const HUGE = 300 * MiB;

const env = {
  PATH: process.env.PATH!,
  BACKEND_SHARED_SECRET: 'backend-limits-secret',
  DATABASE_URL: 'postgresql://shop:pw@127.0.0.1:9/shop',
  UPSTASH_REDIS_REST_URL: 'http://127.0.0.1:9',
  UPSTASH_REDIS_REST_TOKEN: 'tok',
  WHATSAPP_PHONE_NUMBER_ID: '100000000000001',
  WHATSAPP_ACCESS_TOKEN: 'EAAtest',
  WHATSAPP_APP_SECRET: 'app-secret',
  WHATSAPP_VERIFY_TOKEN: 'verify',
  WHATSAPP_BUSINESS_NUMBER_E164: '+15550100001',
  STRIPE_SECRET_KEY: 'sk_test_x',
  STRIPE_WEBHOOK_SECRET: 'whsec_x',
  APP_BASE_URL: 'https://shop.example',
  LOG_LEVEL: 'warn',
  BACKEND_DRAIN_SECONDS: '3',
};

function start(port: number): { child: ChildProcess; output: () => string } {
  let output = '';
  const child = spawn(process.execPath, ['--import', 'tsx', 'backend/server.ts'], { cwd: projectRoot, env: { ...env, PORT: String(port) }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  return { child, output: () => output };
}

const exited = (child: ChildProcess) =>
  new Promise<number | null>((resolve) => (child.exitCode !== null ? resolve(child.exitCode) : child.once('exit', (code) => resolve(code))));

/** The process's resident set (now) and its peak (high-water mark), in bytes, from /proc. */
function memory(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)![1]) * 1024;
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
}

type Sent = { status: number; headers: http.IncomingHttpHeaders; body: string; bytesSent: number };

/**
 * POSTs up to `total` bytes from a generator (one 1 MiB buffer, reused: nothing is allocated per
 * byte), with Content-Length or chunked, and stops sending once the answer arrives.
 */
function hugePost(port: number, path: string, total: number, chunked: boolean, headers: Record<string, string> = {}): Promise<Sent> {
  const block = Buffer.alloc(MiB, 'x'.charCodeAt(0));
  function* blocks() {
    for (let sent = 0; sent < total; sent += MiB) yield sent + MiB <= total ? block : block.subarray(0, total - sent);
  }
  return new Promise((resolve, reject) => {
    let bytesSent = 0;
    let answered = false;
    const req = http.request({
      host: '127.0.0.1',
      port,
      path,
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(chunked ? { 'transfer-encoding': 'chunked' } : { 'content-length': String(total) }), ...headers },
    });
    req.on('response', (res) => {
      answered = true;
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => {
        req.destroy();
        resolve({ status: res.statusCode!, headers: res.headers, body, bytesSent });
      });
      res.on('error', () => resolve({ status: res.statusCode!, headers: res.headers, body, bytesSent }));
    });
    req.on('error', (error) => answered || reject(error));
    const source = blocks();
    const pump = () => {
      for (;;) {
        if (answered || req.destroyed) return;
        const next = source.next();
        if (next.done) return void req.end();
        bytesSent += next.value.length;
        if (!req.write(next.value)) return void req.once('drain', pump);
      }
    };
    pump();
  });
}

let port: number;
let backend: ReturnType<typeof start>;
let idle: { rss: number; peak: number };

beforeAll(async () => {
  port = await freePort();
  backend = start(port);
  await eventually(async () => (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => null))?.status === 200, 30_000, 100);
  // Warm the paths the test takes (the order API's refusal, the webhook's), then take the idle size.
  for (let i = 0; i < 3; i++) {
    await fetch(`http://127.0.0.1:${port}/create-order`, { method: 'POST', body: '{}' });
    await fetch(`http://127.0.0.1:${port}/webhook`, { method: 'POST', body: '{}' });
  }
  idle = memory(backend.child.pid!);
}, 60_000);

afterAll(async () => {
  if (backend?.child.exitCode === null) backend.child.kill('SIGKILL');
});

/** Within 32 MiB of idle, now and at its peak: the 300 MiB were never held. */
function expectNearIdle(): void {
  const now = memory(backend.child.pid!);
  expect(now.rss - idle.rss).toBeLessThan(32 * MiB);
  expect(now.peak - Math.max(idle.peak, idle.rss)).toBeLessThan(32 * MiB);
}

describe('the dedicated backend refuses oversized bodies before reading them', () => {
  it('a 300 MiB unsigned POST /create-order with Content-Length: 413 from the header, memory near idle', async () => {
    const r = await hugePost(port, '/create-order', HUGE, false);
    expect(r.status).toBe(413);
    expect(JSON.parse(r.body)).toMatchObject({ error: 'payload_too_large', maxBytes: 64 * 1024 });
    expect(r.headers.connection).toBe('close');
    expect(r.bytesSent).toBeLessThan(HUGE);
    expectNearIdle();
  });

  it('a 300 MiB chunked POST /create-order: reading stops at the limit, 413, memory near idle', async () => {
    const r = await hugePost(port, '/create-order', HUGE, true);
    expect(r.status).toBe(413);
    expect(JSON.parse(r.body)).toMatchObject({ error: 'payload_too_large', maxBytes: 64 * 1024 });
    expect(r.headers.connection).toBe('close');
    expect(r.bytesSent).toBeLessThan(HUGE);
    expectNearIdle();
  });

  it('the webhook route: a 300 MiB chunked POST is 413 at its limit (6 MB, Netlify\'s own), unsigned or not', async () => {
    const r = await hugePost(port, '/.netlify/functions/webhook', HUGE, true, { 'x-hub-signature-256': `sha256=${'0'.repeat(64)}` });
    expect(r.status).toBe(413);
    expect(JSON.parse(r.body)).toMatchObject({ error: 'payload_too_large', maxBytes: 6 * 1000 * 1000 });
    expectNearIdle();
  });

  it('/healthz and an unknown path read nothing of a 300 MiB body (chunked or not)', async () => {
    const health = await hugePost(port, '/healthz', HUGE, true);
    expect(health.status).toBe(200);
    expect(health.headers.connection).toBe('close');
    const unknown = await hugePost(port, '/nowhere', HUGE, false);
    expect(unknown.status).toBe(404);
    expect(unknown.bytesSent).toBeLessThan(HUGE);
    expectNearIdle();
    // Still serving.
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
  });
});

describe('readBody, the one reader of every entry (the functions too)', () => {
  it('stops pulling a chunked 300 MiB stream at the limit: 413, a few chunks read', async () => {
    const block = new Uint8Array(64 * 1024);
    let pulled = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (pulled >= HUGE) return controller.close();
        pulled += block.byteLength;
        controller.enqueue(block);
      },
    });
    const request = new Request('http://shop.example/.netlify/functions/webhook', { method: 'POST', body, duplex: 'half' } as RequestInit);
    const error = await readBody(request, BODY_LIMITS.webhook).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DomainError);
    expect(error).toMatchObject({ kind: 'too_large', code: 'payload_too_large', details: { maxBytes: BODY_LIMITS.webhook } });
    expect(pulled).toBeLessThan(BODY_LIMITS.webhook + 4 * block.byteLength);
  });

  it('refuses from Content-Length without reading; reads a body within the limit exactly', async () => {
    let pulled = 0;
    const body = new ReadableStream<Uint8Array>({ pull: (c) => void ((pulled += 1), c.enqueue(new Uint8Array(1))) });
    const declared = new Request('http://shop.example/', { method: 'POST', body, duplex: 'half', headers: { 'content-length': String(HUGE) } } as RequestInit);
    await expect(readBody(declared, BODY_LIMITS.orderApi)).rejects.toMatchObject({ kind: 'too_large' });
    expect(pulled).toBeLessThanOrEqual(1);
    const ok = await readBody(new Request('http://shop.example/', { method: 'POST', body: 'é'.repeat(10) }), 20);
    expect(new TextDecoder().decode(ok)).toBe('é'.repeat(10));
    await expect(readBody(new Request('http://shop.example/', { method: 'POST', body: 'é'.repeat(11) }), 20)).rejects.toMatchObject({ kind: 'too_large' });
  });
});

describe('the dedicated backend drains visibly', () => {
  it('after SIGTERM: /healthz 503 and a new order 503 with Retry-After during the window, a request in flight finishes, then exit 0', async () => {
    // A request in flight when the signal comes: its body is still arriving.
    const inFlight = http.request({ host: '127.0.0.1', port, path: '/create-order', method: 'POST', headers: { 'transfer-encoding': 'chunked' } });
    const inFlightAnswer = new Promise<{ status: number; body: string }>((resolve, reject) => {
      inFlight.on('response', (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      });
      inFlight.on('error', reject);
    });
    inFlight.write('{"customerPhone":');
    await new Promise<void>((resolve) => inFlight.once('socket', (socket) => (socket.connecting ? socket.once('connect', () => resolve()) : resolve())));
    // A round trip on another connection: the server has read this request's head (sent before) by the time it answers.
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    backend.child.kill('SIGTERM');
    const health = await eventually(async () => {
      const r = await fetch(`http://127.0.0.1:${port}/healthz`);
      return r.status === 503 ? r : null;
    }, 10_000);
    expect(await health.json()).toEqual({ ok: false, draining: true });
    const order = await fetch(`http://127.0.0.1:${port}/create-order`, { method: 'POST', body: '{}' });
    expect(order.status).toBe(503);
    expect(order.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(await order.json()).toMatchObject({ error: 'draining' });
    // The request that began before the drain is answered as usual (unsigned: 401), not 503.
    inFlight.end('"+15550100002","items":[]}');
    const answered = await inFlightAnswer;
    expect(answered.status).toBe(401);
    expect(JSON.parse(answered.body)).toMatchObject({ error: 'invalid_signature' });
    expect(await exited(backend.child)).toBe(0);
    expect(backend.output()).not.toContain('"level":"error"');
    expect(await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => null)).toBeNull();
  }, 30_000);
});
