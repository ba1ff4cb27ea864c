/**
 * 1 000 buyers at once for the last 100 units of one SKU, half over WhatsApp (signed webhook POSTs
 * with a quantity-button reply), half over the order API, all in process: exactly 100 must hold a
 * unit, none oversold, and every other buyer must be told (a WhatsApp reply; a 409 out_of_stock).
 */
import { newPhone, percentile, type ShopDriver } from './driver.js';

export type ContentionResult = {
  buyers: number; units: number; held: number; oversold: number; counter: number;
  whatsapp: { buyers: number; held: number; told: number; untold: number; ackP50: number; ackP99: number };
  api: { buyers: number; held: number; refused409: number; other: Record<string, number>; p50: number; p99: number };
  allEffectsMs: number;
};

export async function contention(d: ShopDriver, buyers = 1000, units = 100): Promise<ContentionResult> {
  const sku = `RUSH-${Date.now().toString(36)}`;
  const { upsertCatalogProduct } = await import('../lib/catalog/index.js');
  await upsertCatalogProduct({ sku, name: 'Rush tea', priceMinor: 990, currency: 'EUR', stock: units });
  const kinds = Array.from({ length: buyers }, (_, i) => (i % 2 === 0 ? 'whatsapp' : 'api') as 'whatsapp' | 'api');
  const requests = kinds.map((kind) => {
    const from = newPhone(kind === 'whatsapp' ? '4915' : '4916');
    const req = kind === 'whatsapp'
      ? d.inbound([{ from, interactive: { type: 'button_reply', id: `qty:1:${sku}`, title: '1' } }])
      : d.orderApi({ customerPhone: `+${from}`, items: [{ sku, quantity: 1 }] });
    return { kind, from, req };
  });
  const t = performance.now();
  const results = await Promise.all(requests.map(async (r) => {
    const s = performance.now();
    const { response, background } = await d.call(...r.req);
    const ackMs = performance.now() - s;
    const body = await response.text();
    await background;
    return { ...r, status: response.status, body, ackMs };
  }));
  const allEffectsMs = Math.round(performance.now() - t);

  const { db } = await import('../lib/db.js');
  const { redis } = await import('../lib/redis.js');
  const [row] = await db()`
    SELECT count(*)::int AS orders, COALESCE(sum((i->>'quantity')::int), 0)::int AS units
    FROM orders o, jsonb_array_elements(o.items) i
    WHERE i->>'sku' = ${sku} AND o.payment_status IN ('pending', 'awaiting_payment', 'paid')`;
  const counter = Number(await redis().get(`stock:${sku}`));

  const wa = results.filter((r) => r.kind === 'whatsapp');
  const api = results.filter((r) => r.kind === 'api');
  let waHeld = 0;
  let told = 0;
  for (const r of wa) {
    const sent = d.stack.graph!.messages({ to: r.from, status: 'accepted' });
    const m = sent[0]?.body as { type?: string; interactive?: { type?: string } } | undefined;
    if (sent.length === 1 && m?.interactive?.type === 'cta_url') waHeld++;
    // A refusal is a text, or (sold out) the same text with a "Notify me when back" button (docs/second-chances.md).
    else if (sent.length === 1 && (m?.type === 'text' || m?.interactive?.type === 'button')) told++;
  }
  const other: Record<string, number> = {};
  let apiHeld = 0;
  let refused = 0;
  for (const r of api) {
    if (r.status === 201) apiHeld++;
    else if (r.status === 409 && r.body.includes('out_of_stock')) refused++;
    else other[`${r.status} ${r.body.slice(0, 60)}`] = (other[`${r.status} ${r.body.slice(0, 60)}`] ?? 0) + 1;
  }
  const held = Number(row!.units);
  const r1 = (x: number) => Math.round(x);
  return {
    buyers, units, held, oversold: Math.max(0, held - units), counter,
    whatsapp: { buyers: wa.length, held: waHeld, told, untold: wa.length - waHeld - told, ackP50: r1(percentile(wa.map((r) => r.ackMs), 50)), ackP99: r1(percentile(wa.map((r) => r.ackMs), 99)) },
    api: { buyers: api.length, held: apiHeld, refused409: refused, other, p50: r1(percentile(api.map((r) => r.ackMs), 50)), p99: r1(percentile(api.map((r) => r.ackMs), 99)) },
    allEffectsMs,
  };
}
