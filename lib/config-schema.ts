import { z } from './zod.js';

/**
 * The variables' schema: each variable's rule, default and normalisation (the forms people really paste),
 * in the order of lib/config.ts's `configNames`. Built, and zod loaded, on the first read of a variable that
 * needs it; lib/config.ts reads the environment and validates through it.
 */

/** LOG_LEVEL's values, most verbose first. */
export const logLevels = ['debug', 'info', 'warn', 'error', 'silent'] as const;
export type LogLevel = (typeof logLevels)[number];

const GRAPH_VERSION = 'v21.0';
const ENCODE_HINT = 'percent-encode special characters in the user name and password (/ → %2F, # → %23, ? → %3F, @ → %40, : → %3A)';

/** The schema, built (and zod loaded) on the first read of a variable that isn't plain text. */
export function buildSchema() {
  const nonEmpty = z.string().trim().min(1);
  const url = z.url({ protocol: /^https?$/ }).transform((u) => u.replace(/\/+$/, ''));
  const positiveInt = (fallback: number) => z.coerce.number().int().positive().default(fallback);

  /** A token as pasted: a leading "Bearer " (copied from a curl example) is dropped. */
  const token = nonEmpty.transform((t) => t.replace(/^Bearer\s+/i, ''));

  /** 15550783881, +1 555-078-3881, 0015550783881 → +15550783881 (the spec writes it without +). */
  const e164 = z
    .string()
    .transform((s) => s.trim().replace(/[\s\-().]/g, '').replace(/^00/, '+'))
    .transform((s) => (s.startsWith('+') ? s : `+${s}`))
    .pipe(z.string().regex(/^\+[1-9]\d{7,14}$/, 'must be a phone number in international form, e.g. 15550783881 or +1 555 078 3881'));

  /** https://graph.facebook.com, …/, …/v21.0, …/v21.0/ → a base ending in the API version. */
  const graphBase = url.transform((u) => (/\/v\d+(\.\d+)?$/.test(u) ? u : `${u}/${GRAPH_VERSION}`));

  /**
   * A postgres:// URL whose parts survive parsing. A `/`, `#`, `?` or `@` left raw in a password
   * (common in generated ones) silently moves the rest into the path or host, and the driver's
   * error would then print the whole string: refuse it here, explaining percent-encoding.
   */
  const databaseUrl = z.string().trim().superRefine((value, ctx) => {
    if (!/^postgres(ql)?:\/\//i.test(value)) return void ctx.addIssue({ code: 'custom', message: 'must be a postgres:// or postgresql:// connection string' });
    let u: URL;
    try {
      u = new URL(value);
    } catch {
      return void ctx.addIssue({ code: 'custom', message: `is not a valid URL; ${ENCODE_HINT}` });
    }
    const rest = `${u.pathname}${u.search}${u.hash}`;
    if (!u.hostname || /[@#]/.test(rest) || /[/#?@]/.test(u.password) || u.hash)
      return void ctx.addIssue({ code: 'custom', message: `does not parse as user:password@host/database; ${ENCODE_HINT}` });
    if (!/^\/[^/]+$/.test(u.pathname)) ctx.addIssue({ code: 'custom', message: 'must name a database, e.g. postgresql://user:password@host/shop' });
  });

  /** A JSON value in one variable, validated by `inner` (a parse error names the variable, never its value). */
  const jsonOf = <T extends z.ZodType>(inner: T) =>
    z
      .string()
      .transform((s, ctx) => {
        try {
          return JSON.parse(s) as unknown;
        } catch {
          ctx.addIssue({ code: 'custom', message: 'must be JSON (see .env.example)' });
          return z.NEVER;
        }
      })
      .pipe(inner);
  const slug = (s: string) => s.toLowerCase().normalize('NFKD').replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '') || 'rate';
  const shippingRate = z
    .object({
      id: z.string().trim().regex(/^[a-z0-9][a-z0-9_-]{0,39}$/, 'must be lowercase letters, digits, - or _').optional(),
      name: z.string().trim().min(1).max(100),
      amountMinor: z.number().int().min(0).max(99_999_999),
      currency: z.string().regex(/^[A-Za-z]{3}$/, 'must be an ISO currency code').transform((c) => c.toUpperCase()),
      minDays: z.number().int().min(1).max(365).optional(),
      maxDays: z.number().int().min(1).max(365).optional(),
      freeOverMinor: z.number().int().min(0).optional(),
    })
    .strict()
    .refine((r) => r.minDays === undefined || r.maxDays === undefined || r.minDays <= r.maxDays, 'minDays must not exceed maxDays')
    .transform((r) => ({ ...r, id: r.id ?? slug(r.name) }));

  return z.object({
    DATABASE_URL: databaseUrl,
    UPSTASH_REDIS_REST_URL: url,
    UPSTASH_REDIS_REST_TOKEN: token,
    WHATSAPP_PHONE_NUMBER_ID: nonEmpty.regex(/^\d+$/, 'must be the numeric phone number id (WhatsApp > API setup), not the phone number'),
    WHATSAPP_ACCESS_TOKEN: token,
    WHATSAPP_APP_SECRET: nonEmpty,
    WHATSAPP_VERIFY_TOKEN: nonEmpty,
    WHATSAPP_BUSINESS_NUMBER_E164: e164,
    WHATSAPP_API_BASE: graphBase.default(`https://graph.facebook.com/${GRAPH_VERSION}`),
    WHATSAPP_CATALOG_ID: nonEmpty.optional(),
    /** The business number's throughput level (Meta: 80 by default, 1 000 after its automatic upgrade). */
    WHATSAPP_SENDS_PER_SECOND: positiveInt(80),
    /** WhatsApp Business Account id: `npm run setup` / `npm run doctor` (subscriptions, templates), the inbox's template list. */
    WHATSAPP_WABA_ID: nonEmpty.regex(/^\d+$/, 'must be the numeric WhatsApp Business Account id (WhatsApp > API setup)').optional(),
    /** Meta app id: only `npm run setup` / `npm run doctor` use it (the app's webhook subscription). */
    META_APP_ID: nonEmpty.regex(/^\d+$/, 'must be the numeric app id (App settings > Basic)').optional(),
    /** on: "menu" sends Meta catalog messages (needs WHATSAPP_CATALOG_ID connected to the number); off: the interactive list. */
    WHATSAPP_CATALOG_MESSAGES: z.enum(['on', 'off']).default('off'),
    /** on: the catalog push also creates/updates the items themselves (title, description, image, link, category). */
    CATALOG_PUSH_ITEMS: z.enum(['on', 'off']).default('off'),
    STRIPE_SECRET_KEY: token.pipe(z.string().regex(/^(sk|rk)_/, 'must be a secret (sk_…) or restricted (rk_…) key, not the publishable pk_… key')),
    STRIPE_WEBHOOK_SECRET: nonEmpty.regex(/^whsec_/, "must be the endpoint's signing secret (whsec_…)"),
    STRIPE_API_BASE: url.optional(),
    APP_BASE_URL: url,
    BACKEND_MODE: z.enum(['inline', 'proxy']).default('inline'),
    BACKEND_URL: url.optional(),
    BACKEND_SHARED_SECRET: nonEmpty.optional(),
    /** How long the proxy waits for the backend before answering 504 (ms; under Netlify's synchronous limit). */
    BACKEND_TIMEOUT_MS: z.coerce.number().int().min(100).max(25_000).default(8_000),
    /** The dedicated backend: after SIGTERM, how long it keeps answering (503) before it stops accepting (s). */
    BACKEND_DRAIN_SECONDS: z.coerce.number().int().min(0).max(300).default(10),
    ADMIN_API_KEY: nonEmpty.optional(),
    /** Listening port of the dedicated backend (`npm run backend`); unused by functions. */
    PORT: z.coerce.number().int().min(0).max(65535).default(8787),
    RESERVATION_TTL_SECONDS: positiveInt(600),
    MAX_QUANTITY_PER_LINE: positiveInt(10),
    MAX_ACTIVE_HOLDS_PER_CUSTOMER: positiveInt(3),
    /** A catalog import that sets a SKU's stock below the units open orders hold: refuse that SKU, or apply it and release (cancel) the newest holds. */
    STOCK_BELOW_HELD: z.enum(['refuse', 'release'], { error: 'must be refuse or release' }).default('refuse'),
    /** Second chances (docs/second-chances.md): 0 turns reminders / the extension off. */
    REMINDER_BEFORE_SECONDS: z.coerce.number().int().min(0).default(180),
    HOLD_EXTENSION_SECONDS: z.coerce.number().int().min(0).default(600),
    WAITLIST_HOLD_SECONDS: positiveInt(900),
    WAITLIST_MAX_PER_CUSTOMER: positiveInt(5),
    PROACTIVE_DAILY_CAP: positiveInt(3),
    INVITE_TTL_DAYS: positiveInt(90),
    TEMPLATE_LANGUAGE: nonEmpty.default('en'),
    TEMPLATE_ORDER_CONFIRMED: nonEmpty.default('order_confirmed'),
    TEMPLATE_ORDER_INVITE_LINK: nonEmpty.default('order_invite_link'),
    TEMPLATE_ORDER_SHIPPED: nonEmpty.default('order_shipped'),
    TEMPLATE_OFFLINE_PAYMENT: nonEmpty.default('offline_payment'),
    TEMPLATE_HOLD_EXPIRED: nonEmpty.default('hold_expired'),
    TEMPLATE_BACK_IN_STOCK: nonEmpty.default('back_in_stock'),
    SHOP_NAME: nonEmpty.default('Our shop'),
    OPS_ALERT_WEBHOOK_URL: url.optional(),
    LOG_LEVEL: z.enum(logLevels).default('info'),
    /** Fulfilment (docs/fulfilment.md): ISO countries shipped to (comma-separated); unset: the shop ships nothing (no address collected). */
    SHIPPING_COUNTRIES: z
      .string()
      .transform((s) => s.split(/[\s,]+/).filter(Boolean).map((c) => c.toUpperCase()))
      .pipe(z.array(z.string().regex(/^[A-Z]{2}$/, 'must be two-letter ISO country codes, e.g. DE,AT,NL')).min(1))
      .optional(),
    /** JSON array of rates: [{"name":"Standard","amountMinor":490,"currency":"EUR","minDays":2,"maxDays":4,"freeOverMinor":5000}] (id defaults to the name's slug). */
    SHIPPING_RATES: jsonOf(z.array(shippingRate).max(5, 'Stripe Checkout offers at most 5 shipping options')).refine(
      (rates) => new Set(rates.map((r) => r.id)).size === rates.length,
      'rate ids (or names) must be distinct',
    ).default([]),
    /** JSON {"address":"Teestraße 1, 10115 Berlin","hours":"Mon–Fri 10–18"}: offered as a free "Pickup" option. */
    SHIPPING_PICKUP: jsonOf(z.object({ address: z.string().trim().min(1).max(200), hours: z.string().trim().min(1).max(200), name: z.string().trim().min(1).max(100).default('Pickup') }).strict()).optional(),
    /** Stripe Tax on Checkout (automatic_tax); the tax is recorded on the order. */
    STRIPE_AUTOMATIC_TAX: z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1').default(false),
    TEMPLATE_ORDER_DELIVERED: nonEmpty.default('order_delivered'),
    TEMPLATE_ORDER_READY_FOR_PICKUP: nonEmpty.default('order_ready_for_pickup'),
    /** Local development only: where the Neon HTTP driver sends SQL (a local bridge). Unset in production. */
    NEON_FETCH_ENDPOINT: url.optional(),
    // Team inbox (lib/inbox, docs/inbox.md).
    /** Named staff keys: "alice:key1,bob:key2" or JSON {"alice":"key1"}; each answer and action is attributed to its name. */
    ADMIN_API_KEYS: nonEmpty.optional(),
    SHOP_HOURS: nonEmpty.optional(),
    INBOX_HANDOVER_KEYWORDS: nonEmpty.default('human,agent,person,talk to someone,talk to a person,real person,operator'),
    INBOX_IDLE_RETURN_MINUTES: positiveInt(240),
    INBOX_UNANSWERED_ALERT_MINUTES: positiveInt(30),
    INBOX_RETENTION_DAYS: positiveInt(90),
    INBOX_MEDIA_MAX_BYTES: positiveInt(16 * 1024 * 1024),
    /** Optional folder keeping a copy of fetched media (local: under .data/), so it outlives Meta's retention. */
    INBOX_MEDIA_CACHE_DIR: nonEmpty.optional(),
  });
}
