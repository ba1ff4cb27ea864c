/**
 * Second chances at scale (docs/second-chances.md): the scheduled cleanup with N hold reminders due
 * among M live holds. Its round trips and time must grow with N (what is due), not with M: the due
 * reminders come from the cleanup's existing statement through the partial index orders_reminder_due.
 * Orders and holds are seeded directly (pending orders with a Checkout link, each of its own customer
 * inside the 24-hour window, holds in Redis in lib/stock's layout), then reservation-cleanup is invoked
 * in process until it has nothing left to do. Run alone: BENCH_SKIP=overhead,flows,fastack,contention,cleanup,catalog,orders,cold npm run bench
 */
import { trips, tripsBetween, type ShopDriver, type Trips } from './driver.js';
import { cleanupUntilDone } from './measure.js';

export type RemindersRow = { due: number; live: number; runs: number; reminded: number; trips: Trips; ms: number; duePlan: string };

const SKU = 'SCALE-R';

async function seed(count: number, expiresAt: number, prefix: string, withCustomers: boolean): Promise<void> {
  const { db } = await import('../lib/db.js');
  const { redis } = await import('../lib/redis.js');
  const customers = withCustomers
    ? `INSERT INTO customers (wa_id, phone_e164, profile_name, last_inbound_at)
       SELECT '4917' || lpad(g::text, 8, '0') || '${prefix.length}', '+4917' || lpad(g::text, 8, '0') || '${prefix.length}', 'Due', now() FROM generate_series(1, $4::int) g
       ON CONFLICT (wa_id) DO UPDATE SET last_inbound_at = now() RETURNING id`
    : `INSERT INTO customers (wa_id, phone_e164, profile_name) VALUES ('491700000043', '+491700000043', 'Live')
       ON CONFLICT (wa_id) DO UPDATE SET profile_name = excluded.profile_name RETURNING id`;
  const rows = await db().query(
    `WITH c AS (${customers}), cs AS (SELECT id, row_number() OVER () AS n, count(*) OVER () AS total FROM c)
     INSERT INTO orders (reference, customer_id, source, items, total_minor, currency, payment_status, hold_expires_at, checkout_url)
     SELECT $1 || g, cs.id, 'api', jsonb_build_array(jsonb_build_object('sku', $2::text, 'name', 'Scale tea', 'quantity', 1, 'unitPriceMinor', 100, 'lineTotalMinor', 100)),
            100, 'EUR', 'pending', to_timestamp($3::double precision / 1000), 'https://checkout.stripe.com/c/pay/cs_test_' || g
     FROM generate_series(1, $4::int) g JOIN cs ON cs.n = 1 + (g - 1) % cs.total
     RETURNING id`,
    [prefix, SKU, expiresAt, count],
  );
  const ids = rows.map((r) => r.id as string);
  for (let i = 0; i < ids.length; i += 5000) {
    const chunk = ids.slice(i, i + 5000);
    const p = redis().pipeline();
    for (const id of chunk) p.hset(`hold:${id}`, { [`sku:${SKU}`]: '1', state: 'held', exp: String(expiresAt) });
    const members = chunk.map((member) => ({ score: expiresAt, member }));
    p.zadd(`holds:sku:${SKU}`, members[0]!, ...members.slice(1));
    p.zadd('holds:exp', members[0]!, ...members.slice(1));
    p.decrby(`stock:${SKU}`, chunk.length);
    await p.exec();
  }
}

/** How Postgres serves the cleanup's due statement (reconcile + due reminders + waitlisted SKUs): the indexes it uses. */
async function duePlan(): Promise<string> {
  const { db } = await import('../lib/db.js');
  const { CLEANUP_DUE_SQL } = await import('../lib/flows/cleanup.js');
  const [plan] = await db().query(`EXPLAIN (FORMAT JSON) ${CLEANUP_DUE_SQL}`, [100, 180, 1000, 50]);
  const found = new Set<string>();
  const walk = (node: Record<string, unknown>) => {
    if (typeof node['Index Name'] === 'string') found.add(`${node['Node Type']} on ${node['Index Name']}`);
    else if (String(node['Node Type']).includes('Scan')) found.add(String(node['Node Type']));
    for (const child of (node.Plans as Record<string, unknown>[] | undefined) ?? []) walk(child);
  };
  walk(((plan!['QUERY PLAN'] as { Plan: Record<string, unknown> }[])[0]!).Plan);
  return [...found].join(', ');
}

export async function remindersScale(d: ShopDriver, rows: [number, number][] = [[1_000, 100_000]]): Promise<RemindersRow[]> {
  const { upsertCatalogProduct } = await import('../lib/catalog/index.js');
  await upsertCatalogProduct({ sku: SKU, name: 'Scale tea', priceMinor: 100, currency: 'EUR', stock: 1_000_000 });
  const out: RemindersRow[] = [];
  let live = 0;
  let seq = 0;
  for (const [n, m] of rows) {
    if (m > live) {
      await seed(m - live, Date.now() + 3_600_000, `SCALE-RL${seq++}-`, false);
      live = m;
    }
    await seed(n, Date.now() + 90_000, `SCALE-RD${seq++}-`, true);
    const plan = await duePlan();
    const { runs, counted: reminded, trips: spent, ms } = await cleanupUntilDone(d, 'reminded');
    out.push({ due: n, live: m, runs, reminded, trips: spent, ms, duePlan: plan });
  }
  return out;
}
