/**
 * lib/log.ts redacts secrets from every line in one place. Real error paths that quote secrets
 * (the Neon driver echoing a connection string, fetch failing on a URL with credentials, a bearer
 * header in an upstream body) are fed through the logger with the secrets configured.
 */
import { neon, neonConfig } from '@neondatabase/serverless';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { log, redact } from '../lib/log.js';

const secrets = {
  DATABASE_URL: 'postgres://shop:Pa55/w0rd-db-secret@ep-x.eu-central-1.aws.neon.tech/shop',
  UPSTASH_REDIS_REST_TOKEN: 'AXupstash-token-secret-123',
  WHATSAPP_ACCESS_TOKEN: 'EAAGm0PX4ZCpsBAsecretmetatoken123456',
  WHATSAPP_APP_SECRET: 'meta-app-secret-0123456789',
  VERIFY_TOKEN: 'verify-token-secret-42',
  // Fake secrets, built so that no literal in the repository looks like a live key.
  STRIPE_SECRET: ['sk', 'live', '51Habcdefghijklmnopqrstuv'].join('_'),
  STRIPE_WEBHOOK_SECRET: ['whsec', 'abcdefghijklmnopqrstuvwxyz'].join('_'),
  BACKEND_SHARED_SECRET: 'backend-shared-secret-xyz',
  ADMIN_API_KEY: 'admin-key-secret-987',
};
const mustNotAppear = [...Object.values(secrets), 'Pa55/w0rd-db-secret', 'Pa55%2Fw0rd-db-secret'];

let lines: string[] = [];
const saved = { ...process.env };
beforeEach(() => {
  lines = [];
  Object.assign(process.env, secrets, { LOG_LEVEL: 'debug' });
  vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void lines.push(a.join(' ')));
  vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void lines.push(a.join(' ')));
});
afterEach(() => {
  vi.restoreAllMocks();
  for (const k of Object.keys(secrets)) delete process.env[k];
  Object.assign(process.env, saved);
});

function expectClean(): void {
  expect(lines.length).toBeGreaterThan(0);
  for (const line of lines) {
    JSON.parse(line); // still one JSON object per line
    for (const secret of mustNotAppear) expect(line, line).not.toContain(secret);
  }
}

describe('every log line is redacted', () => {
  it('the Neon driver echoing a malformed connection string', async () => {
    let error: unknown;
    try {
      await neon(secrets.DATABASE_URL)`SELECT 1`;
    } catch (e) {
      error = e;
    }
    expect(String((error as Error).message)).toContain('Pa55/w0rd-db-secret'); // the driver really does echo it
    log.error('db.failed', { error });
    expectClean();
    expect(lines[0]).toContain('[redacted');
  });

  it('a failed connection through the driver (cause chain)', async () => {
    const endpoint = neonConfig.fetchEndpoint;
    neonConfig.fetchEndpoint = 'http://127.0.0.1:1/sql';
    try {
      await neon('postgres://shop:Another-db-pass-55@127.0.0.1:1/shop')`SELECT 1`;
    } catch (error) {
      log.error('db.failed', { error, url: 'postgres://shop:Another-db-pass-55@127.0.0.1:1/shop' });
    } finally {
      neonConfig.fetchEndpoint = endpoint;
    }
    expectClean();
    expect(lines.join('\n')).not.toContain('Another-db-pass-55');
  });

  it('fetch failing on a URL with credentials, and causes', async () => {
    const error = await fetch('http://user:url-pass-secret@127.0.0.1:1/x').catch((e: unknown) => e);
    log.warn('fetch.failed', { error, url: 'https://user:url-pass-secret@example.com/path' });
    log.error('wrapped', { error: new Error('outer', { cause: new Error(`inner ${secrets.DATABASE_URL}`) }) });
    expectClean();
    expect(lines.join('\n')).not.toContain('url-pass-secret');
  });

  it('configured secrets, bearer tokens and API keys anywhere in a line (strings, nested objects, errors)', () => {
    for (const [name, value] of Object.entries(secrets)) {
      log.error('upstream.error', { name, body: `{"error":"bad key ${value}"}`, nested: { deep: [value] } });
      log.warn('upstream.error', { error: new Error(`rejected ${value}`) });
    }
    log.info('headers', { authorization: `Bearer ${secrets.ADMIN_API_KEY}`, other: 'Bearer unconfigured-token-abc' });
    log.error('stripe', { error: new Error(`Invalid API Key provided: sk_test_unconfiguredkey1234567890 and ${['rk', 'live', 'restrictedkey1234567890'].join('_')} whsec_othersecret`) });
    log.error('meta', { error: new Error('token EAAunconfiguredMetaToken1234567890 expired'), url: 'https://graph.facebook.com/v21.0/1/messages?access_token=qs-token-secret' });
    expectClean();
    const all = lines.join('\n');
    for (const s of ['unconfigured-token-abc', 'sk_test_unconfiguredkey', ['rk', 'live', 'restrictedkey'].join('_'), 'whsec_othersecret', 'EAAunconfiguredMetaToken', 'qs-token-secret'])
      expect(all).not.toContain(s);
  });

  it('a secret configured in quotes or with a Bearer prefix is redacted as config uses it', () => {
    process.env.ADMIN_API_KEY = '"quoted-admin-key-555"';
    process.env.UPSTASH_REDIS_REST_TOKEN = "Bearer  prefixed-upstash-token-777";
    log.error('upstream', { error: new Error('refused key quoted-admin-key-555 and token prefixed-upstash-token-777') });
    const all = lines.join('\n');
    expect(all).not.toContain('quoted-admin-key-555');
    expect(all).not.toContain('prefixed-upstash-token-777');
  });

  it('redact() leaves ordinary text alone', () => {
    const text = 'order ORD-123 paid, +49******5678, https://shop.example/w/invite/abc';
    expect(redact(text)).toBe(text);
  });
});
