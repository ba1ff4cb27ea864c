import { afterEach, describe, expect, it } from 'vitest';
import { db } from '../lib/db.js';
import { SendPace } from '../lib/messaging/send-pace.js';
import { eventually, newCustomer, sentTo, useStack } from './support/stack.js';

/**
 * The outbox's pace of Graph sends (lib/messaging/send-pace.ts) against the Graph stand-in capping the number's
 * throughput as Meta does (130429 above the level): a burst at the configured level meets no refusal; after a
 * 130429 the process waits a shared cool-down, so the sends it refused go out on their next try instead of
 * spending their in-process tries inside the same second; a 131056 (pair rate limit) is deferred, not retried.
 * Refusals that outlast the in-process tries leave the message to the outbox retry (the cleanup run), which sends it
 * exactly once when Meta takes it again. The cool-down itself (1 s, doubling, at most 30 s, reset by a success) is
 * checked on SendPace with its clock given (the class's own parameters), so no test waits on wall time for it.
 */
const stack = useStack({ env: { WHATSAPP_SENDS_PER_SECOND: '5' } });

const control = (route: string, body: unknown) =>
  fetch(`${stack().graph.url}/_standin/${route}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
const refused = (customers: string[]) =>
  customers.flatMap((c) => stack().graph.messages({ to: c, status: 'rejected' })).filter((m) => m.error?.code === 130429);
const outboxRowsOf = (waId: string) => db()`
  SELECT m.status, m.attempts, m.error_code FROM outbound_messages m JOIN customers c ON c.id = m.customer_id WHERE c.wa_id = ${waId}`;
/** One cleanup run (its outbox retry sends what is due), with the customer's pending rows made due first. */
async function retryNow(waId: string): Promise<void> {
  await db()`UPDATE outbound_messages m SET next_attempt_at = now() FROM customers c
             WHERE c.id = m.customer_id AND c.wa_id = ${waId} AND m.status = 'pending'`;
  const r = await fetch(`${stack().url}/.netlify/functions/reservation-cleanup`, { method: 'POST' });
  expect(r.status).toBe(200);
}

/** Customers each write "menu" at the same moment; resolves once every one of them got its answer. */
async function menuBurst(n: number): Promise<string[]> {
  const customers = Array.from({ length: n }, () => newCustomer('4919'));
  const deliveries = await Promise.all(customers.map((from) => stack().graph.sendInbound({ from, name: 'Ada', text: 'menu' })));
  expect(deliveries.map((d) => d.status)).toEqual(customers.map(() => 200));
  await eventually(() => customers.every((c) => sentTo(stack(), c).length >= 1), 30_000);
  return customers;
}

afterEach(async () => {
  await control('throughput', { perSecond: null });
});

describe('send pace', () => {
  it('a burst above one second’s level is paced to it: no 130429, each customer answered once', async () => {
    await control('throughput', { perSecond: 5 });
    const customers = await menuBurst(12);
    expect(refused(customers)).toHaveLength(0);
    expect(customers.map((c) => sentTo(stack(), c).length)).toEqual(customers.map(() => 1));
  });

  it('after a 130429 the process waits a shared cool-down: the refused sends go out in process, none deferred', async () => {
    // Meta's level is lower than the shop believes (3 < 5): the first second refuses two sends.
    await control('throughput', { perSecond: 3 });
    const customers = await menuBurst(8);
    expect(refused(customers).length).toBeGreaterThan(0);
    expect(customers.map((c) => sentTo(stack(), c).length)).toEqual(customers.map(() => 1));
    // Each answer is recorded sent by the process that sent it (none left pending for a later retry).
    await eventually(async () => {
      const rows = await db()`
        SELECT m.status FROM outbound_messages m JOIN customers c ON c.id = m.customer_id WHERE c.wa_id = ANY(${customers})`;
      expect(rows.map((r) => r.status)).toEqual(customers.map(() => 'sent'));
      return true;
    });
  });

  it('a 131056 (pair rate limit) is deferred by at least six seconds, not retried in process', async () => {
    await control('fail', { status: 400, code: 131056, count: 1 });
    const from = newCustomer('4919');
    await stack().graph.sendInbound({ from, name: 'Ada', text: 'menu' });
    const row = await eventually(async () => {
      const [r] = await db()`
        SELECT m.status, m.error_code, m.next_attempt_at > now() + interval '4 seconds' AS deferred
        FROM outbound_messages m JOIN customers c ON c.id = m.customer_id WHERE c.wa_id = ${from} AND m.status = 'pending'`;
      return r;
    });
    expect(row).toMatchObject({ status: 'pending', error_code: 131056, deferred: true });
    expect(stack().graph.messages({ to: from }).map((m) => m.error?.code ?? null)).toEqual([131056]);
    // Once due, the retry sends it: exactly once, also when the retry runs again.
    await retryNow(from);
    await eventually(async () => (await outboxRowsOf(from)).every((r) => r.status === 'sent'));
    await retryNow(from);
    expect(stack().graph.messages({ to: from }).map((m) => m.error?.code ?? null)).toEqual([131056, null]);
  });

  it('130429 on every in-process try: the message waits for the outbox retry, which sends it exactly once', async () => {
    // Meta refuses this send three times in a row (its tries in process, each after the shared cool-down).
    await control('fail', { status: 400, code: 130429, count: 3 });
    const from = newCustomer('4919');
    await stack().graph.sendInbound({ from, name: 'Ada', text: 'menu' });
    const [row] = await eventually(async () => {
      const rows = await outboxRowsOf(from);
      return rows.length === 1 && rows[0]!.status === 'pending' ? rows : null;
    });
    expect(row).toMatchObject({ status: 'pending', error_code: 130429 });
    expect(refused([from])).toHaveLength(3);
    expect(sentTo(stack(), from)).toHaveLength(0);
    await retryNow(from);
    await eventually(async () => (await outboxRowsOf(from)).every((r) => r.status === 'sent'));
    await retryNow(from);
    expect(sentTo(stack(), from)).toHaveLength(1);
    expect(refused([from])).toHaveLength(3);
  });
});

describe('SendPace cool-down (its clock given)', () => {
  function clocked(rate: number) {
    let t = 0;
    const pace = new SendPace(rate, () => t, async (ms) => void (t += ms));
    return { pace, now: () => t };
  }

  it('after a 130429 no send starts before the cool-down ends: 1 s, doubling while refusals go on, at most 30 s, reset by a success', async () => {
    const { pace, now } = clocked(80);
    (await pace.take())();
    pace.throttled();
    expect(pace.pausedForMs()).toBe(1_000);
    const done = await pace.take(); // waits the pause out
    expect(now()).toBe(1_000);
    done();
    pace.throttled();
    expect(pace.pausedForMs()).toBe(2_000);
    for (let i = 0; i < 10; i++) pace.throttled();
    expect(pace.pausedForMs()).toBe(30_000);
    pace.succeeded();
    (await pace.take())();
    expect(now()).toBe(1_000 + 30_000);
    pace.throttled();
    expect(pace.pausedForMs()).toBe(1_000);
  });

  it('at most `rate` sends count within a second: the next starts a second after the oldest answer', async () => {
    const { pace, now } = clocked(2);
    (await pace.take())();
    (await pace.take())();
    const third = await pace.take();
    expect(now()).toBe(1_000);
    third();
  });
});
