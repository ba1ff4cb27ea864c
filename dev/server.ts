/**
 * `npm start`: the whole shop locally on embedded defaults (no Postgres, Redis, Meta or Stripe
 * account needed). Set DATABASE_URL, UPSTASH_*, WHATSAPP_* or STRIPE_* to use real ones instead.
 */
import { mkdirSync, watch } from 'node:fs';
import path from 'node:path';
import { localSecrets, secretNames } from './local-env.js';
import { projectRoot, startLocalStack } from './stack.js';
import { sandboxRoutes } from './sandbox/routes.js';

const started = Date.now();
const pgliteDir = process.env.PGLITE_DIR ?? path.join(projectRoot, '.data', 'pglite');
mkdirSync(pgliteDir, { recursive: true });
// LOCAL_FUNCTIONS=netlify: Netlify's local runtime (a worker per request); default: in process.
const functions = process.env.LOCAL_FUNCTIONS === 'netlify' ? 'netlify' : 'in-process';
// LOCAL_SCHEDULE=off: scheduled functions run only when asked; LOCAL_SCHEDULE_EVERY_MS: at that interval instead of their cron.
const everyMs = Number(process.env.LOCAL_SCHEDULE_EVERY_MS ?? 0);
const schedule = process.env.LOCAL_SCHEDULE === 'off' ? false : everyMs > 0 ? { everyMs } : true;
const stack = await startLocalStack({
  port: Number(process.env.PORT ?? 8888),
  data: 'embedded',
  pgliteDir,
  external: process.env,
  autoStatuses: true,
  routes: sandboxRoutes,
  functions,
  schedule,
  sharedBuildFolder: true,
}).catch((error) => {
  console.error(`Could not start the shop: ${(error as Error).message}`);
  process.exit(1);
});

const shown = (name: string) => {
  const value = stack.env[name] ?? '';
  const local = (localSecrets as Record<string, string>)[name] === value;
  return secretNames.has(name) && !local ? '(set)' : value;
};
const wa = stack.env.WHATSAPP_BUSINESS_NUMBER_E164;
console.log(`
WhatsApp shop running at ${stack.url}  (started in ${Date.now() - started} ms)

Using:
  Postgres   ${stack.uses.postgres}
  Redis      ${stack.uses.redis} (rebuilt from Postgres: ${stack.redisRebuilt.skus} SKUs, ${stack.redisRebuilt.holdsRestored} holds of open orders)
  WhatsApp   ${stack.uses.whatsapp}
  Stripe     ${stack.uses.stripe}
  Functions  ${functions === 'netlify' ? "Netlify's local runtime (a worker per request)" : 'in process, routed as Netlify routes them (LOCAL_FUNCTIONS=netlify for Netlify\'s local runtime)'}
  Schedule   ${stack.scheduler ? stack.scheduler.functions.map((f) => `${f.name} ${everyMs > 0 ? `every ${everyMs} ms` : `'${f.schedule}' (UTC)`}`).join(', ') + ' (LOCAL_SCHEDULE=off to stop)' : 'off: scheduled functions run only when asked'}

Local values (only ever used locally):
  WHATSAPP_VERIFY_TOKEN  ${shown('WHATSAPP_VERIFY_TOKEN')}
  WHATSAPP_APP_SECRET    ${shown('WHATSAPP_APP_SECRET')}
  STRIPE_WEBHOOK_SECRET  ${shown('STRIPE_WEBHOOK_SECRET')}
  ADMIN_API_KEY          ${shown('ADMIN_API_KEY')}
  Business number        ${wa}

Try:
  curl '${stack.url}/.netlify/functions/webhook?hub.mode=subscribe&hub.verify_token=${shown('WHATSAPP_VERIFY_TOKEN')}&hub.challenge=42'
${stack.graph ? `  curl -X POST ${stack.graph.baseUrl.replace(/\/v[\d.]+$/, '')}/_standin/inbound -H 'content-type: application/json' -d '{"from":"4915112345678","name":"Ada","text":"menu"}'
  curl ${stack.graph.baseUrl.replace(/\/v[\d.]+$/, '')}/_standin/messages` : ''}

Endpoints:
  ${stack.url}/.netlify/functions/webhook             Meta webhook (GET verify, POST signed)
  ${stack.url}/.netlify/functions/payment-callback    Stripe webhook
  ${stack.url}/.netlify/functions/create-order-proxy  order API
  ${stack.url}/w/invite/:token                        invite redirect
  ${stack.url}/.netlify/functions/reservation-cleanup scheduled cleanup (runs on its schedule; POST to run now)
  ${stack.url}/sandbox                                browser sandbox: chat as a customer
  ${stack.url}/admin                                  shop console (sign in with ADMIN_API_KEY)

Ctrl-C to stop.`);

// Functions in process: an edit under lib/ or netlify/ loads a fresh copy of them (as Netlify's
// runtime rebuilds a changed function); a copy that fails to load leaves the previous one serving.
if (stack.reloadFunctions) {
  let timer: NodeJS.Timeout | undefined;
  let reloading = Promise.resolve();
  const changed = (file: string) => {
    if (!/\.(ts|mts|js|mjs|json)$/.test(file)) return;
    clearTimeout(timer);
    timer = setTimeout(() => {
      reloading = reloading.then(async () => {
        const t = Date.now();
        try {
          await stack.reloadFunctions!();
          console.log(`${file} changed: functions reloaded in ${Date.now() - t} ms`);
        } catch (error) {
          console.error(`${file} changed, but the functions failed to load (the previous version keeps serving): ${(error as Error).stack ?? error}`);
        }
      });
    }, 150);
  };
  for (const dir of ['lib', 'netlify']) watch(path.join(projectRoot, dir), { recursive: true }, (_, file) => file && changed(path.join(dir, file)));
}

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, async () => {
    if (stopping) return;
    stopping = true;
    console.log('\nStopping…');
    await stack.stop();
    process.exit(0);
  });
}
