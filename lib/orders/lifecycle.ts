/**
 * The order lifecycle: every payment status × every event → the next status and the named effects
 * of the step that applies it (pay.ts, close.ts, refund.ts over store.ts; the refund accounting of
 * store-refunds.ts writes its two rows, refunded_in_stripe and refund_reverted, in SQL). A pair
 * missing from the table changes nothing; `refusal` says why. tests/lifecycle.test.ts walks every pair. The lists of statuses an order may be paid, closed or refunded from are
 * derived from this table, never written again elsewhere. Fulfilment (`shipped`) is a second axis:
 * only a paid, unfulfilled order with no refund decided ships, and a shipped order is never cancelled
 * by the shop: both are decided by the conditional write itself (store.ts storeShipped,
 * storeRefundDecided), never by a read taken before it; only a shipped one is `delivered` (a pickup
 * order: collected), by staff or a carrier's tracking status (lib/admin/fulfilment.ts).
 */

export const PAYMENT_STATUSES = ['pending', 'awaiting_payment', 'paid', 'expired', 'cancelled', 'payment_failed', 'refunded'] as const;
export type PaymentStatus = (typeof PAYMENT_STATUSES)[number];

export const ORDER_EVENTS = [
  'payment_submitted',
  'paid',
  'late_payment',
  'payment_failed',
  'session_expired',
  'expired_by_cleanup',
  'cancelled_by_customer',
  'cancelled_by_shop',
  'refunded_in_stripe',
  'refund_reverted',
  'shipped',
  'duplicate_payment',
  'delivered',
] as const;
export type OrderEvent = (typeof ORDER_EVENTS)[number];

export type Effect =
  | 'hold_committed' // the Redis hold becomes a sale (re-held first if it lapsed: late payment)
  | 'stock_on_hand_decremented'
  | 'invite_token'
  | 'session_expired_first' // the Checkout Session is expired before anything is released
  | 'hold_released'
  | 'stock_on_hand_restored'
  | 'stripe_refund' // refunds.create, idempotency key refund:<orderId>
  | 'duplicate_refund' // refunds.create of the second payment, idempotency key refund:duplicate:<payment intent>, and its order event
  | 'ops_alert'
  | `notice:${'confirmation' | 'invite_link' | 'refund' | 'closed' | 'cancelled_by_shop' | 'shipped' | 'delivered'}`;

export type Transition = { to: PaymentStatus; effects: Effect[]; note?: string };

const PAY: Effect[] = ['hold_committed', 'stock_on_hand_decremented', 'invite_token', 'notice:confirmation', 'notice:invite_link'];
const CLOSE: Effect[] = ['hold_released', 'notice:closed'];
const REFUND_LATE: Effect[] = ['stripe_refund', 'notice:refund', 'ops_alert'];
const OPEN = ['pending', 'awaiting_payment'] as const;
const CLOSED = ['expired', 'cancelled', 'payment_failed'] as const;
const each = <S extends PaymentStatus>(statuses: readonly S[], t: Transition) => Object.fromEntries(statuses.map((s) => [s, t])) as Record<S, Transition>;

