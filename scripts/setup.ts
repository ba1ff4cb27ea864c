// npm run setup [-- --site https://shop.example --netlify --vars-file .env.setup --tracking-url … --non-interactive]
// Configures Meta (webhook subscription, WABA subscription, message templates) and Stripe (the
// payment-callback endpoint) for a deployed site, and prints (or sets with the Netlify CLI) the
// site's variables. Safe to run twice: what exists is reported and left as it is. In a terminal it
// asks for what is missing; otherwise (CI, --non-interactive) it takes everything from the
// environment and skips, with the reason, a step whose inputs are missing. Exit 1 on any failure.
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline/promises';
import { Writable } from 'node:stream';
import { needs } from '../lib/config-needs.js';
import { secretVariables, type ConfigName } from '../lib/config.js';
import { templateKeys, templateSubmission, parameterCounts, codeParameterCounts, type MetaTemplateComponent } from '../lib/messaging/template-definitions.js';
import { templateRegistry } from '../lib/messaging/templates.js';
import { subscribedStripeEvents } from '../lib/payments/stripe-event-types.js';
import {
  Report, readVar, graphClient, describeGraphError, isTokenError, stripeClient, listStripeEndpoints, stripeKeyMode, stripeMessage,
  webhookUrl, paymentCallbackUrl,
} from './ops/common.js';

type Env = Record<string, string | undefined>;

const args = process.argv.slice(2);
const flag = (name: string) => args.includes(`--${name}`);
const option = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
};
const interactive = !flag('non-interactive') && !process.env.CI && process.stdin.isTTY === true && process.stdout.isTTY === true;

const env: Env = { ...process.env };
if (option('site')) env.APP_BASE_URL = option('site');
const report = new Report();
/** Values setup created or chose (a verify token, the endpoint's signing secret): set on Netlify, never logged. */
const produced: Record<string, string> = {};

// ---- Inputs --------------------------------------------------------------------------------

async function ask(question: string, secret: boolean): Promise<string> {
  let muted = false;
  const output = new Writable({
    write: (chunk, _enc, done) => {
      if (!muted) process.stdout.write(chunk);
      done();
    },
  });
  const rl = createInterface({ input: process.stdin, output, terminal: true });
  const answer = rl.question(question);
  muted = secret;
  // Ctrl-D or Ctrl-C at a prompt: no answer (the step is skipped with its reason).
  const value = await answer.catch(() => '');
  rl.close();
  if (secret) process.stdout.write('\n');
  return value.trim();
}

const PROMPTS: Partial<Record<ConfigName, string>> = {
  APP_BASE_URL: "The deployed site's URL (https://….netlify.app)",
  WHATSAPP_ACCESS_TOKEN: 'System User access token (whatsapp_business_messaging, whatsapp_business_management)',
  WHATSAPP_PHONE_NUMBER_ID: 'Phone number ID (WhatsApp > API setup)',
  WHATSAPP_WABA_ID: 'WhatsApp Business Account ID (WhatsApp > API setup)',
  META_APP_ID: 'App ID (App settings > Basic)',
  WHATSAPP_APP_SECRET: 'App secret (App settings > Basic)',
  WHATSAPP_BUSINESS_NUMBER_E164: "The shop's WhatsApp number (+15550100001)",
  STRIPE_SECRET_KEY: 'Stripe secret key (sk_live_… / sk_test_…) or restricted key (rk_…)',
};

/** The variable's validated value; asked for in a terminal when missing or malformed. */
async function input<N extends ConfigName>(name: N): Promise<string | undefined> {
  for (;;) {
    const r = readVar(env, name);
    if (r.value !== undefined && !r.problem) return String(r.value);
    if (r.problem && r.set) report.warn('input', r.problem);
    if (!interactive || !PROMPTS[name]) return undefined;
    const answer = await ask(`${PROMPTS[name]}\n  ${name}= `, (secretVariables as readonly string[]).includes(name));
    if (!answer) return undefined;
    env[name] = answer;
  }
}

// ---- Meta ---------------------------------------------------------------------------------

type Template = { name: string; language: string; status: string; category: string; components: MetaTemplateComponent[]; id: string };

