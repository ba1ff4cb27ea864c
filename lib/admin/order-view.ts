import { db } from '../db.js';
import { messagesOfOrderQuery } from '../messaging/outbox-store.js';
import { orderViewQuery } from '../orders/store-console.js';
import { paymentsOfOrderQuery } from './payments-store.js';
import { inviteOfOrderQuery } from '../invites/store.js';
import { log, maskBsuid, maskIdentity, maskPhone } from '../log.js';
import { formatMoney } from '../money.js';
import { eventsOfOrder } from '../orders/events.js';
import type { OrderItem } from '../orders/order.js';
import { addressText, estimateText, type ShippingAddress, type ShippingRate } from '../orders/shipping.js';
import { notFound } from '../errors.js';
import { readHold, type HoldView } from '../stock/index.js';

/**
 * Everything the shop needs to answer "what happened to this order?": the order and its items,
 * its event history, the Redis hold, every outbound WhatsApp message with its delivery history,
 * offline payments, and who opened the invite link. Phones are masked unless `full`.
 */
export type OrderView = {
  order: Record<string, unknown>;
  customer: Record<string, unknown>;
  items: OrderItem[];
  statuses: { type: string; data: unknown; at: string }[];
  holds: HoldView | null;
  messages: Record<string, unknown>[];
  payments: Record<string, unknown>[];
  invite: Record<string, unknown> | null;
};

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUuid = (s: string) => UUID.test(s);

const iso = (v: unknown) => (v ? new Date(v as string).toISOString() : null);

/** What ships where and what was paid for it (docs/fulfilment.md); `problem` flags an order that cannot ship as it is. */
function fulfilmentOf(o: Record<string, unknown>, currency: string) {
  const address = (o.shipping_address as ShippingAddress | null) ?? null;
  const rate = (o.shipping_rate as ShippingRate | null) ?? null;
  const itemsMinor = o.items_minor == null ? Number(o.total_minor) : Number(o.items_minor);
  const shippingMinor = Number(o.shipping_minor ?? 0);
  const taxMinor = Number(o.tax_minor ?? 0);
  return {
    mode: (o.shipping_mode as string | undefined) ?? 'none',
    name: (o.shipping_name as string | null) ?? null,
    address,
    addressText: addressText(address),
    rate: rate ? { ...rate, estimate: estimateText(rate) } : null,
    itemsMinor,
    shippingMinor,
    taxMinor,
    totalMinor: Number(o.total_minor),
    totals: { items: formatMoney(itemsMinor, currency), shipping: formatMoney(shippingMinor, currency), tax: formatMoney(taxMinor, currency), total: formatMoney(Number(o.total_minor), currency) },
    problem: (o.shipping_problem as string | null) ?? null,
    deliveredAt: iso(o.delivered_at),
  };
}

export async function getOrderView(orderId: string, opts: { full?: boolean } = {}): Promise<OrderView> {
  if (!isUuid(orderId)) throw notFound('order');
  const phone = (waId: string | null | undefined) => (!waId ? null : opts.full ? `+${waId}` : maskPhone(waId));
  const userId = (bsuid: string | null | undefined) => (!bsuid ? null : opts.full ? bsuid : maskBsuid(bsuid));
  const sql = db();
  // One round trip for the Postgres side (a read-only batch), in parallel with the Redis hold.
  const [batch, hold] = await Promise.all([
    sql.transaction(
      [
        orderViewQuery(orderId),
        eventsOfOrder(orderId),
        // An unsent row has no address yet: show the one it will be sent to (the customer's current phone, else BSUID).
        messagesOfOrderQuery(orderId),
        paymentsOfOrderQuery(orderId),
        inviteOfOrderQuery(orderId),
      ],
      { readOnly: true },
    ),
    readHold(orderId),
  ]);
  const [orders = [], events = [], messages = [], payments = [], invites = []] = batch;
  const o = orders[0];
  if (!o) throw notFound('order');
  // Staff asked to see the numbers: recorded, with the order and the masked number only.
  if (opts.full) log.info('admin.phones_revealed', { orderId, reference: o.reference, customer: maskIdentity({ waId: o.wa_id as string | null, userId: o.bsuid as string | null }) });
  const currency = String(o.currency).trim();
  const invite = invites[0];
  return {
    order: {
      id: o.id,
      reference: o.reference,
      source: o.source,
      paymentStatus: o.payment_status,
      fulfillmentStatus: o.fulfillment_status,
      totalMinor: Number(o.total_minor),
      currency,
      total: formatMoney(Number(o.total_minor), currency),
      createdAt: iso(o.created_at),
      paidAt: iso(o.paid_at),
      holdExpiresAt: iso(o.hold_expires_at),
      stripeSessionId: o.stripe_session_id ?? null,
      checkoutUrl: o.checkout_url ?? null,
      /** Paid with fewer units on hand than it took (docs/reliability.md "Stock shortfall rule"): [{ sku, ordered, onHand }]. */
      stockShortfall: o.stock_shortfall ?? null,
      shipping: o.shipped_at
        ? { shippedAt: iso(o.shipped_at), carrier: o.carrier ?? null, trackingUrl: o.tracking_url ?? null, trackingSlug: o.tracking_slug ?? null }
        : null,
      fulfilment: fulfilmentOf(o, currency),
    },
    customer: {
      phone: phone(o.wa_id as string | null),
      userId: userId(o.bsuid as string | null),
      username: o.username ?? null,
      name: o.profile_name ?? null,
      lastInboundAt: iso(o.last_inbound_at),
      unreachableAt: iso(o.unreachable_at),
    },
    items: o.items as OrderItem[],
    statuses: events.map((e) => ({ type: e.type as string, data: e.data, at: iso(e.created_at)! })),
    holds: hold,
    messages: messages.map((m) => ({
      id: m.id,
      kind: m.kind,
      template: m.template ?? null,
      to: m.to_wa_id ? phone(m.to_wa_id as string) : userId(m.to_user_id as string | null),
      status: m.status,
      attempts: Number(m.attempts),
      deliveryStatus: m.delivery_status ?? null,
      deliveryStatuses: m.delivery_statuses,
      error: m.error_code !== null || m.error_title !== null ? { code: m.error_code ?? null, title: m.error_title ?? null } : null,
      sentAt: iso(m.sent_at),
      createdAt: iso(m.created_at),
    })),
    payments: payments.map((p) => ({
      reference: p.reference,
      method: p.method,
      amountMinor: Number(p.amount_minor),
      currency: String(p.currency).trim(),
      paidAt: iso(p.paid_at),
      recordedAt: iso(p.created_at),
    })),
    invite: invite
      ? {
          clicks: Number(invite.clicks),
          lastClickedAt: iso(invite.last_clicked_at),
          expiresAt: iso(invite.expires_at),
          consumedAt: iso(invite.consumed_at),
          contacts: (invite.contacts as { waId: string | null; userId: string | null; name: string | null; firstSeenAt: string; lastSeenAt: string }[]).map((c) => ({
            phone: phone(c.waId),
            userId: userId(c.userId),
            name: c.name,
            firstSeenAt: iso(c.firstSeenAt),
            lastSeenAt: iso(c.lastSeenAt),
          })),
        }
      : null,
  };
}
