import { buildSchema, logLevels, type LogLevel } from './config-schema.js';
import type { z } from './zod.js';

/**
 * The one place that reads process.env, validated with zod. Lazily: reading `getConfig().X`
 * validates X (and only X) the first time, so each function and script needs exactly the
 * variables its code path reads; `requireConfig([...])` checks a path's declared list up front.
 * A missing or malformed variable throws ConfigError naming the variable, never its value
 * (a secret can't leak into an error or a log). Forms people really paste are accepted and
 * normalised once here: numbers with or without +, spaces or dashes; URLs with or without a
 * trailing slash; the Graph API base with or without its version.
 * zod itself is loaded when a variable that needs it is first read (lib/zod.ts): the schema
 * (lib/config-schema.ts) is built then, and variables whose only rule is "set" are checked without it
 * (`plainText`).
 */

let built: ReturnType<typeof buildSchema> | undefined;
const schema = () => (built ??= buildSchema());

export type Config = Readonly<z.infer<ReturnType<typeof buildSchema>>>;
export type ConfigName = keyof Config;

/** Every variable, in the schema's order (listed here so that naming them doesn't load zod; a test keeps both in step). */
export const configNames: readonly ConfigName[] = [
  'DATABASE_URL', 'UPSTASH_REDIS_REST_URL', 'UPSTASH_REDIS_REST_TOKEN', 'WHATSAPP_PHONE_NUMBER_ID',
  'WHATSAPP_ACCESS_TOKEN', 'WHATSAPP_APP_SECRET', 'WHATSAPP_VERIFY_TOKEN', 'WHATSAPP_BUSINESS_NUMBER_E164',
  'WHATSAPP_API_BASE', 'WHATSAPP_CATALOG_ID', 'WHATSAPP_SENDS_PER_SECOND', 'WHATSAPP_WABA_ID', 'META_APP_ID',
  'WHATSAPP_CATALOG_MESSAGES', 'CATALOG_PUSH_ITEMS', 'STRIPE_SECRET_KEY', 'STRIPE_WEBHOOK_SECRET', 'STRIPE_API_BASE',
  'APP_BASE_URL', 'BACKEND_MODE', 'BACKEND_URL', 'BACKEND_SHARED_SECRET', 'BACKEND_TIMEOUT_MS',
  'BACKEND_DRAIN_SECONDS', 'ADMIN_API_KEY', 'PORT', 'RESERVATION_TTL_SECONDS', 'MAX_QUANTITY_PER_LINE',
  'MAX_ACTIVE_HOLDS_PER_CUSTOMER', 'STOCK_BELOW_HELD', 'REMINDER_BEFORE_SECONDS', 'HOLD_EXTENSION_SECONDS',
  'WAITLIST_HOLD_SECONDS', 'WAITLIST_MAX_PER_CUSTOMER', 'PROACTIVE_DAILY_CAP', 'INVITE_TTL_DAYS',
  'TEMPLATE_LANGUAGE', 'TEMPLATE_ORDER_CONFIRMED', 'TEMPLATE_ORDER_INVITE_LINK', 'TEMPLATE_ORDER_SHIPPED',
  'TEMPLATE_OFFLINE_PAYMENT', 'TEMPLATE_HOLD_EXPIRED', 'TEMPLATE_BACK_IN_STOCK', 'SHOP_NAME',
  'OPS_ALERT_WEBHOOK_URL', 'LOG_LEVEL', 'SHIPPING_COUNTRIES', 'SHIPPING_RATES', 'SHIPPING_PICKUP',
  'STRIPE_AUTOMATIC_TAX', 'TEMPLATE_ORDER_DELIVERED', 'TEMPLATE_ORDER_READY_FOR_PICKUP', 'NEON_FETCH_ENDPOINT',
  'ADMIN_API_KEYS', 'SHOP_HOURS', 'INBOX_HANDOVER_KEYWORDS', 'INBOX_IDLE_RETURN_MINUTES',
  'INBOX_UNANSWERED_ALERT_MINUTES', 'INBOX_RETENTION_DAYS', 'INBOX_MEDIA_MAX_BYTES', 'INBOX_MEDIA_CACHE_DIR',
];

/** The schema's plain `nonEmpty` secrets, checked without zod: the webhook's handshake and signature check read only these. */
const plainText: ReadonlySet<ConfigName> = new Set(['WHATSAPP_VERIFY_TOKEN', 'WHATSAPP_APP_SECRET']);

/** Whether validating these variables needs zod (the plain-text ones don't). */
export const needsZod = (names: readonly ConfigName[]): boolean => names.some((n) => !plainText.has(n));