async function setupMeta(site: string | undefined): Promise<void> {
  const token = await input('WHATSAPP_ACCESS_TOKEN');
  const phoneId = await input('WHATSAPP_PHONE_NUMBER_ID');
  const base = readVar(env, 'WHATSAPP_API_BASE').value!;
  if (!token || !phoneId) return report.fail('meta', 'skipped: WHATSAPP_ACCESS_TOKEN and WHATSAPP_PHONE_NUMBER_ID are needed', 'set them (see .env.example) and run again');
  const graph = graphClient(base, token);

  const phone = await graph.get<{ display_phone_number?: string; quality_rating?: string; verified_name?: string }>(phoneId, { fields: 'display_phone_number,quality_rating,verified_name' });
  if (!phone.ok) {
    if (phone.status === 0) return report.fail('meta', phone.error.message, 'check WHATSAPP_API_BASE (default https://graph.facebook.com) and the network');
    if (isTokenError(phone)) return report.fail('meta token', `refused: ${describeGraphError(phone.error)}`, 'create a System User token with whatsapp_business_messaging and whatsapp_business_management (Business settings > System users)');
    return report.fail('meta phone number', `WHATSAPP_PHONE_NUMBER_ID not readable: ${describeGraphError(phone.error)}`, 'use the Phone number ID shown under WhatsApp > API setup');
  }
  report.ok('meta token', 'valid');
  report.ok('meta phone number', `${phone.body.display_phone_number ?? '?'} (${phone.body.verified_name ?? 'no verified name'}), quality rating ${phone.body.quality_rating ?? 'unknown'}`);

  // The app's webhook subscription (app token).
  const appId = await input('META_APP_ID');
  const appSecret = await input('WHATSAPP_APP_SECRET');
  let verifyToken = readVar(env, 'WHATSAPP_VERIFY_TOKEN').value;
  if (!site) report.fail('meta webhook', 'skipped: the site URL is needed (APP_BASE_URL or --site)', 'deploy first, then run `npm run setup -- --site https://<site>`');
  else if (!appId || !appSecret) report.fail('meta webhook', 'skipped: META_APP_ID and WHATSAPP_APP_SECRET are needed for the app subscription', 'App settings > Basic shows both');
  else {
    const callback = webhookUrl(site);
    const appToken = `${appId}|${appSecret}`;
    const subs = await graph.get<{ data: { object: string; callback_url: string; active: boolean; fields: { name: string }[] }[] }>(`${appId}/subscriptions`, {}, appToken);
    if (!subs.ok) report.fail('meta webhook', `cannot read the app's subscriptions: ${describeGraphError(subs.error)}`, 'check META_APP_ID and WHATSAPP_APP_SECRET');
    else {
      const current = subs.body.data.find((s) => s.object === 'whatsapp_business_account');
      if (current && current.callback_url === callback && current.active && current.fields.some((f) => f.name === 'messages'))
        report.ok('meta webhook', `already subscribed: ${callback}, fields ${current.fields.map((f) => f.name).join(', ')}`);
      else {
        if (!verifyToken) {
          verifyToken = randomBytes(18).toString('base64url');
          env.WHATSAPP_VERIFY_TOKEN = verifyToken;
          produced.WHATSAPP_VERIFY_TOKEN = verifyToken;
          report.info('meta webhook', 'generated a WHATSAPP_VERIFY_TOKEN (set on Netlify below); Meta calls the site with it now, so the site must already have it');
        }
        const fields = [...new Set(['messages', ...(current?.callback_url === callback ? current.fields.map((f) => f.name) : [])])];
        const made = await graph.post<{ success: boolean }>(`${appId}/subscriptions`, { object: 'whatsapp_business_account', callback_url: callback, verify_token: verifyToken, fields: fields.join(','), include_values: true }, appToken);
        if (made.ok) report.ok('meta webhook', `${current ? 'updated' : 'subscribed'}: ${callback}, fields ${fields.join(', ')}`);
        else
          report.fail(
            'meta webhook',
            `Meta refused the subscription: ${describeGraphError(made.error)}`,
            'Meta verifies the callback first: deploy the site with WHATSAPP_VERIFY_TOKEN set to the same value, then run setup again',
          );
      }
    }
  }

  // The app's subscription to the WABA, and the templates.
  const waba = await input('WHATSAPP_WABA_ID');
  if (!waba) return report.fail('meta waba', 'skipped: WHATSAPP_WABA_ID is needed (subscribed apps, templates)', 'WhatsApp > API setup shows the WhatsApp Business Account ID');
  const apps = await graph.get<{ data: { whatsapp_business_api_data?: { id: string } }[] }>(`${waba}/subscribed_apps`);
  if (!apps.ok) report.fail('meta waba', `cannot read subscribed apps: ${describeGraphError(apps.error)}`, 'check WHATSAPP_WABA_ID and that the token has whatsapp_business_management');
  else if (apps.body.data.some((a) => !appId || a.whatsapp_business_api_data?.id === appId)) report.ok('meta waba', 'the app is subscribed to the WhatsApp Business Account');
  else {
    const sub = await graph.post<{ success: boolean }>(`${waba}/subscribed_apps`, {});
    if (sub.ok) report.ok('meta waba', 'subscribed the app to the WhatsApp Business Account');
    else report.fail('meta waba', `subscribing the app failed: ${describeGraphError(sub.error)}`);
  }

  const language = readVar(env, 'TEMPLATE_LANGUAGE').value!;
  const existing = await graph.all<Template>(`${waba}/message_templates`, { fields: 'name,language,status,category,components', limit: '100' });
  if (!existing.ok) return report.fail('meta templates', `cannot list templates: ${describeGraphError(existing.error)}`);
  const urls = { appBaseUrl: site ?? 'https://example.netlify.app', trackingUrl: option('tracking-url') ?? `${site ?? 'https://example.netlify.app'}/track/` };
  for (const key of templateKeys) {
    const name = String(readVar(env, templateNameVar(key)).value);
    const found = existing.body.find((t) => t.name === name && t.language === language);
    if (found) {
      const counts = parameterCounts(found.components);
      const code = codeParameterCounts(key);
      if (JSON.stringify(counts) !== JSON.stringify(code))
        report.fail(`template ${name}`, `exists (${found.status}) with ${fmt(counts)} parameters; the shop fills ${fmt(code)}`, `delete it in WhatsApp Manager and run setup again, or set ${templateNameVar(key)} to a new name`);
      else report.add(found.status === 'APPROVED' ? 'ok' : found.status === 'PENDING' ? 'warn' : 'fail', `template ${name}`, `already exists (${language}), ${found.status}`);
      continue;
    }
    const made = await graph.post<{ id: string; status: string }>(`${waba}/message_templates`, templateSubmission(key, name, language, urls));
    if (made.ok) report.add(made.body.status === 'REJECTED' ? 'fail' : made.body.status === 'APPROVED' ? 'ok' : 'warn', `template ${name}`, `created (${language}), ${made.body.status}`);
    else report.fail(`template ${name}`, `Meta refused it: ${describeGraphError(made.error)}`);
  }
}

