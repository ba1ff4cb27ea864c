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
