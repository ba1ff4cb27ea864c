/**
 * The npm scripts as a shop runs them against production: `npm run migrate` with only DATABASE_URL
 * (here a real Postgres behind the local Neon HTTP bridge, NEON_FETCH_ENDPOINT being local-only)
 * succeeds, twice and concurrently; a missing or malformed variable is one line and exit 1, never
 * a stack trace or the value.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgBackend } from '../dev/bridges/pg-backend.js';
import { startNeonHttpBridge } from '../dev/bridges/neon-http.js';
import { startPostgres } from '../dev/services/postgres.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const stops: (() => Promise<void>)[] = [];
let endpoint: string;

beforeAll(async () => {
  const pg = await startPostgres();
  stops.push(pg.stop);
  const backend = pgBackend(pg.connectionString);
  stops.push(() => backend.close());
  const bridge = await startNeonHttpBridge({ backend, host: '127.0.0.1' });
  stops.push(bridge.close);
  endpoint = bridge.url;
}, 60_000);
afterAll(async () => {
  for (const stop of stops.reverse()) await stop().catch(() => {});
});

function run(script: string, env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', `scripts/${script}.ts`], { cwd: root, env: { PATH: process.env.PATH!, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('npm run migrate', () => {
  it('succeeds with only DATABASE_URL, twice and concurrently', async () => {
    const env = { DATABASE_URL: 'postgresql://shop:S3cret-pw@localhost/shop', NEON_FETCH_ENDPOINT: endpoint };
    const [a, b] = await Promise.all([run('migrate', env), run('migrate', env)]);
    for (const r of [a, b]) {
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^migrations applied: /);
    }
    const again = await run('migrate', env);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/migrations applied: none; already applied: \d+/);
  }, 60_000);

  it('without DATABASE_URL, or with a raw / in the password: one line, exit 1, no value', async () => {
    const missing = await run('migrate', {});
    expect(missing.code).toBe(1);
    expect(missing.stderr.trim().split('\n')).toEqual([expect.stringContaining('DATABASE_URL (or NETLIFY_DB_URL, NETLIFY_DATABASE_URL) is missing')]);
    const slash = await run('migrate', { DATABASE_URL: 'postgres://shop:Pa55/w0rd@host/db' });
    expect(slash.code).toBe(1);
    expect(slash.stderr.trim().split('\n')).toHaveLength(1);
    expect(slash.stderr).toContain('percent-encode');
    expect(slash.stderr).not.toContain('w0rd');
  }, 60_000);
});

describe('npm run stock:sync', () => {
  it('names the Redis variables it needs in one line, exit 1', async () => {
    const r = await run('stock-sync', { DATABASE_URL: 'postgresql://shop:pw@localhost/shop' });
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('UPSTASH_REDIS_REST_URL is missing');
    expect(r.stderr).not.toMatch(/\n\s+at /);
  }, 60_000);
});
