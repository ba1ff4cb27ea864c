/**
 * Issue 30's targets, each with what the bench measured and met / not met (`results.targets` in bench/results.json and
 * the "Targets (issue 30)" table of the bench's output). Computed from a results object only, so a partial run
 * reports what it measured and "not run" for the rest.
 *
 * `npx tsx bench/targets.ts [results.json] [--write]` prints the table for a results file (default
 * bench/results.json); `--write` stores its `targets` in that file (the figures stay those of its own run).
 *
 * Each group of rows is one builder in TARGETS; the cleanup's rows are judged where they are measured
 * (bench/cleanup-scale.ts `cleanupTargets`, stored as `results.cleanupTargets`) and copied here.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Trips } from './driver.js';

export type TargetRow = { target: string; measured: string; met: boolean | null };
type Results = Record<string, unknown>;
type Flow = { key: string; before200: Trips; total: Trips };
type CatalogRow = { step: string; trips: Trips; ms: number; status: number };

const NOT_RUN = (target: string): TargetRow => ({ target, measured: 'not run', met: null });

/** The flows of the first delay that measured `key` (trip counts do not depend on the delay). */
function flow(r: Results, key: string): Flow | undefined {
  const byDelay = (r.flows ?? {}) as Record<string, Flow[]>;
  for (const delay of Object.keys(byDelay).sort((a, b) => Number(a) - Number(b))) {
    const f = byDelay[delay]?.find((x) => x.key === key);
    if (f) return f;
  }
  return undefined;
}

const tripsBefore = (t: Trips) => t.postgres + t.redis + t.stripe + t.graph;
const tripCell = (t: Trips) => `${tripsBefore(t)} (Postgres ${t.postgres}, Redis ${t.redis}${t.stripe ? `, Stripe ${t.stripe}` : ''}${t.graph ? `, Graph ${t.graph}` : ''})`;

/** Every webhook (Meta, Stripe) answers after one round trip: all trips before the answer, whatever the system. */
function webhooks(r: Results): TargetRow[] {
  const rows: [string, string][] = [
    ['menu', 'Meta webhook, inbound "menu": 1 round trip before the 200'],
    ['button-reply', 'Meta webhook, quantity button (hold + Checkout): 1 round trip before the 200'],
    ['paid', 'Stripe webhook, paid event: 1 round trip before the answer'],
  ];
  return rows.map(([key, target]) => {
    const f = flow(r, key);
    return f ? { target, measured: tripCell(f.before200), met: tripsBefore(f.before200) <= 1 } : NOT_RUN(target);
  });
}

/** "Mark shipped", offline payment, cancel: ≤ 2 Postgres trips before the answer. */
function staffActions(r: Results): TargetRow[] {
  const rows: [string, string][] = [
    ['shipped', 'staff: mark shipped, ≤ 2 Postgres trips before the answer'],
    ['cancel-pending', 'staff: cancel an unpaid order, ≤ 2 Postgres trips before the answer'],
    ['cancel-paid', 'staff: cancel a paid order (refund), ≤ 2 Postgres trips before the answer'],
    ['offline-payment', 'staff: offline payment, ≤ 2 Postgres trips before the answer'],
  ];
  return rows.map(([key, target]) => {
    const f = flow(r, key);
    return f ? { target, measured: `${f.before200.postgres} Postgres`, met: f.before200.postgres <= 2 } : NOT_RUN(target);
  });
}

/** Import of 10 000 products: ≤ 10 Postgres and ≤ 10 Redis trips, under 3 s (at the bench's 20 ms delay). */
function catalogImport(r: Results): TargetRow[] {
  const target = 'import 10 000 products: ≤ 10 Postgres + ≤ 10 Redis trips, < 3 s';
  const c = r.catalog as { delayMs: number; rows: CatalogRow[] } | undefined;
  const row = c?.rows.find((x) => x.step.startsWith('import'));
  if (!row) return [NOT_RUN(target)];
  const met = row.status === 200 && row.trips.postgres <= 10 && row.trips.redis <= 10 && row.ms < 3000;
  return [{ target, measured: `${row.trips.postgres} Postgres + ${row.trips.redis} Redis, ${row.ms} ms at ${c!.delayMs} ms delay`, met }];
}

/** The burst: none oversold; every inbound customer answered exactly once. */
function burst(r: Results): TargetRow[] {
  const b = r.burst as
    | { inbound: { messages: number; answered: number; duplicates: number; non200: number }; buyers: { buyers: number; units: number; oversold: number; held: number } }
    | undefined;
  const oversell = 'burst: 5 000 buyers for 500 units, oversold 0';
  const answered = 'burst: 2 000 inbound from 2 000 customers in 10 s, each answered exactly once';
  if (!b) return [NOT_RUN(oversell), NOT_RUN(answered)];
  const i = b.inbound;
  return [
    { target: oversell, measured: `${b.buyers.oversold} oversold (${b.buyers.held} of ${b.buyers.units} units held by ${b.buyers.buyers} buyers)`, met: b.buyers.oversold === 0 },
    { target: answered, measured: `${i.answered}/${i.messages} answered, ${i.duplicates} twice, ${i.non200} non-200`, met: i.answered === i.messages && i.duplicates === 0 && i.non200 === 0 },
  ];
}

/** Cleanup in batches: the rows bench/cleanup-scale.ts judged (1 000 lapsed in one run, trips not growing, nothing lapsed). */
function cleanup(r: Results): TargetRow[] {
  const rows = r.cleanupTargets as { target: string; got: string; met: boolean }[] | undefined;
  if (!rows?.length) return [NOT_RUN('cleanup: 1 000 lapsed orders released within one scheduled run ≤ 25 s'), NOT_RUN('cleanup: nothing lapsed ≤ 1 Postgres + ≤ 1 Redis')];
  return rows.map((c) => ({ target: `cleanup: ${c.target}`, measured: c.got, met: c.met }));
}

export const TARGETS: ((r: Results) => TargetRow[])[] = [webhooks, staffActions, cleanup, catalogImport, burst];

export const issue30Targets = (r: Results): TargetRow[] => TARGETS.flatMap((t) => t(r));

/** The markdown table (the bench prints it; docs/benchmarks.md's generated block carries it). */
export function targetsTable(rows: TargetRow[]): string[] {
  const mark = (m: boolean | null) => (m === null ? '–' : m ? 'met' : '**not met**');
  return ['| target | measured | |', '| --- | --- | --- |', ...rows.map((t) => `| ${t.target} | ${t.measured} | ${mark(t.met)} |`)];
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const file = args.find((a) => !a.startsWith('--')) ?? path.join(path.dirname(fileURLToPath(import.meta.url)), 'results.json');
  const results = JSON.parse(readFileSync(file, 'utf8')) as Results;
  const rows = issue30Targets(results);
  console.log(targetsTable(rows).join('\n'));
  if (args.includes('--write')) writeFileSync(file, `${JSON.stringify({ ...results, targets: rows }, null, 2)}\n`);
}
