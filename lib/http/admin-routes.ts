import { cancelOrder } from '../admin/cancel.js';
import type { AdminResult } from '../admin/result.js';
import type { MediaFile } from '../inbox/index.js';
import { offlinePaymentRequest, recordOfflinePayment } from '../admin/offline-payment.js';
import { getOrderView } from '../admin/order-view.js';
import { alertListQuery, listAlerts } from '../admin/alerts.js';
import { rerunOrderCleanup } from '../admin/order-cleanup.js';
import { listOrders, orderListQuery, toFilter } from '../admin/order-list.js';
import { ordersCsvStream } from '../admin/orders-csv.js';
import { secondChancesQuery, secondChancesReport } from '../admin/second-chances.js';
import { markShipped, shippedRequest } from '../admin/shipped.js';
import { correctShippingAddress, markDelivered, markReadyForPickup, recordTrackingStatus, shippingAddressRequest, trackingRequest } from '../admin/fulfilment.js';
import { importRequest, listCatalog, pushCatalogChanges } from '../catalog/index.js';
import { importCatalogCsv, importCatalogJson } from '../admin/catalog-import.js';
import { log } from '../log.js';
import { z } from '../zod.js';
import type { EdgeContext } from './edge.js';
import { DomainError, invalidRequest, zodFields } from './errors.js';
import { domainErrorResponse, errorResponse, json, methodNotAllowed } from './respond.js';
import { pathSegments, queryObject, readJson, readText } from './request-input.js';
import { matchRoute, ROUTES, type RouteOf } from './routes.js';

/**
 * The admin API's handlers, one per admin route of the route table (./routes.ts), and their contracts
 * (lib/http/admin-api.ts lets the caller in first):
 *   GET  /api/orders                  ?paymentStatus=&fulfillmentStatus=&createdFrom=&createdTo=&customer=&reference=&limit=&cursor=
 *                                     newest first, { orders, nextCursor, totals } in one Postgres round trip
 *   GET  /api/orders.csv              the same filters, streamed as CSV
 *   GET  /api/orders/:id[?full=1]     the order, its events, hold, messages, payments, invite
 *   POST /api/orders/:id/cleanup      the cleanup run's work for this one order, now
 *   GET  /api/alerts                  ops alerts and failed messages, newest first (?limit=&cursor=)
 *   POST /api/orders/:id/shipped      { trackingSlug | trackingUrl, carrier? }
 *   POST /api/orders/:id/cancel
 *   POST /api/orders/:id/delivered | ready-for-pickup    PUT /api/orders/:id/shipping-address { name?, address }
 *   POST /api/orders/:id/tracking     { status, carrier?, detail? }  the carrier's tracking status (docs/fulfilment.md)
 *   POST /api/offline-payments        { orderId? | customerPhone? | customerUserId?, customerName?, amountMinor, currency, paidAt, reference }
 *   GET  /api/catalog                 every variant with stock (Postgres) and available (Redis)
 *   PUT  /api/catalog                 JSON { products: [...] } or text/csv
 *   POST /api/catalog/sync            push changed prices/availability to the Meta catalog
 *   GET  /api/conversations           team inbox (lib/inbox): ?filter=needsReply|openOrder|invited&q=&limit=&cursor=
 *   GET  /api/conversations/:id       the thread (newest last), linked orders, window end, mode
 *   POST /api/conversations/:id/messages  {text} | {template, language?, parameters}, Idempotency-Key header required
 *   POST /api/conversations/:id/read  mark read (blue ticks on WhatsApp)
 *   POST /api/conversations/:id/typing  typing indicator (at most once per 25 s)
 *   PUT  /api/conversations/:id/mode  {mode: "bot" | "staff"}
 *   GET  /api/templates               the approved templates staff may send outside the window
 *   GET  /api/media/:id               the media proxy (customer media only)
 * Staff: a named key of ADMIN_API_KEYS is its staff member, the single ADMIN_API_KEY is "admin".
 *   GET  /api/second-chances          ?days= reminders, extensions, waitlist offers, recoveries and revenue per day
 * Errors are `{ error, message, fields? }`: 503 not_configured without ADMIN_API_KEY, 401, 404,
 * 405, 409, 422 invalid_request with fields [{ path, message }] (paths like `products[1].name`).
 * Idempotent replays answer the first response with `Idempotent-Replayed: true`.
 */

const MAX_BODY_BYTES = 5 * 1024 * 1024;

export type AdminContext = { staff: string };

type AdminRoute = RouteOf<'admin-api'>;
type Call = { req: Request; url: URL; id: string; ctx: AdminContext; answer: (r: AdminResult) => Promise<Response> };

const body = (req: Request) => readJson(req, MAX_BODY_BYTES);
/** The team inbox (lib/inbox), loaded on first use. */
const inbox = () => import('../inbox/index.js');

/** The order list's filters; `full` (?full=1, the CSV's phones in full) is not one. */
function listFilter(url: URL, csv: boolean) {
  const { full: _full, ...query } = queryObject(url) as Record<string, unknown>;
  return toFilter(orderListQuery.parse(csv ? query : queryObject(url)));
}

