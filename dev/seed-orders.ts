import { db } from '../lib/db.js';

/**
 * Many orders in one statement, for the console's tests and `npm run bench` (local only): order g
 * (0-based) is created `g * stepMs` before `newest`, belongs to customers[g % customers.length],
 * has 1 + g % 3 units at 10.00 and the status pair STATUS_MIX[g % STATUS_MIX.length], so callers
 * can compute every expected count and sum.
 */
export const STATUS_MIX = [
  ['paid', 'unfulfilled'],
  ['paid', 'shipped'],
  ['pending', 'unfulfilled'],
  ['expired', 'unfulfilled'],
  ['cancelled', 'unfulfilled'],
  ['refunded', 'unfulfilled'],
  ['paid', 'unfulfilled'],
] as const;

export type SeedOptions = {
  count: number;
  /** Reference prefix (the reference is prefix + g, zero-padded to 6 digits). */
  prefix: string;
  customers: { waId: string; name: string | null }[];
  newest?: Date;
  stepMs?: number;
  currency?: string;
};

export const seededTotalMinor = (g: number) => 1000 * (1 + (g % 3));
export const seededStatus = (g: number) => STATUS_MIX[g % STATUS_MIX.length]!;

export async function seedOrders(o: SeedOptions): Promise<void> {
  const newest = o.newest ?? new Date();
  await db().query(
    `WITH c AS (
       INSERT INTO customers (wa_id, phone_e164, profile_name)
       SELECT w, '+' || w, n FROM unnest($1::text[], $2::text[]) AS t(w, n)
       ON CONFLICT (wa_id) DO UPDATE SET profile_name = excluded.profile_name
       RETURNING id, wa_id
     ), ids AS (
       SELECT array_agg(c.id ORDER BY t.i) AS ids FROM c JOIN unnest($1::text[]) WITH ORDINALITY AS t(w, i) ON t.w = c.wa_id
     ), mix AS (SELECT $7::text[] AS pay, $8::text[] AS ful)
     INSERT INTO orders (reference, customer_id, source, items, total_minor, currency, payment_status, fulfillment_status,
                         created_at, paid_at, shipped_at, carrier, tracking_slug)
     SELECT $3 || lpad(g::text, 6, '0'), ids.ids[1 + g % cardinality(ids.ids)], 'api',
            jsonb_build_array(jsonb_build_object('sku', 'SEED-1', 'name', 'Seed tea', 'quantity', 1 + g % 3,
                                                 'unitPriceMinor', 1000, 'lineTotalMinor', 1000 * (1 + g % 3))),
            1000 * (1 + g % 3), $6, mix.pay[1 + g % cardinality(mix.pay)], mix.ful[1 + g % cardinality(mix.ful)],
            $4::timestamptz - make_interval(secs => g * $5::double precision / 1000),
            CASE WHEN mix.pay[1 + g % cardinality(mix.pay)] IN ('paid', 'refunded') THEN $4::timestamptz - make_interval(secs => g * $5::double precision / 1000) END,
            CASE WHEN mix.ful[1 + g % cardinality(mix.ful)] = 'shipped' THEN $4::timestamptz END,
            CASE WHEN mix.ful[1 + g % cardinality(mix.ful)] = 'shipped' THEN 'DHL' END,
            CASE WHEN mix.ful[1 + g % cardinality(mix.ful)] = 'shipped' THEN 'T' || g END
     FROM generate_series(0, $9::int - 1) g, ids, mix`,
    [
      o.customers.map((c) => c.waId),
      o.customers.map((c) => c.name),
      o.prefix,
      newest.toISOString(),
      o.stepMs ?? 60_000,
      o.currency ?? 'EUR',
      STATUS_MIX.map((s) => s[0]),
      STATUS_MIX.map((s) => s[1]),
      o.count,
    ],
  );
}
