import type { Config, Context } from '@netlify/functions';
import { z } from 'zod';
import { cancelOrder } from '../../lib/admin/cancel.js';
import { AdminError, fieldPath, zodFields, type AdminResult, type FieldError } from '../../lib/admin/errors.js';
import { offlinePaymentRequest, recordOfflinePayment } from '../../lib/admin/offline-payment.js';
import { getOrderView } from '../../lib/admin/order-view.js';
import { alertListQuery, listAlerts } from '../../lib/admin/alerts.js';
import { rerunOrderCleanup } from '../../lib/admin/order-cleanup.js';
import { listOrders, orderListQuery, toFilter } from '../../lib/admin/order-list.js';
import { ordersCsvStream } from '../../lib/admin/orders-csv.js';
import { markShipped, shippedRequest } from '../../lib/admin/shipped.js';
import { CsvFormatError, importCatalogCsv, importCatalogJson, importRequest, listCatalog, pushCatalogChanges } from '../../lib/catalog/index.js';
import { needs } from '../../lib/config-needs.js';
import { adminKeyProblem, json, ready, secretsEqual, withConfig } from '../../lib/http.js';
import { log } from '../../lib/log.js';
import { forMessage, isSafeText, UNSAFE_TEXT_MESSAGE, unsafeTextPath } from '../../lib/safe-text.js';

/**
 * The shop's admin API (Authorization: Bearer <ADMIN_API_KEY>, compared in constant time).
 *   GET  /api/orders                  ?paymentStatus=&fulfillmentStatus=&createdFrom=&createdTo=&customer=&reference=&limit=&cursor=
 *                                     newest first, { orders, nextCursor, totals } in one Postgres round trip
 *   GET  /api/orders.csv              the same filters, streamed as CSV
 *   GET  /api/orders/:id[?full=1]     the order, its events, hold, messages, payments, invite
 *   POST /api/orders/:id/cleanup      the cleanup run's work for this one order, now
 *   GET  /api/alerts                  ops alerts and failed messages, newest first (?limit=&cursor=)
 *   POST /api/orders/:id/shipped      { trackingSlug | trackingUrl, carrier? }
 *   POST /api/orders/:id/cancel
 *   POST /api/offline-payments        { orderId? | customerPhone? | customerUserId?, customerName?, amountMinor, currency, paidAt, reference }
 *   GET  /api/catalog                 every variant with stock (Postgres) and available (Redis)
 *   PUT  /api/catalog                 JSON { products: [...] } or text/csv
 *   POST /api/catalog/sync            push changed prices/availability to the Meta catalog
 * Errors are JSON: 503 {error: 'not_configured'} without ADMIN_API_KEY, 401, 404, 405, 409 {error, message}, 422 {error: 'invalid_request', fields: [{path, message}]}.
 * Idempotent replays answer the first response with `Idempotent-Replayed: true`.
 */
export const config: Config = {
  path: ['/api/orders', '/api/orders.csv', '/api/alerts', '/api/orders/:id/cleanup', '/api/orders/:id', '/api/orders/:id/shipped', '/api/orders/:id/cancel', '/api/offline-payments', '/api/catalog', '/api/catalog/sync'],
};

const MAX_BODY_BYTES = 5 * 1024 * 1024;

export default (req: Request, _context: Context) =>
  withConfig('admin-api', async (cfg) => {
    const token = req.headers.get('authorization')?.match(/^Bearer\s+(.+)$/i)?.[1];
    if (!cfg.ADMIN_API_KEY) return adminKeyProblem('admin-api');
    if (!secretsEqual(token, cfg.ADMIN_API_KEY)) {
      return json({ error: 'unauthorized', message: 'Authorization: Bearer <ADMIN_API_KEY> required' }, 401, { 'www-authenticate': 'Bearer' });
    }
    await ready(needs.adminApi);
    const url = new URL(req.url);
    try {
      const segs = url.pathname.replace(/\/+$/, '').split('/').filter(Boolean).map(decodePathSegment); // ['api', ...]
      return await route(req, url, segs.slice(1));
    } catch (error) {
      if (error instanceof AdminError)
        return json({ error: error.code, message: error.message, ...(error.fields ? { fields: error.fields } : {}) }, error.status);
      if (error instanceof z.ZodError) return invalid(zodFields(error));
      if (error instanceof CsvFormatError) return invalid([{ path: '(body)', message: error.message }]);
      throw error;
    }
  });