const fmt = (c: { header: number; body: number; urlButton: number }) => `header ${c.header} / body ${c.body} / URL button ${c.urlButton}`;
const templateNameVar = (key: keyof typeof templateRegistry): ConfigName => `TEMPLATE_${key.toUpperCase()}` as ConfigName;

// ---- Stripe -------------------------------------------------------------------------------

async function setupStripe(site: string | undefined): Promise<void> {
  const key = await input('STRIPE_SECRET_KEY');
  if (!key) return report.fail('stripe', 'skipped: STRIPE_SECRET_KEY is needed', 'Developers > API keys');
  if (!site) return report.fail('stripe endpoint', 'skipped: the site URL is needed (APP_BASE_URL or --site)');
  const mode = stripeKeyMode(key);
  report.info('stripe key', `${mode} mode`);
  const stripe = await stripeClient(key, readVar(env, 'STRIPE_API_BASE').value);
  const url = paymentCallbackUrl(site);
  const wanted = [...subscribedStripeEvents];
  let endpoints;
  try {
    endpoints = await listStripeEndpoints(stripe);
  } catch (e) {
    return report.fail('stripe key', `refused: ${stripeMessage(e)}`, 'use a secret key, or a restricted key with write access to Webhook Endpoints, Checkout Sessions and Refunds');
  }
  const found = endpoints.find((e) => e.url === url);
  if (found) {
    if (found.livemode !== (mode === 'live')) report.fail('stripe endpoint', `exists in ${found.livemode ? 'live' : 'test'} mode, the key is ${mode}`);
    const same = found.enabled_events.length === wanted.length && wanted.every((e) => found.enabled_events.includes(e));
    if (same) report.ok('stripe endpoint', `already exists: ${url} with the ${wanted.length} events (its signing secret was shown when it was created)`);
    else {
      try {
        await stripe.webhookEndpoints.update(found.id, { enabled_events: wanted as never });
        report.ok('stripe endpoint', `updated its events to the ${wanted.length} the shop handles`);
      } catch (e) {
        report.fail('stripe endpoint', `updating its events failed: ${stripeMessage(e)}`);
      }
    }
    if (found.status !== 'enabled') report.fail('stripe endpoint', 'is disabled', 'enable it in Developers > Webhooks');
    return;
  }
  try {
    const made = (await stripe.webhookEndpoints.create({ url, enabled_events: wanted as never, description: 'WhatsApp shop: payment-callback' })) as unknown as { secret: string; livemode: boolean };
    produced.STRIPE_WEBHOOK_SECRET = made.secret;
    env.STRIPE_WEBHOOK_SECRET = made.secret;
    report.ok('stripe endpoint', `created: ${url} with ${wanted.length} events, ${made.livemode ? 'live' : 'test'} mode; its signing secret is STRIPE_WEBHOOK_SECRET (below, once)`);
  } catch (e) {
    report.fail('stripe endpoint', `creating it failed: ${stripeMessage(e)}`);
  }
}

