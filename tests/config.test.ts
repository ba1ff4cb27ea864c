import { describe, expect, it } from 'vitest';
import { ConfigError, configNames, configSchema, getConfig, parseConfig, requireConfig } from '../lib/config.js';
import { needs } from '../lib/config-needs.js';

const complete = {
  DATABASE_URL: 'postgresql://u:secret-pw@host/db',
  UPSTASH_REDIS_REST_URL: 'https://x.upstash.io',
  UPSTASH_REDIS_REST_TOKEN: 'tok-secret',
  WHATSAPP_PHONE_NUMBER_ID: '123',
  WHATSAPP_ACCESS_TOKEN: 'EAAsecret',
  WHATSAPP_APP_SECRET: 'app-secret',
  WHATSAPP_VERIFY_TOKEN: 'verify',
  WHATSAPP_BUSINESS_NUMBER_E164: '+15550100001',
  STRIPE_SECRET_KEY: 'sk_test_x',
  STRIPE_WEBHOOK_SECRET: 'whsec_x',
  APP_BASE_URL: 'https://shop.example/',
};

describe('config', () => {
  it('names every variable of the schema, in order (the list exists so that naming them loads no zod)', () => {
    expect(configNames).toEqual(Object.keys(configSchema().shape));
  });

  it('checks the plain-text secrets without zod exactly as the schema would: trimmed, unquoted, never blank', () => {
    for (const name of ['WHATSAPP_VERIFY_TOKEN', 'WHATSAPP_APP_SECRET'] as const) {
      expect(configSchema().shape[name].def.type).toBe('string');
      expect(parseConfig({ [name]: '  "tok en"  ' }, [name])[name]).toBe('tok en');
      for (const blank of ['', '   ', undefined]) expect(() => parseConfig({ [name]: blank }, [name])).toThrow(`${name}`);
    }
  });

  it('parses a complete environment with defaults', () => {
    const c = parseConfig(complete);
    expect(c.WHATSAPP_API_BASE).toBe('https://graph.facebook.com/v21.0');
    expect(c.BACKEND_MODE).toBe('inline');
    expect(c.RESERVATION_TTL_SECONDS).toBe(600);
    expect(c.APP_BASE_URL).toBe('https://shop.example');
  });

  it('accepts the documented aliases', () => {
    const { DATABASE_URL, WHATSAPP_ACCESS_TOKEN, WHATSAPP_VERIFY_TOKEN, STRIPE_SECRET_KEY, APP_BASE_URL, ...rest } = complete;
    const c = parseConfig({
      ...rest,
      NETLIFY_DATABASE_URL: DATABASE_URL,
      WHATSAPP_TOKEN: WHATSAPP_ACCESS_TOKEN,
      VERIFY_TOKEN: WHATSAPP_VERIFY_TOKEN,
      STRIPE_SECRET: STRIPE_SECRET_KEY,
      URL: 'https://from-netlify.netlify.app',
    });
    expect(c.DATABASE_URL).toBe(DATABASE_URL);
    expect(c.WHATSAPP_ACCESS_TOKEN).toBe(WHATSAPP_ACCESS_TOKEN);
    expect(c.STRIPE_SECRET_KEY).toBe(STRIPE_SECRET_KEY);
    expect(c.APP_BASE_URL).toBe('https://from-netlify.netlify.app');
    expect(parseConfig({ ...complete, BASE_URL: 'https://ignored.example' }).APP_BASE_URL).toBe('https://shop.example');
  });

  it('names every missing or malformed variable and never echoes a value', () => {
    const { WHATSAPP_APP_SECRET: _drop, ...rest } = complete;
    let error: unknown;
    try {
      parseConfig({ ...rest, RESERVATION_TTL_SECONDS: 'ten', WHATSAPP_BUSINESS_NUMBER_E164: '0049 151', DATABASE_URL: 'mysql://u:secret-pw@h/db' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    for (const name of ['WHATSAPP_APP_SECRET is missing', 'RESERVATION_TTL_SECONDS', 'WHATSAPP_BUSINESS_NUMBER_E164', 'DATABASE_URL (or NETLIFY_DB_URL, NETLIFY_DATABASE_URL)'])
      expect(message).toContain(name);
    expect(message).not.toContain('secret-pw');
    expect(message).not.toContain('0049');
  });

  it('requires an enum value for BACKEND_MODE', () => {
    expect(() => parseConfig({ ...complete, BACKEND_MODE: 'sideways' })).toThrow(/BACKEND_MODE/);
  });
});

describe('the forms the spec and people really write', () => {
  it('accepts the business number with or without +, spaces or dashes, normalised to E.164', () => {
    for (const form of ['15550783881', '+15550783881', '+1 555-078-3881', '1 (555) 078 3881', '0015550783881'])
      expect(parseConfig({ ...complete, WHATSAPP_BUSINESS_NUMBER_E164: form }).WHATSAPP_BUSINESS_NUMBER_E164).toBe('+15550783881');
    expect(() => parseConfig({ ...complete, WHATSAPP_BUSINESS_NUMBER_E164: '555-0100' })).toThrow(/WHATSAPP_BUSINESS_NUMBER_E164/);
  });

  it('normalises the Graph API base to one with a version, and base URLs without a trailing slash', () => {
    const base = (v: string) => parseConfig({ ...complete, WHATSAPP_API_BASE: v }).WHATSAPP_API_BASE;
    expect(base('https://graph.facebook.com')).toBe('https://graph.facebook.com/v21.0');
    expect(base('https://graph.facebook.com/')).toBe('https://graph.facebook.com/v21.0');
    expect(base('https://graph.facebook.com/v23.0/')).toBe('https://graph.facebook.com/v23.0');
    expect(parseConfig({ ...complete, APP_BASE_URL: undefined, BASE_URL: 'https://shop.example/' } as never).APP_BASE_URL).toBe('https://shop.example');
    expect(parseConfig({ ...complete, UPSTASH_REDIS_REST_URL: 'https://x.upstash.io/' }).UPSTASH_REDIS_REST_URL).toBe('https://x.upstash.io');
  });

  it('accepts the spec names, quotes from a pasted .env line and a "Bearer " prefix on tokens', () => {
    const { WHATSAPP_ACCESS_TOKEN: _a, STRIPE_SECRET_KEY: _s, WHATSAPP_VERIFY_TOKEN: _v, ...rest } = complete;
    const c = parseConfig({ ...rest, WHATSAPP_TOKEN: 'Bearer EAAsecret', STRIPE_SECRET: '"sk_live_abc"', VERIFY_TOKEN: " 'verify' " });
    expect(c.WHATSAPP_ACCESS_TOKEN).toBe('EAAsecret');
    expect(c.STRIPE_SECRET_KEY).toBe('sk_live_abc');
    expect(c.WHATSAPP_VERIFY_TOKEN).toBe('verify');
  });

  it('refuses a publishable Stripe key and a webhook secret that is not whsec_, naming them', () => {
    expect(() => parseConfig({ ...complete, STRIPE_SECRET_KEY: 'pk_live_123' })).toThrow(/STRIPE_SECRET_KEY.*publishable/);
    expect(() => parseConfig({ ...complete, STRIPE_WEBHOOK_SECRET: 'sk_test_x' })).toThrow(/STRIPE_WEBHOOK_SECRET/);
  });

  it('refuses a DATABASE_URL with a raw / or # in the password, explains percent-encoding, never echoes it', () => {
    for (const bad of ['postgres://shop:Pa55/w0rd@host/db', 'postgres://shop:1234/w0rd@host/db', 'postgresql://shop:Pa#55@host/db', 'postgres://shop:pw@host']) {
      let message = '';
      try {
        parseConfig({ ...complete, DATABASE_URL: bad });
      } catch (e) {
        message = (e as Error).message;
      }
      expect(message, bad).toMatch(/DATABASE_URL/);
      if (bad.includes('Pa') || bad.includes('1234')) expect(message).toMatch(/percent-encode.*%2F.*%23/);
      for (const part of ['Pa55', 'w0rd', '1234', 'pw@']) expect(message).not.toContain(part);
    }
    expect(parseConfig({ ...complete, DATABASE_URL: 'postgres://shop:Pa55%2Fw0rd@host/db?sslmode=require' }).DATABASE_URL).toContain('%2F');
  });
});

describe('lazy validation and per-path requirements', () => {
  const withEnv = (env: Record<string, string | undefined>, fn: () => void) => {
    const saved = { ...process.env };
    for (const k of Object.keys(process.env)) delete process.env[k];
    Object.assign(process.env, env);
    try {
      fn();
    } finally {
      for (const k of Object.keys(process.env)) delete process.env[k];
      Object.assign(process.env, saved);
    }
  };

  it('reading a variable validates only that one; a missing one throws naming it', () => {
    withEnv({ WHATSAPP_VERIFY_TOKEN: 'only-this' }, () => {
      const config = getConfig();
      expect(config.WHATSAPP_VERIFY_TOKEN).toBe('only-this');
      expect(config.RESERVATION_TTL_SECONDS).toBe(600);
      expect(() => config.DATABASE_URL).toThrow(ConfigError);
      expect(() => config.DATABASE_URL).toThrow(/DATABASE_URL \(or NETLIFY_DB_URL, NETLIFY_DATABASE_URL\) is missing/);
    });
  });

  it('follows process.env changes', () => {
    withEnv({ SHOP_NAME: 'One' }, () => {
      expect(getConfig().SHOP_NAME).toBe('One');
      process.env.SHOP_NAME = 'Two';
      expect(getConfig().SHOP_NAME).toBe('Two');
    });
  });

  it('requireConfig checks a declared list up front, every problem at once, values never echoed', () => {
    withEnv({ WHATSAPP_VERIFY_TOKEN: 'v', DATABASE_URL: 'postgres://u:hunter2hunter2/x@h/db' }, () => {
      expect(() => requireConfig(needs.webhookVerify)).not.toThrow();
      let error: ConfigError | undefined;
      try {
        requireConfig(needs.webhookPost);
      } catch (e) {
        error = e as ConfigError;
      }
      expect(error?.variables.map((v) => v.split(/[ :]/)[0])).toEqual([
        'WHATSAPP_APP_SECRET', 'DATABASE_URL', 'UPSTASH_REDIS_REST_URL', 'UPSTASH_REDIS_REST_TOKEN', 'WHATSAPP_PHONE_NUMBER_ID', 'WHATSAPP_ACCESS_TOKEN',
      ]);
      expect(error?.message).not.toContain('hunter2');
    });
  });

  it('a declared variable is required even where the schema lets it be unset', () => {
    withEnv({}, () => {
      expect(getConfig().BACKEND_SHARED_SECRET).toBeUndefined();
      expect(() => requireConfig(['BACKEND_SHARED_SECRET'])).toThrow(/BACKEND_SHARED_SECRET is missing/);
    });
  });

  it('the migrate and stock-sync scripts need only their store variables', () => {
    expect(needs.migrate).toEqual(['DATABASE_URL']);
    expect(needs.inviteRedirect).not.toContain('STRIPE_SECRET_KEY');
    expect(needs.webhookVerify).toEqual(['WHATSAPP_VERIFY_TOKEN']);
  });
});

describe('the README table of variables per function', () => {
  it('lists exactly what each path checks up front (lib/config-needs.ts)', async () => {
    const { readFile } = await import('node:fs/promises');
    const all = await readFile(new URL('../README.md', import.meta.url), 'utf8');
    const readme = all.slice(all.indexOf('### 1. What each function and script needs'));
    const upFront = (label: string) => {
      const row = readme.split('\n').find((l) => l.startsWith(`| ${label} |`));
      expect(row, label).toBeDefined();
      return new Set([...row!.split('|')[2]!.matchAll(/`([A-Z][A-Z0-9_]+)`/g)].map((m) => m[1]));
    };
    const rows: [string, readonly string[]][] = [
      ["`webhook` GET (Meta's handshake)", needs.webhookVerify],
      ['`webhook` POST', needs.webhookPost],
      ['`payment-callback`', needs.paymentCallback],
      ['`invite-redirect`', needs.inviteRedirect],
      ['`create-order-proxy`', ['ADMIN_API_KEY', ...needs.orderApiInline, ...needs.orderApiProxy]],
      ['`admin-api`', ['ADMIN_API_KEY', ...needs.adminApi]],
      ['`reservation-cleanup` (scheduled)', needs.reservationCleanup],
      ['`npm run migrate`', needs.migrate],
      ['`npm run setup`', []],
      ['`npm run doctor`', []],
      ['`npm run stock:sync`, `npm run catalog:import`', [...needs.stockSync, ...needs.catalogImport]],
      ['dedicated backend (`dist/backend.js`)', needs.backend],
    ];
    for (const [label, expected] of rows) expect(upFront(label), label).toEqual(new Set(expected));
  });
});
