// npm run doctor [site URL]: read-only checks of a configured shop, one line each (ok / warn / FAIL,
// with the fix), values never printed. Exit 1 on any failure, so it can gate a deploy.
// The only writes: the signed test event to payment-callback is recorded once (a fixed event id).
import { createHmac } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { configNames, type ConfigName } from '../lib/config.js';
import { needs } from '../lib/config-needs.js';
import { templateKeys, parameterCounts, codeParameterCounts, type MetaTemplateComponent } from '../lib/messaging/template-definitions.js';
import { subscribedStripeEvents } from '../lib/payments/stripe-event-types.js';
import {
  Report, readVar, graphClient, describeGraphError, isTokenError, stripeClient, listStripeEndpoints, stripeKeyMode, stripeMessage,
  webhookUrl, paymentCallbackUrl, digits,
} from './ops/common.js';

const env = process.env;
const report = new Report();
const site = (process.argv.slice(2).find((a) => !a.startsWith('--')) ?? readVar(env, 'APP_BASE_URL').value)?.replace(/\/+$/, '');
const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const timeout = <T>(p: Promise<T>, ms = 20_000) => Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${ms / 1000} s`)), ms).unref())]);

// ---- Variables ----------------------------------------------------------------------------

/** What the deployed functions need (lib/config-needs.ts), and what only setup/doctor use. */
const required = new Set<ConfigName>([...needs.webhookPost, ...needs.paymentCallback, ...needs.inviteRedirect, ...needs.orderApiInline, ...needs.reservationCleanup, 'WHATSAPP_VERIFY_TOKEN']);
const forChecks: ConfigName[] = ['WHATSAPP_WABA_ID', 'META_APP_ID'];

function checkVariables(): void {
  const problems: string[] = [];
  for (const name of configNames) {
    const r = readVar(env, name);
    if (r.problem && (r.set || required.has(name))) {
      if (name === 'DATABASE_URL' && !r.set)
        report.warn('variables', 'DATABASE_URL is not set here', 'fine on Netlify with Netlify Database (its functions get NETLIFY_DB_URL); to check Postgres from here, set DATABASE_URL to the connection string (netlify database connect --json)');
      else problems.push(r.problem);
    } else if (!r.set && forChecks.includes(name)) report.warn('variables', `${name} is not set: its checks are skipped`, 'see .env.example');
  }
  if (!readVar(env, 'ADMIN_API_KEY').set) report.warn('variables', 'ADMIN_API_KEY is not set: the order API and the admin API answer 503', 'set a long random value');
  for (const p of problems) report.fail('variables', p, 'set it on the site (scope Functions) and here; see .env.example');
  if (!problems.length) report.ok('variables', 'every variable the functions check is present and well-formed');
}

// ---- Postgres and Redis -------------------------------------------------------------------

async function checkPostgres(): Promise<boolean> {
  if (!readVar(env, 'DATABASE_URL').value) return false;
  try {
    const { db } = await import('../lib/db.js');
    await timeout(db()`SELECT 1`);
    const { pendingMigrations } = await import('../lib/migrations.js');
    const { files, pending } = await timeout(pendingMigrations(path.join(root, 'migrations')));
    if (pending.length) report.fail('postgres', `reachable, ${pending.length} of ${files.length} migrations not applied: ${pending.join(', ')}`, 'npm run migrate (with Netlify Database: redeploy, its deploy applies them)');
    else report.ok('postgres', `reachable, migrated to the latest (${files.at(-1)})`);
    return true;
  } catch (e) {
    report.fail('postgres', `not reachable: ${(e as Error).message.split('\n')[0]}`, 'check DATABASE_URL (a Neon connection string) and that the database is running');
    return false;
  }
}

async function checkRedis(postgresOk: boolean): Promise<void> {
  if (!readVar(env, 'UPSTASH_REDIS_REST_URL').value || !readVar(env, 'UPSTASH_REDIS_REST_TOKEN').value) return;
  try {
    const { redis } = await import('../lib/redis.js');
    await timeout(redis().ping());
    report.ok('redis', 'reachable');
  } catch (e) {
    return report.fail('redis', `not reachable: ${(e as Error).message.split('\n')[0]}`, 'check UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN (Upstash console, REST API)');
  }
  if (!postgresOk) return report.warn('stock counters', 'not compared: Postgres is not reachable');
  try {
    const { stockDrift } = await import('../lib/orders/stock-resync.js');
    let drift = await timeout(stockDrift());
    // A hold placed while reading shows once: compare again before calling it off.
    if (drift.off.length) {
      await new Promise((r) => setTimeout(r, 1000));
      const again = await timeout(stockDrift());
      drift = { ...again, off: again.off.filter((o) => drift.off.some((p) => p.sku === o.sku)) };
    }
    if (drift.off.length)
      report.fail(
        'stock counters',
        `${drift.off.length} of ${drift.skus} SKUs differ from Postgres: ${drift.off.slice(0, 5).map((o) => `${o.sku} Redis ${o.redis}, expected ${o.expected}`).join('; ')}${drift.off.length > 5 ? '; …' : ''}`,
        'npm run stock:sync',
      );
    else if (drift.missing.length) report.warn('stock counters', `${drift.missing.length} of ${drift.skus} SKUs have no counter in Redis (rebuilt from Postgres on first use)`, 'npm run stock:sync rebuilds them now');
    else report.ok('stock counters', `all ${drift.skus} SKUs in step with Postgres`);
  } catch (e) {
    report.fail('stock counters', `could not compare: ${(e as Error).message.split('\n')[0]}`);
  }
}

// ---- Meta ---------------------------------------------------------------------------------

type Template = { name: string; language: string; status: string; components: MetaTemplateComponent[] };

async function checkMeta(): Promise<void> {
  const token = readVar(env, 'WHATSAPP_ACCESS_TOKEN').value;
  const phoneId = readVar(env, 'WHATSAPP_PHONE_NUMBER_ID').value;
  if (!token || !phoneId) return;
  const graph = graphClient(readVar(env, 'WHATSAPP_API_BASE').value!, token);
  const phone = await graph.get<{ display_phone_number?: string; quality_rating?: string }>(phoneId, { fields: 'display_phone_number,quality_rating,verified_name' });
  if (!phone.ok) {
    if (phone.status === 0) return report.fail('meta', phone.error.message, 'check WHATSAPP_API_BASE (default https://graph.facebook.com) and the network');
    if (isTokenError(phone)) return report.fail('meta token', `refused: ${describeGraphError(phone.error)}`, 'create a new System User token (Business settings > System users) and set WHATSAPP_ACCESS_TOKEN');
    return report.fail('meta phone number', `WHATSAPP_PHONE_NUMBER_ID not readable: ${describeGraphError(phone.error)}`, 'use the Phone number ID shown under WhatsApp > API setup');
  }
  report.ok('meta token', 'valid');
  const business = readVar(env, 'WHATSAPP_BUSINESS_NUMBER_E164').value;
  if (business && digits(phone.body.display_phone_number ?? '') !== digits(business))
    report.fail('meta phone number', `WHATSAPP_PHONE_NUMBER_ID is ${phone.body.display_phone_number}, not WHATSAPP_BUSINESS_NUMBER_E164`, 'set both to the same number (invite links open a chat with WHATSAPP_BUSINESS_NUMBER_E164)');
  else report.ok('meta phone number', `${phone.body.display_phone_number} matches WHATSAPP_BUSINESS_NUMBER_E164`);
  const quality = phone.body.quality_rating;
  if (quality === 'RED') report.warn('meta phone number', 'quality rating RED: Meta may lower the messaging limit', 'WhatsApp Manager > Insights');
  else if (quality) report.ok('meta quality rating', quality);

  const appId = readVar(env, 'META_APP_ID').value;
  const appSecret = readVar(env, 'WHATSAPP_APP_SECRET').value;
  if (appId && appSecret && site) {
    const subs = await graph.get<{ data: { object: string; callback_url: string; active: boolean; fields: { name: string }[] }[] }>(`${appId}/subscriptions`, {}, `${appId}|${appSecret}`);
    if (!subs.ok) report.fail('meta webhook', `cannot read the app's subscriptions: ${describeGraphError(subs.error)}`, 'check META_APP_ID and WHATSAPP_APP_SECRET');
    else {
      const sub = subs.body.data.find((s) => s.object === 'whatsapp_business_account');
      if (!sub) report.fail('meta webhook', 'the app has no whatsapp_business_account webhook', 'npm run setup');
      else if (sub.callback_url !== webhookUrl(site)) report.fail('meta webhook', `callback is ${sub.callback_url}, not ${webhookUrl(site)}`, 'npm run setup (or WhatsApp > Configuration > Webhook)');
      else if (!sub.fields.some((f) => f.name === 'messages')) report.fail('meta webhook', 'the messages field is not subscribed', 'npm run setup (or subscribe to messages under WhatsApp > Configuration)');
      else if (!sub.active) report.fail('meta webhook', 'the subscription is inactive', 'npm run setup');
      else report.ok('meta webhook', `${sub.callback_url}, fields ${sub.fields.map((f) => f.name).join(', ')}`);
    }
  }

  const waba = readVar(env, 'WHATSAPP_WABA_ID').value;
  if (!waba) return;
  const apps = await graph.get<{ data: { whatsapp_business_api_data?: { id: string } }[] }>(`${waba}/subscribed_apps`);
  if (!apps.ok) report.fail('meta waba', `cannot read subscribed apps: ${describeGraphError(apps.error)}`, 'check WHATSAPP_WABA_ID');
  else if (!apps.body.data.some((a) => !appId || a.whatsapp_business_api_data?.id === appId)) report.fail('meta waba', 'the app is not subscribed to the WhatsApp Business Account: Meta delivers nothing', 'npm run setup');
  else report.ok('meta waba', 'the app is subscribed to the WhatsApp Business Account');

  const templates = await graph.all<Template>(`${waba}/message_templates`, { fields: 'name,language,status,category,components', limit: '100' });
  if (!templates.ok) return report.fail('meta templates', `cannot list them: ${describeGraphError(templates.error)}`);
  const language = readVar(env, 'TEMPLATE_LANGUAGE').value!;
  for (const key of templateKeys) {
    const nameVar = `TEMPLATE_${key.toUpperCase()}` as ConfigName;
    const name = String(readVar(env, nameVar).value);
    const all = templates.body.filter((t) => t.name === name);
    const t = all.find((x) => x.language === language);
    if (!t) {
      report.fail(`template ${name}`, all.length ? `exists in ${all.map((x) => x.language).join(', ')}, not in ${language} (TEMPLATE_LANGUAGE)` : 'does not exist', `npm run setup creates it (or set ${nameVar} to the name you use)`);
      continue;
    }
    const counts = parameterCounts(t.components);
    const code = codeParameterCounts(key);
    if (JSON.stringify(counts) !== JSON.stringify(code))
      report.fail(`template ${name}`, `takes header ${counts.header} / body ${counts.body} / URL button ${counts.urlButton} parameters; the shop fills ${code.header} / ${code.body} / ${code.urlButton}: every send would fail (132000)`, `delete it in WhatsApp Manager and run npm run setup`);
    else if (t.status === 'APPROVED') report.ok(`template ${name}`, `APPROVED, ${language}, parameters as the code fills them`);
    else if (t.status === 'PENDING' || t.status === 'IN_APPEAL') report.warn(`template ${name}`, `${t.status}: sends fail until Meta approves it`, 'wait for the review (WhatsApp Manager > Message templates)');
    else report.fail(`template ${name}`, `${t.status}: sends fail`, 'WhatsApp Manager > Message templates shows why; edit and resubmit');
  }
}

