import type { NeonQueryFunction, NeonQueryPromise } from '@neondatabase/serverless';
import { getConfig } from './config.js';
import { requirePackage } from './lazy-require.js';

// The driver is loaded when a code path first needs it, not at import: a path that never queries
// (the webhook handshake, a refused request) doesn't pay for it in its cold start. Functions load
// it up front (lib/http/edge.ts withConfig → loadDbDriver, a dynamic import Netlify's bundler follows);
// anywhere else (scripts, tests, the backend) the first db() requires it synchronously.
type Driver = typeof import('@neondatabase/serverless');
let driver: Driver | undefined;
export async function loadDbDriver(): Promise<void> {
  driver ??= await import('@neondatabase/serverless');
}
const neonDriver = () => (driver ??= requirePackage('@neondatabase/serverless') as Driver);

/**
 * Postgres through Neon's HTTP driver only: one HTTP round trip per statement or per
 * non-interactive transaction (`sql.transaction([...])`). Every state change in lib/ is
 * written as a single statement (CTEs) or one batch, so no interactive transaction is needed.
 */
export type Sql = NeonQueryFunction<false, false>;
/** A statement built (db()`...`) but not run yet: run it alone, or with others in one `db().transaction([...])`. */
export type Query = NeonQueryPromise<false, false>;

let current: { url: string; endpoint: string | undefined; sql: Sql } | undefined;

export function db(): Sql {
  const { DATABASE_URL: url, NEON_FETCH_ENDPOINT: endpoint } = getConfig();
  if (current && current.url === url && current.endpoint === endpoint) return current.sql;
  // Locally the driver talks to a bridge in front of a real Postgres (see dev/bridges).
  const { neon, neonConfig } = neonDriver();
  if (endpoint) neonConfig.fetchEndpoint = endpoint;
  current = { url, endpoint, sql: neon(url) };
  return current.sql;
}

/** Postgres error code of a failed query (e.g. '23505' unique violation), if any. */
export function pgErrorCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error ? String((error as { code: unknown }).code) : undefined;
}
