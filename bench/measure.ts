/**
 * Runs one flow (bench/flows.ts) against a stack: its round trips (alone, after a warm-up), its
 * latency at concurrency 1, and its throughput at higher concurrency. Setups run before the clock
 * starts, several at a time; the measured requests run with the flow's env.
 */
import { percentile, ShopDriver, trips, tripsBetween, type Counted, type Timed, type Trips } from './driver.js';
import type { Flow } from './flows.js';
import type { LocalStack } from '../dev/stack.js';

export type Latency = { n: number; ackP50: number; ackP95: number; ackP99: number; doneP50: number; doneP95: number; doneP99: number };
export type FlowResult = { key: string; name: string; before200: Trips; total: Trips; latency: Latency; throughput: { concurrency: number; n: number; perSecond: number; ackP99: number; failed: number; firstFailure?: string }[] };

const round = (x: number) => Math.round(x * 10) / 10;

export function latencyOf(runs: Timed[]): Latency {
  const ack = runs.map((r) => r.ackMs);
  const done = runs.map((r) => r.doneMs);
  return {
    n: runs.length,
    ackP50: round(percentile(ack, 50)), ackP95: round(percentile(ack, 95)), ackP99: round(percentile(ack, 99)),
    doneP50: round(percentile(done, 50)), doneP95: round(percentile(done, 95)), doneP99: round(percentile(done, 99)),
  };
}

/** Maps with at most `limit` in flight. */
export async function pool<T, R>(items: T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  }));
  return out;
}

async function withEnv<T>(vars: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  try {
    return await fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) (v === undefined ? delete process.env[k] : (process.env[k] = v));
  }
}

export type MeasureOptions = { runs: number; concurrency: number[]; setupConcurrency?: number };

export async function measureFlow(d: ShopDriver, flow: Flow, o: MeasureOptions): Promise<FlowResult> {
  return withEnv(flow.env?.(d) ?? {}, async () => {
    const setup = async (n: number) => {
      if (!flow.setup) return Array.from({ length: n }, () => undefined);
      if (flow.key === 'invite' || flow.key === 'replay') return Array.from({ length: n }, () => shared);
      return pool(Array.from({ length: n }), o.setupConcurrency ?? 8, () => flow.setup!(d));
    };
    const once = async (ctx: unknown, count: boolean): Promise<Timed | Counted> => {
      const [path, init] = flow.request(d, ctx);
      const r = count ? await d.counted(path, init) : await d.timed(path, init);
      await flow.check?.(d, ctx, r.status, r.body);
      return r;
    };
    // Invite clicks and replays can repeat on one setup (a link clicked again, Meta redelivering).
    const shared = flow.setup && (flow.key === 'invite' || flow.key === 'replay') ? await flow.setup(d) : undefined;

    await once((await setup(1))[0], false); // warm-up: modules loaded, Lua scripts cached
    const counted = (await once((await setup(1))[0], true)) as Counted;

    const runs: Timed[] = [];
    const n = flow.runs ?? o.runs;
    // A cleanup run takes every lapsed hold: its setup goes right before it. Others set up all runs first.
    if (flow.throughput === false) for (let i = 0; i < n; i++) runs.push(await once((await setup(1))[0], false));
    else for (const ctx of await setup(n)) runs.push(await once(ctx, false));

    const throughput: FlowResult['throughput'] = [];
    if (flow.throughput !== false) {
      for (const c of o.concurrency) {
        if (c === 1) {
          // The latency runs above, one at a time.
          const s = runs.reduce((sum, r) => sum + r.doneMs, 0) / 1000;
          throughput.push({ concurrency: 1, n: runs.length, perSecond: round(runs.length / s), ackP99: round(percentile(runs.map((r) => r.ackMs), 99)), failed: 0 });
          continue;
        }
        const n = c;
        const ctxs = await setup(n);
        const failures: string[] = [];
        const t = performance.now();
        const done = await pool(ctxs, c, (ctx) => once(ctx, false).catch((e: Error) => void failures.push(e.message)));
        const s = (performance.now() - t) / 1000;
        const ok = done.filter((r): r is Timed => r !== undefined);
        throughput.push({ concurrency: c, n, perSecond: round(ok.length / s), ackP99: round(percentile(ok.map((r) => r.ackMs), 99)), failed: failures.length, ...(failures.length ? { firstFailure: failures[0]!.slice(0, 200) } : {}) });
      }
    }
    return { key: flow.key, name: flow.name, before200: counted.before200, total: counted.total, latency: latencyOf(runs), throughput };
  });
}

/**
 * A console read measured (bench/orders-list.ts, bench/inbox-list.ts): one warm-up, then `runs` timed reads, each in
 * exactly ONE Postgres round trip (anything else throws: the run fails); the last answer and the median ms.
 */
export async function oneTripReads<T>(s: Pick<LocalStack, 'neonBridge'>, name: string, runs: number, read: () => Promise<T>): Promise<{ last: T; medianMs: number }> {
  await read();
  const times: number[] = [];
  let last: T | undefined;
  for (let i = 0; i < runs; i++) {
    const before = s.neonBridge!.stats.requests;
    const t = Date.now();
    last = await read();
    times.push(Date.now() - t);
    const trips = s.neonBridge!.stats.requests - before;
    if (trips !== 1) throw new Error(`${name}: ${trips} Postgres round trips, expected 1`);
  }
  return { last: last as T, medianMs: [...times].sort((a, b) => a - b)[Math.floor(times.length / 2)] ?? NaN };
}

/** The indexes Postgres would use for a statement (EXPLAIN), joined for a table cell; a sequential scan says so. */
export async function planIndexes(text: string, params: unknown[]): Promise<string> {
  const { db } = await import('../lib/db.js');
  const [plan] = await db().query(`EXPLAIN (FORMAT JSON) ${text}`, params);
  const names = new Set<string>();
  const walk = (node: Record<string, unknown>) => {
    if (typeof node['Index Name'] === 'string') names.add(node['Index Name']);
    for (const child of (node.Plans as Record<string, unknown>[] | undefined) ?? []) walk(child);
  };
  walk(((plan!['QUERY PLAN'] as { Plan: Record<string, unknown> }[])[0]!).Plan);
  return [...names].join(', ') || 'none (sequential scan)';
}

/**
 * The scheduled cleanup invoked until a run is no longer truncated (at most 10 runs), as the scheduler would each
 * minute: the runs, the sum of one summary count (`expired`, `reminded`), the round trips and the time of them all.
 */
export async function cleanupUntilDone(d: ShopDriver, count: 'expired' | 'reminded'): Promise<{ runs: number; counted: number; trips: Trips; ms: number }> {
  const before = trips(d.stack);
  const t = performance.now();
  let runs = 0;
  let counted = 0;
  for (;;) {
    runs++;
    const { response, background } = await d.call('/.netlify/functions/reservation-cleanup', { method: 'POST' });
    const summary = (await response.json()) as Record<string, number> & { truncated: boolean };
    await background;
    counted += summary[count] ?? 0;
    if (!summary.truncated || runs >= 10) break;
  }
  return { runs, counted, trips: tripsBetween(before, trips(d.stack)), ms: Math.round(performance.now() - t) };
}