// ---- Stripe -------------------------------------------------------------------------------

async function checkStripe(): Promise<void> {
  const key = readVar(env, 'STRIPE_SECRET_KEY').value;
  if (!key || !site) return;
  const mode = stripeKeyMode(key);
  const stripe = await stripeClient(key, readVar(env, 'STRIPE_API_BASE').value);
  let endpoints;
  try {
    endpoints = await listStripeEndpoints(stripe);
  } catch (e) {
    return report.fail('stripe key', `refused: ${stripeMessage(e)}`, 'set STRIPE_SECRET_KEY to a secret key or a restricted key that may read Webhook Endpoints');
  }
  report.ok('stripe key', `valid, ${mode} mode`);
  const url = paymentCallbackUrl(site);
  const e = endpoints.find((x) => x.url === url);
  if (!e) return report.fail('stripe endpoint', `none for ${url}`, 'npm run setup');
  if (e.livemode !== (mode === 'live')) report.fail('stripe endpoint', `is ${e.livemode ? 'live' : 'test'} mode, the key ${mode}`, 'use keys and endpoint of the same mode');
  if (e.status !== 'enabled') report.fail('stripe endpoint', `is ${e.status}`, 'enable it in Developers > Webhooks');
  const missing = subscribedStripeEvents.filter((x) => !e.enabled_events.includes(x) && !e.enabled_events.includes('*'));
  const extra = e.enabled_events.filter((x) => !(subscribedStripeEvents as readonly string[]).includes(x));
  if (missing.length) report.fail('stripe endpoint', `missing events: ${missing.join(', ')}`, 'npm run setup updates the endpoint');
  else report.ok('stripe endpoint', `${url}, the ${subscribedStripeEvents.length} events the shop handles`);
  if (extra.length) report.warn('stripe endpoint', `also sends ${extra.join(', ')}: acknowledged and ignored`, 'npm run setup sets exactly the handled events');
}

