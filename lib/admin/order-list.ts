import { z } from '../zod.js';
import { isBsuid } from '../identity.js';
import { maskBsuid, maskPhone } from '../log.js';
import { formatMoney } from '../money.js';
import { e164ToWaId, normalizePhone } from '../phone.js';
import { invalidRequest } from '../errors.js';
import { adminDate, instantOf, isCursorTime } from './dates.js';
import { addressText, type ShippingAddress, type ShippingRate } from '../orders/shipping.js';
import { CUSTOMER_MATCHERS, orderPage, type CustomerKey, type Cursor, type OrderFilter } from '../orders/store-console.js';

/**
 * GET /api/orders — the shop's order list: filters, newest first, cursor pages, and the totals
 * of the whole filtered range (count and sum per payment status, per fulfilment status, per
 * currency). A page and its totals are ONE statement (one Postgres round trip), served by the
 * indexes of migrations/006_console.sql. The cursor is opaque: base64url of the last row's
 * (created_at to the microsecond, id), so pages never skip or repeat rows when orders arrive.
 */

export const PAYMENT_STATUSES = ['pending', 'awaiting_payment', 'paid', 'expired', 'cancelled', 'payment_failed', 'refunded'] as const;
export const FULFILLMENT_STATUSES = ['unfulfilled', 'shipped', 'delivered'] as const;
export const MAX_PAGE = 200;

const dateOrTime = adminDate();

export const orderListQuery = z
  .object({
    paymentStatus: z
      .string()
      .transform((s) => [...new Set(s.split(',').map((x) => x.trim()).filter(Boolean))])
      .pipe(z.array(z.enum(PAYMENT_STATUSES, { error: `must be one or more of ${PAYMENT_STATUSES.join(', ')} (comma-separated)` })).min(1))
      .optional(),
    fulfillmentStatus: z.enum(FULFILLMENT_STATUSES, { error: `must be ${FULFILLMENT_STATUSES.join(' or ')}` }).optional(),
    /** Inclusive; a bare date means that day's start (UTC). */
    createdFrom: dateOrTime.optional(),
    /** A date-time is exclusive; a bare date includes that whole day (UTC). */
    createdTo: dateOrTime.optional(),
    /** The customer: a phone number (E.164; spaces, dashes and a leading 00 are fine) or a BSUID. */
    customer: z.string().trim().min(1).max(64).optional(),
    reference: z.string().trim().min(1).max(32).transform((s) => s.toUpperCase()).optional(),
    limit: z.coerce.number({ error: 'must be a number' }).int('must be a whole number').min(1).max(MAX_PAGE).default(50),
    cursor: z.string().max(200).optional(),
  })
  .strict();
export type OrderListQuery = z.infer<typeof orderListQuery>;

export type { CustomerKey, Cursor, OrderFilter } from '../orders/store-console.js';
export { orderPageSql } from '../orders/store-console.js';

export function parseCustomer(raw: string): CustomerKey {
  if (isBsuid(raw)) return { raw, waId: null, userId: raw };
  const e164 = normalizePhone(raw);
  return { raw, waId: e164 ? e164ToWaId(e164) : null, userId: null };
}

/** Turns the parsed query into a filter and a cursor; bad values are 422 with the field. */
export function toFilter(q: OrderListQuery): { filter: OrderFilter; cursor: Cursor | null; limit: number } {
  const fields: { path: string; message: string }[] = [];
  const day = (s: string) => /^\d{4}-\d{2}-\d{2}$/.test(s);
  const createdFrom = q.createdFrom ? instantOf(q.createdFrom) : undefined;
  let createdTo = q.createdTo ? instantOf(q.createdTo) : undefined;
  if (createdTo && day(q.createdTo!)) createdTo = new Date(createdTo.getTime() + 24 * 3600 * 1000);
  if (createdFrom && createdTo && createdFrom >= createdTo) fields.push({ path: 'createdTo', message: 'must be after createdFrom' });
  const customer = q.customer ? parseCustomer(q.customer) : undefined;
  if (customer && !CUSTOMER_MATCHERS.some((m) => m(customer, () => '') !== null))
    fields.push({ path: 'customer', message: 'must be a phone number in E.164, e.g. +4915112345678, or a BSUID, e.g. US.13491208655302741918' });
  const cursor = q.cursor ? decodeCursor(q.cursor) : null;
  if (q.cursor && !cursor) fields.push({ path: 'cursor', message: 'is not a cursor from this list' });
  if (fields.length) throw invalidRequest(fields);
  return {
    filter: { paymentStatus: q.paymentStatus, fulfillmentStatus: q.fulfillmentStatus, createdFrom, createdTo, customer, reference: q.reference },
    cursor,
    limit: q.limit,
  };
}

export const encodeCursor = (c: Cursor) => Buffer.from(JSON.stringify([c.t, c.id])).toString('base64url');

export function decodeCursor(s: string): Cursor | null {
  try {
    const v = JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));
    if (!Array.isArray(v) || v.length !== 2) return null;
    const [t, id] = v;
    if (!isCursorTime(t)) return null;
    if (typeof id !== 'string' || !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id)) return null;
    return { t, id };
  } catch {
    return null;
  }
}

