import { ConfigError, getConfig, needsZod, requireConfig, type Config, type ConfigName } from '../config.js';
import { loadDbDriver } from '../db.js';
import { log } from '../log.js';
import { loadRedisClient } from '../redis.js';
import { loadZod } from '../zod.js';
import { DomainError, errorBody } from './errors.js';
import { domainErrorResponse, errorResponse, json } from './respond.js';

/** What a handler of lib/http needs from its runtime: route parameters, and work to finish after the answer. */
export type EdgeContext = { params: Record<string, string | undefined>; waitUntil(promise: Promise<unknown>): void };

export type EdgeHandler = (req: Request, context: EdgeContext) => Promise<Response>;

/**
 * Runs an edge handler. `needs` (lib/config-needs.ts) is checked up front; any other variable is
 * validated when the handler first reads it. A configuration problem answers 500 naming the
 * variables (never their values): the function can't work until it's fixed, and Meta and Stripe
 * retry. A DomainError (lib/errors.ts) answers with its kind's status; any other unexpected error answers 500 without details.
 */
export async function withConfig(name: string, handler: (config: Config) => Promise<Response>, needs?: readonly ConfigName[]): Promise<Response> {
  try {
    // A handler that declares nothing may touch anything: its clients are loaded before it runs.
    return await handler(needs ? await ready(needs) : await loadClients(['DATABASE_URL', 'UPSTASH_REDIS_REST_URL'], true).then(() => getConfig()));
  } catch (error) {
    if (error instanceof ConfigError) return configProblem(name, error);
    if (error instanceof DomainError) return domainErrorResponse(error);
    log.error('function.failed', { function: name, error });
    return errorResponse(500, 'internal_error', 'internal error');
  }
}

/** Checks a path's variables up front and loads the clients they point at (zod, Postgres, Redis). */
export async function ready(needs: readonly ConfigName[]): Promise<Config> {
  if (needsZod(needs)) await loadZod();
  const config = requireConfig(needs);
  await loadClients(needs);
  return config;
}

/**
 * Loads zod and the Postgres and Redis clients by dynamic import, which Netlify's bundler keeps
 * dynamic and ships (db(), redis() and z would otherwise require them synchronously on first use).
 */
async function loadClients(names: readonly ConfigName[], zod = false): Promise<void> {
  await Promise.all([zod && loadZod(), names.includes('DATABASE_URL') && loadDbDriver(), names.some((n) => n.startsWith('UPSTASH_')) && loadRedisClient()]);
}

export function configProblem(name: string, error: ConfigError): Response {
  log.error('config.invalid', { function: name, variables: error.variables });
  return json(errorBody('misconfigured', error.message, undefined, { variables: error.variables }), 500);
}
