/**
 * `npm run setup` and `npm run doctor` end to end against the local shop (real Postgres and Redis,
 * the functions, the Meta and Stripe stand-ins), run as a shop runs them: child processes with the
 * site's environment, no terminal. Setup twice (the second run changes nothing), then the doctor on
 * the configured shop (exit 0) and on broken ones (each finding named, exit 1).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Stripe from 'stripe';
import { describe, expect, it } from 'vitest';
import { db } from '../lib/db.js';
import { templateDefinitions, templateKeys, templateSubmission, parameterCounts, codeParameterCounts } from '../lib/messaging/template-definitions.js';
import { acceptedLegacyStripeEvents, subscribedStripeEvents } from '../lib/payments/stripe-event-types.js';
import { setAvailableStock } from '../lib/stock/index.js';
import { useStack } from './support/stack.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const stack = useStack({ seedDemoCatalog: true });

type Run = { code: number | null; stdout: string; stderr: string; lines: string[] };
function run(script: 'setup' | 'doctor', extraEnv: Record<string, string> = {}, args: string[] = []): Promise<Run> {
  return new Promise((resolve) => {
    const env = { PATH: process.env.PATH!, ...stack().env, LOG_LEVEL: 'warn', ...extraEnv };
    const child = spawn(process.execPath, ['--import', 'tsx', `scripts/${script}.ts`, ...args], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code) => resolve({ code, stdout, stderr, lines: stdout.split('\n') }));
  });
}
const line = (r: Run, level: 'ok' | 'warn' | 'FAIL' | 'info', area: string, text: RegExp | string = '') =>
  r.lines.find((l) => l.startsWith(`${level.padEnd(4)}  ${area}:`) && (typeof text === 'string' ? l.includes(text) : text.test(l)));
const failures = (r: Run) => r.lines.filter((l) => l.startsWith('FAIL'));

const secretsOf = () => ['WHATSAPP_ACCESS_TOKEN', 'WHATSAPP_APP_SECRET', 'STRIPE_SECRET_KEY', 'UPSTASH_REDIS_REST_TOKEN', 'ADMIN_API_KEY', 'STRIPE_WEBHOOK_SECRET'].map((n) => stack().env[n]!);
const graphApi = (p: string, init: RequestInit = {}) =>
  fetch(`${stack().graph.baseUrl}/${p}`, { ...init, headers: { authorization: `Bearer ${stack().env.WHATSAPP_ACCESS_TOKEN}`, 'content-type': 'application/json', ...init.headers } });
const stripeApi = () => {
  const u = new URL(stack().env.STRIPE_API_BASE!);
  return new Stripe(stack().env.STRIPE_SECRET_KEY!, { host: u.hostname, port: Number(u.port), protocol: 'http' });
};

describe('what setup submits and checks is what the code does', () => {
  it('every template definition takes the parameters the code fills, with an example for each', () => {
    for (const key of templateKeys) {
      const sub = templateSubmission(key, key, 'en', { appBaseUrl: 'https://s.example', trackingUrl: 'https://t.example/x' });
      expect(parameterCounts(sub.components), key).toEqual(codeParameterCounts(key));
      expect(templateDefinitions[key].body.examples.length, key).toBe(codeParameterCounts(key).body);
    }
  });

  it('the endpoint subscribes exactly the Stripe events payment-callback applies', async () => {
    const source = await readFile(path.join(root, 'lib/flows/stripe-event.ts'), 'utf8');
    const dispatch = source.slice(source.indexOf('async function dispatch('));
    const cases = [...dispatch.slice(0, dispatch.indexOf('default:')).matchAll(/case '([a-z_.]+)':/g)].map((m) => m[1]);
    expect(new Set(cases)).toEqual(new Set([...subscribedStripeEvents, ...acceptedLegacyStripeEvents]));
  });
});

describe('npm run setup', () => {
  it('configures Meta and Stripe, and a second run changes nothing', async () => {
    const first = await run('setup', {}, ['--non-interactive']);
    expect(first.code, first.stdout + first.stderr).toBe(0);
    expect(line(first, 'ok', 'meta token', 'valid')).toBeDefined();
    expect(line(first, 'ok', 'meta phone number', '+1 555-010-0001')).toMatch(/quality rating GREEN/);
    expect(line(first, 'ok', 'meta webhook', `subscribed: ${stack().url}/.netlify/functions/webhook, fields messages`)).toBeDefined();
    expect(line(first, 'ok', 'meta waba', 'subscribed the app')).toBeDefined();
    for (const key of templateKeys) expect(line(first, 'ok', `template ${key}`, 'created (en), APPROVED'), key).toBeDefined();
    expect(line(first, 'ok', 'stripe endpoint', 'created')).toBeDefined();

    // Meta's side: the verified subscription, the app on the WABA, the templates with their examples.
    const setup = stack().graph.setup;
    expect(setup.subscriptions()).toEqual([
      { object: 'whatsapp_business_account', callback_url: `${stack().url}/.netlify/functions/webhook`, active: true, fields: [{ name: 'messages', version: 'v21.0' }] },
    ]);
    expect(setup.subscribedApps()).toEqual([stack().env.META_APP_ID]);
    expect(setup.templates.list().map((t) => [t.name, t.language, t.category])).toEqual(templateKeys.map((k) => [k, 'en', 'UTILITY']));
    // Stripe's side: one endpoint with exactly the handled events; its secret printed once (the only secret in the output).
    const [endpoint, ...more] = stack().stripe.webhookEndpoints();
    expect(more).toEqual([]);
    expect(endpoint!.url).toBe(`${stack().url}/.netlify/functions/payment-callback`);
    expect([...endpoint!.enabled_events].sort()).toEqual([...subscribedStripeEvents].sort());
    expect(first.stdout.match(/netlify env:set STRIPE_WEBHOOK_SECRET "whsec_[A-Za-z0-9]+" --scope functions --secret/g)).toHaveLength(1);
    for (const secret of secretsOf()) expect(first.stdout + first.stderr).not.toContain(secret);
    expect(first.stdout).toContain('netlify env:set WHATSAPP_ACCESS_TOKEN "$WHATSAPP_ACCESS_TOKEN" --scope functions --secret');

    const second = await run('setup', {}, ['--non-interactive']);
    expect(second.code, second.stdout + second.stderr).toBe(0);
    expect(line(second, 'ok', 'meta webhook', 'already subscribed')).toBeDefined();
    expect(line(second, 'ok', 'meta waba', 'the app is subscribed')).toBeDefined();
    for (const key of templateKeys) expect(line(second, 'ok', `template ${key}`, 'already exists (en), APPROVED'), key).toBeDefined();
    expect(line(second, 'ok', 'stripe endpoint', 'already exists')).toBeDefined();
    expect(second.stdout).not.toMatch(/: created|: updated|: subscribed|subscribed the app|whsec_/);
    expect(setup.templates.list()).toHaveLength(templateKeys.length);
    expect(stack().stripe.webhookEndpoints()).toHaveLength(1);
    expect(setup.subscriptions()).toHaveLength(1);
  }, 180_000);
});

describe('npm run setup, Netlify variables', () => {
  it('with the Netlify CLI logged in, sets each variable (secrets as secrets), never printing a value; --vars-file writes them instead', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'setup-netlify-'));
    const log = path.join(dir, 'calls.log');
    // A stand-in for the Netlify CLI: records its arguments, answers `status` as a logged-in, linked checkout.
    await writeFile(path.join(dir, 'netlify'), `#!/bin/sh\nprintf '%s\\n' "$*" >> '${log}'\nexit 0\n`, { mode: 0o755 });
    const r = await run('setup', { PATH: `${dir}:${process.env.PATH}` }, ['--non-interactive', '--netlify', '--skip-meta', '--skip-stripe']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const calls = (await readFile(log, 'utf8')).trim().split('\n');
    expect(calls[0]).toBe('status');
    expect(calls).toContain(`env:set WHATSAPP_ACCESS_TOKEN ${stack().env.WHATSAPP_ACCESS_TOKEN} --scope functions --secret --force`);
    expect(calls).toContain(`env:set WHATSAPP_BUSINESS_NUMBER_E164 ${stack().env.WHATSAPP_BUSINESS_NUMBER_E164} --scope functions --force`);
    expect(line(r, 'ok', 'netlify variables', 'set STRIPE_WEBHOOK_SECRET (secret)')).toBeDefined();
    for (const secret of secretsOf()) expect(r.stdout + r.stderr).not.toContain(secret);

    const file = path.join(dir, 'site.env');
    const w = await run('setup', {}, ['--non-interactive', '--vars-file', file, '--skip-meta', '--skip-stripe']);
    expect(w.code, w.stdout).toBe(0);
    expect(await readFile(file, 'utf8')).toContain(`STRIPE_SECRET_KEY=${stack().env.STRIPE_SECRET_KEY}\n`);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    for (const secret of secretsOf()) expect(w.stdout + w.stderr).not.toContain(secret);
    await rm(dir, { recursive: true, force: true });
  }, 180_000);
});

describe('npm run doctor', () => {
  it('passes a configured shop: every check ok, exit 0', async () => {
    const r = await run('doctor', {}, [stack().url]);
    expect(failures(r), r.stdout + r.stderr).toEqual([]);
    expect(r.code).toBe(0);
    for (const [area, text] of [
      ['variables', 'every variable'],
      ['postgres', 'migrated to the latest'],
      ['redis', 'reachable'],
      ['stock counters', 'in step with Postgres'],
      ['meta token', 'valid'],
      ['meta phone number', 'matches WHATSAPP_BUSINESS_NUMBER_E164'],
      ['meta webhook', '/.netlify/functions/webhook, fields messages'],
      ['meta waba', 'subscribed'],
      ['template order_shipped', 'APPROVED'],
      ['stripe key', 'test mode'],
      ['stripe endpoint', 'the 10 events'],
      ['site webhook handshake', 'answers the verify token'],
      ['site webhook signature', 'refuses a forged one'],
      ['site payment-callback', 'refuses a forged one'],
    ])
      expect(line(r, 'ok', area!, text), `${area}: ${text}\n${r.stdout}`).toBeDefined();
    for (const secret of secretsOf()) expect(r.stdout + r.stderr).not.toContain(secret);
  }, 180_000);

  it('names a wrong token and exits 1', async () => {
    const r = await run('doctor', { WHATSAPP_ACCESS_TOKEN: 'EAAG-not-the-token' }, [stack().url]);
    expect(r.code).toBe(1);
    expect(line(r, 'FAIL', 'meta token', 'refused: Invalid OAuth access token')).toBeDefined();
    expect(failures(r)).toHaveLength(1);
    expect(r.stdout).not.toContain('EAAG-not-the-token');
  }, 180_000);

  it('names each thing broken: a missing template, a different parameter count, a Stripe event, a migration, Redis counters', async () => {
    const sql = db();
    // Meta: hold_expired deleted; order_invite_link resubmitted with one body parameter instead of two.
    expect((await graphApi(`${stack().env.WHATSAPP_WABA_ID}/message_templates?name=hold_expired`, { method: 'DELETE' })).status).toBe(200);
    expect((await graphApi(`${stack().env.WHATSAPP_WABA_ID}/message_templates?name=order_invite_link`, { method: 'DELETE' })).status).toBe(200);
    const oneParam = { name: 'order_invite_link', language: 'en', category: 'UTILITY', components: [{ type: 'BODY', text: 'Forward this: {{1}}', example: { body_text: [['https://x.example/w/invite/a']] } }] };
    expect((await graphApi(`${stack().env.WHATSAPP_WABA_ID}/message_templates`, { method: 'POST', body: JSON.stringify(oneParam) })).status).toBe(200);
    // Stripe: the endpoint lost an event.
    const [endpoint] = stack().stripe.webhookEndpoints();
    await stripeApi().webhookEndpoints.update(endpoint!.id, { enabled_events: subscribedStripeEvents.filter((e) => e !== 'charge.dispute.closed') as never });
    // Postgres: the last migration not applied.
    const [last] = await sql`DELETE FROM schema_migrations WHERE name = (SELECT max(name) FROM schema_migrations) RETURNING name`;
    // Redis: a counter off (as if 100 units more were on hand than Postgres says).
    const [variant] = await sql`SELECT sku, stock FROM variants ORDER BY sku LIMIT 1`;
    await setAvailableStock(variant!.sku as string, Number(variant!.stock) + 100);
    try {
      const r = await run('doctor', {}, [stack().url]);
      expect(r.code, r.stdout).toBe(1);
      expect(line(r, 'FAIL', 'template hold_expired', 'does not exist')).toBeDefined();
      expect(line(r, 'FAIL', 'template order_invite_link', 'takes header 0 / body 1 / URL button 0 parameters; the shop fills 0 / 2 / 0')).toBeDefined();
      expect(line(r, 'FAIL', 'stripe endpoint', 'missing events: charge.dispute.closed')).toBeDefined();
      expect(line(r, 'FAIL', 'postgres', `1 of`)).toContain(last!.name as string);
      expect(line(r, 'FAIL', 'stock counters', `${variant!.sku as string} Redis ${Number(variant!.stock) + 100}, expected ${Number(variant!.stock)}`)).toBeDefined();
      expect(failures(r), r.stdout).toHaveLength(5);
      expect(r.stdout).toContain('→ npm run stock:sync');
    } finally {
      await sql`INSERT INTO schema_migrations (name) VALUES (${last!.name as string}) ON CONFLICT DO NOTHING`;
      await setAvailableStock(variant!.sku as string, Number(variant!.stock));
    }
  }, 180_000);
});

describe('the stand-ins answer setup and doctor as Meta and Stripe document', () => {
  const appId = () => stack().env.META_APP_ID!;
  const appToken = () => `${appId()}|${stack().env.WHATSAPP_APP_SECRET}`;
  const subscribe = (token: string, verifyToken: string) =>
    graphApi(`${appId()}/subscriptions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
      body: JSON.stringify({ object: 'whatsapp_business_account', callback_url: `${stack().url}/.netlify/functions/webhook`, verify_token: verifyToken, fields: 'messages' }),
    });

  it('app subscriptions: an app token only, and Meta verifies the callback first', async () => {
    const userToken = await subscribe(stack().env.WHATSAPP_ACCESS_TOKEN!, stack().env.WHATSAPP_VERIFY_TOKEN!);
    expect(userToken.status).toBe(400);
    expect(((await userToken.json()) as { error: { code: number } }).error.code).toBe(15);
    const wrongVerify = await subscribe(appToken(), 'not-the-verify-token');
    expect(wrongVerify.status).toBe(400);
    expect(((await wrongVerify.json()) as { error: { code: number } }).error.code).toBe(2200);
    const ok = await subscribe(appToken(), stack().env.WHATSAPP_VERIFY_TOKEN!);
    expect(await ok.json()).toEqual({ success: true });
  });

  it('message_templates: examples required, one per name and language, listed with their status', async () => {
    const waba = stack().env.WHATSAPP_WABA_ID!;
    const post = (body: unknown) => graphApi(`${waba}/message_templates`, { method: 'POST', body: JSON.stringify(body) });
    const noExample = await post({ name: 'no_example', language: 'en', category: 'UTILITY', components: [{ type: 'BODY', text: 'Order {{1}}' }] });
    expect(noExample.status).toBe(400);
    expect(((await noExample.json()) as { error: { code: number } }).error.code).toBe(100);
    const twice = await post({ name: 'order_confirmed', language: 'en', category: 'UTILITY', components: [{ type: 'BODY', text: 'Hi' }] });
    expect(((await twice.json()) as { error: { error_subcode: number } }).error.error_subcode).toBe(2388024);
    const listed = (await (await graphApi(`${waba}/message_templates?name=order_confirmed&fields=name,status,language`)).json()) as { data: unknown[] };
    expect(listed.data).toEqual([{ name: 'order_confirmed', status: 'APPROVED', language: 'en', id: expect.any(String) }]);
  });

  it("webhook endpoints: the secret comes with the creation only, livemode is the key's", async () => {
    const created = (await stripeApi().webhookEndpoints.create({ url: 'https://elsewhere.example/hook', enabled_events: ['charge.refunded'] })) as unknown as { id: string; secret?: string; livemode: boolean };
    expect(created.secret).toMatch(/^whsec_/);
    expect(created.livemode).toBe(false);
    const again = await stripeApi().webhookEndpoints.retrieve(created.id);
    expect(again).not.toHaveProperty('secret');
    const listed = await stripeApi().webhookEndpoints.list({ limit: 100 });
    expect(listed.data.every((e) => !('secret' in e))).toBe(true);
    expect((await stripeApi().webhookEndpoints.del(created.id)).deleted).toBe(true);
  });
});
