import { redis } from '../redis.js';

/** Read-only view of an order's stock hold in Redis (see lib/reservations.ts for the layout). */
export type HoldView = { state: string; expiresAt: string | null; lines: { sku: string; quantity: number }[] };

export async function readHold(orderId: string): Promise<HoldView | null> {
  const h = await redis().hgetall<Record<string, unknown>>(`hold:${orderId}`);
  if (!h || Object.keys(h).length === 0) return null;
  const lines = Object.entries(h)
    .filter(([k]) => k.startsWith('sku:'))
    .map(([k, v]) => ({ sku: k.slice(4), quantity: Number(v) }))
    .sort((a, b) => a.sku.localeCompare(b.sku));
  const exp = Number(h.exp);
  return { state: String(h.state ?? 'unknown'), expiresAt: Number.isFinite(exp) && exp > 0 ? new Date(exp).toISOString() : null, lines };
}
