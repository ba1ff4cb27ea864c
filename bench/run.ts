/**
 * npm run bench: round trips to Postgres, Redis, Meta and Stripe per flow, and latency with a
 * network delay injected on every connection to them (dev/delay-proxy.ts). Counts come from the
 * bridges and stand-ins, which count the HTTP requests they serve. Local function invocation
 * overhead (a worker thread per request in Netlify's local runtime) is measured separately as the
 * latency of a request that does no I/O, and subtracted. Then each function's cold start as bundled
 * for Netlify (bench/cold-start.ts).
 */
import { startLocalStack, type LocalStack } from '../dev/stack.js';
import { coldStart } from './cold-start.js';
import { benchOrdersList } from './orders-list.js';

const DELAYS = (process.env.BENCH_DELAYS_MS ?? '0,20').split(',').map(Number);
const RUNS = Number(process.env.BENCH_RUNS ?? 5);

type Counts = { postgres: number; redis: number; meta: number; stripe: number };
type Flow = { name: string; run: (s: LocalStack, i: number) => Promise<{ ackMs?: number; done: () => boolean }> };

function counts(s: LocalStack): Counts {
  return { postgres: s.neonBridge!.stats.requests, redis: s.upstashBridge!.stats.requests, meta: s.graph!.stats.requests, stripe: s.stripe!.stats.requests };
}
const diff = (a: Counts, b: Counts): Counts => ({ postgres: b.postgres - a.postgres, redis: b.redis - a.redis, meta: b.meta - a.meta, stripe: b.stripe - a.stripe });
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let phone = 0;
const customer = () => `4916${String(process.pid).padStart(5, '0').slice(-5)}${String(++phone).padStart(4, '0')}`;

async function inbound(s: LocalStack, from: string, text: string, expectMessages: number) {
  const t = Date.now();
  const r = await s.graph!.sendInbound({ from, text });
  const ackMs = Date.now() - t;
  if (r.status !== 200) throw new Error(`webhook answered ${r.status}`);
  return { ackMs, done: () => s.graph!.messages({ to: from }).length >= expectMessages };
}

const flows: Flow[] = [
  { name: 'verify handshake (no I/O: invocation overhead)', run: async (s) => {
    const t = Date.now();
    await fetch(`${s.url}/.netlify/functions/webhook?hub.mode=subscribe&hub.verify_token=${s.env.WHATSAPP_VERIFY_TOKEN}&hub.challenge=1`);
    return { ackMs: Date.now() - t, done: () => true };
  } },
  { name: 'inbound "menu" → catalog list', run: (s) => inbound(s, customer(), 'menu', 1) },
  { name: 'inbound "buy" → hold + Checkout + payment link', run: (s) => inbound(s, customer(), 'buy BENCH-1 1', 1) },
  { name: 'replayed wamid (dedupe fast path)', run: async (s) => {
    const from = customer();
    const first = await s.graph!.sendInbound({ from, text: 'help' });
    while (s.graph!.messages({ to: from }).length < 1) await sleep(5);
    await sleep(50);
    const before = counts(s);
    const t = Date.now();
    await s.graph!.sendInbound({ from, text: 'help', wamid: first.wamid });
    const ackMs = Date.now() - t;
    Object.assign(baseline, before);
    return { ackMs, done: () => true };
  } },
];

// Set by a flow that must exclude its own setup from the counts.
const baseline: Partial<Counts> = {};

async function benchAt(delayMs: number) {
  const s = await startLocalStack({ data: 'real', seedDemoCatalog: false, networkDelayMs: delayMs, env: { LOG_LEVEL: 'error' } });
  try {
    const { upsertCatalogProduct } = await import('../lib/catalog/index.js');
    await upsertCatalogProduct({ sku: 'BENCH-1', name: 'Bench tea', priceMinor: 1000, currency: 'EUR', stock: 100_000 });
    const rows: string[][] = [];
    for (const flow of flows) {
      await flow.run(s, -1).then(async (r) => { while (!r.done()) await sleep(5); }); // warm-up
      await sleep(200);
      const acks: number[] = [];
      const totals: number[] = [];
      let perRun: Counts | undefined;
      for (let i = 0; i < RUNS; i++) {
        for (const k of Object.keys(baseline)) delete baseline[k as keyof Counts];
        const before = counts(s);
        const t = Date.now();
        const r = await flow.run(s, i);
        while (!r.done()) await sleep(2);
        totals.push(Date.now() - t);
        if (r.ackMs !== undefined) acks.push(r.ackMs);
        await sleep(300); // let after-response work (waitUntil) finish before counting
        perRun = diff({ ...before, ...baseline }, counts(s));
      }
      rows.push([flow.name, String(perRun!.postgres), String(perRun!.redis), String(perRun!.meta), String(perRun!.stripe), `${median(acks)}`, `${median(totals)}`]);
    }
    return rows;
  } finally {
    await s.stop();
  }
}

const out: string[] = [];
for (const delay of DELAYS) {
  const rows = await benchAt(delay);
  out.push(`\n### one-way network delay ${delay} ms (round trip ≈ ${2 * delay} ms), median of ${RUNS}\n`);
  out.push('| flow | Postgres | Redis | Meta | Stripe | webhook ack ms | until last effect ms |');
  out.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of rows) out.push(`| ${r.join(' | ')} |`);
}
out.push(await coldStart());
out.push(...(await benchOrdersList(DELAYS, RUNS)));
console.log(out.join('\n'));
process.exit(0);
