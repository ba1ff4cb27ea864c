/**
 * The team inbox's conversation list over 10 000 conversations (invoked by bench/run.ts, or alone:
 * `npx tsx bench/inbox-list.ts`): each page (filter, search, cursor) must be ONE Postgres round trip
 * (counted at the Neon bridge; the run fails otherwise), and EXPLAIN names the indexes the page uses.
 */
import { seedOrders } from '../dev/seed-orders.js';
import { startLocalStack, type LocalStack } from '../dev/stack.js';
import { oneTripReads, planIndexes } from './measure.js';

const CONVERSATIONS = Number(process.env.BENCH_CONVERSATIONS ?? 10_000);

type Ctx = { cursor?: string; reference?: string };
type Case = { name: string; query: (c: Ctx) => Record<string, string> };

const cases: Case[] = [
  { name: 'newest 50', query: () => ({ limit: '50' }) },
  { name: 'needs a reply', query: () => ({ filter: 'needsReply', limit: '50' }) },
  { name: 'open order', query: () => ({ filter: 'openOrder', limit: '50' }) },
  { name: 'search by name', query: () => ({ q: 'Customer 4242', limit: '50' }) },
  { name: 'search by order reference', query: (c) => ({ q: c.reference!, limit: '50' }) },
  { name: 'page 3 by cursor', query: (c) => ({ limit: '50', ...(c.cursor ? { cursor: c.cursor } : {}) }) },
];

async function get(s: LocalStack, query: Record<string, string>) {
  const r = await fetch(`${s.url}/api/conversations?${new URLSearchParams(query)}`, { headers: { authorization: `Bearer ${s.env.ADMIN_API_KEY}` } });
  if (r.status !== 200) throw new Error(`GET /api/conversations answered ${r.status}: ${await r.text()}`);
  return (await r.json()) as { conversations: unknown[]; nextCursor: string | null };
}

async function indexesFor(query: Record<string, string>): Promise<string> {
  const { conversationPageSql } = await import('../lib/inbox/store.js');
  const { conversationListQuery } = await import('../lib/inbox/requests.js');
  const { text, params } = conversationPageSql(conversationListQuery.parse(query));
  return planIndexes(text, params);
}

/** 10 000 customers who wrote (3 messages each), every tenth handed to staff, 500 of them with orders. */
async function seed(): Promise<Ctx> {
  const { db } = await import('../lib/db.js');
  const customers = Array.from({ length: 500 }, (_, i) => ({ waId: `4916${String(i).padStart(9, '0')}`, name: `Customer ${i}` }));
  await seedOrders({ count: 2000, prefix: 'INBOX', customers, newest: new Date(), stepMs: 60_000 });
  await db()`
    INSERT INTO customers (wa_id, phone_e164, profile_name)
    SELECT '4916' || lpad(i::text, 9, '0'), '+4916' || lpad(i::text, 9, '0'), 'Customer ' || i FROM generate_series(0, ${CONVERSATIONS - 1}) i
    ON CONFLICT (wa_id) DO NOTHING`;
  await db()`UPDATE customers SET last_inbound_at = now() - (substr(wa_id, 5)::int * interval '1 minute') WHERE wa_id LIKE '4916%'`;
  await db()`
    INSERT INTO conversation_messages (customer_id, wamid, kind, at, body)
    SELECT c.id, 'wamid.bench.' || c.wa_id || '.' || k, 'text', c.last_inbound_at - k * interval '10 seconds', 'message ' || k
    FROM customers c, generate_series(0, 2) k WHERE c.wa_id LIKE '4916%'`;
  await db()`
    INSERT INTO conversations (customer_id, mode, mode_changed_at)
    SELECT id, 'staff', now() FROM customers WHERE wa_id LIKE '4916%' AND substr(wa_id, 5)::int % 10 = 3`;
  await db()`ANALYZE customers`;
  await db()`ANALYZE conversation_messages`;
  await db()`ANALYZE conversations`;
  await db()`ANALYZE orders`;
  const [o] = await db()`SELECT reference FROM orders WHERE reference LIKE 'INBOX%' ORDER BY created_at DESC LIMIT 1`;
  return { reference: o!.reference as string };
}

export async function benchInboxList(delays: number[], runs: number): Promise<string[]> {
  const out: string[] = [];
  for (const delayMs of delays) {
    const s = await startLocalStack({ data: 'real', seedDemoCatalog: false, functions: 'in-process', networkDelayMs: delayMs, env: { LOG_LEVEL: 'error' } });
    try {
      const ctx = await seed();
      const p1 = await get(s, { limit: '50' });
      const p2 = await get(s, { limit: '50', cursor: p1.nextCursor! });
      ctx.cursor = p2.nextCursor!;
      out.push(`\n### GET /api/conversations over ${CONVERSATIONS} conversations, one-way network delay ${delayMs} ms, median of ${runs}\n`);
      out.push('| page | Postgres round trips | rows | indexes | ms |');
      out.push('| --- | ---: | ---: | --- | ---: |');
      for (const c of cases) {
        const query = c.query(ctx);
        const { last: page, medianMs } = await oneTripReads(s, c.name, runs, () => get(s, query));
        out.push(`| ${c.name} | 1 | ${page.conversations.length} | ${await indexesFor(query)} | ${medianMs} |`);
      }
    } finally {
      await s.stop();
    }
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log((await benchInboxList([Number(process.env.BENCH_DELAY_MS ?? 0)], 3)).join('\n'));
}
