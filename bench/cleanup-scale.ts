/**
 * The scheduled cleanup with N lapsed holds among M live ones: its round trips and time must grow
 * with N (what lapsed), not with M (every hold). Orders and holds are seeded directly (pending
 * orders in Postgres, holds in Redis in the layout lib/reservations.ts documents, without Checkout
 * Sessions: the Stripe expire per lapsed order is in the "cleanup, one lapsed hold" flow), then the
 * reservation-cleanup function is invoked in process until nothing lapsed is left (a run handles at
 * most 500 orders).
 */
import { trips, tripsBetween, type ShopDriver, type Trips } from './driver.js';

export type CleanupRow = { expired: number; live: number; runs: number; trips: Trips; ms: number; expiredByRuns: number; reconcilePlan: string };

const SKU = 'SCALE-1';

async function seedHolds(count: number, expiresAt: number, prefix: string): Promise<string[]> {
  const { db } = await import('../lib/db.js');
  const { redis } = await import('../lib/redis.js');
  const rows = await db().query(
    `WITH c AS (
       INSERT INTO customers (wa_id, phone_e164, profile_name) VALUES ('491700000042', '+491700000042', 'Scale')
       ON CONFLICT (wa_id) DO UPDATE SET profile_name = excluded.profile_name RETURNING id
     )
     INSERT INTO orders (reference, customer_id, source, items, total_minor, currency, payment_status, hold_expires_at)
     SELECT $1 || g, c.id, 'api', jsonb_build_array(jsonb_build_object('sku', $2::text, 'name', 'Scale tea', 'quantity', 1, 'unitPriceMinor', 100, 'lineTotalMinor', 100)),
            100, 'EUR', 'pending', to_timestamp($3::double precision / 1000)
     FROM generate_series(1, $4::int) g, c
     RETURNING id`,
    [prefix, SKU, expiresAt, count],
  );
  const ids = rows.map((r) => r.id as string);
  for (let i = 0; i < ids.length; i += 5000) {
    const chunk = ids.slice(i, i + 5000);
    const p = redis().pipeline();
    for (const id of chunk) {
      p.hset(`hold:${id}`, { [`sku:${SKU}`]: '1', state: 'held', exp: String(expiresAt) });
    }
    const members = chunk.map((member) => ({ score: expiresAt, member }));
    p.zadd(`holds:sku:${SKU}`, members[0]!, ...members.slice(1));
    p.zadd('holds:exp', members[0]!, ...members.slice(1));
    p.decrby(`stock:${SKU}`, chunk.length);
    await p.exec();
  }
  return ids;
}

/** How Postgres serves the reconcile query (pending orders whose hold lapsed): the index it uses, or a scan. */
async function reconcilePlan(): Promise<string> {
  const { db } = await import('../lib/db.js');
  const { RECONCILE_SQL } = await import('../lib/cleanup.js');
  const [plan] = await db().query(`EXPLAIN (FORMAT JSON) ${RECONCILE_SQL}`, [100]);
  const found: string[] = [];
  const walk = (node: Record<string, unknown>) => {
    if (typeof node['Index Name'] === 'string') found.push(`${node['Node Type']} on ${node['Index Name']}`);
    else if (String(node['Node Type']).includes('Scan')) found.push(String(node['Node Type']));
    for (const child of (node.Plans as Record<string, unknown>[] | undefined) ?? []) walk(child);
  };
  walk(((plan!['QUERY PLAN'] as { Plan: Record<string, unknown> }[])[0]!).Plan);
  return found.join(', ');
}

async function runUntilDone(d: ShopDriver, expected?: number): Promise<Omit<CleanupRow, 'expired' | 'live' | 'reconcilePlan'>> {
  const before = trips(d.stack);
  const t = performance.now();
  let runs = 0;
  let expired = 0;
  for (;;) {
    runs++;
    const { response, background } = await d.call('/.netlify/functions/reservation-cleanup', { method: 'POST' });
    const summary = (await response.json()) as { expired: number; truncated: boolean };
    await background;
    expired += summary.expired;
    if (!summary.truncated || runs >= 10) break;
  }
  const ms = Math.round(performance.now() - t);
  if (expected !== undefined && expired !== expected) throw new Error(`cleanup expired ${expired} orders, expected ${expected}`);
  return { runs, trips: tripsBetween(before, trips(d.stack)), ms, expiredByRuns: expired };
}

export async function cleanupScale(d: ShopDriver, rows: [number, number][] = [[10, 1_000], [10, 100_000], [1_000, 100_000]]): Promise<CleanupRow[]> {
  const { upsertCatalogProduct } = await import('../lib/catalog/index.js');
  await upsertCatalogProduct({ sku: SKU, name: 'Scale tea', priceMinor: 100, currency: 'EUR', stock: 1_000_000 });
  // Nothing else lapsed: a first run takes whatever earlier flows left.
  await runUntilDone(d);
  const out: CleanupRow[] = [];
  let live = 0;
  let seq = 0;
  for (const [n, m] of rows) {
    if (m > live) {
      await seedHolds(m - live, Date.now() + 3_600_000, `SCALE-L${seq++}-`);
      live = m;
    }
    await seedHolds(n, Date.now() - 60_000, `SCALE-X${seq++}-`);
    const plan = await reconcilePlan();
    out.push({ expired: n, live: m, ...(await runUntilDone(d, n)), reconcilePlan: plan });
  }
  return out;
}
