import { db, type Query } from '../db.js';

/**
 * The orders store's console reads (part of lib/orders/store.ts, tests/architecture-tables.test.ts): the order
 * view's order row (`o.*` with its customer: a new column is in it at once) and the order list's page and totals.
 * The console's view and list (lib/admin/order-view.ts, order-list.ts) shape these rows; the other families'
 * parts of the view are read by their own stores in the same read-only batch.
 */

/** The order with its customer, for the console's order view (a statement of its read-only batch). */
export const orderViewQuery = (orderId: string): Query => db()`SELECT o.*, c.wa_id, c.bsuid, c.username, c.profile_name, c.last_inbound_at, c.unreachable_at
            FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.id = ${orderId}`;

export type OrderFilter = {
  paymentStatus?: string[];
  fulfillmentStatus?: string;
  createdFrom?: Date;
  createdTo?: Date;
  customer?: CustomerKey;
  reference?: string;
};
/** How the staff named a customer: a phone number or a BSUID. */
export type CustomerKey = { raw: string; waId: string | null; userId: string | null };
export type Cursor = { t: string; id: string };

/** The ways a customer filter matches a `customers` row (alias cu), any of them. */
export const CUSTOMER_MATCHERS: ((c: CustomerKey, p: (v: unknown) => string) => string | null)[] = [
  (c, p) => (c.waId ? `cu.wa_id = ${p(c.waId)}` : null),
  (c, p) => (c.userId ? `cu.bsuid = ${p(c.userId)}` : null),
];

/** The WHERE clause of a filter (orders alias o), with its positional parameters. */
function where(f: OrderFilter, params: unknown[]): string {
  const p = (v: unknown) => `$${params.push(v)}`;
  const conds: string[] = [];
  if (f.paymentStatus?.length) conds.push(`o.payment_status = ANY(${p(f.paymentStatus)}::text[])`);
  if (f.fulfillmentStatus) conds.push(`o.fulfillment_status = ${p(f.fulfillmentStatus)}`);
  if (f.createdFrom) conds.push(`o.created_at >= ${p(f.createdFrom.toISOString())}::timestamptz`);
  if (f.createdTo) conds.push(`o.created_at < ${p(f.createdTo.toISOString())}::timestamptz`);
  if (f.reference) conds.push(`o.reference = ${p(f.reference)}`);
  if (f.customer) {
    const c = f.customer;
    const matches = CUSTOMER_MATCHERS.map((m) => m(c, p)).filter((s): s is string => s !== null);
    conds.push(`o.customer_id IN (SELECT cu.id FROM customers cu WHERE ${matches.join(' OR ')})`);
  }
  return conds.length ? conds.join(' AND ') : 'true';
}

/** One statement: the page (limit + 1 rows, to know whether there is a next one) and, unless skipped, the totals. */
export function orderPageSql(f: OrderFilter, cursor: Cursor | null, limit: number, withTotals: boolean): { text: string; params: unknown[] } {
  const params: unknown[] = [];
  const filtered = where(f, params);
  const after = cursor ? `AND (o.created_at, o.id) < ($${params.push(cursor.t)}::timestamptz, $${params.push(cursor.id)}::uuid)` : '';
  const text = `
    WITH page AS (
      SELECT o.id, o.reference, o.created_at, o.payment_status, o.fulfillment_status, o.total_minor, o.currency, o.paid_at,
             o.shipped_at, o.carrier, o.tracking_url, o.tracking_slug, o.stock_shortfall, c.wa_id, c.bsuid, c.profile_name,
             o.shipping_mode, o.shipping_name, o.shipping_address, o.shipping_rate, o.shipping_minor, o.tax_minor, o.shipping_problem, o.delivered_at,
             (SELECT sum((i->>'quantity')::int * (i->>'weightGrams')::int) FROM jsonb_array_elements(o.items) i)::int AS weight_grams,
             to_char(o.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS cursor_t,
             (SELECT string_agg((i->>'quantity') || ' × ' || (i->>'name'), ', ') FROM jsonb_array_elements(o.items) i) AS item_summary
      FROM orders o JOIN customers c ON c.id = o.customer_id
      WHERE ${filtered} ${after}
      ORDER BY o.created_at DESC, o.id DESC
      LIMIT $${params.push(limit + 1)}
    )${withTotals ? `, totals AS (
      SELECT o.payment_status, o.fulfillment_status, o.currency, count(*)::int AS n, sum(o.total_minor)::bigint AS s,
             GROUPING(o.payment_status) AS gp, GROUPING(o.fulfillment_status) AS gf
      FROM orders o WHERE ${filtered}
      GROUP BY GROUPING SETS ((o.currency), (o.payment_status, o.currency), (o.fulfillment_status, o.currency))
    )` : ''}
    SELECT (SELECT COALESCE(json_agg(page ORDER BY created_at DESC, id DESC), '[]'::json) FROM page) AS page,
           ${withTotals ? `(SELECT COALESCE(json_agg(totals), '[]'::json) FROM totals)` : `NULL::json`} AS totals`;
  return { text, params };
}

/** The page and (unless skipped) its totals: one row { page, totals }, one round trip. */
export async function orderPage(f: OrderFilter, cursor: Cursor | null, limit: number, withTotals: boolean): Promise<Record<string, unknown> | undefined> {
  const { text, params } = orderPageSql(f, cursor, limit, withTotals);
  const [row] = await db().query(text, params);
  return row;
}