export type OrderRow = {
  id: string;
  reference: string;
  createdAt: string;
  paymentStatus: string;
  fulfillmentStatus: string;
  totalMinor: number;
  currency: string;
  total: string;
  items: string;
  customer: { name: string | null; phone: string | null; userId: string | null };
  paidAt: string | null;
  shippedAt: string | null;
  carrier: string | null;
  trackingUrl: string | null;
  trackingSlug: string | null;
  /** The payment took more units than were on hand (docs/reliability.md "Stock shortfall rule"): [{ sku, ordered, onHand }]. */
  stockShortfall: { sku: string; ordered: number; onHand: number }[] | null;
  /** Fulfilment (docs/fulfilment.md): what the courier needs; `problem` flags an order that cannot ship as it is. */
  shipping: {
    mode: string;
    name: string | null;
    address: ShippingAddress | null;
    addressText: string | null;
    method: string | null;
    shippingMinor: number;
    taxMinor: number;
    weightGrams: number | null;
    problem: string | null;
    deliveredAt: string | null;
  };
  /** The customer's full phone, for the courier CSV with ?full=1 only (never in the JSON list). */
  fullPhone?: string | null;
};
export type Total = { status?: string; currency: string; count: number; sumMinor: number; sum: string };
export type Totals = { byCurrency: Total[]; paymentStatus: Total[]; fulfillmentStatus: Total[] };
export type OrderPage = { orders: OrderRow[]; nextCursor: string | null; totals?: Totals };

/** `phones`: each row also carries the customer's full phone (the courier CSV with ?full=1; never in the JSON list). */
export async function listOrders(f: OrderFilter, cursor: Cursor | null, limit: number, opts: { totals?: boolean; phones?: boolean } = {}): Promise<OrderPage> {
  const withTotals = opts.totals ?? true;
  const row = await orderPage(f, cursor, limit, withTotals);
  const rows = (row?.page ?? []) as Record<string, unknown>[];
  const more = rows.length > limit;
  const pageRows = more ? rows.slice(0, limit) : rows;
  const last = pageRows.at(-1);
  return {
    orders: pageRows.map((r) => (opts.phones ? { ...toRow(r), fullPhone: r.wa_id ? `+${r.wa_id as string}` : null } : toRow(r))),
    nextCursor: more && last ? encodeCursor({ t: last.cursor_t as string, id: last.id as string }) : null,
    ...(withTotals ? { totals: toTotals((row?.totals ?? []) as Record<string, unknown>[]) } : {}),
  };
}

const iso = (v: unknown) => (v ? new Date(v as string).toISOString() : null);

function toRow(r: Record<string, unknown>): OrderRow {
  const currency = String(r.currency).trim();
  const totalMinor = Number(r.total_minor);
  return {
    id: r.id as string,
    reference: r.reference as string,
    createdAt: iso(r.created_at)!,
    paymentStatus: r.payment_status as string,
    fulfillmentStatus: r.fulfillment_status as string,
    totalMinor,
    currency,
    total: formatMoney(totalMinor, currency),
    items: (r.item_summary as string | null) ?? '',
    customer: { name: (r.profile_name as string | null) ?? null, phone: r.wa_id ? maskPhone(r.wa_id as string) : null, userId: r.bsuid ? maskBsuid(r.bsuid as string) : null },
    paidAt: iso(r.paid_at),
    shippedAt: iso(r.shipped_at),
    carrier: (r.carrier as string | null) ?? null,
    trackingUrl: (r.tracking_url as string | null) ?? null,
    trackingSlug: (r.tracking_slug as string | null) ?? null,
    stockShortfall: (r.stock_shortfall as OrderRow['stockShortfall']) ?? null,
    shipping: {
      mode: (r.shipping_mode as string | undefined) ?? 'none',
      name: (r.shipping_name as string | null) ?? null,
      address: (r.shipping_address as ShippingAddress | null) ?? null,
      addressText: addressText((r.shipping_address as ShippingAddress | null) ?? null),
      method: (r.shipping_rate as ShippingRate | null)?.name ?? null,
      shippingMinor: Number(r.shipping_minor ?? 0),
      taxMinor: Number(r.tax_minor ?? 0),
      weightGrams: r.weight_grams == null ? null : Number(r.weight_grams),
      problem: (r.shipping_problem as string | null) ?? null,
      deliveredAt: iso(r.delivered_at),
    },
  };
}

function toTotals(rows: Record<string, unknown>[]): Totals {
  const total = (r: Record<string, unknown>, status?: string): Total => {
    const currency = String(r.currency).trim();
    const sumMinor = Number(r.s);
    return { ...(status ? { status } : {}), currency, count: Number(r.n), sumMinor, sum: formatMoney(sumMinor, currency) };
  };
  const order = (a: Total, b: Total) => (a.status ?? '').localeCompare(b.status ?? '') || a.currency.localeCompare(b.currency);
  return {
    byCurrency: rows.filter((r) => r.gp === 1 && r.gf === 1).map((r) => total(r)).sort(order),
    paymentStatus: rows.filter((r) => r.gp === 0).map((r) => total(r, r.payment_status as string)).sort(order),
    fulfillmentStatus: rows.filter((r) => r.gf === 0).map((r) => total(r, r.fulfillment_status as string)).sort(order),
  };
}
