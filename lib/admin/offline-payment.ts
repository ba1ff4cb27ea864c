import { randomUUID } from 'node:crypto';
import { z } from '../zod.js';
import { findOrCreateCustomer, profileName } from '../customers/store.js';
import { BSUID_PATTERN } from '../identity.js';
import { pgErrorCode } from '../db.js';
import { log } from '../log.js';
import { formatMoney } from '../money.js';
import { messageKeys } from '../messaging/keys.js';
import { firstName, offlinePaymentNotice } from '../messaging/order-notices.js';
import { deliverRecorded, sendQuietly, type Notice } from '../messaging/record.js';
import { getOrder, type Order } from '../orders/order.js';
import { closeCardPathWithin } from '../orders/close.js';
import { isOpen } from '../orders/lifecycle.js';
import { pay, type SettleOutcome } from '../orders/pay.js';
import { inSequence } from '../orders/settlement.js';
import { recordOrderEventOnce } from '../orders/store.js';
import { latestOpenOrderId } from '../orders/store-jobs.js';
import { raiseOpsAlert } from '../alerts/ops-alerts.js';
import { e164ToWaId, normalizePhone } from '../phone.js';
import { conflict, invalidRequest, notFound } from '../errors.js';
import { stateConflict, type AdminResult } from './result.js';
import { requestHash, sha256, storeAnswer } from './idempotency.js';
import { insertPayment, lookup, paymentCtes, type PaymentRow, type Prepared } from './payments-store.js';
import { adminDate } from './dates.js';
import { Work } from '../work.js';

/**
 * POST /api/offline-payments — a payment the shop received itself (bank transfer, cash).
 *
 * The order's card path is closed first (its Checkout Session expired, lib/orders/close.ts closeCardPathWithin), so
 * the customer cannot also pay the link still open in the chat; if they just did, the card payment stands and
 * this one is refused (409 already_paid, nothing recorded). A card payment that still arrives later (a delayed
 * method submitted before) goes back automatically (lib/orders/refund.ts refundDuplicatePayment).
 *
 * Idempotent by the shop's `reference` (unique in `payments`): the first call records the
 * payment, pays the linked order through the same path as Stripe (markOrderPaid: stock
 * committed, confirmation + invite link once), then sends the offline_payment template
 * (outbox key "offline-payment:<reference>", recorded in the same statement as the payments row)
 * and stores its answer; a replay answers that
 * stored body (`replayed`). A crash midway is resumed by the retry: the payments row keeps the
 * order it was linked to, and both the payment path and the outbox are idempotent.
 *
 * The linked order is `orderId`, or else the latest pending order of `customerPhone` /
 * `customerUserId` (the customer's WhatsApp business-scoped user ID); without one the payment is
 * recorded and acknowledged to that customer only. The customer is found or created by phone, else
 * BSUID, and never linked or merged (caller input is no proof; see findOrCreateCustomer): a phone and
 * a BSUID of two different customers are refused with 422. A linked order must be in
 * the payment's currency and total exactly its amount (what markOrderPaid accepts).
 */

export { formatPaidDate } from '../messaging/order-notices.js';

export const offlinePaymentRequest = z
  .object({
    orderId: z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i, 'must be an order id').optional(),
    customerPhone: z.string().trim().min(1).max(32).optional(),
    customerUserId: z.string().trim().regex(BSUID_PATTERN, 'must be a WhatsApp business-scoped user ID, e.g. US.13491208655302741918').optional(),
    customerName: z.string().trim().min(1).max(60).optional(),
    amountMinor: z.number().int().positive().max(100_000_000),
    currency: z.string().regex(/^[A-Za-z]{3}$/, 'must be an ISO 4217 code, e.g. EUR').transform((c) => c.toUpperCase()),
    paidAt: adminDate(),
    reference: z.string().trim().min(1).max(120),
  })
  .strict()
  .superRefine((v, ctx) => {
    if (!v.orderId && !v.customerPhone && !v.customerUserId)
      ctx.addIssue({ code: 'custom', path: ['orderId'], message: 'give orderId, customerPhone or customerUserId' });
  });
export type OfflinePaymentRequest = z.infer<typeof offlinePaymentRequest>;

export const offlinePaymentEventKey = messageKeys.offlinePayment;

export async function recordOfflinePayment(input: OfflinePaymentRequest): Promise<AdminResult> {
  try {
    return await recordOnce(input);
  } catch (error) {
    // A concurrent request recorded this reference between our read and our write (paymentSql): start over, finding it.
    if (pgErrorCode(error) !== '23505') throw error;
    return recordOnce(input);
  }
}