// ---- The deployed site --------------------------------------------------------------------

async function checkSite(): Promise<void> {
  if (!site) return report.fail('site', 'no site URL', 'npm run doctor https://<site> (or set APP_BASE_URL)');
  const call = async (url: string, init: RequestInit = {}) => {
    try {
      const r = await fetch(url, { ...init, redirect: 'manual', signal: AbortSignal.timeout(20_000) });
      return { status: r.status, text: await r.text() };
    } catch (e) {
      return { status: 0, text: (e as Error & { cause?: Error }).cause?.message ?? (e as Error).message };
    }
  };
  const hook = webhookUrl(site);
  const verify = readVar(env, 'WHATSAPP_VERIFY_TOKEN').value;
  if (verify) {
    const challenge = String(Date.now());
    const ok = await call(`${hook}?hub.mode=subscribe&hub.verify_token=${encodeURIComponent(verify)}&hub.challenge=${challenge}`);
    const wrong = await call(`${hook}?hub.mode=subscribe&hub.verify_token=doctor-wrong-token&hub.challenge=1`);
    if (ok.status === 0) return report.fail('site', `${hook} unreachable: ${ok.text}`, 'is the site deployed at this URL?');
    if (ok.status === 200 && ok.text === challenge && wrong.status === 403) report.ok('site webhook handshake', 'answers the verify token, refuses a wrong one');
    else report.fail('site webhook handshake', `answered ${ok.status}${ok.status === 200 ? ' without the challenge' : ''} (wrong token: ${wrong.status})`, 'WHATSAPP_VERIFY_TOKEN on the site must be this one; redeploy after setting it');
  }
  const appSecret = readVar(env, 'WHATSAPP_APP_SECRET').value;
  if (appSecret) {
    const body = JSON.stringify({ object: 'whatsapp_business_account', entry: [] });
    const sig = `sha256=${createHmac('sha256', appSecret).update(body).digest('hex')}`;
    const signed = await call(hook, { method: 'POST', headers: { 'content-type': 'application/json', 'x-hub-signature-256': sig }, body });
    const forged = await call(hook, { method: 'POST', headers: { 'content-type': 'application/json', 'x-hub-signature-256': `sha256=${'0'.repeat(64)}` }, body });
    if (signed.status === 200 && forged.status === 401) report.ok('site webhook signature', 'accepts a body signed with WHATSAPP_APP_SECRET, refuses a forged one');
    else report.fail('site webhook signature', `signed POST answered ${signed.status}, forged ${forged.status}`, signed.status === 401 ? 'WHATSAPP_APP_SECRET on the site differs from this one' : 'the site logs say why (a 500 names the missing variable)');
  }
  const whsec = readVar(env, 'STRIPE_WEBHOOK_SECRET').value;
  if (whsec) {
    const cb = paymentCallbackUrl(site);
    const payload = JSON.stringify({ id: 'evt_shop_doctor_check', object: 'event', type: 'shop.doctor.check', api_version: null, created: Math.floor(Date.now() / 1000), livemode: false, data: { object: { object: 'doctor_check' } } });
    const t = Math.floor(Date.now() / 1000);
    const sig = `t=${t},v1=${createHmac('sha256', whsec).update(`${t}.${payload}`).digest('hex')}`;
    const signed = await call(cb, { method: 'POST', headers: { 'content-type': 'application/json', 'stripe-signature': sig }, body: payload });
    const forged = await call(cb, { method: 'POST', headers: { 'content-type': 'application/json', 'stripe-signature': `t=${t},v1=${'0'.repeat(64)}` }, body: payload });
    if (signed.status === 200 && forged.status === 400) report.ok('site payment-callback', 'accepts an event signed with STRIPE_WEBHOOK_SECRET, refuses a forged one');
    else report.fail('site payment-callback', `signed event answered ${signed.status}, forged ${forged.status}`, signed.status === 400 ? "STRIPE_WEBHOOK_SECRET on the site is not this one (the endpoint's signing secret)" : 'the site logs say why (a 500 names the missing variable)');
  }
}

// ---- Run ----------------------------------------------------------------------------------

console.log(`npm run doctor${site ? ` ${site}` : ''}\n`);
checkVariables();
const postgresOk = await checkPostgres();
await checkRedis(postgresOk);
await checkMeta();
await checkStripe();
await checkSite();
console.log(`\n${report.summary()}`);
process.exit(report.failed ? 1 : 0);
