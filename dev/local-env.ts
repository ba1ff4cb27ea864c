/**
 * The values `npm start` and the tests use when no real accounts are configured. They are
 * local development values only: a deployed function with a missing variable fails with the
 * variable's name instead. Printing them is fine (they unlock nothing outside this machine).
 */
export const localSecrets = {
  WHATSAPP_PHONE_NUMBER_ID: '100000000000001',
  WHATSAPP_ACCESS_TOKEN: 'local-whatsapp-access-token',
  WHATSAPP_APP_SECRET: 'local-whatsapp-app-secret',
  WHATSAPP_VERIFY_TOKEN: 'local-verify-token',
  WHATSAPP_BUSINESS_NUMBER_E164: '+15550100001',
  WHATSAPP_CATALOG_ID: '200000000000002',
  WHATSAPP_WABA_ID: '102290129340398',
  META_APP_ID: '100000000000003',
  STRIPE_SECRET_KEY: 'sk_test_local_development_key',
  STRIPE_WEBHOOK_SECRET: 'whsec_local_development_secret',
  UPSTASH_REDIS_REST_TOKEN: 'local-upstash-token',
  ADMIN_API_KEY: 'local-admin-key',
  BACKEND_SHARED_SECRET: 'local-backend-shared-secret',
} as const;

/** Variables that are secrets: `npm start` never prints their values unless they are the local ones above. */
export const secretNames = new Set([
  'WHATSAPP_ACCESS_TOKEN', 'WHATSAPP_TOKEN', 'WHATSAPP_APP_SECRET', 'WHATSAPP_VERIFY_TOKEN', 'VERIFY_TOKEN',
  'STRIPE_SECRET_KEY', 'STRIPE_SECRET', 'STRIPE_WEBHOOK_SECRET', 'UPSTASH_REDIS_REST_TOKEN', 'ADMIN_API_KEY',
  'BACKEND_SHARED_SECRET', 'DATABASE_URL', 'NETLIFY_DATABASE_URL',
]);

/**
 * The local values that belong to a stand-in: they are used only while that stand-in runs. A user who
 * points WHATSAPP_API_BASE at another Graph API (or STRIPE_API_BASE / a Stripe key at another Stripe)
 * replaces the stand-in and with it every value derived from it: the stand-in's phone number id, token,
 * app secret, business number and catalog id are never sent to a real Graph API (issue 23).
 */
export const standInValues = {
  graph: ['WHATSAPP_PHONE_NUMBER_ID', 'WHATSAPP_ACCESS_TOKEN', 'WHATSAPP_APP_SECRET', 'WHATSAPP_BUSINESS_NUMBER_E164', 'WHATSAPP_CATALOG_ID'],
  stripe: ['STRIPE_SECRET_KEY', 'STRIPE_WEBHOOK_SECRET'],
} as const;
/** Of those, the ones the shop cannot run without (WHATSAPP_CATALOG_ID is optional: no catalog id, no catalog push). */
const optionalWithoutStandIn = new Set<string>(['WHATSAPP_CATALOG_ID']);
const aliases: Record<string, string[]> = { WHATSAPP_ACCESS_TOKEN: ['WHATSAPP_TOKEN'], WHATSAPP_VERIFY_TOKEN: ['VERIFY_TOKEN'], STRIPE_SECRET_KEY: ['STRIPE_SECRET'] };

export class LocalConfigError extends Error {}

/**
 * The secrets and ids `npm start` gives the functions, from what the user set (`ext`): each variable set
 * wins; an unset one takes its local value only while the stand-in it belongs to runs (`standIns`). With
 * another Graph API / Stripe, a required value left unset fails start-up by name; an optional one stays unset.
 */
export function localSecretValues(ext: Record<string, string | undefined>, standIns: { graph: boolean; stripe: boolean }): Record<string, string> {
  const pick = (name: string) => [name, ...(aliases[name] ?? [])].map((n) => ext[n]).find((v) => v !== undefined && v !== '');
  const owner = (name: string) => (Object.keys(standInValues) as (keyof typeof standInValues)[]).find((k) => (standInValues[k] as readonly string[]).includes(name));
  const env: Record<string, string> = {};
  const missing: string[] = [];
  for (const [name, value] of Object.entries(localSecrets)) {
    if (name === 'UPSTASH_REDIS_REST_TOKEN') continue;
    const set = pick(name);
    const by = owner(name);
    if (set !== undefined) env[name] = set;
    else if (!by || standIns[by]) env[name] = value;
    else if (!optionalWithoutStandIn.has(name)) missing.push(name);
  }
  if (missing.length) {
    const what = [!standIns.graph && 'WHATSAPP_API_BASE (another Graph API than the local stand-in)', !standIns.stripe && 'STRIPE_API_BASE / a Stripe key (another Stripe than the local stand-in)'].filter(Boolean).join(' and ');
    throw new LocalConfigError(`${what} is set, so the local stand-in's values are not used: set ${missing.join(', ')}`);
  }
  return env;
}