/** The schema itself, for tests. */
export const configSchema = () => schema();

/**
 * Accepted aliases, in priority order after the canonical name (the spec's names, Netlify's own).
 * DATABASE_URL: a shop's own Neon project wins; else Netlify Database's connection string for this
 * deploy (NETLIFY_DB_URL, injected by Netlify's runtime: production's database on production, the
 * deploy preview's own branch on a preview; read as `@netlify/database` getConnectionString() reads
 * it, see `netlifyRuntimeEnv`); else the deprecated Netlify DB extension's NETLIFY_DATABASE_URL.
 */
export const aliases: Partial<Record<ConfigName, string[]>> = {
  DATABASE_URL: ['NETLIFY_DB_URL', 'NETLIFY_DATABASE_URL'],
  WHATSAPP_ACCESS_TOKEN: ['WHATSAPP_TOKEN'],
  WHATSAPP_VERIFY_TOKEN: ['VERIFY_TOKEN'],
  STRIPE_SECRET_KEY: ['STRIPE_SECRET'],
  APP_BASE_URL: ['BASE_URL', 'URL'],
};

export { logLevels, type LogLevel } from './config-schema.js';

/**
 * LOG_LEVEL as lib/log.ts reads it on every line: without zod and without throwing, so logging works
 * before any validation and costs a cold start nothing; unset or malformed → `info`
 * (getConfig().LOG_LEVEL still names a malformed value when a path validates it).
 */
export function logLevel(): LogLevel {
  const raw = rawValue(process.env, 'LOG_LEVEL');
  return (logLevels as readonly (string | undefined)[]).includes(raw) ? (raw as LogLevel) : 'info';
}

