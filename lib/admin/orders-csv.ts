import { currencyDigits } from '../money.js';
import { decodeCursor, listOrders, type Cursor, type OrderFilter, type OrderRow } from './order-list.js';

/**
 * GET /api/orders.csv — the filtered orders for accounting, streamed: the body is a
 * ReadableStream that fetches one page (one statement, no totals) per pull, by cursor, so a
 * year of orders never sits in memory. Cells are RFC 4180-quoted, and text that a spreadsheet
 * would run as a formula (starting with = + - @, tab or carriage return) is prefixed with '.
 */

export const CSV_PAGE = 500;

export const CSV_HEADER = [
  'reference', 'order_id', 'created_at', 'payment_status', 'fulfillment_status', 'currency', 'total_minor', 'total',
  'items', 'customer_name', 'customer_phone', 'customer_user_id', 'paid_at', 'shipped_at', 'carrier', 'tracking',
  // Courier-ready (docs/fulfilment.md): who and where, how, what it weighs; ship_problem flags what cannot ship as it is.
  'shipping_mode', 'ship_name', 'ship_line1', 'ship_line2', 'ship_postcode', 'ship_city', 'ship_state', 'ship_country', 'ship_phone',
  'shipping_method', 'shipping_minor', 'tax_minor', 'weight_grams', 'ship_problem', 'delivered_at',
] as const;

/** One CSV cell: numbers as they are; text defused against formula injection, then quoted when needed. */
export function csvCell(value: string | number | null | undefined): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'number') return String(value);
  const text = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export const csvLine = (cells: (string | number | null | undefined)[]) => `${cells.map(csvCell).join(',')}\r\n`;

/** 2598 EUR → "25.98" (a plain decimal for spreadsheets, in the currency's own minor digits). */
export function decimalAmount(minor: number, currency: string): string {
  const digits = currencyDigits(currency);
  if (digits === 0) return String(minor);
  const sign = minor < 0 ? '-' : '';
  const abs = String(Math.abs(minor)).padStart(digits + 1, '0');
  return `${sign}${abs.slice(0, -digits)}.${abs.slice(-digits)}`;
}

function orderLine(o: OrderRow): string {
  return csvLine([
    o.reference, o.id, o.createdAt, o.paymentStatus, o.fulfillmentStatus, o.currency, o.totalMinor, decimalAmount(o.totalMinor, o.currency),
    o.items, o.customer.name, o.customer.phone, o.customer.userId, o.paidAt, o.shippedAt, o.carrier, o.trackingUrl ?? o.trackingSlug,
    ...courierCells(o),
  ]);
}

function courierCells(o: OrderRow): (string | number | null)[] {
  const s = o.shipping;
  const a = s.address;
  const delivery = s.mode === 'delivery';
  return [
    s.mode, delivery ? (s.name ?? o.customer.name) : s.name, a?.line1 ?? null, a?.line2 ?? null, a?.postalCode ?? null, a?.city ?? null, a?.state ?? null, a?.country ?? null,
    // The customer's WhatsApp number is the phone the shop knows: in full with ?full=1, else masked.
    delivery ? (o.fullPhone ?? o.customer.phone) : null,
    s.method, s.shippingMinor, s.taxMinor, s.weightGrams, s.problem, s.deliveredAt,
  ];
}

/**
 * The first page is read before the answer starts (a failing read is an error status, never a 200 with the
 * header alone, which staff would read as "no orders"); the later pages as the body is pulled.
 * `full`: the customers' phones in full (the courier needs them; the caller logs that they were revealed).
 */
export async function ordersCsvStream(filter: OrderFilter, onError: (error: unknown) => void, pageSize = CSV_PAGE, opts: { full?: boolean } = {}): Promise<ReadableStream<Uint8Array>> {
  const encoder = new TextEncoder();
  let cursor: Cursor | null = null;
  let started = false;
  let done = false;
  const read = (at: Cursor | null) => listOrders(filter, at, pageSize, { totals: false, phones: opts.full === true });
  let first: Awaited<ReturnType<typeof listOrders>> | null = await read(null);
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (!started) {
        started = true;
        controller.enqueue(encoder.encode(csvLine([...CSV_HEADER])));
        return;
      }
      if (done) return controller.close();
      try {
        const page = first ?? (await read(cursor));
        first = null;
        if (page.orders.length) controller.enqueue(encoder.encode(page.orders.map(orderLine).join('')));
        if (page.nextCursor) cursor = decodeCursor(page.nextCursor);
        else done = true;
      } catch (error) {
        // Headers are gone already: the truncated body is the signal; the error is logged, not leaked.
        onError(error);
        controller.error(error);
      }
    },
  });
}
