/**
 * The conformance cases: one per real fixture (tests/conformance/fixtures/, each file naming its
 * repository, path and commit). conformance.test.ts runs every case through the real functions.
 * `why` says which rule of the product a case checks (e.g. a reaction is recorded, not answered).
 */
import { readFileSync } from 'node:fs';

export type Replies = 'none' | 'one' | 'some' | 'any';
export type MetaEffect =
  | 'recorded' // an inbound_events row for the message
  | 'order_created' // an order for the customer, answered with a Checkout link
  | 'delivery' // the shop's message took the status the fixture reports
  | 'not_didnt_understand' // the answer is not the "didn't quite get that" fallback
  | 'answered_via_recipient' // the answer is addressed with `recipient` (a BSUID), no `to`
  | 'nothing_recorded'; // a change we don't subscribe to: nothing stored

export type MetaCase = {
  kind: 'meta';
  name: string;
  fixture: string;
  example: string;
  /** whatsapp-api-js examples are `change` objects: wrap them as that test's complete_payload() does. */
  wrap?: 'complete_payload';
  /** The customer first says "menu", so the fixture's referenced wamid (status, reaction, reply context) is a message this shop sent. */
  warmup?: boolean;
  expect: { status: number; replies: Replies; effects?: readonly MetaEffect[] };
  /** The rule of the product the case checks, where the expectation alone does not say it. */
  why?: string;
};

export type StripeSetup = 'order' | 'paid' | 'full_refund' | 'partial_refund' | 'unrelated';
export type StripeCase = {
  kind: 'stripe';
  name: string;
  fixture: string;
  resource: 'checkout.session' | 'charge' | 'refund' | 'dispute';
  type: string;
  /** What exists before the event: a pending order, a paid one, one refunded in the dashboard (fully / partly), or nothing of ours. */
  setup: StripeSetup;
  expect: {
    status: number;
    outcome: RegExp;
    paymentStatus?: string;
    refundedMinor?: 'total' | 'half' | 0;
    replies: 'none' | 'one';
    events?: string[];
    alerts?: string[];
  };
};

export type Case = MetaCase | StripeCase;

const meta = (fixture: string, example: string, expect: MetaCase['expect'], extra: Partial<MetaCase> = {}): MetaCase => ({
  kind: 'meta',
  name: `${fixture} › ${example}`,
  fixture,
  example,
  expect,
  ...extra,
});

const text = { status: 200, replies: 'some', effects: ['recorded'] } as const;
const silent = { status: 200, replies: 'none', effects: ['recorded'] } as const;
const media = { status: 200, replies: 'one', effects: ['recorded', 'not_didnt_understand'] } as const;
const notForUs = { status: 200, replies: 'none', effects: ['nothing_recorded'] } as const;
const delivered = { status: 200, replies: 'none', effects: ['delivery'] } as const;
const because = (why: string) => ({ why });

const pywaMessage = 'pywa/message.json';
const pywaCases: MetaCase[] = [
  meta(pywaMessage, 'text', text),
  ...['image', 'media_with_url', 'video', 'document', 'audio', 'voice', 'static_sticker', 'animated_sticker', 'current_location', 'chosen_location', 'contacts'].map((e) =>
    meta(pywaMessage, e, media, because('media/location/contacts get one short helpful answer (issue 11 part 3)')),
  ),
  ...['reaction', 'unreaction_empty', 'unreaction_no_emoji'].map((e) => meta(pywaMessage, e, silent, { warmup: true, ...because('a reaction is recorded, not answered (issue 11 part 3)') })),
  meta(pywaMessage, 'order', { status: 200, replies: 'some', effects: ['recorded', 'order_created'] }),
  ...['unsupported', 'unsupported_with_type', 'interactive_message_with_err'].map((e) => meta(pywaMessage, e, silent, because('an unsupported message is recorded, not answered (issue 11 part 3)'))),
  ...['reply', 'forwarded', 'forwarded_many_times', 'referral'].map((e) => meta(pywaMessage, e, text, { warmup: true })),
  ...['sent', 'delivered', 'read', 'failed', 'with_tracker', 'group'].map((e) => meta('pywa/message_status.json', e, delivered, { warmup: true })),
  meta('pywa/message_status.json', 'played', { status: 200, replies: 'none', effects: ['recorded'] }, { warmup: true, ...because('status values we do not act on are kept without a warning (issue 11 part 3)') }),
  meta('pywa/system.json', 'phone_number_change', silent, because('user_changed_number moves the customer; nothing is sent to the old number (issue 11 part 3)')),
  meta('pywa/system.json', 'identity_change', silent, because('customer_identity_changed is recorded, nothing sent (issue 11 part 3)')),
  meta('pywa/deleted_message.json', 'revoke', silent, { warmup: true, ...because('a revoke is recorded, not answered (issue 11 part 3)') }),
  meta('pywa/edited_message.json', 'image', silent, { warmup: true, ...because('an edit is recorded, not answered (issue 11 part 3)') }),
  meta('pywa/callback_button.json', 'button', { status: 200, replies: 'some', effects: ['recorded', 'order_created'] }, { warmup: true }),
  meta('pywa/callback_button.json', 'quick_reply', text, { warmup: true }),
  meta('pywa/callback_button.json', 'quick_reply_without_context', text),
  meta('pywa/callback_selection.json', 'callback', { status: 200, replies: 'one', effects: ['recorded'] }, { warmup: true }),
  meta('pywa/callback_selection.json', 'description', { status: 200, replies: 'one', effects: ['recorded'] }, { warmup: true }),
  meta('pywa/flow_completion.json', 'completion', { status: 200, replies: 'any', effects: ['recorded'] }, { warmup: true }),
  meta('pywa/flow_completion.json', 'without_flow_token', { status: 200, replies: 'any', effects: ['recorded'] }, { warmup: true }),
  meta('pywa/call_permission_update.json', 'accept', { status: 200, replies: 'any', effects: ['recorded'] }, { warmup: true }),
  meta('pywa/call_permission_update.json', 'reject', { status: 200, replies: 'any', effects: ['recorded'] }, { warmup: true }),
  ...Object.keys(examplesOf('pywa/account_update.json')).map((e) => meta('pywa/account_update.json', e, notForUs)),
  ...['template_status_update', 'template_quality_update', 'template_category_update', 'template_components_update', 'user_marketing_preferences', 'call_connect', 'call_status', 'call_terminate', 'outgoing_message'].flatMap((f) =>
    Object.keys(examplesOf(`pywa/${f}.json`)).map((e) => meta(`pywa/${f}.json`, e, notForUs)),
  ),
];

