import { createRequire } from 'node:module';

/**
 * Synchronous `require` of a heavy package on first use (lib/db.ts, lib/redis.ts), so it stays out
 * of the cold start of code paths that never use it, while db() and redis() stay synchronous.
 * One shared binding: Netlify's bundler (nft) follows calls to it and ships the packages
 * (tests/bundle.test.ts checks they load from the zips).
 */
export const requirePackage = createRequire(import.meta.url);
