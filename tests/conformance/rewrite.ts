/**
 * Makes a fixture reach this shop while keeping every field it has: only ids, numbers and
 * timestamps change (the business's phone_number_id and display number, the customer's number
 * and BSUIDs, wamids, SKUs and reply ids, Stripe object ids, amounts, `created`/`timestamp`).
 */

export type MetaTarget = {
  phoneNumberId: string;
  displayNumber: string;
  customer: string;
  /** The number a `user_changed_number` notice moves the customer to. */
  newNumber: string;
  /** The shop's BSUID mapping: each distinct fixture BSUID gets one of ours. */
  bsuid: (original: string) => string;
  /** wamids the fixture refers to (statuses, reactions, replies' context) → a message this shop sent. */
  target: string | null;
  /** A fresh wamid per distinct fixture message id. */
  wamid: (original: string) => string;
  /** Each distinct fixture SKU / product_retailer_id → one of the shop's SKUs. */
  sku: (original: string) => string;
};

const CUSTOMER_KEYS = new Set(['wa_id', 'from', 'recipient_id', 'customer']);
const BSUID_KEYS = /(^|_)user_id$/;
const now = () => Math.floor(Date.now() / 1000);

/** A deep copy of a Meta webhook body rewritten for `t`. */
export function rewriteMeta(body: unknown, t: MetaTarget): unknown {
  const walk = (value: unknown, key: string, parent: string): unknown => {
    if (Array.isArray(value)) return value.map((v) => walk(v, key, parent));
    if (value && typeof value === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) out[k] = walk(v, k, key);
      return out;
    }
    if (typeof value !== 'string' && typeof value !== 'number') return value;
    if (key === 'phone_number_id') return t.phoneNumberId;
    if (key === 'display_phone_number') return t.displayNumber;
    if (key === 'from' && parent === 'context') return t.displayNumber;
    if (typeof value === 'string' && BSUID_KEYS.test(key) && /^[A-Z]{2}\./.test(value)) return t.bsuid(value);
    if (key === 'wa_id' && parent === 'system') return t.newNumber;
    if (CUSTOMER_KEYS.has(key) && typeof value === 'string' && parent !== 'message_echoes') return t.customer;
    if (key === 'timestamp') return typeof value === 'number' ? now() : String(now());
    if (key === 'product_retailer_id' && typeof value === 'string') return t.sku(value);
    if (key === 'id' && parent === 'list_reply') return `variant:${t.sku('')}`;
    if (key === 'id' && parent === 'button_reply') return `qty:1:${t.sku('')}`;
    if (typeof value === 'string' && (key === 'message_id' || key === 'original_message_id' || (key === 'id' && (parent === 'context' || parent === 'statuses')))) return t.target ?? t.wamid(value);
    if (typeof value === 'string' && key === 'id' && (parent === 'messages' || parent === 'message_echoes')) return t.wamid(value);
    return value;
  };
  return walk(body, '', '');
}

export type StripeTarget = {
  orderId: string;
  sessionId: string;
  paymentIntent: string;
  charge: string;
  refundId: string;
  disputeId: string;
  amountMinor: number;
  refundedMinor: number;
};

/** A Stripe fixture object pointed at the test's order (ids, amounts, timestamps only). */
export function rewriteStripeObject(object: Record<string, unknown>, t: StripeTarget): Record<string, unknown> {
  const o = structuredClone(object);
  const created = Math.floor(Date.now() / 1000);
  if ('created' in o) o.created = created;
  switch (o.object) {
    case 'checkout.session':
      return { ...o, id: t.sessionId, client_reference_id: t.orderId, payment_intent: t.paymentIntent, amount_total: t.amountMinor, amount_subtotal: t.amountMinor };
    case 'charge':
      return { ...o, id: t.charge, payment_intent: t.paymentIntent, amount: t.amountMinor, amount_captured: t.amountMinor, amount_refunded: t.refundedMinor };
    case 'refund':
      return { ...o, id: t.refundId, charge: t.charge, payment_intent: t.paymentIntent, amount: t.refundedMinor };
    case 'dispute':
      return { ...o, id: t.disputeId, charge: t.charge, payment_intent: t.paymentIntent, amount: t.amountMinor };
    default:
      return o;
  }
}

/** Wraps an object into an event exactly as Stripe sends one (pretty-printed JSON). */
export function stripeEvent(type: string, object: unknown, id: string): string {
  return JSON.stringify(
    { id, object: 'event', api_version: '2025-09-30.clover', created: Math.floor(Date.now() / 1000), data: { object }, livemode: false, pending_webhooks: 1, request: { id: null, idempotency_key: null }, type },
    null,
    2,
  );
}