const metaDocsCases: MetaCase[] = [
  meta('meta-docs/messages-text.json', 'text', text),
  meta('meta-docs/reaction.json', 'reaction', silent, { warmup: true, ...because('a reaction is recorded, not answered (issue 11 part 3)') }),
];

const waapi = 'whatsapp-api-js/payloads.test.json';
const waapiCases: MetaCase[] = Object.entries(examplesOf(waapi)).map(([example, change]) => {
  const value = (change as { value: { messages?: { from?: string }[]; statuses?: unknown[] } }).value;
  if (value.statuses) return meta(waapi, example, delivered, { wrap: 'complete_payload', warmup: true });
  if (value.messages?.[0]?.from) return meta(waapi, example, text, { wrap: 'complete_payload' });
  return meta(waapi, example, { status: 200, replies: 'some', effects: ['recorded', 'answered_via_recipient'] }, {
    wrap: 'complete_payload',
    ...because('a username-only sender (no phone) is answered via `recipient` (issue 11 part 2)'),
  });
});

const stripeFixtures = ['stripe/fixtures3.json', 'stripe/fixtures3.beta.json', 'stripe/fixtures3.private_preview.json'];
const stripeCases: StripeCase[] = stripeFixtures.flatMap((fixture): StripeCase[] => {
  const c = (resource: StripeCase['resource'], type: string, setup: StripeSetup, expect: StripeCase['expect'], note = ''): StripeCase => ({
    kind: 'stripe',
    name: `${fixture} › ${resource} as ${type}${note ? ` (${note})` : ''}`,
    fixture,
    resource,
    type,
    setup,
    expect,
  });
  return [
    // The fixture session is open/unpaid: a completed event carrying it pays nothing.
    c('checkout.session', 'checkout.session.completed', 'order', { status: 200, outcome: /^ignored: session_open$/, paymentStatus: 'pending', replies: 'none' }),
    c('checkout.session', 'checkout.session.async_payment_succeeded', 'order', { status: 200, outcome: /^ignored: session_open$/, paymentStatus: 'pending', replies: 'none' }),
    c('checkout.session', 'checkout.session.async_payment_failed', 'order', { status: 200, outcome: /^closed: payment_failed$/, paymentStatus: 'payment_failed', replies: 'one', events: ['payment_failed'] }),
    c('checkout.session', 'checkout.session.expired', 'order', { status: 200, outcome: /^closed: expired$/, paymentStatus: 'expired', replies: 'one', events: ['expired'] }),
    c('charge', 'charge.refunded', 'full_refund', { status: 200, outcome: /^refunded$/, paymentStatus: 'refunded', refundedMinor: 'total', replies: 'one', events: ['refunded'], alerts: ['order_refunded'] }),
    c('charge', 'charge.refunded', 'partial_refund', { status: 200, outcome: /^partially_refunded$/, paymentStatus: 'paid', refundedMinor: 'half', replies: 'none', events: ['partially_refunded'], alerts: ['order_partially_refunded'] }, 'partial'),
    c('refund', 'refund.created', 'full_refund', { status: 200, outcome: /^refunded$/, paymentStatus: 'refunded', refundedMinor: 'total', replies: 'one', events: ['refunded'], alerts: ['order_refunded'] }),
    c('refund', 'refund.updated', 'partial_refund', { status: 200, outcome: /^partially_refunded$/, paymentStatus: 'paid', refundedMinor: 'half', replies: 'none', events: ['partially_refunded'], alerts: ['order_partially_refunded'] }),
    c('dispute', 'charge.dispute.created', 'paid', { status: 200, outcome: /^dispute_created$/, paymentStatus: 'paid', refundedMinor: 0, replies: 'none', events: ['dispute_opened'], alerts: ['dispute_created'] }),
    c('dispute', 'charge.dispute.closed', 'paid', { status: 200, outcome: /^dispute_closed$/, paymentStatus: 'paid', refundedMinor: 0, replies: 'none', events: ['dispute_closed'], alerts: ['dispute_closed'] }),
    c('charge', 'charge.refunded', 'unrelated', { status: 200, outcome: /^ignored: /, replies: 'none' }, 'a charge of no order of ours'),
  ];
});

export const cases: Case[] = [...metaDocsCases, ...pywaCases, ...waapiCases, ...stripeCases];

export type FixtureSource = { repository: string; path: string; commit: string } | { url: string; retrieved: string; note: string };
export function fixtureFile(path: string): { source: FixtureSource; examples?: Record<string, unknown>; resources?: Record<string, Record<string, unknown>> } {
  return JSON.parse(readFileSync(new URL(`./fixtures/${path}`, import.meta.url), 'utf8'));
}
function examplesOf(path: string): Record<string, unknown> {
  return fixtureFile(path).examples!;
}