export class ConfigError extends Error {
  constructor(readonly variables: string[]) {
    super(`Invalid or missing configuration: ${variables.join(', ')}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

/**
 * Netlify Database's variable as `@netlify/database` reads it (getConnectionString → @netlify/runtime-utils
 * getEnvironment): the `Netlify.env` global of Netlify's runtime when there is one, else process.env.
 * Read here without loading that package (it would weigh on every cold start).
 */
const NETLIFY_DB_URL = 'NETLIFY_DB_URL';
function netlifyRuntimeEnv(name: string): string | undefined {
  const netlify = (globalThis as { Netlify?: { env?: { get?: (key: string) => string | undefined } } }).Netlify;
  return netlify?.env?.get?.(name) ?? undefined;
}

/** The raw value of a variable or its first alias set; one pair of surrounding quotes (from a pasted .env line) dropped. */
function rawValue(env: Env, name: ConfigName): string | undefined {
  // Read on every config access (values follow process.env): no arrays or regular expressions on the common path.
  let found = lookupVariable(env, name);
  for (const alias of aliases[name] ?? []) {
    if (found !== undefined && found.trim() !== '') break;
    found = lookupVariable(env, alias);
  }
  if (found === undefined || found.trim() === '') return undefined;
  found = found.trim();
  const q = found[0];
  return (q === '"' || q === "'") && found.length > 1 && found.endsWith(q) ? found.slice(1, -1) : found;
}
function lookupVariable(env: Env, n: string): string | undefined {
  return n === NETLIFY_DB_URL ? (netlifyRuntimeEnv(n) ?? env[n]) : env[n];
}

function describe(name: ConfigName, issue: z.ZodIssue | undefined, raw: string | undefined): string {
  const alt = aliases[name];
  const label = alt ? `${name} (or ${alt.join(', ')})` : name;
  return raw === undefined ? `${label} is missing` : `${label}: ${issue?.message ?? 'is invalid'}`;
}

type Parsed = { ok: true; value: unknown } | { ok: false; problem: string };

function parseOne(env: Env, name: ConfigName): Parsed {
  const raw = rawValue(env, name);
  // rawValue is already trimmed, unquoted and undefined when blank: all that nonEmpty checks.
  if (plainText.has(name)) return raw === undefined ? { ok: false, problem: describe(name, undefined, raw) } : { ok: true, value: raw };
  const result = schema().shape[name].safeParse(raw);
  return result.success ? { ok: true, value: result.data } : { ok: false, problem: describe(name, result.error.issues[0], raw) };
}

/** Validates the named variables (all of them by default) at once; every problem in one ConfigError. */
export function parseConfig(env: Env, names: readonly ConfigName[] = configNames): Config {
  const out: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const name of names) {
    const r = parseOne(env, name);
    if (r.ok) out[name] = r.value;
    else problems.push(r.problem);
  }
  if (problems.length) throw new ConfigError(problems);
  return Object.freeze(out) as Config;
}

// Per variable, the last raw value seen and its parsed value: re-parsed only when process.env changes.
const cache = new Map<ConfigName, { raw: string | undefined; parsed: Parsed }>();

function readVariable(name: ConfigName): unknown {
  const raw = rawValue(process.env, name);
  let entry = cache.get(name);
  if (!entry || entry.raw !== raw) {
    entry = { raw, parsed: parseOne(process.env, name) };
    cache.set(name, entry);
  }
  if (!entry.parsed.ok) throw new ConfigError([entry.parsed.problem]);
  return entry.parsed.value;
}

const nameSet: ReadonlySet<string> = new Set(configNames);
const isName = (prop: string | symbol): prop is ConfigName => typeof prop === 'string' && nameSet.has(prop);

const lazyConfig = new Proxy({} as Config, {
  get: (_t, prop) => (isName(prop) ? readVariable(prop) : undefined),
  has: (_t, prop) => isName(prop),
  ownKeys: () => configNames,
  getOwnPropertyDescriptor: (_t, prop) =>
    isName(prop) ? { enumerable: true, configurable: true, value: readVariable(prop as ConfigName) } : undefined,
  set: () => false,
});

/**
 * This process's config. Reading a variable validates it (ConfigError naming it when missing or
 * malformed); values follow process.env (tests, the local runtime).
 */
export function getConfig(): Config {
  return lazyConfig;
}

/** Checks a code path's declared variables up front (every problem at once), then returns the lazy config. */
export function requireConfig(names: readonly ConfigName[]): Config {
  const problems: string[] = [];
  for (const name of names) {
    try {
      // Declared means required, even where the schema allows it unset (ADMIN_API_KEY, BACKEND_*).
      if (readVariable(name) === undefined) problems.push(describe(name, undefined, undefined));
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      problems.push(...error.variables);
    }
  }
  if (problems.length) throw new ConfigError(problems);
  return lazyConfig;
}

/** Variables whose values are secrets (with their aliases): lib/log.ts redacts these values from every line. */
export const secretVariables = [
  'DATABASE_URL', 'NETLIFY_DB_URL', 'NETLIFY_DATABASE_URL', 'UPSTASH_REDIS_REST_TOKEN', 'WHATSAPP_ACCESS_TOKEN', 'WHATSAPP_TOKEN',
  'WHATSAPP_APP_SECRET', 'WHATSAPP_VERIFY_TOKEN', 'VERIFY_TOKEN', 'STRIPE_SECRET_KEY', 'STRIPE_SECRET',
  'STRIPE_WEBHOOK_SECRET', 'BACKEND_SHARED_SECRET', 'ADMIN_API_KEY', 'ADMIN_API_KEYS',
] as const;

function staffKeyValues(value: string): string[] {
  try {
    if (value.startsWith('{')) return Object.values(JSON.parse(value) as Record<string, unknown>).filter((k): k is string => typeof k === 'string' && k.length > 0);
  } catch {
    return [];
  }
  return value.split(',').map((pair) => pair.slice(pair.indexOf(':') + 1).trim()).filter((k) => k.length > 0);
}

/**
 * The raw configured secret values (unvalidated: a malformed one must be redacted too), with the
 * password of any connection string on its own, raw and percent-decoded.
 */
export function configuredSecrets(env: Env = process.env): { name: string; value: string }[] {
  const out: { name: string; value: string }[] = [];
  for (const name of secretVariables) {
    const raw = (name === NETLIFY_DB_URL ? (netlifyRuntimeEnv(name) ?? env[name]) : env[name])?.trim();
    if (!raw) continue;
    // Also the value as config uses it (quotes and a `Bearer ` prefix dropped), which is what a log would quote.
    const value = raw.replace(/^(["'])(.*)\1$/s, '$2').trim().replace(/^Bearer\s+/i, '');
    if (value !== raw) out.push({ name, value: raw });
    if (!value) continue;
    out.push({ name, value });
    // Each named staff key on its own ("alice:key1,bob:key2" or JSON {"alice": "key1"}).
    if (name === 'ADMIN_API_KEYS') for (const key of staffKeyValues(value)) out.push({ name: `${name} key`, value: key });
    const password = /^[a-z][a-z0-9+.-]*:\/\/[^:/?#]*:(.*)@[^@]*$/i.exec(value)?.[1];
    if (password) {
      out.push({ name: `${name} password`, value: password });
      try {
        out.push({ name: `${name} password`, value: decodeURIComponent(password) });
      } catch {
        // not percent-encoded
      }
    }
  }
  return out;
}
