/**
 * Netlify Database as the zero-setup Postgres: with no DATABASE_URL, the functions find their
 * database where Netlify's runtime puts it for the deploy (NETLIFY_DB_URL, read as `@netlify/database`
 * getConnectionString() reads it: the `Netlify.env` global, else process.env); DATABASE_URL wins when
 * set; migrations are found by Netlify's deploy-time runner in netlify/database/migrations.
 */
import { spawn } from 'node:child_process';
import { readdir, readlink } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pgBackend } from '../dev/bridges/pg-backend.js';
import { startNeonHttpBridge } from '../dev/bridges/neon-http.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { invokeInProcess } from './support/shop.js';
import { useStack } from './support/stack.js';

const stack = useStack();
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

type NetlifyGlobal = { Netlify?: { env: { get(key: string): string | undefined; has(key: string): boolean; set(k: string, v: string): void; delete(k: string): void; toObject(): Record<string, string> } } };
const g = globalThis as NetlifyGlobal;

/** Netlify's runtime as functions see it: a `Netlify.env` global over the function's environment plus what the platform injects. */
function simulateNetlifyRuntime(injected: Record<string, string>) {
  const read = (k: string) => injected[k] ?? process.env[k];
  g.Netlify = {
    env: {
      get: read,
      has: (k) => read(k) !== undefined,
      set: (k, v) => void (injected[k] = v),
      delete: (k) => void delete injected[k],
      toObject: () => ({ ...(process.env as Record<string, string>), ...injected }),
    },
  };
}

let saved: Record<string, string | undefined> = {};
beforeEach(() => {
  saved = { DATABASE_URL: process.env.DATABASE_URL, NETLIFY_DB_URL: process.env.NETLIFY_DB_URL };
});
afterEach(() => {
  delete g.Netlify;
  for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k];
  else process.env[k] = v;
});

const listOrders = () =>
  invokeInProcess('admin-api', `${stack().url}/api/orders?limit=1`, { headers: { authorization: `Bearer ${stack().env.ADMIN_API_KEY}` } });

describe('Netlify Database', () => {
  it('functions find the database through Netlify Database when DATABASE_URL is absent', async () => {
    const url = stack().env.DATABASE_URL!;
    delete process.env.DATABASE_URL;

    // Nothing at all: the function names the variable.
    const none = await listOrders();
    expect(none.status).toBe(500);
    expect(none.text).toContain('DATABASE_URL');

    // Netlify's runtime injects the deploy's connection string (only through the Netlify.env global here).
    simulateNetlifyRuntime({ NETLIFY_DB_URL: url, NETLIFY_DB_DRIVER: 'serverless' });
    const { getConnectionString } = await import('@netlify/database');
    expect(getConnectionString()).toBe(url); // the same variable Netlify's own package reads
    const viaGlobal = await listOrders();
    expect(viaGlobal.status, viaGlobal.text).toBe(200);
    expect(JSON.parse(viaGlobal.text)).toHaveProperty('orders');

    // The same in process.env (how a Lambda-style environment carries it).
    delete g.Netlify;
    process.env.NETLIFY_DB_URL = url;
    expect((await listOrders()).status).toBe(200);
  });

  it('DATABASE_URL wins over Netlify Database when both are set', async () => {
    const { parseConfig } = await import('../lib/config.js');
    expect(parseConfig({ DATABASE_URL: 'postgresql://own:pw@own.example/shop', NETLIFY_DB_URL: 'postgresql://n:p@n.example/db' }, ['DATABASE_URL']).DATABASE_URL).toBe(
      'postgresql://own:pw@own.example/shop',
    );
    expect(parseConfig({ NETLIFY_DB_URL: 'postgresql://n:p@n.example/db', NETLIFY_DATABASE_URL: 'postgresql://old:p@old.example/db' }, ['DATABASE_URL']).DATABASE_URL).toBe(
      'postgresql://n:p@n.example/db',
    );
    simulateNetlifyRuntime({ NETLIFY_DB_URL: 'postgresql://netlify:db@nowhere.invalid/netlifydb' });
    // The shop's own database is set (the stack's): the request works, so the unreachable Netlify one was not used.
    const r = await listOrders();
    expect(r.status, r.text).toBe(200);
  });

  it("Netlify's deploy-time runner reads our migrations (netlify/database/migrations is migrations/)", async () => {
    expect(await readlink(new URL('../netlify/database/migrations', import.meta.url))).toBe('../../migrations');
    const files = await readdir(new URL('../netlify/database/migrations', import.meta.url));
    expect(files.filter((f) => f.endsWith('.sql')).sort()).toEqual((await readdir(new URL('../migrations', import.meta.url))).filter((f) => f.endsWith('.sql')).sort());
    // Its naming rule (<number>_<slug>, slug of lowercase letters, digits, - and _) and unique versions.
    const versions = files.map((f) => {
      expect(f).toMatch(/^\d+_[a-z0-9_-]+\.sql$/);
      return Number(f.split('_')[0]);
    });
    expect(new Set(versions).size).toBe(versions.length);
  });

  it('a file applied by Netlify Database counts as applied for npm run migrate and the doctor', async () => {
    const { db } = await import('../lib/db.js');
    const { appliedMigrations, migrate } = await import('../lib/migrations.js');
    const sql = db();
    // As Netlify's runner records it: netlify.migrations, the name without .sql.
    await sql.transaction([
      sql`CREATE SCHEMA IF NOT EXISTS netlify`,
      sql`CREATE TABLE IF NOT EXISTS netlify.migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`,
      sql`INSERT INTO netlify.migrations (name) VALUES ('999_applied_by_netlify') ON CONFLICT DO NOTHING`,
    ]);
    expect(await appliedMigrations()).toContain('999_applied_by_netlify.sql');
    const result = await migrate(new URL('../migrations', import.meta.url).pathname);
    expect(result.applied).toEqual([]);
    await sql`DROP SCHEMA netlify CASCADE`;
  });

  it("Netlify's own runner applies migrations/ through the link; npm run migrate then applies nothing", async () => {
    // Netlify's local emulation of Netlify Database (the runner `netlify dev` and its deploys use), on PGlite.
    const { NetlifyDB } = await import('@netlify/database-dev');
    const netlifyDb = new NetlifyDB({ logger: () => {} });
    const connectionString = await netlifyDb.start();
    const backend = pgBackend(connectionString);
    const bridge = await startNeonHttpBridge({ backend, host: '127.0.0.1' });
    try {
      const files = (await readdir(path.join(root, 'migrations'))).filter((f) => f.endsWith('.sql')).sort();
      expect(await netlifyDb.applyMigrations(path.join(root, 'netlify/database/migrations'))).toEqual(files.map((f) => f.replace(/\.sql$/, '')));
      const migrate = await new Promise<{ code: number | null; out: string }>((resolve) => {
        const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/migrate.ts'], {
          cwd: root,
          env: { PATH: process.env.PATH!, DATABASE_URL: 'postgresql://netlify:db@localhost/netlify', NEON_FETCH_ENDPOINT: bridge.url },
        });
        let out = '';
        child.stdout.on('data', (d) => (out += d));
        child.stderr.on('data', (d) => (out += d));
        child.on('exit', (code) => resolve({ code, out }));
      });
      expect(migrate.code, migrate.out).toBe(0);
      expect(migrate.out.trim()).toBe(`migrations applied: none; already applied: ${files.length}`);
    } finally {
      await bridge.close();
      await backend.close();
      await netlifyDb.stop();
    }
  }, 180_000); // PGlite starts slowly on a loaded machine
});
