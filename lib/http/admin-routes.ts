import { cancelOrder } from '../admin/cancel.js';
import type { AdminResult } from '../admin/result.js';
import { offlinePaymentRequest, recordOfflinePayment } from '../admin/offline-payment.js';
import { getOrderView } from '../admin/order-view.js';
import { alertListQuery, listAlerts } from '../admin/alerts.js';
import { rerunOrderCleanup } from '../admin/order-cleanup.js';
import { listOrders, orderListQuery, toFilter } from '../admin/order-list.js';
import { ordersCsvStream } from '../admin/orders-csv.js';
import { secondChancesQuery, secondChancesReport } from '../admin/second-chances.js';
import { markShipped, shippedRequest } from '../admin/shipped.js';
import { correctShippingAddress, markDelivered, markReadyForPickup, recordTrackingStatus, shippingAddressRequest, trackingRequest } from '../admin/fulfilment.js';
import { CsvFormatError, importCatalogCsv, importCatalogJson, importRequest, listCatalog, pushCatalogChanges } from '../catalog/index.js';
import { log } from '../log.js';
import { z } from '../zod.js';
import type { EdgeContext } from './edge.js';
import { HttpError, invalidRequest, zodFields } from './errors.js';
import { errorResponse, httpErrorResponse, json, methodNotAllowed } from './respond.js';
import { pathSegments, queryObject, readJson, readText } from './request-input.js';

