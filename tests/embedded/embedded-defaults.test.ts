import { beforeAll, describe, expect, it } from 'vitest';
import { upsertCatalogProduct } from '../../lib/catalog/index.js';
import { db } from '../../lib/db.js';
import { availableStock } from '../../lib/stock/index.js';
import { bodyOf, eventually, newCustomer, sentTo, useStack, waitForMessages } from '../support/stack.js';

// The defaults `npm start` uses with nothing installed: PGlite for Postgres, ioredis-mock for Redis.
const stack = useStack({ data: 'embedded', redis: 'embedded', seedDemoCatalog: true });

beforeAll(async () => {
  await upsertCatalogProduct({ sku: 'FEW-1', name: 'Scarce thing', priceMinor: 500, currency: 'EUR', stock: 3 });
});

describe('embedded defaults', () => {
  it('uses PGlite and ioredis-mock behind the same bridges', () => {
    expect(stack().uses.postgres).toContain('PGlite');
    expect(stack().redisKind).toBe('ioredis-mock');
  });

  it('answers the verification handshake', async () => {
    const r = await fetch(`${stack().url}/.netlify/functions/webhook?hub.mode=subscribe&hub.verify_token=${stack().env.WHATSAPP_VERIFY_TOKEN}&hub.challenge=42`);
    expect(await r.text()).toBe('42');
  });

  it('seeds the demo catalog and lists it on "menu"', async () => {
    const waId = newCustomer();
    await stack().graph.sendInbound({ from: waId, text: 'menu' });
    const list = bodyOf((await waitForMessages(stack(), waId, 1))[0]!).interactive!;
    // The demo catalog's categories are the list's sections.
    const titles = (list.action!.sections as { rows: { title: string }[] }[]).flatMap((s) => s.rows.map((r) => r.title));
    expect(titles).toContain('Green tea');
  });

  it('holds stock atomically with the Lua scripts: 8 buyers, 3 units', async () => {
    const buyers = Array.from({ length: 8 }, () => newCustomer('4478'));
    await Promise.all(buyers.map((from) => stack().graph.sendInbound({ from, text: 'buy FEW-1 1' })));
    await eventually(() => buyers.every((b) => sentTo(stack(), b).length === 1), 60_000);
    const links = buyers.filter((b) => bodyOf(sentTo(stack(), b)[0]!).interactive?.type === 'cta_url');
    expect(links).toHaveLength(3);
    expect((await availableStock(['FEW-1'])).get('FEW-1')).toBe(0);
    expect(Number((await db()`SELECT count(*)::int AS n FROM orders WHERE items @> '[{"sku":"FEW-1"}]'`)[0]!.n)).toBe(3);
  });

  it('releases a cancelled hold back to the counter (Lua iterating hold fields)', async () => {
    const waId = newCustomer();
    const before = (await availableStock(['TEA-GREEN'])).get('TEA-GREEN')!;
    await stack().graph.sendInbound({ from: waId, text: 'buy TEA-GREEN 2' });
    await waitForMessages(stack(), waId, 1);
    expect((await availableStock(['TEA-GREEN'])).get('TEA-GREEN')).toBe(before - 2);
    await stack().graph.sendInbound({ from: waId, text: 'cancel' });
    await waitForMessages(stack(), waId, 2);
    expect((await availableStock(['TEA-GREEN'])).get('TEA-GREEN')).toBe(before);
  });

  it('dedupes a replayed wamid', async () => {
    const waId = newCustomer();
    const first = await stack().graph.sendInbound({ from: waId, text: 'help' });
    await stack().graph.sendInbound({ from: waId, text: 'help', wamid: first.wamid });
    expect(await waitForMessages(stack(), waId, 1, 600)).toHaveLength(1);
  });
});
