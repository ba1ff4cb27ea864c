/**
 * Bugs the fuzz and security files found, each kept as a small case of its own (in process, real stack).
 */
import { describe, expect, it } from 'vitest';
import { db } from '../../lib/db.js';
import { shop } from '../support/shop.js';
import { useStack } from '../support/stack.js';
import { deepJson } from './support/hostile.js';

const stack = useStack({ functions: 'in-process' });
const { postStripe } = shop(stack, { inProcess: true });

const malformedRows = async () => Number((await db()`SELECT count(*)::int AS n FROM inbound_events WHERE source = 'stripe' AND kind = 'malformed'`)[0]!.n);

describe('payment-callback: validly signed bodies that are not usable events are acknowledged, never refused or 5xx', () => {
  it('a signed body that is not JSON → 200, recorded as malformed (was 400 "invalid signature": Stripe redelivers for days)', async () => {
    const before = await malformedRows();
    const r = await postStripe('{"id": "evt_cut_off", "type": "checkout.sess');
    expect(r.status).toBe(200);
    expect(await malformedRows()).toBe(before + 1);
  });

  it('a signed event nested 100 000 levels deep → 200, recorded as malformed (was 500: stack overflow)', async () => {
    const before = await malformedRows();
    const r = await postStripe(`{"id":"evt_deep","type":"checkout.session.completed","data":{"object":${deepJson(100_000, 'object')}}}`);
    expect(r.status).toBe(200);
    expect(await malformedRows()).toBe(before + 1);
  });

  it('a forged signature is still refused', async () => {
    const r = await postStripe('not json');
    expect(r.status).toBe(200);
    const forged = await fetch(`${stack().url}/.netlify/functions/payment-callback`, { method: 'POST', headers: { 'stripe-signature': `t=${Math.floor(Date.now() / 1000)},v1=${'0'.repeat(64)}` }, body: 'not json' });
    expect(forged.status).toBe(400);
  });
});

describe('the Neon bridge leaves closing idle connections to the driver', () => {
  it('announces no keep-alive timeout (was 5 s: an idle connection reused as the bridge closed it → ECONNRESET → 500)', async () => {
    const r = await fetch(stack().env.NEON_FETCH_ENDPOINT!, { method: 'POST', body: JSON.stringify({ query: 'SELECT 1', params: [] }) });
    await r.arrayBuffer();
    expect(r.status).toBe(200);
    expect(r.headers.get('keep-alive') ?? '').not.toMatch(/timeout=/);
  });
});