async function recordOnce(input: OfflinePaymentRequest): Promise<AdminResult> {
  const paidAt = new Date(input.paidAt);
  if (paidAt.getTime() > Date.now() + 24 * 3600 * 1000) throw invalidRequest([{ path: 'paidAt', message: 'is in the future' }]);
  let phoneWaId: string | null = null;
  if (input.customerPhone) {
    const e164 = normalizePhone(input.customerPhone);
    if (!e164) throw invalidRequest([{ path: 'customerPhone', message: 'must be a phone number in E.164, e.g. +4915112345678' }]);
    phoneWaId = e164ToWaId(e164);
  }
  const eventKey = offlinePaymentEventKey(input.reference);
  const key = sha256(eventKey);
  const hash = requestHash({
    orderId: input.orderId ?? null,
    waId: phoneWaId,
    ...(input.customerUserId ? { userId: input.customerUserId } : {}),
    customerName: input.customerName ?? null,
    amountMinor: input.amountMinor,
    currency: input.currency,
    paidAt: paidAt.toISOString(),
  });
  // Round trip 1: the stored answer, the payment of this reference (a retry's) and its order (or the one named).
  const seen = await lookup(key, hash, input.reference, input.orderId ?? null);
  if (seen.stored) return seen.stored;

  let namedCustomer: string | null = null;
  if (!input.orderId && (phoneWaId || input.customerUserId)) {
    const resolved = await findOrCreateCustomer({ waId: phoneWaId, userId: input.customerUserId ?? null });
    if (!resolved.ok) throw invalidRequest([{ path: resolved.field, message: resolved.message }]);
    namedCustomer = resolved.id;
  }
  // One Work for the action: the facts the payment's statement uses (the order as read, the answer and the payment row
  // it stores) and the sends its steps leave for after the answer.
  const work = new Work(`offline payment ${input.orderId ?? 'by customer'}`);
  let known = seen.order;
  let notice: Notice | null = null;
  let payment = seen.payment;
  // A new payment of an order is recorded by the statement that pays the order (below); otherwise now.
  let unrecorded: Prepared | null = null;
  if (!payment) {
    if (input.orderId && !known) throw notFound('order');
    const prepared = await preparePayment(work, input, paidAt, phoneWaId, namedCustomer, known);
    ({ order: known, notice, row: payment } = prepared);
    if (prepared.order) unrecorded = prepared;
    else payment = await insertPayment(prepared);
  }
  if (payment.amountMinor !== input.amountMinor || payment.currency !== input.currency || payment.paidAt.getTime() !== paidAt.getTime())
    throw conflict('idempotency_conflict', 'a payment with this reference was recorded with different details');

  const order = payment.orderId ? (known?.id === payment.orderId ? known : await getOrder(payment.orderId)) : null;
  const message = (notice ?? (await noticeOf({ ...payment, reference: input.reference }, order?.customerId ?? namedCustomer, order))).message;
  const bodyOf = (paid: PaymentRow, outcome: SettleOutcome['status'] | null) => ({
    payment: {
      id: paid.id,
      reference: input.reference,
      method: 'offline',
      amountMinor: paid.amountMinor,
      currency: paid.currency,
      paidAt: paid.paidAt.toISOString(),
    },
    order: order ? { id: order.id, reference: order.reference, outcome } : null,
    notification: { eventKey, template: message.type === 'template' ? message.name : null },
  });
  // After the answer: the order's confirmation and invite link, then the payment's notice (both recorded already, so a
  // crash loses nothing: the outbox retry sends them).
  const sendPaymentNotice = sendQuietly('offline_payment', order?.id ?? null, () => deliverRecorded([eventKey]));
  let settled: SettleOutcome | null = null;
  let sends = async () => {};
  if (order) {
    // The order as just read saves pay its read; its conditional write decides (a stale read costs a re-read only).
    // The statement that pays the order stores this answer too, and records a new payment row with its notice (round
    // trips: the read, the order paid). If it does not pay the order, the payment is recorded on its own below.
    work
      .readAhead('order', { order })
      .readAhead('answer', { key, hash, body: bodyOf(payment, 'paid'), state: null })
      .readAhead('paidWith', unrecorded ? paymentCtes(unrecorded) : null);
    const paying = await pay(work, order.id, { method: 'offline', amountMinor: payment.amountMinor, currency: payment.currency, reference: input.reference, paidAt });
    settled = paying.outcome;
    log.info('payment.offline_recorded', { orderId: order.id, outcome: settled.status });
    sends = () => work.runAfter();
    // The statement that paid the order stored the answer (took it): answered.
    if (!work.ahead('answer')) return { status: 200, body: bodyOf(payment, 'paid'), replayed: false, after: inSequence(sends, sendPaymentNotice) };
    if (unrecorded) payment = await insertPayment(unrecorded);
    if (settled.status === 'already_paid') await paidTwice(order.id, input.reference, payment);
  }
  const answer = await storeAnswer(key, hash, 200, bodyOf(payment, settled?.status ?? null));
  return { ...answer, after: inSequence(sends, sendPaymentNotice) };
}

