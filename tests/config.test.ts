import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../lib/config.js';

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
    for (const name of ['WHATSAPP_APP_SECRET is missing', 'RESERVATION_TTL_SECONDS', 'WHATSAPP_BUSINESS_NUMBER_E164', 'DATABASE_URL (or NETLIFY_DATABASE_URL)'])
      expect(message).toContain(name);
    expect(message).not.toContain('secret-pw');
    expect(message).not.toContain('0049');
  });

  it('requires an enum value for BACKEND_MODE', () => {
    expect(() => parseConfig({ ...complete, BACKEND_MODE: 'sideways' })).toThrow(/BACKEND_MODE/);
  });
});
