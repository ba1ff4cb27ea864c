import { timingSafeEqual, createHash } from 'node:crypto';
import { ConfigError, getConfig, requireConfig, type Config, type ConfigName } from './config.js';
import { loadDbDriver } from './db.js';
import { log } from './log.js';
import { loadRedisClient } from './redis.js';

/** Small helpers for the HTTP edge (netlify/functions and the dedicated backend). */

export function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json; charset=utf-8', ...headers } });
}

export function text(body: string, status = 200): Response {
  return new Response(body, { status, headers: { 'content-type': 'text/plain; charset=utf-8' } });
}

/** Constant-time comparison of two secrets of any length. */
export function secretsEqual(given: string | null | undefined, expected: string): boolean {
  if (typeof given !== 'string') return false;
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/**
 * Runs an edge handler. `needs` (lib/config-needs.ts) is checked up front; any other variable is
 * validated when the handler first reads it. A configuration problem answers 500 naming the
 * variables (never their values): the function can't work until it's fixed, and Meta and Stripe
 * retry. Any other unexpected error answers 500 without details.
 */
export async function withConfig(name: string, handler: (config: Config) => Promise<Response>, needs?: readonly ConfigName[]): Promise<Response> {
  try {
    // A handler that declares nothing may touch anything: its clients are loaded before it runs.
    return await handler(needs ? await ready(needs) : await loadClients(['DATABASE_URL', 'UPSTASH_REDIS_REST_URL']).then(() => getConfig()));
  } catch (error) {
    if (error instanceof ConfigError) return configProblem(name, error);
    log.error('function.failed', { function: name, error });
    return json({ error: 'internal error' }, 500);
  }
}

/** Checks a path's variables up front and loads the clients they point at (Postgres, Redis). */
export async function ready(needs: readonly ConfigName[]): Promise<Config> {
  const config = requireConfig(needs);
  await loadClients(needs);
  return config;
}

/**
 * Loads the Postgres and Redis clients by dynamic import, which Netlify's bundler follows (db()
 * and redis() would otherwise require them synchronously: fine in node_modules, not in a bundle).
 */
async function loadClients(names: readonly ConfigName[]): Promise<void> {
  await Promise.all([names.includes('DATABASE_URL') && loadDbDriver(), names.some((n) => n.startsWith('UPSTASH_')) && loadRedisClient()]);
}

export function configProblem(name: string, error: ConfigError): Response {
  log.error('config.invalid', { function: name, variables: error.variables });
  return json({ error: error.message, variables: error.variables }, 500);
}

/**
 * The order API and the admin API without ADMIN_API_KEY: one answer for both, 503 (the server is
 * not set up; no key the caller could send would help), never a 401 that blames the caller.
 */
export function adminKeyProblem(name: string): Response {
  log.error('config.invalid', { function: name, variables: ['ADMIN_API_KEY is not set'] });
  return json({ error: 'not_configured', message: 'ADMIN_API_KEY is not set' }, 503);
}
