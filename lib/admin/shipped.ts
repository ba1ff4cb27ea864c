import { z } from '../zod.js';
import { db } from '../db.js';
import { log } from '../log.js';
import { getOrder, type Order } from '../orders.js';
import { sendOnce } from '../outbox.js';
import { buildTemplate, TemplateParameterError } from '../whatsapp/templates.js';
import { AdminError, conflict, invalidRequest, notFound, type AdminResult } from './errors.js';
import { requestHash, sha256, storedAnswer } from './idempotency.js';
import { isUuid } from './order-view.js';

/**
 * POST /api/orders/:id/shipped — the order ships once and the customer hears it once.
 *
 * The business event is "shipped:<orderId>": its sha256 keys both the stored answer
 * (admin_requests) and the outbox row of the order_shipped template. One statement moves the
 * order to `shipped` (only from paid + unfulfilled: concurrent calls find nothing to update),
 * stores the tracking, the order_events row and the answer; every call, first or replay, then
 * makes sure the message went out (sendOnce sends it at most once), so a crash between the two
 * is healed by the shop's retry. Replays answer the stored body with `replayed`.
 *
 * Template order_shipped: header {{1}} = order reference, body {{1}} = customer's first name
 * (first word of the WhatsApp profile name, "there" when unknown), URL button 0 {{1}} = the
 * tracking suffix: `trackingSlug` as given, or for `trackingUrl` its path + query without the
 * leading "/" — i.e. relative to the origin, so the template's button URL must be submitted as
 * `https://<tracking host>/{{1}}`. (With a button base that has a path of its own, send trackingSlug.)
 */

const suffixShape = /^[^\s]+$/;

export const shippedRequest = z
  .object({
    trackingSlug: z.string().trim().min(1).max(500).regex(suffixShape, 'must not contain spaces').optional(),
    trackingUrl: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).max(2000).optional(),
    carrier: z.string().trim().min(1).max(100).optional(),
  })
  .strict()
  .superRefine((v, ctx) => {
    if (!v.trackingSlug === !v.trackingUrl)
      ctx.addIssue({ code: 'custom', path: ['trackingSlug'], message: 'give exactly one of trackingSlug or trackingUrl' });
  });
export type ShippedRequest = z.infer<typeof shippedRequest>;

export const shippedEventKey = (orderId: string) => `shipped:${orderId}`;

export function trackingSuffix(input: ShippedRequest): string {
  if (input.trackingSlug) return input.trackingSlug.replace(/^\/+/, '');
  const u = new URL(input.trackingUrl!);
  const suffix = `${u.pathname.replace(/^\/+/, '')}${u.search}`;
  if (!suffix) throw invalidRequest([{ path: 'trackingUrl', message: 'has no path or query to use as the tracking suffix' }]);
  return suffix;
}

export function firstName(profileName: string | null | undefined): string {
  return profileName?.trim().split(/\s+/)[0] || 'there';
}

export function shippedMessage(order: Pick<Order, 'reference' | 'customerName'>, suffix: string) {
  try {
    return buildTemplate('order_shipped', { header: [order.reference], body: [firstName(order.customerName)], urlButton: [suffix] });
  } catch (error) {
    if (error instanceof TemplateParameterError) throw new AdminError(422, 'template_parameters', error.message);
    throw error;
  }
}

export async function markShipped(orderId: string, input: ShippedRequest): Promise<AdminResult> {
  if (!isUuid(orderId)) throw notFound('order');
  const eventKey = shippedEventKey(orderId);
  const key = sha256(eventKey);
  const hash = requestHash({ trackingSlug: input.trackingSlug ?? null, trackingUrl: input.trackingUrl ?? null, carrier: input.carrier ?? null });

  const stored = await storedAnswer(key, hash);
  if (stored) {
    await ensureShippedMessage(orderId);
    return stored;
  }
  const order = await getOrder(orderId);
  if (!order) throw notFound('order');
  const suffix = trackingSuffix(input);
  const message = shippedMessage(order, suffix); // validates the parameters before anything changes

  const shippedAt = new Date().toISOString();
  const body = {
    orderId: order.id,
    reference: order.reference,
    fulfillmentStatus: 'shipped',
    shippedAt,
    carrier: input.carrier ?? null,
    trackingUrl: input.trackingUrl ?? null,
    trackingSlug: suffix,
    notification: { eventKey, template: message.type === 'template' ? message.name : null },
  };
  const [row] = await db()`
    WITH shipped AS (
      UPDATE orders SET fulfillment_status = 'shipped', shipped_at = ${shippedAt}, carrier = ${input.carrier ?? null},
             tracking_url = ${input.trackingUrl ?? null}, tracking_slug = ${suffix}, updated_at = now()
      WHERE id = ${orderId} AND payment_status = 'paid' AND fulfillment_status = 'unfulfilled'
      RETURNING id
    ), event AS (
      INSERT INTO order_events (order_id, type, data)
      SELECT id, 'shipped', ${JSON.stringify({ carrier: input.carrier ?? null, trackingUrl: input.trackingUrl ?? null, trackingSlug: suffix })}::jsonb FROM shipped
    ), answer AS (
      INSERT INTO admin_requests (idempotency_key, request_hash, status, response)
      SELECT ${key}, ${hash}, 200, ${JSON.stringify(body)} FROM shipped
      ON CONFLICT (idempotency_key) DO NOTHING
    )
    SELECT (SELECT count(*) FROM shipped)::int AS shipped`;

  if (!row?.shipped) {
    // Someone else shipped it meanwhile (their answer stands), or the order can't ship.
    const again = await storedAnswer(key, hash);
    if (again) {
      await ensureShippedMessage(orderId);
      return again;
    }
    const now = await getOrder(orderId);
    if (now?.fulfillmentStatus === 'shipped') throw conflict('already_shipped', 'the order was already marked shipped');
    throw conflict('order_not_paid', `only a paid order can ship (this one is ${now?.paymentStatus ?? order.paymentStatus})`);
  }
  log.info('order.shipped', { orderId, carrier: input.carrier ?? null });
  await sendOnce({ eventKey, kind: 'order_shipped', customerId: order.customerId, orderId, message });
  return { status: 200, body, replayed: false };
}

/** Sends the shipped message if it is not sent yet (rebuilt from what the order stored). */
async function ensureShippedMessage(orderId: string): Promise<void> {
  const [row] = await db()`
    SELECT o.reference, o.tracking_slug, o.customer_id, c.profile_name FROM orders o JOIN customers c ON c.id = o.customer_id
    WHERE o.id = ${orderId} AND o.fulfillment_status = 'shipped'`;
  if (!row?.tracking_slug) return;
  const message = shippedMessage({ reference: row.reference as string, customerName: (row.profile_name as string | null) ?? null }, row.tracking_slug as string);
  await sendOnce({ eventKey: shippedEventKey(orderId), kind: 'order_shipped', customerId: row.customer_id as string, orderId, message });
}