/** The handler of each admin route of the table (lib/http/routes.ts), by its name. */
const HANDLERS: { [N in AdminRoute['name']]: (call: Call) => Promise<Response> } = {
  'orders.list': async ({ url }) => {
    const { filter, cursor, limit } = listFilter(url, false);
    return json(await listOrders(filter, cursor, limit));
  },
  'orders.csv': async ({ url }) => {
    const { filter } = listFilter(url, true);
    const full = url.searchParams.get('full') === '1';
    if (full) log.info('admin.phones_revealed', { what: 'orders.csv' });
    const stream = await ordersCsvStream(filter, (error) => log.error('admin.orders_csv_failed', { error }), undefined, { full });
    const day = new Date().toISOString().slice(0, 10);
    return new Response(stream, {
      headers: { 'content-type': 'text/csv; charset=utf-8', 'content-disposition': `attachment; filename="orders-${day}.csv"`, 'cache-control': 'no-store' },
    });
  },
  'alerts.list': async ({ url }) => json(await listAlerts(alertListQuery.parse(queryObject(url)))),
  'order.cleanup': async ({ id, answer }) => answer(await rerunOrderCleanup(id)),
  'order.view': async ({ id, url }) => json(await getOrderView(id, { full: url.searchParams.get('full') === '1' })),
  'order.shipped': async ({ req, id, answer }) => answer(await markShipped(id, shippedRequest.parse(await body(req)))),
  'order.cancel': async ({ id, answer }) => answer(await cancelOrder(id)),
  'order.delivered': async ({ id, answer }) => answer(await markDelivered(id, { by: 'staff' })),
  'order.tracking': async ({ req, id, answer }) => answer(await recordTrackingStatus(id, trackingRequest.parse(await body(req)))),
  'order.ready-for-pickup': async ({ id, answer }) => answer(await markReadyForPickup(id)),
  'order.shipping-address': async ({ req, id, answer }) => answer(await correctShippingAddress(id, shippingAddressRequest.parse(await body(req)))),
  'offline-payment': async ({ req, answer }) => answer(await recordOfflinePayment(offlinePaymentRequest.parse(await body(req)))),
  'catalog.list': async () => json({ variants: await listCatalog() }),
  'catalog.import': async ({ req }) => {
    if (/text\/csv/i.test(req.headers.get('content-type') ?? '')) return json(await importCatalogCsv(await readText(req, MAX_BODY_BYTES)));
    return json(await importCatalogJson(importRequest.parse(await body(req))));
  },
  'catalog.sync': async () => {
    const result = await pushCatalogChanges();
    return json(result, result.status === 'failed' ? 502 : result.status === 'skipped' && result.reason === 'push_in_progress' ? 409 : 200);
  },
  'second-chances': async ({ url }) => json(await secondChancesReport(secondChancesQuery.parse(queryObject(url)))),
  'conversations.list': async ({ url }) => {
    const i = await inbox();
    return json(await i.listConversations(i.conversationListQuery.parse(queryObject(url))));
  },
  'conversation.view': async ({ id }) => json(await (await inbox()).getConversation(id)),
  'conversation.send': async ({ req, id, ctx, answer }) => {
    const i = await inbox();
    const message = i.staffMessageRequest.parse(await body(req));
    return answer(await i.sendStaffMessage(id, message, req.headers.get('idempotency-key'), ctx.staff));
  },
  'conversation.read': async ({ id, ctx }) => json(await (await inbox()).markConversationRead(id, ctx.staff)),
  'conversation.typing': async ({ id }) => json(await (await inbox()).showTyping(id)),
  'conversation.mode': async ({ req, id, ctx }) => {
    const i = await inbox();
    return json(await i.setMode(id, i.modeRequest.parse(await body(req)).mode, ctx.staff));
  },
  'templates.list': async () => json({ templates: await (await inbox()).approvedTemplates() }),
  'media': async ({ id }) => mediaResponse(await (await inbox()).customerMedia(id)),
};

const ADMIN_ROUTES: readonly AdminRoute[] = ROUTES.filter((r): r is AdminRoute => r.door === 'admin-api');

export async function routeAdminRequest(req: Request, ctx: AdminContext = { staff: 'admin' }, context?: Pick<EdgeContext, 'waitUntil'>): Promise<Response> {
  const url = new URL(req.url);
  try {
    const matched = matchRoute(ADMIN_ROUTES, req.method, pathSegments(url));
    if (!matched) return errorResponse(404, 'not_found', 'no such admin route');
    if ('allow' in matched) return methodNotAllowed(matched.allow.join(', '));
    return await HANDLERS[matched.route.name]({ req, url, id: matched.params.id ?? '', ctx, answer: answerWith(context) });
  } catch (error) {
    if (error instanceof DomainError) return domainErrorResponse(error);
    if (error instanceof z.ZodError) return domainErrorResponse(invalidRequest(zodFields(error)));
    throw error;
  }
}

/** A customer's media file, served only to the console: never sniffed, never scripted, never cached. */
function mediaResponse(file: MediaFile): Response {
  return new Response(new Uint8Array(file.bytes), {
    headers: {
      'content-type': file.type,
      'content-length': String(file.bytes.byteLength),
      'content-disposition': `${file.inline ? 'inline' : 'attachment'}; filename="${file.filename}"`,
      'cache-control': 'private, no-store',
      'x-content-type-options': 'nosniff',
      'content-security-policy': "default-src 'none'; sandbox",
    },
  });
}

/** The answer; the result's work after it (the customer's notice) goes to waitUntil, or is awaited without one. */
const answerWith = (context: Pick<EdgeContext, 'waitUntil'> | undefined) => async (r: AdminResult): Promise<Response> => {
  if (r.after) {
    if (context) context.waitUntil(r.after());
    else await r.after();
  }
  return json(r.body, r.status, r.replayed ? { 'idempotent-replayed': 'true' } : {});
};
