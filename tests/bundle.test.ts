/**
 * What Netlify deploys: netlify/functions bundled with @netlify/zip-it-and-ship-it exactly as
 * `netlify build` does (dev/netlify-bundle.ts), then each zip checked and its handler invoked
 * directly, in a fresh Node process, with a v2 Request and a context and only the variables that
 * path needs (lib/config-needs.ts). No network: every request here is answered before any I/O.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleLikeNetlify, functionModule, type BundledFunction, type NetlifyManifest } from '../dev/netlify-bundle.js';
import { functionPaths } from '../lib/http/routes.js';

let out: string;
let functions: BundledFunction[];
let manifest: NetlifyManifest;
let sourceDir: string;

beforeAll(async () => {
  out = await mkdtemp(path.join(os.tmpdir(), 'bundle-test-'));
  ({ functions, manifest, sourceDir } = await bundleLikeNetlify(out));
}, 400_000); // CPU-bound; files run in parallel
afterAll(async () => {
  if (out) await rm(out, { recursive: true, force: true });
});

const fn = (name: string) => {
  const f = functions.find((x) => x.name === name);
  if (!f) throw new Error(`${name} was not bundled`);
  return f;
};

/** Imports the bundled function in a fresh Node process with exactly `env` (plus PATH) and calls it once. */
function invoke(name: string, request: { method?: string; url: string; headers?: Record<string, string>; body?: string; params?: Record<string, string> }, env: Record<string, string>) {
  const script = `
    const { default: handler } = await import(${JSON.stringify(functionModule(fn(name)))});
    const r = JSON.parse(process.env.__REQUEST);
    const context = { params: r.params ?? {}, waitUntil() {}, requestId: 'test', ip: '127.0.0.1', url: new URL(r.url),
      geo: {}, site: {}, server: {}, account: { id: '' }, deploy: { context: 'production', id: 'test', published: true },
      cookies: { get() {}, set() {}, delete() {} }, json: (b) => Response.json(b), log: console.log };
    const res = await handler(new Request(r.url, { method: r.method ?? 'GET', headers: r.headers, body: r.body }), context);
    process.stdout.write('\\n@@' + JSON.stringify({ status: res.status, body: await res.text() }));
    process.exit(0);`;
  const stdout = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
    env: { PATH: process.env.PATH!, __REQUEST: JSON.stringify(request), ...env },
    encoding: 'utf8',
    cwd: os.tmpdir(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return JSON.parse(stdout.slice(stdout.lastIndexOf('@@') + 2)) as { status: number; body: string };
}

const site = 'https://shop.example';
const store = { DATABASE_URL: 'postgresql://shop:pw-not-used@db.example/shop', UPSTASH_REDIS_REST_URL: 'https://redis.example', UPSTASH_REDIS_REST_TOKEN: 'tok' };
const send = { WHATSAPP_PHONE_NUMBER_ID: '100000000000001', WHATSAPP_ACCESS_TOKEN: 'EAAtest' };

describe('the functions bundled as Netlify bundles them', () => {
  it('bundles every function in netlify/functions', async () => {
    const sources = (await readdir(sourceDir)).filter((f) => /\.(m?[jt]s)$/.test(f)).map((f) => f.replace(/\.m?[jt]s$/, ''));
    expect(functions.map((f) => f.name).sort()).toEqual(sources.sort());
    for (const f of functions) expect(f.entries).toContain(`netlify/functions/${f.name}.mjs`);
  });

  it('no dev-only package nor a dev/ or tests/ file is in any zip', async () => {
    const pkg = JSON.parse(await readFile(path.join(sourceDir, '..', '..', 'package.json'), 'utf8')) as { devDependencies: Record<string, string> };
    const devOnly = Object.keys(pkg.devDependencies);
    for (const f of functions) {
      for (const entry of f.entries) {
        expect(entry, `${f.name}: ${entry}`).not.toMatch(/^(dev|tests|bench|scripts|backend)\//);
        for (const dep of devOnly) expect(entry.startsWith(`node_modules/${dep}/`), `${f.name}: ${entry}`).toBe(false);
      }
    }
  });

  it('the packages loaded on first use (lib/db.ts, lib/redis.ts, lib/zod.ts, stripe) are in the zips and load from them', async () => {
    for (const f of functions) {
      // A module next to the function's own, resolving packages exactly as it does at run time.
      const check = path.join(path.dirname(functionModule(f)), '__check.mjs');
      await writeFile(check, `await import('@neondatabase/serverless'); await import('zod');
        ${f.name === 'invite-redirect' ? '' : "await import('@upstash/redis'); await import('stripe');"}`);
      execFileSync(process.execPath, [check], { cwd: os.tmpdir(), env: { PATH: process.env.PATH! }, stdio: 'pipe' });
      await rm(check);
    }
  });

  it('no heavy package is imported at the top of a bundle: zod, stripe and the store clients load on the paths that use them', async () => {
    for (const f of functions) {
      const code = await readFile(functionModule(f), 'utf8');
      const packages = [...code.matchAll(/^import\s[^;]*?from\s*"([^"]+)"/gm)].map((m) => m[1]!).filter((s) => !s.startsWith('node:') && !builtinModules.includes(s));
      // nanoid (a few hundred bytes) is all that loads with the module.
      expect(packages.filter((s) => s !== 'nanoid'), f.name).toEqual([]);
    }
  });

  it('the manifest carries the schedule and the custom paths', () => {
    const m = (name: string) => manifest.functions.find((f) => f.name === name)!;
    expect(m('reservation-cleanup').schedule).toBe('* * * * *');
    expect(m('invite-redirect').routes?.map((r) => r.pattern)).toEqual(['/w/invite/:token']);
    // The admin routes of the one table (lib/http/routes.ts), as Netlify's bundler read them from config.path.
    expect(m('admin-api').routes?.map((r) => r.pattern)).toEqual(functionPaths('admin-api'));
    expect(functionPaths('admin-api')).toContain('/api/second-chances');
  });
});

describe('each bundled handler, invoked directly with only the variables its path needs', () => {
  const hook = `${site}/.netlify/functions/webhook`;

  it('webhook: the verification GET answers the challenge with only WHATSAPP_VERIFY_TOKEN (or VERIFY_TOKEN) set', () => {
    const url = `${hook}?hub.mode=subscribe&hub.verify_token=my-verify&hub.challenge=1158201444`;
    expect(invoke('webhook', { url }, { WHATSAPP_VERIFY_TOKEN: 'my-verify' })).toEqual({ status: 200, body: '1158201444' });
    expect(invoke('webhook', { url }, { VERIFY_TOKEN: 'my-verify' })).toEqual({ status: 200, body: '1158201444' });
    expect(invoke('webhook', { url: url.replace('my-verify', 'wrong') }, { WHATSAPP_VERIFY_TOKEN: 'my-verify' }).status).toBe(403);
  });

  it('webhook: without any variable the handshake answers 500 naming WHATSAPP_VERIFY_TOKEN', () => {
    const r = invoke('webhook', { url: `${hook}?hub.mode=subscribe&hub.verify_token=x&hub.challenge=1` }, {});
    expect(r.status).toBe(500);
    expect(r.body).toContain('WHATSAPP_VERIFY_TOKEN');
  });

  it('webhook: a forged POST answers 401', () => {
    const body = JSON.stringify({ object: 'whatsapp_business_account', entry: [] });
    const r = invoke('webhook', { method: 'POST', url: hook, body, headers: { 'x-hub-signature-256': `sha256=${'0'.repeat(64)}` } }, { WHATSAPP_APP_SECRET: 'app-secret', ...store, ...send });
    expect(r.status).toBe(401);
  });

  it('payment-callback: a forged POST answers 400 (Stripe signature refused)', () => {
    const r = invoke(
      'payment-callback',
      { method: 'POST', url: `${site}/.netlify/functions/payment-callback`, body: '{"id":"evt_1"}', headers: { 'stripe-signature': `t=1,v1=${'0'.repeat(64)}` } },
      { STRIPE_WEBHOOK_SECRET: 'whsec_test', STRIPE_SECRET_KEY: 'sk_test_x', APP_BASE_URL: site, WHATSAPP_BUSINESS_NUMBER_E164: '15550783881', ...store, ...send },
    );
    expect(r.status).toBe(400);
  });

  it('admin-api and create-order-proxy: a forged key answers 401 with only ADMIN_API_KEY; without it both answer 503 not_configured', () => {
    const admin = { url: `${site}/api/orders/x`, headers: { authorization: 'Bearer forged' } };
    const order = { method: 'POST', url: `${site}/.netlify/functions/create-order-proxy`, body: '{}', headers: { authorization: 'Bearer forged' } };
    expect(invoke('admin-api', admin, { ADMIN_API_KEY: 'the-real-key' }).status).toBe(401);
    expect(invoke('create-order-proxy', order, { ADMIN_API_KEY: 'the-real-key' }).status).toBe(401);
    for (const [name, req] of [['admin-api', admin], ['create-order-proxy', order]] as const) {
      const r = invoke(name, req, {});
      expect(r.status).toBe(503);
      expect(JSON.parse(r.body)).toEqual({ error: 'not_configured', message: 'ADMIN_API_KEY is not set' });
    }
  });

  it('invite-redirect: an unknown link answers 404 with no Stripe or WhatsApp keys set', () => {
    const r = invoke('invite-redirect', { url: `${site}/w/invite/%3Cnot-a-token%3E`, params: { token: '<not-a-token>' } }, { DATABASE_URL: store.DATABASE_URL, WHATSAPP_BUSINESS_NUMBER_E164: '15550783881' });
    expect(r.status).toBe(404);
    expect(r.body).toContain('wa.me/15550783881');
  });

  it('reservation-cleanup: without its variables answers 500 naming them, never a value', () => {
    const r = invoke('reservation-cleanup', { method: 'POST', url: `${site}/.netlify/functions/reservation-cleanup` }, { UPSTASH_REDIS_REST_TOKEN: 'tok-value-xyz' });
    expect(r.status).toBe(500);
    for (const name of ['DATABASE_URL', 'UPSTASH_REDIS_REST_URL', 'STRIPE_SECRET_KEY']) expect(r.body).toContain(name);
    expect(r.body).not.toContain('tok-value-xyz');
  });
});