async function route(req: Request, url: URL, p: string[]): Promise<Response> {
  const m = req.method;
  if ((p[0] === 'orders' || p[0] === 'orders.csv' || p[0] === 'alerts') && p.length === 1) {
    if (m !== 'GET') return notAllowed('GET');
    if (p[0] === 'alerts') return json(await listAlerts(parse(alertListQuery, query(url))));
    const { filter, cursor, limit } = toFilter(parse(orderListQuery, query(url)));
    if (p[0] === 'orders') return json(await listOrders(filter, cursor, limit));
    const stream = ordersCsvStream(filter, (error) => log.error('admin.orders_csv_failed', { error }));
    const day = new Date().toISOString().slice(0, 10);
    return new Response(stream, {
      headers: { 'content-type': 'text/csv; charset=utf-8', 'content-disposition': `attachment; filename="orders-${day}.csv"`, 'cache-control': 'no-store' },
    });
  }
  if (p[0] === 'orders' && p[1] && p[2] === 'cleanup' && p.length === 3) {
    if (m !== 'POST') return notAllowed('POST');
    return answer(await rerunOrderCleanup(p[1]));
  }
  if (p[0] === 'orders' && p[1] && p.length === 2) {
    if (m !== 'GET') return notAllowed('GET');
    return json(await getOrderView(p[1], { full: url.searchParams.get('full') === '1' }));
  }
  if (p[0] === 'orders' && p[1] && p[2] === 'shipped' && p.length === 3) {
    if (m !== 'POST') return notAllowed('POST');
    return answer(await markShipped(p[1], parse(shippedRequest, await readJson(req))));
  }
  if (p[0] === 'orders' && p[1] && p[2] === 'cancel' && p.length === 3) {
    if (m !== 'POST') return notAllowed('POST');
    return answer(await cancelOrder(p[1]));
  }
  if (p[0] === 'offline-payments' && p.length === 1) {
    if (m !== 'POST') return notAllowed('POST');
    return answer(await recordOfflinePayment(parse(offlinePaymentRequest, await readJson(req))));
  }
  if (p[0] === 'catalog' && p.length === 1) {
    if (m === 'GET') return json({ variants: await listCatalog() });
    if (m !== 'PUT') return notAllowed('GET, PUT');
    const type = req.headers.get('content-type') ?? '';
    if (/text\/csv/i.test(type)) return json(await importCatalogCsv(await readText(req)));
    return json(await importCatalogJson(parse(importRequest, await readJson(req))));
  }
  if (p[0] === 'catalog' && p[1] === 'sync' && p.length === 2) {
    if (m !== 'POST') return notAllowed('POST');
    const result = await pushCatalogChanges();
    return json(result, result.status === 'failed' ? 502 : result.status === 'skipped' && result.reason === 'push_in_progress' ? 409 : 200);
  }
  return json({ error: 'not_found', message: 'no such admin route' }, 404);
}

/** Query parameters as an object; empty values count as absent (a form's blank field). Text Postgres can't store is a 422. */
function query(url: URL): Record<string, string> {
  const params = [...url.searchParams].filter(([, v]) => v !== '');
  const unsafe = params.filter(([k, v]) => !isSafeText(k) || !isSafeText(v)).map(([k]) => ({ path: forMessage(k), message: UNSAFE_TEXT_MESSAGE }));
  if (unsafe.length) throw new AdminError(422, 'invalid_request', 'the request is invalid', unsafe);
  return Object.fromEntries(params);
}

function answer(r: AdminResult): Response {
  return json(r.body, r.status, r.replayed ? { 'idempotent-replayed': 'true' } : {});
}

const invalid = (fields: FieldError[]) => json({ error: 'invalid_request', message: 'the request is invalid', fields }, 422);
const notAllowed = (allow: string) => json({ error: 'method_not_allowed', message: `use ${allow}` }, 405, { allow });

function parse<S extends z.ZodType>(schema: S, body: unknown): z.infer<S> {
  return schema.parse(body);
}

/** A malformed percent-encoding (e.g. %ED%A0%80, an encoded lone surrogate) is the client's error. */
function decodePathSegment(segment: string): string {
  let decoded: string;
  try {
    decoded = decodeURIComponent(segment);
  } catch {
    throw new AdminError(404, 'not_found', 'no such admin route (malformed percent-encoding in the path)');
  }
  if (!isSafeText(decoded)) throw new AdminError(404, 'not_found', 'no such admin route');
  return decoded;
}

async function readText(req: Request): Promise<string> {
  const text = await req.text();
  if (text.length > MAX_BODY_BYTES) throw new AdminError(422, 'invalid_request', 'the body is too large', [{ path: '(body)', message: `at most ${MAX_BODY_BYTES} bytes` }]);
  if (!isSafeText(text)) throw new AdminError(422, 'invalid_request', 'the request is invalid', [{ path: '(body)', message: UNSAFE_TEXT_MESSAGE }]);
  return text;
}

async function readJson(req: Request): Promise<unknown> {
  const text = await readText(req);
  if (text.trim() === '') return {};
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new AdminError(422, 'invalid_request', 'the body is not valid JSON', [{ path: '(body)', message: 'must be JSON' }]);
  }
  const unsafe = unsafeTextPath(body);
  if (unsafe) throw new AdminError(422, 'invalid_request', 'the request is invalid', [{ path: forMessage(fieldPath(unsafe.slice(0, 50))), message: UNSAFE_TEXT_MESSAGE }]);
  return body;
}
