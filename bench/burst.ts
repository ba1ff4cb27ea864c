/**
 * Flash-sale bursts, in one process (as one function instance, or the dedicated backend, would take them):
 *  - `inboundBurst`: N inbound "menu" messages from N different customers, each its own signed POST, arriving
 *    spread evenly over a window (default 2 000 in 10 s): every customer must get exactly one answer.
 *  - `buyersBurst`: B buyers at once for U units of one SKU (half WhatsApp quantity buttons, half order API;
 *    default 5 000 for 500): none oversold, everyone held or told.
 * Each reports ack p50/p99, when the last effect arrived, and where the time went: round trips to each
 * system, this process's CPU time (user + system) and how busy its event loop was (event-loop utilisation:
 * near 1 means the process itself, not the network, was the bottleneck). Local-only.
 */
import { performance } from 'node:perf_hooks';
import { contention, type ContentionResult } from './contention.js';
import { newPhone, percentile, sleep, trips, tripsBetween, type ShopDriver, type Trips } from './driver.js';

export type Where = { trips: Trips; cpuMs: number; eventLoopUtilisation: number; wallMs: number };

export type InboundBurst = {
  messages: number; windowMs: number; answered: number; unanswered: number; duplicates: number; non200: number;
  ackP50: number; ackP99: number; lastEffectMs: number; where: Where;
};

export type BuyersBurst = ContentionResult & { where: Where };

/** Runs `f` and measures the trips it made, this process's CPU time and event-loop utilisation over it. */
async function measured<T>(d: ShopDriver, f: () => Promise<T>): Promise<{ value: T; where: Where }> {
  const t0 = trips(d.stack);
  const cpu0 = process.cpuUsage();
  const elu0 = performance.eventLoopUtilization();
  const w0 = performance.now();
  const value = await f();
  const wallMs = Math.round(performance.now() - w0);
  const cpu = process.cpuUsage(cpu0);
  const elu = performance.eventLoopUtilization(elu0);
  return {
    value,
    where: { trips: tripsBetween(t0, trips(d.stack)), cpuMs: Math.round((cpu.user + cpu.system) / 1000), eventLoopUtilisation: Math.round(elu.utilization * 100) / 100, wallMs },
  };
}

export async function inboundBurst(d: ShopDriver, messages = 2000, windowMs = 10_000): Promise<InboundBurst> {
  const customers = Array.from({ length: messages }, () => newPhone('4918'));
  const gap = windowMs / messages;
  const { value: results, where } = await measured(d, async () => {
    const start = performance.now();
    return Promise.all(customers.map(async (from, i) => {
      const due = start + i * gap;
      const wait = due - performance.now();
      if (wait > 1) await sleep(wait);
      const req = d.inbound([{ from, text: 'menu' }]);
      const s = performance.now();
      const { response, background } = await d.call(...req);
      const ackMs = performance.now() - s;
      await response.text();
      await background;
      return { from, status: response.status, ackMs, doneAt: performance.now() - start };
    }));
  });
  let answered = 0;
  let duplicates = 0;
  for (const r of results) {
    const n = d.stack.graph!.messages({ to: r.from, status: 'accepted' }).length;
    if (n >= 1) answered++;
    if (n > 1) duplicates++;
  }
  const acks = results.map((r) => r.ackMs);
  const r0 = (x: number) => Math.round(x);
  return {
    messages, windowMs, answered, unanswered: messages - answered, duplicates, non200: results.filter((r) => r.status !== 200).length,
    ackP50: r0(percentile(acks, 50)), ackP99: r0(percentile(acks, 99)), lastEffectMs: r0(Math.max(...results.map((r) => r.doneAt))), where,
  };
}

export async function buyersBurst(d: ShopDriver, buyers = 5000, units = 500): Promise<BuyersBurst> {
  const { value, where } = await measured(d, () => contention(d, buyers, units));
  return { ...value, where };
}

/** The rows of the bench table (markdown cells). */
export function burstRows(inbound: InboundBurst, buy: BuyersBurst): (string | number)[][] {
  const whereCell = (w: Where) => `${w.trips.postgres} / ${w.trips.redis} / ${w.trips.stripe} / ${w.trips.graph}`;
  return [
    [
      `${inbound.messages} "menu" from ${inbound.messages} customers within ${inbound.windowMs / 1000} s`,
      `${inbound.ackP50} / ${inbound.ackP99}`,
      `${inbound.answered}/${inbound.messages} answered, ${inbound.duplicates} twice, ${inbound.non200} non-200`,
      '–',
      inbound.lastEffectMs,
      whereCell(inbound.where),
      inbound.where.cpuMs,
      inbound.where.eventLoopUtilisation,
    ],
    [
      `${buy.buyers} buyers for ${buy.units} units (half WhatsApp, half order API)`,
      `${buy.whatsapp.ackP50} / ${buy.whatsapp.ackP99} (API ${buy.api.p50} / ${buy.api.p99})`,
      `${buy.held} held, WhatsApp ${buy.whatsapp.held} held / ${buy.whatsapp.told} told / ${buy.whatsapp.untold} untold, API ${buy.api.held} / ${buy.api.refused409} 409`,
      buy.oversold,
      buy.allEffectsMs,
      whereCell(buy.where),
      buy.where.cpuMs,
      buy.where.eventLoopUtilisation,
    ],
  ];
}