export const LIFECYCLE: Record<OrderEvent, Partial<Record<PaymentStatus, Transition>>> = {
  /** Checkout completed with a delayed method (SEPA, bank transfer): the hold stays. */
  payment_submitted: { pending: { to: 'awaiting_payment', effects: [] } },
  /** Money arrived (Stripe, offline, or a session cleanup found complete) and the stock is there. */
  paid: {
    ...each(OPEN, { to: 'paid', effects: PAY }),
    ...each(CLOSED, { to: 'paid', effects: PAY, note: 'late payment: the lapsed hold is taken again' }),
  },
  /** Money arrived through Stripe but the hold lapsed and the units sold meanwhile: it goes back. */
  late_payment: each([...OPEN, ...CLOSED], { to: 'refunded', effects: REFUND_LATE }),
  payment_failed: each(OPEN, { to: 'payment_failed', effects: CLOSE }),
  /** Stripe's checkout.session.expired: Stripe already accepts no payment for it. */
  session_expired: each(OPEN, { to: 'expired', effects: CLOSE }),
  /** The hold lapsed (cleanup, or the console's re-run). */
  expired_by_cleanup: {
    pending: { to: 'expired', effects: ['session_expired_first', ...CLOSE] },
    awaiting_payment: {
      to: 'expired',
      effects: ['session_expired_first', ...CLOSE],
      note: 'only when Stripe no longer knows the session (404): while it does, a payment is under way and the order stays with the payment path',
    },
  },
  /** The customer's "cancel" of their pending order: the conversation answers, so no closed notice. */
  cancelled_by_customer: { pending: { to: 'cancelled', effects: ['session_expired_first', 'hold_released'] } },
  cancelled_by_shop: {
    pending: { to: 'cancelled', effects: ['session_expired_first', ...CLOSE] },
    paid: { to: 'refunded', effects: ['stock_on_hand_restored', 'stripe_refund', 'notice:cancelled_by_shop'], note: 'only while unfulfilled' },
  },
  /** Refunds made in Stripe reached the order's total. */
  refunded_in_stripe: { paid: { to: 'refunded', effects: ['notice:refund', 'ops_alert'], note: 'a partial refund leaves it paid' } },
  /** A counted refund failed: back to paid, unless our own saga decided the refund. */
  refund_reverted: { refunded: { to: 'paid', effects: ['ops_alert'], note: 'not when a refund_required event exists' } },
  shipped: { paid: { to: 'paid', effects: ['notice:shipped'], note: 'fulfillment unfulfilled → shipped, only when no refund was decided' } },
  delivered: { paid: { to: 'paid', effects: ['notice:delivered'], note: 'fulfillment shipped → delivered' } },
  /**
   * A Stripe payment (another payment intent) for an order already paid another way (offline, or an
   * earlier payment) or already refunded: that money goes back; the order stays as it is and the
   * customer gets no notice of it (their statement shows the refund; the shop is alerted).
   */
  duplicate_payment: {
    paid: { to: 'paid', effects: ['duplicate_refund', 'ops_alert'] },
    refunded: { to: 'refunded', effects: ['duplicate_refund', 'ops_alert'] },
  },
};

const REFUSALS: Partial<Record<OrderEvent, Partial<Record<PaymentStatus, string>>>> = {
  paid: { paid: 'already paid', refunded: 'already refunded (a refund still unrecorded is resumed)' },
  cancelled_by_shop: { awaiting_payment: 'a payment is being processed: cancel again once it settled' },
  cancelled_by_customer: { awaiting_payment: 'a payment is being processed: the conversation only cancels an order waiting for payment' },
  payment_submitted: { awaiting_payment: 'already awaiting payment' },
  duplicate_payment: { pending: 'not paid yet: the payment is its first', awaiting_payment: 'not paid yet: the payment is its first' },
};

export function transition(from: PaymentStatus, event: OrderEvent): Transition | null {
  return LIFECYCLE[event][from] ?? null;
}

/** Why `event` does nothing to an order in status `from` (null when it applies). */
export function refusal(from: PaymentStatus, event: OrderEvent): string | null {
  if (transition(from, event)) return null;
  const status = from.replaceAll('_', ' ');
  return REFUSALS[event]?.[from] ?? `${event.replaceAll('_', ' ')} does not apply to ${/^[aeiou]/.test(status) ? 'an' : 'a'} ${status} order`;
}

/** The statuses `event` applies to: the gate of the step's conditional UPDATE. */
export function statusesFor(event: OrderEvent): PaymentStatus[] {
  return PAYMENT_STATUSES.filter((s) => transition(s, event));
}

/** Orders that may still be paid for (a late payment of a closed order still counts). */
export const PAYABLE = statusesFor('paid');
/** Open orders: closing them releases their hold. */
export const CLOSABLE = statusesFor('session_expired');
/** Closed before payment: their hold is (or must be) released. */
export const CLOSED_UNPAID = PAYMENT_STATUSES.filter((s) => PAYABLE.includes(s) && !CLOSABLE.includes(s));
export const isOpen = (s: PaymentStatus) => CLOSABLE.includes(s);
export const isClosedUnpaid = (s: PaymentStatus) => CLOSED_UNPAID.includes(s);
