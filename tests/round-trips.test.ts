import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnBackend, type Backend } from '../bench/backend.js';
import { ShopDriver, SYSTEMS, type Trips } from '../bench/driver.js';
import { catalogScale, IMPORT_TRIPS } from '../bench/catalog-scale.js';
import { cleanupBatchTrips } from '../bench/cleanup-scale.js';
import { flows, seedBenchCatalog } from '../bench/flows.js';
import { useStack } from './support/stack.js';

/**
 * Round trips per system for every flow the benchmark measures (counts, never timings), in process
 * (dev/invoke.ts) against the real bridges and stand-ins. Each count must stay within the issue's
 * floor, or where today's code is above the floor, within today's count (bench/flows.ts `ceiling`):
 * a change that adds a round trip fails here. docs/benchmarks.md "Round trips" says why each gap remains.
 * PRINT_TRIPS=1 prints each flow's counts.
 */
const stack = useStack({ functions: 'in-process', env: { LOG_LEVEL: 'error' } });
let driver: ShopDriver;
let backend: Backend | undefined;

beforeAll(async () => {
  driver = new ShopDriver(stack());
  // The test posts Stripe's and Meta's webhooks itself, in process.
  stack().stripe.setWebhookUrl(null);
  stack().graph.setWebhookUrl(null);
  await seedBenchCatalog();
  backend = await spawnBackend(stack());
  Object.assign(process.env, backend.env);
}, 120_000);
afterAll(async () => {
  await backend?.stop();
});

const limitOf = (f: (typeof flows)[number], phase: 'before200' | 'total', system: keyof Trips): number | undefined =>
  f.ceiling[phase]?.[system] ?? f.floor[phase]?.[system];

describe('round trips per flow', () => {
  for (const flow of flows) {
    it(flow.name, async () => {
      const env = flow.env?.(driver) ?? {};
      const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
      Object.assign(process.env, env);
      try {
        // A warm-up run first: the first call of a Lua script loads it (EVALSHA → NOSCRIPT → EVAL), once per Redis.
        for (const counting of [false, true]) {
          const ctx = await flow.setup?.(driver);
          const [path, init] = flow.request(driver, ctx);
          const r = await driver.counted(path, init);
          await flow.check?.(driver, ctx, r.status, r.body);
          if (!counting) continue;
          const got = { before200: r.before200, total: r.total };
          if (process.env.PRINT_TRIPS) console.log(`TRIPS ${flow.key} ${JSON.stringify(got)}`);
          const limits = Object.fromEntries((['before200', 'total'] as const).map((phase) => [phase, Object.fromEntries(SYSTEMS.flatMap((s) => {
            const l = limitOf(flow, phase, s);
            return l === undefined ? [] : [[s, l]];
          }))]));
          for (const phase of ['before200', 'total'] as const)
            for (const s of SYSTEMS) {
              const limit = limitOf(flow, phase, s);
              if (limit !== undefined) expect(got[phase][s], `${flow.key}: ${s} round trips ${phase === 'total' ? 'in total' : 'before the 200'} (limits ${JSON.stringify(limits)}, got ${JSON.stringify(got)})`).toBeLessThanOrEqual(limit);
            }
          // Nothing before the answer may exceed what the whole request made (a counting error would).
          for (const s of SYSTEMS) expect(r.before200[s]).toBeLessThanOrEqual(r.total[s]);
        }
      } finally {
        for (const [k, v] of Object.entries(saved)) (v === undefined ? delete process.env[k] : (process.env[k] = v));
      }
    }, 60_000);
  }
});

describe('round trips at scale', () => {
  it('catalog import of 10 000 products: at most 10 Postgres and 10 Redis round trips (issue 30)', async () => {
    const [row] = await catalogScale(driver, 10_000, { push: false });
    if (process.env.PRINT_TRIPS) console.log(`TRIPS catalog-import ${JSON.stringify(row!.trips)}`);
    expect(row!.result).toContain('"created":10000');
    for (const s of SYSTEMS) expect(row!.trips[s], `${s} round trips of the import (got ${JSON.stringify(row!.trips)})`).toBeLessThanOrEqual(IMPORT_TRIPS[s]);
  }, 120_000);

  it('cleanup: closing 50 lapsed orders costs the Postgres and Redis round trips of 5 (issue 30: one batch)', async () => {
    const [five, fifty] = await cleanupBatchTrips(driver, [5, 50]);
    if (process.env.PRINT_TRIPS) console.log(`TRIPS cleanup-batch ${JSON.stringify([five, fifty])}`);
    expect([five!.expired, fifty!.expired]).toEqual([5, 50]);
    expect({ postgres: fifty!.trips.postgres, redis: fifty!.trips.redis }).toEqual({ postgres: five!.trips.postgres, redis: five!.trips.redis });
    // One Checkout Session expiry and one notice per order, nothing more.
    expect([fifty!.trips.stripe, fifty!.trips.graph]).toEqual([50, 50]);
  }, 120_000);
});
