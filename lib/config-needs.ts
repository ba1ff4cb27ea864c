import type { ConfigName } from './config.js';

/**
 * What each function (and code path) and script checks up front (lib/config.ts `requireConfig`).
 * Anything else is validated when a path first reads it (e.g. Stripe only when a customer buys),
 * so a missing variable fails the path that needs it and no other. README "Deploying to Netlify"
 * has the same table (tests/config.test.ts keeps them in step).
 */
const store = ['DATABASE_URL', 'UPSTASH_REDIS_REST_URL', 'UPSTASH_REDIS_REST_TOKEN'] as const;
const whatsappSend = ['WHATSAPP_PHONE_NUMBER_ID', 'WHATSAPP_ACCESS_TOKEN'] as const;

export const needs = {
  /** Meta's verification handshake: often done before anything else is set up. */
  webhookVerify: ['WHATSAPP_VERIFY_TOKEN'],
  webhookPost: ['WHATSAPP_APP_SECRET', ...store, ...whatsappSend],
  paymentCallback: ['STRIPE_WEBHOOK_SECRET', 'STRIPE_SECRET_KEY', ...store, ...whatsappSend, 'APP_BASE_URL', 'WHATSAPP_BUSINESS_NUMBER_E164'],
  inviteRedirect: ['DATABASE_URL', 'WHATSAPP_BUSINESS_NUMBER_E164'],
  /** Plus ADMIN_API_KEY, checked first (503 not_configured, lib/http/auth.ts `requireBearer`). */
  orderApiInline: [...store, ...whatsappSend, 'STRIPE_SECRET_KEY', 'APP_BASE_URL'],
  orderApiProxy: ['BACKEND_URL', 'BACKEND_SHARED_SECRET'],
  adminApi: [...store],
  reservationCleanup: [...store, ...whatsappSend, 'STRIPE_SECRET_KEY'],
  migrate: ['DATABASE_URL'],
  stockSync: [...store],
  catalogImport: [...store],
  /** The dedicated backend (`npm run backend`, dist/backend.js): the signed order API, checked at start. */
  backend: ['BACKEND_SHARED_SECRET', ...store, ...whatsappSend, 'STRIPE_SECRET_KEY', 'APP_BASE_URL'],
} as const satisfies Record<string, readonly ConfigName[]>;
