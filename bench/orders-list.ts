/**
 * The console's order list over 10 000 orders (invoked by bench/run.ts): each filtered page with
 * its totals must be ONE Postgres round trip (counted at the Neon bridge; the run fails
 * otherwise), and EXPLAIN names the index the page is served by. Timed with the same injected
 * network delay as the other flows.
 */
import { seedOrders } from '../dev/seed-orders.js';
import { startLocalStack, type LocalStack } from '../dev/stack.js';
import { oneTripReads, planIndexes } from './measure.js';

const ORDERS = Number(process.env.BENCH_ORDERS ?? 10_000);

type Case = { name: string; query: (s: LocalStack, ctx: Ctx) => Record<string, string> };
type Ctx = { customer: string; cursor?: string };

const day = (offset: number) => new Date(Date.now() - offset * 86_400_000).toISOString().slice(0, 10);

const cases: Case[] = [
  { name: 'newest 50, no filter', query: () => ({ limit: '50' }) },
  { name: 'paid, to ship, last 30 days', query: () => ({ paymentStatus: 'paid', fulfillmentStatus: 'unfulfilled', createdFrom: day(30), limit: '50' }) },
  { name: 'awaiting payment, last 7 days', query: () => ({ paymentStatus: 'pending,awaiting_payment', createdFrom: day(7), limit: '50' }) },
  { name: 'one customer (phone)', query: (_s, c) => ({ customer: `+${c.customer}`, limit: '50' }) },
  { name: 'page 3 by cursor (paid)', query: (_s, c) => ({ paymentStatus: 'paid', limit: '50', ...(c.cursor ? { cursor: c.cursor } : {}) }) },
];

async function get(s: LocalStack, query: Record<string, string>) {
  const r = await fetch(`${s.url}/api/orders?${new URLSearchParams(query)}`, { headers: { authorization: `Bearer ${s.env.ADMIN_API_KEY}` } });
  if (r.status !== 200) throw new Error(`GET /api/orders answered ${r.status}: ${await r.text()}`);
  return (await r.json()) as { orders: unknown[]; nextCursor: string | null; totals: { byCurrency: { count: number }[] } };
}

/** The indexes the planner uses for this filter's statement. */
async function indexesFor(query: Record<string, string>): Promise<string> {
  const { orderListQuery, orderPageSql, toFilter } = await import('../lib/admin/order-list.js');
  const { filter, cursor, limit } = toFilter(orderListQuery.parse(query));
  const { text, params } = orderPageSql(filter, cursor, limit, true);
  return planIndexes(text, params);
}

export async function benchOrdersList(delays: number[], runs: number): Promise<string[]> {
  const out: string[] = [];
  for (const delayMs of delays) {
    const s = await startLocalStack({ data: 'real', seedDemoCatalog: false, functions: 'in-process', networkDelayMs: delayMs, env: { LOG_LEVEL: 'error' } });
    try {
      const customers = Array.from({ length: 500 }, (_, i) => ({ waId: `4917${String(i).padStart(9, '0')}`, name: `Customer ${i}` }));
      // 10 000 orders over ~100 days, newest first.
      await seedOrders({ count: ORDERS, prefix: 'BENCH', customers, newest: new Date(), stepMs: (100 * 86_400_000) / ORDERS });
      const { db } = await import('../lib/db.js');
      await db()`ANALYZE orders`;
      const ctx: Ctx = { customer: customers[7]!.waId };
      // Cursor of page 3 of the paid list.
      const p1 = await get(s, { paymentStatus: 'paid', limit: '50' });
      const p2 = await get(s, { paymentStatus: 'paid', limit: '50', cursor: p1.nextCursor! });
      ctx.cursor = p2.nextCursor!;

      out.push(`\n### GET /api/orders over ${ORDERS} orders, one-way network delay ${delayMs} ms, median of ${runs}\n`);
      out.push('| filtered page (+ totals) | Postgres round trips | rows | filtered total | index | ms |');
      out.push('| --- | ---: | ---: | ---: | --- | ---: |');
      for (const c of cases) {
        const query = c.query(s, ctx);
        const { last: page, medianMs } = await oneTripReads(s, c.name, runs, () => get(s, query));
        out.push(`| ${c.name} | 1 | ${page.orders.length} | ${page.totals.byCurrency[0]?.count ?? 0} | ${await indexesFor(query)} | ${medianMs} |`);
      }
    } finally {
      await s.stop();
    }
  }
  return out;
}
