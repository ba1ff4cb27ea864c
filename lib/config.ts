import { z } from 'zod';

/**
 * The one place that reads process.env. Every value is validated with zod;
 * a missing or malformed variable fails with the variable's name only
 * (values are never echoed, so a secret can't leak into an error or a log).
 */

const nonEmpty = z.string().trim().min(1);
const url = z.url({ protocol: /^https?$/ });
const e164 = z.string().regex(/^\+[1-9]\d{7,14}$/, 'must be E.164, e.g. +14155550100');
const positiveInt = (fallback: number) => z.coerce.number().int().positive().default(fallback);

const schema = z.object({
  DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// connection string'),
  UPSTASH_REDIS_REST_URL: url,
  UPSTASH_REDIS_REST_TOKEN: nonEmpty,
  WHATSAPP_PHONE_NUMBER_ID: nonEmpty,
  WHATSAPP_ACCESS_TOKEN: nonEmpty,
  WHATSAPP_APP_SECRET: nonEmpty,
  WHATSAPP_VERIFY_TOKEN: nonEmpty,
  WHATSAPP_BUSINESS_NUMBER_E164: e164,
  WHATSAPP_API_BASE: url.default('https://graph.facebook.com/v21.0'),
  WHATSAPP_CATALOG_ID: nonEmpty.optional(),
  STRIPE_SECRET_KEY: nonEmpty,
  STRIPE_WEBHOOK_SECRET: nonEmpty,
  STRIPE_API_BASE: url.optional(),
  APP_BASE_URL: url,
  BACKEND_MODE: z.enum(['inline', 'proxy']).default('inline'),
  BACKEND_URL: url.optional(),
  BACKEND_SHARED_SECRET: nonEmpty.optional(),
  ADMIN_API_KEY: nonEmpty.optional(),
  /** Listening port of the dedicated backend (`npm run backend`); unused by functions. */
  PORT: z.coerce.number().int().min(0).max(65535).default(8787),
  RESERVATION_TTL_SECONDS: positiveInt(600),
  MAX_QUANTITY_PER_LINE: positiveInt(10),
  MAX_ACTIVE_HOLDS_PER_CUSTOMER: positiveInt(3),
  INVITE_TTL_DAYS: positiveInt(90),
  TEMPLATE_LANGUAGE: nonEmpty.default('en'),
  TEMPLATE_ORDER_CONFIRMED: nonEmpty.default('order_confirmed'),
  TEMPLATE_ORDER_INVITE_LINK: nonEmpty.default('order_invite_link'),
  TEMPLATE_ORDER_SHIPPED: nonEmpty.default('order_shipped'),
  TEMPLATE_OFFLINE_PAYMENT: nonEmpty.default('offline_payment'),
  TEMPLATE_HOLD_EXPIRED: nonEmpty.default('hold_expired'),
  SHOP_NAME: nonEmpty.default('Our shop'),
  OPS_ALERT_WEBHOOK_URL: url.optional(),
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error', 'silent']).default('info'),
  /** Local development only: where the Neon HTTP driver sends SQL (a local bridge). Unset in production. */
  NEON_FETCH_ENDPOINT: url.optional(),
});

export type Config = z.infer<typeof schema>;

/** Accepted aliases, in priority order after the canonical name. */
const aliases: Record<string, string[]> = {
  DATABASE_URL: ['NETLIFY_DATABASE_URL'],
  WHATSAPP_ACCESS_TOKEN: ['WHATSAPP_TOKEN'],
  WHATSAPP_VERIFY_TOKEN: ['VERIFY_TOKEN'],
  STRIPE_SECRET_KEY: ['STRIPE_SECRET'],
  APP_BASE_URL: ['BASE_URL', 'URL'],
};

export class ConfigError extends Error {
  constructor(readonly variables: string[]) {
    super(`Invalid or missing configuration: ${variables.join(', ')}`);
    this.name = 'ConfigError';
  }
}

export function parseConfig(env: Record<string, string | undefined>): Config {
  const input: Record<string, string | undefined> = {};
  for (const key of Object.keys(schema.shape)) {
    const names = [key, ...(aliases[key] ?? [])];
    const name = names.find((n) => env[n] !== undefined && env[n] !== '');
    input[key] = name ? env[name] : undefined;
  }
  const result = schema.safeParse(input);
  if (!result.success) {
    const names = [...new Set(result.error.issues.map((i) => String(i.path[0])))];
    throw new ConfigError(names.map((n) => describe(n, result.error.issues.find((i) => i.path[0] === n)!.message)));
  }
  return Object.freeze({ ...result.data, APP_BASE_URL: result.data.APP_BASE_URL.replace(/\/+$/, '') });
}

function describe(name: string, message: string): string {
  const alt = aliases[name];
  const label = alt ? `${name} (or ${alt.join(', ')})` : name;
  return message.startsWith('Invalid input: expected') && message.endsWith('received undefined') ? `${label} is missing` : `${label}: ${message}`;
}

let cached: { env: NodeJS.ProcessEnv; snapshot: string; config: Config } | undefined;

/** Parsed config for this process; re-parsed when process.env changed (tests, local runtime). */
export function getConfig(): Config {
  const snapshot = envSnapshot();
  if (cached && cached.snapshot === snapshot) return cached.config;
  const config = parseConfig(process.env);
  cached = { env: process.env, snapshot, config };
  return config;
}

function envSnapshot(): string {
  let s = '';
  for (const key of Object.keys(schema.shape)) {
    for (const n of [key, ...(aliases[key] ?? [])]) s += `${n}=${process.env[n] ?? ''}\n`;
  }
  return s;
}