// ---- Netlify ------------------------------------------------------------------------------

/** What the functions read (lib/config-needs.ts), plus the ids setup/doctor use. */
const siteVariables: ConfigName[] = [
  ...new Set<ConfigName>([
    ...needs.webhookPost, ...needs.paymentCallback, ...needs.inviteRedirect, ...needs.orderApiInline, ...needs.reservationCleanup, 'WHATSAPP_VERIFY_TOKEN', 'ADMIN_API_KEY',
    'WHATSAPP_WABA_ID', 'META_APP_ID',
  ]),
].filter((n) => n !== 'DATABASE_URL' || !!env.DATABASE_URL); // Netlify Database provides it otherwise

function setupNetlify(): void {
  const secrets = new Set<string>(secretVariables);
  const rows = siteVariables.map((name) => ({ name, value: produced[name] ?? env[name], secret: secrets.has(name) }));
  const missing = rows.filter((r) => !r.value);
  if (missing.length) report.warn('netlify variables', `not known here, set them yourself: ${missing.map((r) => r.name).join(', ')}`);
  const known = rows.filter((r) => r.value);
  const envFile = option('vars-file');
  if (envFile) {
    writeFileSync(envFile, known.map((r) => `${r.name}=${r.value}`).join('\n') + '\n', { mode: 0o600 });
    chmodSync(envFile, 0o600);
    report.ok('netlify variables', `written to ${envFile} (mode 600): ${known.map((r) => r.name).join(', ')}`);
  }
  if (flag('netlify')) {
    const status = spawnSync('netlify', ['status'], { encoding: 'utf8' });
    if (status.status !== 0) return report.fail('netlify variables', 'the Netlify CLI is not logged in or the folder is not linked', 'npx netlify-cli login && npx netlify-cli link, then run setup again');
    for (const r of known) {
      const set = spawnSync('netlify', ['env:set', r.name, r.value!, '--scope', 'functions', ...(r.secret ? ['--secret'] : []), '--force'], { encoding: 'utf8' });
      if (set.status === 0) report.ok('netlify variables', `set ${r.name}${r.secret ? ' (secret)' : ''}`);
      else report.fail('netlify variables', `setting ${r.name} failed: ${(set.stderr || set.stdout).split('\n')[0]}`);
    }
    report.info('netlify variables', 'redeploy for functions to see the new values (netlify deploy --prod, or Deploys > Trigger deploy)');
    return;
  }
  // Printed as commands: a secret as a reference to the variable in your shell, never its value,
  // except a secret setup itself created (the endpoint's signing secret), shown once here.
  console.log('\nSet these on the site (scope Functions), then redeploy:');
  for (const r of known) {
    const shown = !r.secret ? JSON.stringify(r.value) : produced[r.name] && !envFile ? JSON.stringify(produced[r.name]) : `"$${r.name}"`;
    console.log(`  netlify env:set ${r.name} ${shown} --scope functions${r.secret ? ' --secret' : ''}`);
  }
  if (Object.keys(produced).some((n) => secrets.has(n)) && !envFile) console.log('  (a secret created by this run is shown once above: keep it somewhere safe; it is not printed again)');
  console.log('Every function reads the same variables; which needs which: README "What each function and script needs".');
}

// ---- Run ----------------------------------------------------------------------------------

const siteVar = await input('APP_BASE_URL');
const site = siteVar ?? undefined;
console.log(`npm run setup${site ? ` for ${site}` : ''}${interactive ? '' : ' (non-interactive)'}\n`);
if (!flag('skip-meta')) await setupMeta(site);
if (!flag('skip-stripe')) await setupStripe(site);
setupNetlify();
console.log(`\n${report.summary()}${report.failed ? ' — fix the failures and run `npm run setup` again (it keeps what exists)' : ''}`);
process.exit(report.failed ? 1 : 0);