/**
 * The admin API's routes (lib/http/admin-api.ts lets the caller in first).
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

export async function routeAdminRequest(req: Request, ctx: AdminContext = { staff: 'admin' }, context?: Pick<EdgeContext, 'waitUntil'>): Promise<Response> {
  const url = new URL(req.url);
  const answer = answerWith(context);
  try {
    const p = pathSegments(url).slice(1); // ['api', ...]
    if (p[0] === 'conversations' || p[0] === 'media' || p[0] === 'templates') return await routeInbox(req, url, p, ctx, answer);
    return await route(req, url, p, answer);
  } catch (error) {
    if (error instanceof HttpError) return httpErrorResponse(error);
    if (error instanceof z.ZodError) return httpErrorResponse(invalidRequest(zodFields(error)));
    if (error instanceof CsvFormatError) return httpErrorResponse(invalidRequest([{ path: '(body)', message: error.message }]));
    throw error;
  }
}

async function route(req: Request, url: URL, p: string[], answer: (r: AdminResult) => Promise<Response>): Promise<Response> {
  const m = req.method;
  if ((p[0] === 'orders' || p[0] === 'orders.csv' || p[0] === 'alerts') && p.length === 1) {
    if (m !== 'GET') return methodNotAllowed('GET');
    if (p[0] === 'alerts') return json(await listAlerts(alertListQuery.parse(queryObject(url))));
    const { full: _full, ...query } = queryObject(url) as Record<string, unknown>; // ?full=1: the CSV's phones in full
    const { filter, cursor, limit } = toFilter(orderListQuery.parse(p[0] === 'orders.csv' ? query : queryObject(url)));
    if (p[0] === 'orders') return json(await listOrders(filter, cursor, limit));
    const full = url.searchParams.get('full') === '1';
    if (full) log.info('admin.phones_revealed', { what: 'orders.csv' });
    const stream = await ordersCsvStream(filter, (error) => log.error('admin.orders_csv_failed', { error }), undefined, { full });
    const day = new Date().toISOString().slice(0, 10);
    return new Response(stream, {
      headers: { 'content-type': 'text/csv; charset=utf-8', 'content-disposition': `attachment; filename="orders-${day}.csv"`, 'cache-control': 'no-store' },
    });
  }
  if (p[0] === 'orders' && p[1] && p[2] === 'cleanup' && p.length === 3) {
    if (m !== 'POST') return methodNotAllowed('POST');
    return answer(await rerunOrderCleanup(p[1]));
  }
  if (p[0] === 'orders' && p[1] && p.length === 2) {
    if (m !== 'GET') return methodNotAllowed('GET');
    return json(await getOrderView(p[1], { full: url.searchParams.get('full') === '1' }));
  }
  if (p[0] === 'orders' && p[1] && p[2] === 'shipped' && p.length === 3) {
    if (m !== 'POST') return methodNotAllowed('POST');
    return answer(await markShipped(p[1], shippedRequest.parse(await readJson(req, MAX_BODY_BYTES))));
  }
  if (p[0] === 'orders' && p[1] && (p[2] === 'delivered' || p[2] === 'ready-for-pickup' || p[2] === 'tracking') && p.length === 3) {
    if (m !== 'POST') return methodNotAllowed('POST');
    if (p[2] === 'delivered') return answer(await markDelivered(p[1], { by: 'staff' }));
    if (p[2] === 'ready-for-pickup') return answer(await markReadyForPickup(p[1]));
    return answer(await recordTrackingStatus(p[1], trackingRequest.parse(await readJson(req, MAX_BODY_BYTES))));
  }
  if (p[0] === 'orders' && p[1] && p[2] === 'shipping-address' && p.length === 3) {
    if (m !== 'PUT') return methodNotAllowed('PUT');
    return answer(await correctShippingAddress(p[1], shippingAddressRequest.parse(await readJson(req, MAX_BODY_BYTES))));
  }
  if (p[0] === 'orders' && p[1] && p[2] === 'cancel' && p.length === 3) {
    if (m !== 'POST') return methodNotAllowed('POST');
    return answer(await cancelOrder(p[1]));
  }
  if (p[0] === 'offline-payments' && p.length === 1) {
    if (m !== 'POST') return methodNotAllowed('POST');
    return answer(await recordOfflinePayment(offlinePaymentRequest.parse(await readJson(req, MAX_BODY_BYTES))));
  }
  if (p[0] === 'catalog' && p.length === 1) {
    if (m === 'GET') return json({ variants: await listCatalog() });
    if (m !== 'PUT') return methodNotAllowed('GET, PUT');
    const type = req.headers.get('content-type') ?? '';
    if (/text\/csv/i.test(type)) return json(await importCatalogCsv(await readText(req, MAX_BODY_BYTES)));
    return json(await importCatalogJson(importRequest.parse(await readJson(req, MAX_BODY_BYTES))));
  }
  if (p[0] === 'catalog' && p[1] === 'sync' && p.length === 2) {
    if (m !== 'POST') return methodNotAllowed('POST');
    const result = await pushCatalogChanges();
    return json(result, result.status === 'failed' ? 502 : result.status === 'skipped' && result.reason === 'push_in_progress' ? 409 : 200);
  }
  if (p[0] === 'second-chances' && p.length === 1) {
    if (m !== 'GET') return methodNotAllowed('GET');
    return json(await secondChancesReport(secondChancesQuery.parse(queryObject(url))));
  }
  return errorResponse(404, 'not_found', 'no such admin route');
}

/** The team inbox's routes (lib/inbox), loaded on first use. */
async function routeInbox(req: Request, url: URL, p: string[], ctx: AdminContext, answer: (r: AdminResult) => Promise<Response>): Promise<Response> {
  const m = req.method;
  const inbox = await import('../inbox/index.js');
  if (p[0] === 'templates' && p.length === 1) {
    if (m !== 'GET') return methodNotAllowed('GET');
    return json({ templates: await inbox.approvedTemplates() });
  }
  if (p[0] === 'media' && p[1] && p.length === 2) {
    if (m !== 'GET') return methodNotAllowed('GET');
    return inbox.mediaResponse(p[1]);
  }
  if (p[0] !== 'conversations') return errorResponse(404, 'not_found', 'no such admin route');
  if (p.length === 1) {
    if (m !== 'GET') return methodNotAllowed('GET');
    return json(await inbox.listConversations(inbox.conversationListQuery.parse(queryObject(url))));
  }
  const id = p[1]!;
  if (p.length === 2) {
    if (m !== 'GET') return methodNotAllowed('GET');
    return json(await inbox.getConversation(id));
  }
  if (p.length === 3 && p[2] === 'messages') {
    if (m !== 'POST') return methodNotAllowed('POST');
    const body = inbox.staffMessageRequest.parse(await readJson(req, MAX_BODY_BYTES));
    return answer(await inbox.sendStaffMessage(id, body, req.headers.get('idempotency-key'), ctx.staff));
  }
  if (p.length === 3 && p[2] === 'read') {
    if (m !== 'POST') return methodNotAllowed('POST');
    return json(await inbox.markConversationRead(id, ctx.staff));
  }
  if (p.length === 3 && p[2] === 'typing') {
    if (m !== 'POST') return methodNotAllowed('POST');
    return json(await inbox.showTyping(id));
  }
  if (p.length === 3 && p[2] === 'mode') {
    if (m !== 'PUT') return methodNotAllowed('PUT');
    return json(await inbox.setMode(id, inbox.modeRequest.parse(await readJson(req, MAX_BODY_BYTES)).mode, ctx.staff));
  }
  return errorResponse(404, 'not_found', 'no such admin route');
}

/** The answer; the result's work after it (the customer's notice) goes to waitUntil, or is awaited without one. */
const answerWith = (context: Pick<EdgeContext, 'waitUntil'> | undefined) => async (r: AdminResult): Promise<Response> => {
  if (r.after) {
    if (context) context.waitUntil(r.after());
    else await r.after();
  }
  return json(r.body, r.status, r.replayed ? { 'idempotent-replayed': 'true' } : {});
};