/** Resolves the linked order and checks it can take this payment (its card path closed), then makes the payment's row and notice. */
async function preparePayment(
  work: Work,
  input: OfflinePaymentRequest,
  paidAt: Date,
  phoneWaId: string | null,
  customerId: string | null,
  named: Order | null,
): Promise<Prepared> {
  let order: Order | null = null;
  if (input.orderId) {
    order = named;
    if (!order) throw notFound('order');
    if (phoneWaId && phoneWaId !== order.customerWaId)
      throw invalidRequest([{ path: 'customerPhone', message: "is not the order's customer" }]);
    if (input.customerUserId && input.customerUserId !== order.customerUserId)
      throw invalidRequest([{ path: 'customerUserId', message: "is not the order's customer" }]);
  } else if (customerId) {
    const latest = await latestOpenOrderId(customerId);
    order = latest ? await getOrder(latest) : null;
  }
  if (order) {
    if (order.currency !== input.currency)
      throw invalidRequest([{ path: 'currency', message: `must be the order's currency (${order.currency})` }]);
    // Money for an order paid or refunded already would be held twice: refused, nothing recorded.
    if (order.paymentStatus === 'paid' || order.paymentStatus === 'refunded')
      throw stateConflict(`already_${order.paymentStatus}`, `the order is ${order.paymentStatus} already; this offline payment was not recorded`, order);
    if (input.amountMinor !== order.totalMinor)
      throw invalidRequest([{ path: 'amountMinor', message: `must be the order total (${order.totalMinor} = ${formatMoney(order.totalMinor, order.currency)})` }]);
  }
  if (order) {
    // The card path closes first: after this Stripe takes no payment for the order's Checkout Session. A
    // session the customer completed meanwhile goes to the payment path; if that paid the order, the card won
    // and this payment is not recorded (409 with the order's state). A delayed method merely submitted leaves
    // the order awaiting: this payment goes ahead, and if that one succeeds later it goes back (duplicate_payment).
    const card = await closeCardPathWithin(work, order);
    if (card.paid) {
      await work.runAfter(); // what the card payment recorded
      const now = (await getOrder(order.id)) ?? order;
      if (!isOpen(now.paymentStatus))
        throw stateConflict('already_paid', `the customer paid by card meanwhile (the order is ${now.paymentStatus}); this offline payment was not recorded`, now);
      order = now;
    }
  }
  const notice = await noticeOf({ ...input, name: input.customerName ?? null, orderId: order?.id ?? null, paidAt }, order?.customerId ?? customerId, order);
  const row: PaymentRow = {
    // Chosen here so that the answer stored with the order's payment (the same statement) carries it.
    id: randomUUID(),
    orderId: order?.id ?? null,
    waId: order ? order.customerWaId : phoneWaId,
    userId: order ? order.customerUserId : (input.customerUserId ?? null),
    name: input.customerName ?? null,
    amountMinor: input.amountMinor,
    currency: input.currency,
    paidAt,
  };
  return { input, row, order, notice };
}

/** The offline_payment notice (the name given with the payment, else the customer's first name). */
async function noticeOf(p: Omit<PaymentRow, 'id' | 'waId' | 'userId'> & { reference: string }, customerId: string | null, order: Order | null): Promise<Notice> {
  if (!customerId) throw notFound('order');
  const name = p.name ?? firstName(order?.customerName ?? (await profileName(customerId)));
  // A TemplateParameterError (an empty name) is the refusal itself: invalid, template_parameters.
  return offlinePaymentNotice({ reference: p.reference, customerId, orderId: order?.id ?? null, name, amountMinor: p.amountMinor, currency: p.currency, paidAt: p.paidAt });
}

/**
 * The order was paid by card before this offline payment could pay it (a delayed card payment that succeeded in
 * between): the shop holds this money twice. It is recorded on the order and the shop alerted, once per reference.
 */
async function paidTwice(orderId: string, reference: string, payment: PaymentRow): Promise<void> {
  const now = await getOrder(orderId);
  if (!now?.stripePaymentIntent) return;
  const details = { reference, amountMinor: payment.amountMinor, currency: payment.currency, paymentIntent: now.stripePaymentIntent };
  log.error('payment.offline_on_paid_order', { orderId, reference });
  await recordOrderEventOnce(orderId, 'offline_payment_unapplied', `offline-unapplied:${reference}`, details);
  await raiseOpsAlert({ key: `offline-payment-unapplied:${reference}`, kind: 'offline_payment_unapplied', orderId, details });
}
