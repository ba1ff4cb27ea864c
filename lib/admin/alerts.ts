import { z } from '../zod.js';
import { maskIdentity } from '../log.js';
import { UNREACHABLE_CODES, REENGAGEMENT_CODE } from '../messaging/outbox.js';

/** Meta: a BSUID recipient is not supported for this message. */
const BSUID_UNSUPPORTED_CODE = 131062;
import { invalidRequest } from '../errors.js';
import { isCursorTime } from './dates.js';
import { alertRows } from './alerts-store.js';

/**
 * GET /api/alerts — what went wrong, newest first, one statement: every ops alert (ops_alerts)
 * and every permanently failed WhatsApp message that has no alert of its own (its alert could
 * not be recorded), each with the order it concerns and a line on what the shop can do.
 * Cursor pages over (time, key), like the order list.
 */

export const alertListQuery = z
  .object({
    limit: z.coerce.number({ error: 'must be a number' }).int('must be a whole number').min(1).max(200).default(50),
    cursor: z.string().max(300).optional(),
  })
  .strict();
export type AlertListQuery = z.infer<typeof alertListQuery>;

export type AlertItem = {
  key: string;
  kind: string;
  at: string;
  order: { id: string; reference: string; paymentStatus: string; fulfillmentStatus: string } | null;
  message: { id: string; kind: string; template: string | null; status: string; to: string; error: { code: number | null; title: string | null } | null } | null;
  details: Record<string, unknown>;
  delivery: { deliveredAt: string | null; attempts: number; lastError: string | null } | null;
  advice: string;
};

type AlertCursor = { t: string; k: string };
const encode = (c: AlertCursor) => Buffer.from(JSON.stringify([c.t, c.k])).toString('base64url');
function decode(s: string): AlertCursor | null {
  try {
    const [t, k] = JSON.parse(Buffer.from(s, 'base64url').toString('utf8')) as unknown[];
    return isCursorTime(t) && typeof k === 'string' && k.length < 200 ? { t, k } : null;
  } catch {
    return null;
  }
}

export async function listAlerts(q: AlertListQuery): Promise<{ alerts: AlertItem[]; nextCursor: string | null }> {
  const cursor = q.cursor ? decode(q.cursor) : null;
  if (q.cursor && !cursor) throw invalidRequest([{ path: 'cursor', message: 'is not a cursor from this list' }]);
  const rows = await alertRows(q, cursor);
  const more = rows.length > q.limit;
  const page = more ? rows.slice(0, q.limit) : rows;
  const last = page.at(-1);
  return { alerts: page.map(toItem), nextCursor: more && last ? encode({ t: last.cursor_t as string, k: last.key as string }) : null };
}

function toItem(r: Record<string, unknown>): AlertItem {
  const payload = (r.payload ?? {}) as Record<string, unknown>;
  const error = r.message_id && (r.error_code !== null || r.error_title !== null)
    ? { code: r.error_code === null ? null : Number(r.error_code), title: (r.error_title as string | null) ?? null }
    : null;
  const item: AlertItem = {
    key: r.key as string,
    kind: r.kind as string,
    at: new Date(r.at as string).toISOString(),
    order: r.order_id && r.reference
      ? { id: r.order_id as string, reference: r.reference as string, paymentStatus: r.payment_status as string, fulfillmentStatus: r.fulfillment_status as string }
      : null,
    message: r.message_id && r.message_kind
      ? { id: r.message_id as string, kind: r.message_kind as string, template: (r.template as string | null) ?? null, status: r.message_status as string, to: maskIdentity({ waId: r.to_wa_id as string | null, userId: r.to_user_id as string | null }), error }
      : null,
    // Alert payloads hold facts only (masked phones, codes); the shop name and key are noise here.
    details: Object.fromEntries(Object.entries(payload).filter(([k]) => !['shop', 'key', 'alert', 'at', 'orderId', 'orderReference', 'message', 'to'].includes(k))),
    delivery: r.is_alert ? { deliveredAt: r.delivered_at ? new Date(r.delivered_at as string).toISOString() : null, attempts: Number(r.attempts), lastError: (r.last_error as string | null) ?? null } : null,
    advice: '',
  };
  item.advice = adviceFor(item);
  return item;
}

/** What the shop can do about an alert, in one or two sentences. */
export function adviceFor(a: Pick<AlertItem, 'kind' | 'message' | 'details'>): string {
  const code = a.message?.error?.code ?? ((a.details.error as { code?: number | null } | undefined)?.code ?? null);
  switch (a.kind) {
    case 'message_skipped':
      return 'Not sent: WhatsApp said earlier that this number cannot receive messages. Reach the customer another way; sending resumes when they write to the shop again.';
    case 'payment_mismatch':
      return 'A payment did not match its order (amount, currency or checkout session), so the order was not marked paid. Check the payment in Stripe, then refund it or record the right payment on the order.';
    case 'payment_unknown_order':
      return 'Money arrived for an order the shop does not know. Find the payment in Stripe by its reference and refund it or attach it to the right order.';
    case 'payment_unfulfillable':
      return 'The customer paid but the stock was gone. Refund the order (Cancel/refund) or restock and contact the customer.';
    case 'duplicate_payment_refunded':
      return 'A second payment arrived for an order already paid another way (or refunded); it was refunded automatically. The order is unchanged; tell the customer if they ask about the charge.';
    case 'offline_payment_unapplied':
      return 'An offline payment was recorded for an order a card payment had just paid: the shop holds this money twice. Return the offline payment to the customer.';
    case 'shipping_problem':
      return 'The order is paid but cannot ship as it is (no or incomplete delivery address, or a country the shop does not ship to). Ask the customer, then correct the address on the order (Correct address).';
    case 'late_payment_refunded':
      return 'The customer paid after the hold lapsed and the stock had sold; the payment was refunded automatically and the customer told. Nothing to do unless you can restock and offer it again.';
  }
  if (a.kind === 'message_failed') {
    if (code === BSUID_UNSUPPORTED_CODE)
      return 'WhatsApp cannot deliver this message to a username-only customer (no phone number known). Contact them another way, or ask them to share their number.';
    if (code !== null && UNREACHABLE_CODES.has(code))
      return 'This number is not on WhatsApp (or cannot be reached). Contact the customer another way; later messages to them are skipped until they write again.';
    if (code === REENGAGEMENT_CODE)
      return 'The customer has not written in 24 hours and the message had no template version. Ask them to message the shop, then send again (e.g. re-run the action).';
    if (code !== null && code >= 132000 && code < 133000)
      return 'Meta refused the template: check that the template name, language and parameters in WhatsApp Manager match the shop’s TEMPLATE_* settings.';
    if (code === 190 || code === 0)
      return 'Meta refused the access token: renew WHATSAPP_ACCESS_TOKEN and redeploy.';
    return 'WhatsApp did not deliver this message for good. Read Meta’s error, fix the cause, and reach the customer another way if it matters.';
  }
  return 'See the details; the order timeline shows what happened before.';
}
