import { timingSafeEqual, createHash } from 'node:crypto';
import { ConfigError, getConfig, type Config } from './config.js';
import { log } from './log.js';

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
 * Runs an edge handler with validated config. A configuration problem answers 500 naming the
 * variables (never their values); any other unexpected error answers 500 without details.
 */
export async function withConfig(name: string, handler: (config: Config) => Promise<Response>): Promise<Response> {
  let config: Config;
  try {
    config = getConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      log.error('config.invalid', { function: name, variables: error.variables });
      return json({ error: error.message }, 500);
    }
    throw error;
  }
  try {
    return await handler(config);
  } catch (error) {
    log.error('function.failed', { function: name, error });
    return json({ error: 'internal error' }, 500);
  }
}
