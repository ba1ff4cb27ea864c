/**
 * Local stand-in for Meta's WhatsApp Cloud API (Graph API), for tests and the dev sandbox.
 *
 * A plain node:http server on loopback. The app talks to it exactly as it talks to
 * graph.facebook.com (set WHATSAPP_API_BASE to `baseUrl`); tests and the browser sandbox
 * drive it over HTTP through the `/_standin/...` control API:
 *
 *   GET    /_standin/messages[?to=digits&status=accepted|rejected]   recorded sends
 *   DELETE /_standin/messages            reset messages, catalog batches, inbound log, failure queue
 *   GET    /_standin/reads               mark-as-read / typing-indicator calls
 *   GET    /_standin/catalog-batches     recorded items_batch calls
 *   GET    /_standin/catalog/:catalogId  catalog items as the batches left them
 *   GET    /_standin/inbound             inbound payloads delivered so far
 *   GET    /_standin/stats   DELETE /_standin/stats
 *   POST   /_standin/fail {count?,status,code?,message?,details?,scope?}   queue failures
 *   DELETE /_standin/fail                clear the failure queue
 *   POST   /_standin/throughput {perSecond: n | null}   cap accepted sends per second (130429 above it)
 *   POST   /_standin/inbound {...}       build + sign + POST a `messages` webhook to webhookUrl
 *   POST   /_standin/statuses {...}      build + sign + POST a `statuses` webhook
 *   POST   /_standin/webhook/raw {payload, signature?}  POST exact bytes (optionally forged signature)
 *   POST   /_standin/webhook-url {url}   change the webhook target
 *   GET    /_standin/events              Server-Sent Events: message | status | inbound | catalog-batch
 *   POST   /_standin/media  GET /_standin/media-downloads   team inbox media (./graph-inbox.ts)
 *
 * Meta facts this reproduces (checked against Meta's docs):
 *  - Webhook bodies are signed as sent: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(appSecret, raw bytes)>`;
 *    Meta serialises with non-ASCII escaped as lowercase `\uXXXX` and `/` as `\/`, so re-serialising the
 *    parsed JSON does NOT reproduce the signed bytes (verify over the raw body).
 *  - Timestamps in webhooks are strings of unix seconds.
 *  - Interactive replies carry `context: {from, id}` pointing at the business message that was tapped.
 *  - Business-scoped user IDs (2026): a user may be known by phone, by BSUID (`user_id`, e.g.
 *    US.13491208655302741918) or both. Inbound messages then carry `from_user_id` (and `from` only when
 *    the phone is shared), contacts carry `user_id` and `profile.username`; sends take `recipient` (a
 *    BSUID) instead of `to` (`to` wins when both are given) and answer `contacts: [{input, wa_id}]` for a
 *    phone or `[{input, user_id}]` for a BSUID; statuses carry `recipient_user_id` (for a phone send only
 *    when the stand-in has seen that phone's BSUID; never on `failed` statuses of phone sends).
 *    Error 131062: a BSUID recipient is not supported for the message (queue it with POST /_standin/fail).
 *  - Throughput: a business number handles 80 messages per second by default (up to 1 000); above its level
 *    the API answers 130429 "Rate limit hit" until the sender is within it again. Off unless set
 *    (`/_standin/throughput`), counted over the last second of accepted sends.
 */
import http from 'node:http';
import { createHmac, randomBytes } from 'node:crypto';
import { z } from 'zod';
import { faults } from '../faults.js';
import { graphSetupEndpoints, type GraphSetup } from './graph-setup.js';
import { catalogInteractives, catalogMessageProblem } from './graph-catalog.js';
import { createInboxStandIn } from './graph-inbox.js';

// ---------------------------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------------------------

export interface GraphStandInOptions {
  accessToken: string;
  appSecret: string;
  phoneNumberId: string;
  /** E.164 business number; sent (digits only) as metadata.display_phone_number. */
  businessNumber?: string;
  webhookUrl?: string;
  port?: number;
  host?: string;
  /** Default v21.0. Requests under any vNN.N prefix are accepted. */
  apiVersion?: string;
  /** WhatsApp Business Account id used as entry[].id. */
  wabaId?: string;
  /** The catalog connected to the number (catalog messages name none); default: the one catalog pushed to. */
  catalogId?: string;
  /** After each accepted send, post sent → delivered → read status webhooks. Default false. */
  autoStatuses?: boolean;
  /** Delay between automatic statuses, ms. Default 150. */
  autoStatusDelayMs?: number;
  /** Serialise webhook JSON the way Meta does (\uXXXX, \/). Default true. */
  escapeLikeMeta?: boolean;
  /** Every API answer waits this long first (benchmarks: a slow upstream). Default 0; settable later via `setResponseDelay`. */
  responseDelayMs?: number;
  /** Meta app id (its webhook subscription, graph-setup.ts). Default 100000000000003 (dev/local-env.ts META_APP_ID). */
  appId?: string;
}

export type DeliveryStatus = 'sent' | 'delivered' | 'read' | 'failed';

export interface RecordedMessage {
  /** null for rejected sends. */
  wamid: string | null;
  /** Recipient: phone digits, or the BSUID for a send addressed by `recipient`. */
  to: string;
  /** `to` (or `recipient`) exactly as the request sent it. */
  input: string;
  /** Which field addressed the send. */
  addressedBy?: 'to' | 'recipient';
  type: string;
  /** The request JSON as parsed. */
  body: unknown;
  /** ms since epoch */
  at: number;
  status: 'accepted' | 'rejected';
  /** Meta error object served for rejected sends (validation or injected). */
  error?: MetaError;
  injected?: boolean;
  /** Status webhooks posted for this message. */
  statuses: Array<{ status: DeliveryStatus; at: number; webhookStatus: number }>;
}

export interface RecordedRead {
  messageId: string;
  typingIndicator: boolean;
  body: unknown;
  at: number;
}

export interface CatalogBatch {
  handle: string;
  catalogId: string;
  itemType: string;
  allowUpsert: boolean;
  requests: Array<{ method: string; retailerId: string; data: Record<string, unknown> }>;
  body: unknown;
  at: number;
}

export interface MetaError {
  message: string;
  type: string;
  code: number;
  error_subcode?: number;
  error_user_title?: string;
  error_user_msg?: string;
  error_data?: { messaging_product?: 'whatsapp'; details: string };
  fbtrace_id: string;
}

export interface QueuedFailure {
  status: number;
  code: number;
  message: string;
  details?: string;
  subcode?: number;
  scope: 'messages' | 'catalog' | 'any';
}

export interface GraphStandIn {
  /** http://127.0.0.1:P/v21.0 — what WHATSAPP_API_BASE is set to. */
  baseUrl: string;
  /** http://127.0.0.1:P — root, for /_standin/... */
  url: string;
  port: number;
  /** Counts Graph API calls (/vNN.N/...), not control calls. */
  stats: { requests: number };
  resetStats(): void;
  /** Every API answer (not control calls) waits this many ms first: a slow upstream. */
  setResponseDelay(ms: number): void;
  messages(filter?: { to?: string; status?: 'accepted' | 'rejected' }): RecordedMessage[];
  reads(): RecordedRead[];
  catalogBatches(): CatalogBatch[];
  inbound(): unknown[];
  setWebhookUrl(url: string | null): void;
  /** The account endpoints `npm run setup` / `npm run doctor` use: app subscriptions, subscribed apps, templates (graph-setup.ts). */
  setup: GraphSetup;
  /** Same as POST /_standin/inbound. */
  sendInbound(input: InboundInput): Promise<WebhookDelivery & { wamid: string }>;
  /** Same as POST /_standin/statuses. */
  sendStatus(input: StatusInput): Promise<WebhookDelivery>;
  /** A file as a customer's phone uploads it (./graph-inbox.ts); its id goes into an inbound media message. */
  storeMedia(bytes: Buffer, mimeType: string, filename?: string): { id: string; sha256: string };
  /** Media downloads asked for (team inbox proxy), with whether they carried the token. */
  mediaDownloads(): { id: string; authorized: boolean; at: number }[];
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Payload builders (exported: tests craft multi-entry payloads and forged signatures with them)
// ---------------------------------------------------------------------------------------------

export interface MetaBusiness {
  wabaId: string;
  phoneNumberId: string;
  /** digits, no "+" */
  displayPhoneNumber: string;
}

export interface InboundInput {
  /** The user's phone. Leave it out for a username user whose phone Meta does not share. */
  from?: string;
  /** The user's business-scoped user ID (`from_user_id`, contacts `user_id`). */
  userId?: string;
  parentUserId?: string;
  /** contacts[].profile.username */
  username?: string;
  /** Post for another phone number of the app (metadata.phone_number_id). */
  phoneNumberId?: string;
  /** Any other message kind, as Meta sends it: `{type: 'reaction', reaction: {...}}`, `{type: 'system', system: {...}}`, ... */
  raw?: Record<string, unknown>;
  name?: string;
  text?: string;
  interactive?:
    | { type: 'list_reply'; id: string; title: string; description?: string }
    | { type: 'button_reply'; id: string; title: string };
  /** Quick-reply button of a template. */
  button?: { payload: string; text: string };
  order?: {
    catalog_id: string;
    text?: string;
    product_items: Array<{ product_retailer_id: string; quantity: number; item_price: number; currency: string }>;
  };
  wamid?: string;
  /** unix seconds */
  timestamp?: number;
  /** Message being replied to / tapped. The HTTP endpoint fills it for interactive and button replies. */
  context?: { id: string; from?: string };
}

export interface StatusInput {
  wamid: string;
  status: DeliveryStatus;
  /** Phone digits; absent for a send addressed to a BSUID whose phone Meta does not share. */
  recipient_id?: string;
  recipient_user_id?: string;
  errors?: Array<{ code: number; title: string; message?: string; error_data?: { details: string }; href?: string }>;
  biz_opaque_callback_data?: string;
  /** unix seconds */
  timestamp?: number;
  /** pricing category; default utility for templates, service otherwise */
  category?: string;
  /** whether the message was a template (affects pricing) */
  template?: boolean;
}

export interface WebhookChangeValue {
  messaging_product: 'whatsapp';
  metadata: { display_phone_number: string; phone_number_id: string };
  contacts?: Array<{ profile: { name: string; username?: string }; wa_id?: string; user_id?: string; parent_user_id?: string }>;
  messages?: Array<Record<string, unknown>>;
  statuses?: Array<Record<string, unknown>>;
  errors?: Array<Record<string, unknown>>;
}

export interface WebhookEntry {
  id: string;
  changes: Array<{ value: WebhookChangeValue; field: string }>;
}

export interface WebhookPayload {
  object: 'whatsapp_business_account';
  entry: WebhookEntry[];
}

const digitsOnly = (s: string): string => s.replace(/\D/g, '');
/** A BSUID (two letters, a dot, alphanumerics; parents have `ENT.`) as Meta accepts it in `recipient`. */
const BSUID = /^[A-Z]{2}\.(ENT\.)?[A-Za-z0-9]{1,128}$/;
/** How recorded sends are keyed: phone digits, or the BSUID as is. */
const recipientKey = (s: string): string => (BSUID.test(s.trim()) ? s.trim() : digitsOnly(s));
const unixNow = (): number => Math.floor(Date.now() / 1000);

/** A wamid shaped like Meta's (`wamid.` + base64 of a small binary envelope). */
export function makeWamid(toDigits = '0'): string {
  const inner = Buffer.concat([
    Buffer.from([0x18, toDigits.length]),
    Buffer.from(toDigits, 'ascii'),
    Buffer.from([0x15, 0x02, 0x00, 0x11, 0x18, 0x12]),
    Buffer.from(randomBytes(9).toString('hex').toUpperCase(), 'ascii'),
    Buffer.from([0x00]),
  ]);
  return `wamid.${inner.toString('base64')}`;
}

function fbtraceId(): string {
  return randomBytes(8).toString('base64').replace(/[+/=]/g, '').slice(0, 11).padEnd(11, 'A');
}

/** The `value` of a messages-webhook change carrying one inbound message. */
export function buildInboundMessageValue(biz: MetaBusiness, input: InboundInput): WebhookChangeValue {
  const from = input.from ? digitsOnly(input.from) : undefined;
  if (!from && !input.userId) throw new Error('inbound needs from (a phone) or userId (a BSUID)');
  const message: Record<string, unknown> = {};
  if (input.context) message.context = { from: input.context.from ?? biz.displayPhoneNumber, id: input.context.id };
  if (from) message.from = from;
  if (input.userId) message.from_user_id = input.userId;
  if (input.parentUserId) message.from_parent_user_id = input.parentUserId;
  message.id = input.wamid ?? makeWamid(from ?? input.userId!);
  message.timestamp = String(input.timestamp ?? unixNow());
  const kinds = [input.order, input.interactive, input.button, input.text, input.raw].filter((k) => k !== undefined);
  if (kinds.length !== 1) throw new Error('inbound needs exactly one of text, interactive, button, order, raw');
  if (input.raw) {
    Object.assign(message, input.raw);
  } else if (input.order) {
    message.type = 'order';
    const order: Record<string, unknown> = { catalog_id: input.order.catalog_id };
    if (input.order.text !== undefined) order.text = input.order.text;
    order.product_items = input.order.product_items.map((p) => ({
      product_retailer_id: p.product_retailer_id,
      quantity: p.quantity,
      item_price: p.item_price,
      currency: p.currency,
    }));
    message.order = order;
  } else if (input.interactive) {
    message.type = 'interactive';
    const i = input.interactive;
    if (i.type === 'list_reply') {
      const reply: Record<string, unknown> = { id: i.id, title: i.title };
      if (i.description !== undefined) reply.description = i.description;
      message.interactive = { type: 'list_reply', list_reply: reply };
    } else {
      message.interactive = { type: 'button_reply', button_reply: { id: i.id, title: i.title } };
    }
  } else if (input.button) {
    message.type = 'button';
    message.button = { payload: input.button.payload, text: input.button.text };
  } else {
    message.type = 'text';
    message.text = { body: input.text };
  }
  const contact: NonNullable<WebhookChangeValue['contacts']>[number] = { profile: { name: input.name ?? 'Test User' } };
  if (input.username) contact.profile.username = input.username;
  if (from) contact.wa_id = from;
  if (input.userId) contact.user_id = input.userId;
  if (input.parentUserId) contact.parent_user_id = input.parentUserId;
  return {
    messaging_product: 'whatsapp',
    metadata: { display_phone_number: biz.displayPhoneNumber, phone_number_id: input.phoneNumberId ?? biz.phoneNumberId },
    // Meta: system messages carry no contacts array.
    ...(message.type === 'system' ? {} : { contacts: [contact] }),
    messages: [message],
  };
}

/** The `value` of a messages-webhook change carrying one status update. */
export function buildStatusValue(biz: MetaBusiness, input: StatusInput): WebhookChangeValue {
  const ts = input.timestamp ?? unixNow();
  const st: Record<string, unknown> = { id: input.wamid, status: input.status, timestamp: String(ts) };
  if (input.recipient_id) st.recipient_id = digitsOnly(input.recipient_id);
  if (input.recipient_user_id) st.recipient_user_id = input.recipient_user_id;
  const who = input.recipient_id ?? input.recipient_user_id ?? input.wamid;
  if (input.biz_opaque_callback_data !== undefined) st.biz_opaque_callback_data = input.biz_opaque_callback_data;
  if (input.status === 'sent' || input.status === 'delivered') {
    const category = input.category ?? (input.template ? 'utility' : 'service');
    const billable = category !== 'service';
    const conversation: Record<string, unknown> = { id: createHmac('md5', 'conv').update(who).digest('hex') };
    if (input.status === 'sent') conversation.expiration_timestamp = String(ts + 24 * 3600);
    conversation.origin = { type: category };
    st.conversation = conversation;
    st.pricing = {
      billable,
      pricing_model: 'PMP',
      category,
      type: billable ? 'regular' : 'free_customer_service',
    };
  }
  if (input.status === 'failed') {
    const errors = input.errors?.length
      ? input.errors
      : [{ code: 131026, title: 'Message undeliverable' }];
    st.errors = errors.map((e) => ({
      code: e.code,
      title: e.title,
      message: e.message ?? e.title,
      error_data: e.error_data ?? { details: e.message ?? e.title },
      href: e.href ?? 'https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/',
    }));
  }
  return {
    messaging_product: 'whatsapp',
    metadata: { display_phone_number: biz.displayPhoneNumber, phone_number_id: biz.phoneNumberId },
    statuses: [st],
  };
}

export function buildEntry(wabaId: string, values: WebhookChangeValue[]): WebhookEntry {
  return { id: wabaId, changes: values.map((value) => ({ value, field: 'messages' })) };
}

export function buildWebhookPayload(entries: WebhookEntry[]): WebhookPayload {
  return { object: 'whatsapp_business_account', entry: entries };
}

export function buildInboundPayload(biz: MetaBusiness, input: InboundInput): WebhookPayload {
  return buildWebhookPayload([buildEntry(biz.wabaId, [buildInboundMessageValue(biz, input)])]);
}

export function buildStatusPayload(biz: MetaBusiness, input: StatusInput): WebhookPayload {
  return buildWebhookPayload([buildEntry(biz.wabaId, [buildStatusValue(biz, input)])]);
}

/**
 * Serialise like Meta: compact JSON, non-ASCII as lowercase \uXXXX (UTF-16 units), "/" as "\/".
 * With escapeLikeMeta=false, plain JSON.stringify.
 */
export function serializeMetaPayload(payload: unknown, escapeLikeMeta = true): string {
  const json = JSON.stringify(payload);
  if (!escapeLikeMeta) return json;
  return json
    .replace(/[\u0080-\uffff]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'))
    .replace(/\//g, '\\/');
}

/** `sha256=<hex>` over the exact bytes, as Meta's X-Hub-Signature-256 header. */
export function signMetaPayload(rawBody: string | Buffer | Uint8Array, secret: string): string {
  return 'sha256=' + createHmac('sha256', secret).update(rawBody).digest('hex');
}

// ---------------------------------------------------------------------------------------------
// Request validation (zod) — limits from Meta's Cloud API docs
// ---------------------------------------------------------------------------------------------

const httpUrl = z.string().regex(/^https?:\/\/[^\s]+$/i, 'must be an http(s) URL');
const str = (max: number) => z.string().min(1).max(max);

const Media = z
  .looseObject({
    id: z.string().min(1).optional(),
    link: httpUrl.optional(),
    caption: z.string().max(1024).optional(),
    filename: z.string().max(240).optional(),
  })
  .refine((m) => (m.id === undefined) !== (m.link === undefined), 'exactly one of id or link is required');

const MediaHeader = z.discriminatedUnion('type', [
  z.looseObject({ type: z.literal('text'), text: str(60) }),
  z.looseObject({ type: z.literal('image'), image: Media }),
  z.looseObject({ type: z.literal('video'), video: Media }),
  z.looseObject({ type: z.literal('document'), document: Media }),
]);
const TextHeader = z.looseObject({ type: z.literal('text'), text: str(60) });
const Footer = z.looseObject({ text: str(60) });
const Body1024 = z.looseObject({ text: str(1024) });

const ListRow = z.looseObject({ id: str(200), title: str(24), description: z.string().max(72).optional() });
const ListSection = z.looseObject({ title: str(24).optional(), rows: z.array(ListRow).min(1).max(10) });

const ListInteractive = z
  .looseObject({
    type: z.literal('list'),
    header: TextHeader.optional(),
    body: z.looseObject({ text: str(4096) }),
    footer: Footer.optional(),
    action: z.looseObject({ button: str(20), sections: z.array(ListSection).min(1).max(10) }),
  })
  .superRefine((v, ctx) => {
    const rows = v.action.sections.flatMap((s) => s.rows);
    if (rows.length > 10) {
      ctx.addIssue({ code: 'custom', path: ['action', 'sections'], message: `at most 10 rows in total across sections (got ${rows.length})` });
    }
    const seen = new Set<string>();
    v.action.sections.forEach((s, si) =>
      s.rows.forEach((r, ri) => {
        if (seen.has(r.id)) ctx.addIssue({ code: 'custom', path: ['action', 'sections', si, 'rows', ri, 'id'], message: `duplicate row id "${r.id}"` });
        seen.add(r.id);
      }),
    );
    if (v.action.sections.length > 1) {
      v.action.sections.forEach((s, si) => {
        if (!s.title) ctx.addIssue({ code: 'custom', path: ['action', 'sections', si, 'title'], message: 'section title is required when there is more than one section' });
      });
    }
  });

const ButtonInteractive = z
  .looseObject({
    type: z.literal('button'),
    header: MediaHeader.optional(),
    body: Body1024,
    footer: Footer.optional(),
    action: z.looseObject({
      buttons: z
        .array(z.looseObject({ type: z.literal('reply'), reply: z.looseObject({ id: str(256), title: str(20) }) }))
        .min(1)
        .max(3),
    }),
  })
  .superRefine((v, ctx) => {
    const ids = new Set<string>();
    const titles = new Set<string>();
    v.action.buttons.forEach((b, i) => {
      if (ids.has(b.reply.id)) ctx.addIssue({ code: 'custom', path: ['action', 'buttons', i, 'reply', 'id'], message: `duplicate button id "${b.reply.id}"` });
      if (titles.has(b.reply.title)) ctx.addIssue({ code: 'custom', path: ['action', 'buttons', i, 'reply', 'title'], message: `duplicate button title "${b.reply.title}"` });
      ids.add(b.reply.id);
      titles.add(b.reply.title);
    });
  });

const CtaUrlInteractive = z.looseObject({
  type: z.literal('cta_url'),
  header: MediaHeader.optional(),
  body: Body1024,
  footer: Footer.optional(),
  action: z.looseObject({
    name: z.literal('cta_url'),
    parameters: z.looseObject({ display_text: str(20), url: httpUrl }),
  }),
});

// Catalog, product, multi-product and carousel messages: ./graph-catalog.ts.
const OtherInteractive = z.looseObject({
  type: z.enum(['flow', 'location_request_message', 'address_message', 'call_permission_request']),
});

const Interactive = z.discriminatedUnion('type', [
  ListInteractive,
  ButtonInteractive,
  CtaUrlInteractive,
  ...catalogInteractives,
  OtherInteractive,
]);

const TemplateParam = z.discriminatedUnion('type', [
  z.looseObject({ type: z.literal('text'), text: z.string().min(1).max(32768), parameter_name: z.string().optional() }),
  z.looseObject({
    type: z.literal('currency'),
    currency: z.looseObject({ fallback_value: z.string().min(1), code: z.string().regex(/^[A-Z]{3}$/), amount_1000: z.number().int() }),
    parameter_name: z.string().optional(),
  }),
  z.looseObject({ type: z.literal('date_time'), date_time: z.looseObject({ fallback_value: z.string().min(1) }), parameter_name: z.string().optional() }),
  z.looseObject({ type: z.literal('image'), image: Media }),
  z.looseObject({ type: z.literal('video'), video: Media }),
  z.looseObject({ type: z.literal('document'), document: Media }),
  z.looseObject({ type: z.literal('payload'), payload: z.string().min(1).max(128) }),
  z.looseObject({ type: z.literal('coupon_code'), coupon_code: z.string().min(1).max(15) }),
  z.looseObject({ type: z.literal('action'), action: z.looseObject({}) }),
  z.looseObject({ type: z.enum(['location', 'product', 'order_status', 'limited_time_offer', 'tap_target_configuration', 'order_details']) }),
]);

const TemplateComponent = z.discriminatedUnion('type', [
  z.looseObject({ type: z.literal('header'), parameters: z.array(TemplateParam).max(1).optional() }),
  z.looseObject({ type: z.literal('body'), parameters: z.array(TemplateParam).optional() }),
  z.looseObject({
    type: z.literal('button'),
    sub_type: z.enum(['quick_reply', 'url', 'copy_code', 'catalog', 'mpm', 'flow', 'voice_call', 'order_details', 'reminder']),
    index: z.union([z.number().int().min(0).max(9), z.string().regex(/^\d$/)]),
    parameters: z.array(TemplateParam).optional(),
  }),
  z.looseObject({ type: z.enum(['carousel', 'limited_time_offer', 'footer']) }),
]);

const Template = z.looseObject({
  name: z.string().min(1).max(512),
  language: z.looseObject({ code: z.string().min(2).max(15), policy: z.literal('deterministic').optional() }),
  components: z.array(TemplateComponent).optional(),
});

const base = {
  messaging_product: z.literal('whatsapp'),
  recipient_type: z.enum(['individual', 'group']).optional(),
  to: z.string().regex(/^\+?\d{8,15}$/, 'must be 8-15 digits with an optional leading +').optional(),
  recipient: z.string().regex(BSUID, 'must be a business-scoped user ID such as US.13491208655302741918').optional(),
  biz_opaque_callback_data: z.string().max(512).optional(),
  context: z.looseObject({ message_id: z.string().min(1) }).optional(),
};

const SendMessage = z.discriminatedUnion('type', [
  z.looseObject({ ...base, type: z.literal('text'), text: z.looseObject({ body: z.string().min(1).max(4096), preview_url: z.boolean().optional() }) }),
  z.looseObject({ ...base, type: z.literal('interactive'), interactive: Interactive }),
  z.looseObject({ ...base, type: z.literal('template'), template: Template }),
  z.looseObject({ ...base, type: z.literal('image'), image: Media }),
  z.looseObject({ ...base, type: z.literal('document'), document: Media }),
  z.looseObject({ ...base, type: z.literal('video'), video: Media }),
  z.looseObject({ ...base, type: z.literal('audio'), audio: Media }),
  z.looseObject({ ...base, type: z.literal('sticker'), sticker: Media }),
  z.looseObject({ ...base, type: z.literal('reaction'), reaction: z.looseObject({ message_id: z.string().min(1), emoji: z.string() }) }),
  z.looseObject({
    ...base,
    type: z.literal('location'),
    location: z.looseObject({ latitude: z.union([z.number(), z.string()]), longitude: z.union([z.number(), z.string()]) }),
  }),
]);

const MarkRead = z.looseObject({
  messaging_product: z.literal('whatsapp'),
  status: z.literal('read'),
  message_id: z.string().min(1),
  typing_indicator: z.looseObject({ type: z.literal('text') }).optional(),
});

const ItemsBatch = z.looseObject({
  allow_upsert: z.union([z.boolean(), z.enum(['true', 'false'])]).optional(),
  item_type: z.string().min(1),
  item_sub_type: z.string().optional(),
  requests: z
    .array(
      z
        .looseObject({
          method: z.enum(['CREATE', 'UPDATE', 'DELETE']),
          retailer_id: z.string().min(1).optional(),
          data: z.looseObject({ id: z.string().min(1).optional(), retailer_id: z.string().min(1).optional() }),
        })
        .refine((r) => !!(r.data.id ?? r.data.retailer_id ?? r.retailer_id), 'data.id (the retailer id) is required'),
    )
    .min(1)
    .max(5000, 'requests can contain at most 5000 items'),
});

/** Meta-style path: interactive['action']['sections'][0]['rows'][0]['title'] */
function metaPath(path: ReadonlyArray<PropertyKey>): string {
  if (path.length === 0) return '(root)';
  const [first, ...rest] = path;
  return String(first) + rest.map((p) => (typeof p === 'number' ? `[${p}]` : `['${String(p)}']`)).join('');
}

export function summarizeIssues(issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }>): string {
  return issues.map((i) => `Param ${metaPath(i.path)}: ${i.message}`).join('; ');
}

// ---------------------------------------------------------------------------------------------
// Small HTTP helpers
// ---------------------------------------------------------------------------------------------

const MAX_BODY = 32 * 1024 * 1024;

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new Error('body too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=UTF-8',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

/** Graph accepts JSON bodies and form bodies whose nested values are JSON strings. */
function parseGraphBody(raw: Buffer, contentType: string | undefined): { ok: true; value: unknown } | { ok: false; reason: string } {
  const text = raw.toString('utf8');
  if (text.trim() === '') return { ok: true, value: {} };
  if (contentType?.includes('application/x-www-form-urlencoded')) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of new URLSearchParams(text)) {
      const t = v.trim();
      if (t.startsWith('{') || t.startsWith('[')) {
        try {
          out[k] = JSON.parse(t);
          continue;
        } catch {
          /* keep the string */
        }
      }
      out[k] = v;
    }
    return { ok: true, value: out };
  }
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (e) {
    return { ok: false, reason: `request body is not valid JSON: ${(e as Error).message}` };
  }
}

const CORS: Record<string, string> = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'GET, POST, DELETE, OPTIONS',
  'access-control-allow-headers': 'content-type, authorization',
};

export interface WebhookDelivery {
  status: number;
  body: string;
  error?: string;
}

async function postWebhook(url: string, raw: string, headers: Record<string, string>): Promise<WebhookDelivery> {
  try {
    const r = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'facebookexternalua', ...headers },
      body: raw,
      signal: AbortSignal.timeout(15_000),
    });
    return { status: r.status, body: await r.text() };
  } catch (e) {
    const err = e as Error & { cause?: Error };
    return { status: 0, body: '', error: err.cause?.message ?? err.message };
  }
}

const DEFAULT_ERROR_TEXT: Record<number, string> = {
  1: 'An unknown error occurred',
  2: 'Service temporarily unavailable',
  4: 'Application request limit reached',
  100: 'Invalid parameter',
  190: 'Invalid OAuth access token - Cannot parse access token',
  80007: 'Rate limit issues',
  130429: 'Rate limit hit',
  131000: 'Something went wrong',
  131008: 'Required parameter is missing',
  131009: 'Parameter value is not valid',
  131026: 'Message undeliverable',
  131062: 'Business-scoped user ID recipients are not supported for this message',
  131047: 'Re-engagement message',
  131048: 'Spam rate limit hit',
  131056: '(Business Account, Consumer Account) pair rate limit hit',
  133010: 'Phone number not registered',
};

function defaultCodeFor(status: number): number {
  if (status === 429) return 130429;
  if (status === 401) return 190;
  if (status === 503) return 2;
  if (status >= 500) return 131000;
  return 100;
}

// ---------------------------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------------------------

export async function startGraphStandIn(opts: GraphStandInOptions): Promise<GraphStandIn> {
  const apiVersion = opts.apiVersion ?? 'v21.0';
  const host = opts.host ?? '127.0.0.1';
  const escapeLikeMeta = opts.escapeLikeMeta ?? true;
  const biz: MetaBusiness = {
    wabaId: opts.wabaId ?? '102290129340398',
    phoneNumberId: opts.phoneNumberId,
    displayPhoneNumber: digitsOnly(opts.businessNumber ?? '+15550783881'),
  };
  const autoDelay = opts.autoStatusDelayMs ?? 150;
  const setup = graphSetupEndpoints(
    { accessToken: opts.accessToken, appSecret: opts.appSecret, appId: opts.appId ?? '100000000000003', wabaId: biz.wabaId, phoneNumberId: opts.phoneNumberId, displayPhoneNumber: biz.displayPhoneNumber },
    apiVersion,
  );

  let webhookUrl: string | null = opts.webhookUrl ?? null;
  const stats = { requests: 0 };
  const responseDelay = { ms: opts.responseDelayMs ?? 0 };
  let messages: RecordedMessage[] = [];
  let reads: RecordedRead[] = [];
  let batches: CatalogBatch[] = [];
  let inboundLog: unknown[] = [];
  let failures: QueuedFailure[] = [];
  /** Meta's throughput level, when capped: accepted sends per second (times of the last second's sends). */
  const throughput = { perSecond: null as number | null, recent: [] as number[] };
  const overThroughput = (): boolean => {
    if (throughput.perSecond === null) return false;
    const now = Date.now();
    throughput.recent = throughput.recent.filter((t) => t > now - 1000);
    if (throughput.recent.length >= throughput.perSecond) return true;
    throughput.recent.push(now);
    return false;
  };
  const catalogs = new Map<string, Map<string, Record<string, unknown>>>();
  /** phone digits → BSUID, learned from inbound messages that carried both (Meta puts it on statuses). */
  const userIdOfPhone = new Map<string, string>();
  const timers = new Set<NodeJS.Timeout>();
  const sseClients = new Set<http.ServerResponse>();
  let rootUrl = '';
  const inbox = createInboxStandIn({ accessToken: opts.accessToken, root: () => rootUrl });

  const broadcast = (event: string, data: unknown): void => {
    const frame = `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
    for (const c of sseClients) c.write(frame);
  };

  const metaError = (status: number, err: Omit<MetaError, 'fbtrace_id'>, res: http.ServerResponse, extra: Record<string, string> = {}): MetaError => {
    const full: MetaError = { ...err, fbtrace_id: fbtraceId() };
    sendJson(res, status, { error: full }, extra);
    return full;
  };

  const invalidParam = (details: string): Omit<MetaError, 'fbtrace_id'> => ({
    message: '(#100) Invalid parameter',
    type: 'OAuthException',
    code: 100,
    error_data: { messaging_product: 'whatsapp', details },
  });

  const takeFailure = (scope: 'messages' | 'catalog'): QueuedFailure | undefined => {
    const i = failures.findIndex((f) => f.scope === scope || f.scope === 'any');
    if (i < 0) return undefined;
    return failures.splice(i, 1)[0];
  };

  const failureError = (f: QueuedFailure): Omit<MetaError, 'fbtrace_id'> => {
    const text = f.message ?? DEFAULT_ERROR_TEXT[f.code] ?? 'Error';
    const err: Omit<MetaError, 'fbtrace_id'> = {
      message: text.startsWith('(#') ? text : `(#${f.code}) ${text}`,
      type: 'OAuthException',
      code: f.code,
      error_data: { messaging_product: 'whatsapp', details: f.details ?? text },
    };
    if (f.subcode !== undefined) err.error_subcode = f.subcode;
    return err;
  };

  const deliverSigned = async (raw: string, signature?: string): Promise<WebhookDelivery> => {
    if (!webhookUrl) return { status: 0, body: '', error: 'no webhookUrl configured' };
    return postWebhook(webhookUrl, raw, { 'x-hub-signature-256': signature ?? signMetaPayload(raw, opts.appSecret) });
  };

  const sendStatus = async (input: StatusInput): Promise<WebhookDelivery> => {
    const rec = messages.find((m) => m.wamid === input.wamid);
    const body = rec?.body as { biz_opaque_callback_data?: string } | undefined;
    const sentTo = rec?.addressedBy === 'recipient' ? { recipient_user_id: rec.to } : rec ? { recipient_id: rec.to } : {};
    const phone = input.recipient_id ?? (sentTo as { recipient_id?: string }).recipient_id;
    // Meta: failed statuses of phone sends carry no recipient_user_id; others do when the BSUID is known.
    const learned = phone && !(input.status === 'failed' && rec?.addressedBy !== 'recipient') ? userIdOfPhone.get(digitsOnly(phone)) : undefined;
    const full: StatusInput = {
      ...sentTo,
      ...(learned ? { recipient_user_id: learned } : {}),
      ...input,
      biz_opaque_callback_data: input.biz_opaque_callback_data ?? body?.biz_opaque_callback_data,
      template: input.template ?? rec?.type === 'template',
    };
    const raw = serializeMetaPayload(buildStatusPayload(biz, full), escapeLikeMeta);
    const delivery = await deliverSigned(raw);
    if (rec) rec.statuses.push({ status: input.status, at: Date.now(), webhookStatus: delivery.status });
    broadcast('status', { wamid: input.wamid, status: input.status, to: rec?.to ?? recipientKey(full.recipient_id ?? full.recipient_user_id ?? ''), webhookStatus: delivery.status, at: Date.now() });
    return delivery;
  };

  const sendInbound = async (input: InboundInput): Promise<WebhookDelivery & { wamid: string }> => {
    const phone = input.from ? digitsOnly(input.from) : undefined;
    if (phone && input.userId) userIdOfPhone.set(phone, input.userId);
    // Who the shop's messages to this user are recorded under: the phone when the shop can know it, else the BSUID.
    const from = phone ?? input.userId ?? '';
    let context = input.context;
    if (!context && (input.interactive || input.button)) {
      const wanted = input.interactive ? 'interactive' : 'template';
      const last = [...messages].reverse().find((m) => (m.to === from || (input.userId && m.to === input.userId)) && m.status === 'accepted' && m.type === wanted);
      if (last?.wamid) context = { id: last.wamid };
    }
    const wamid = input.wamid ?? makeWamid(from);
    const payload = buildInboundPayload(biz, { ...input, wamid, ...(context ? { context } : {}) });
    const raw = serializeMetaPayload(payload, escapeLikeMeta);
    inboundLog.push(payload);
    const delivery = await deliverSigned(raw);
    broadcast('inbound', { wamid, from, message: payload.entry[0]?.changes[0]?.value.messages?.[0], webhookStatus: delivery.status, at: Date.now() });
    return { wamid, ...delivery };
  };

  const scheduleAutoStatuses = (rec: RecordedMessage): void => {
    const seq: DeliveryStatus[] = ['sent', 'delivered', 'read'];
    const step = (i: number): void => {
      const status = seq[i];
      if (!status || !rec.wamid) return;
      const t = setTimeout(() => {
        timers.delete(t);
        void sendStatus({ wamid: rec.wamid!, status }).finally(() => step(i + 1));
      }, autoDelay);
      timers.add(t);
    };
    step(0);
  };

  const checkAuth = (req: http.IncomingMessage, url: URL): boolean => {
    const h = req.headers.authorization;
    const token = h?.match(/^Bearer\s+(.+)$/i)?.[1] ?? url.searchParams.get('access_token') ?? undefined;
    return token === opts.accessToken;
  };

  // ---- Graph API --------------------------------------------------------------------------

  const handleSend = (res: http.ServerResponse, parsed: unknown): void => {
    const asObj = (parsed && typeof parsed === 'object' ? parsed : {}) as Record<string, unknown>;
    // Meta: `type` is optional and defaults to text.
    const body = asObj.type === undefined && asObj.status === undefined ? { ...asObj, type: 'text' } : asObj;
    // Meta: `to` (a phone) wins over `recipient` (a BSUID) when both are given.
    const addressedBy: 'to' | 'recipient' = typeof body.to === 'string' || typeof body.recipient !== 'string' ? 'to' : 'recipient';
    const input = addressedBy === 'to' ? (typeof body.to === 'string' ? body.to : '') : (body.recipient as string);
    const to = addressedBy === 'to' ? digitsOnly(input) : input;

    if (body.status === 'read') {
      const r = MarkRead.safeParse(body);
      if (!r.success) {
        metaError(400, invalidParam(summarizeIssues(r.error.issues)), res);
        return;
      }
      const rec: RecordedRead = { messageId: r.data.message_id, typingIndicator: !!r.data.typing_indicator, body: parsed, at: Date.now() };
      reads.push(rec);
      broadcast('read', rec);
      sendJson(res, 200, { success: true });
      return;
    }

    const type = typeof body.type === 'string' ? body.type : 'unknown';
    const reject = (err: MetaError, injected = false): void => {
      const rec: RecordedMessage = { wamid: null, to, input, addressedBy, type, body: parsed, at: Date.now(), status: 'rejected', error: err, statuses: [] };
      if (injected) rec.injected = true;
      messages.push(rec);
      broadcast('message', rec);
    };

    if (typeof body.to !== 'string' && typeof body.recipient !== 'string') {
      reject(metaError(400, { ...invalidParam('to or recipient is required'), code: 131008, message: '(#131008) Required parameter is missing' }, res));
      return;
    }
    const r = SendMessage.safeParse(body);
    if (!r.success) {
      const err = metaError(400, invalidParam(summarizeIssues(r.error.issues)), res);
      reject(err);
      return;
    }
    const missing = catalogMessageProblem(r.data, catalogs, opts.catalogId);
    if (missing) {
      reject(metaError(400, { message: '(#131009) Parameter value is not valid', type: 'OAuthException', code: 131009, error_data: { messaging_product: 'whatsapp', details: missing } }, res));
      return;
    }
    const injected = takeFailure('messages');
    if (injected) {
      const err = metaError(injected.status, failureError(injected), res);
      reject(err, true);
      return;
    }
    if (overThroughput()) {
      reject(metaError(400, { message: '(#130429) Rate limit hit', type: 'OAuthException', code: 130429, error_data: { messaging_product: 'whatsapp', details: 'Cloud API message throughput has been reached.' } }, res));
      return;
    }
    const wamid = makeWamid(to);
    const rec: RecordedMessage = { wamid, to, input, addressedBy, type, body: parsed, at: Date.now(), status: 'accepted', statuses: [] };
    messages.push(rec);
    broadcast('message', rec);
    const resp: { messaging_product: 'whatsapp'; contacts: Array<{ input: string; wa_id?: string; user_id?: string }>; messages: Array<{ id: string; message_status?: string }> } = {
      messaging_product: 'whatsapp',
      contacts: [addressedBy === 'to' ? { input, wa_id: to } : { input, user_id: to }],
      messages: [type === 'template' ? { id: wamid, message_status: 'accepted' } : { id: wamid }],
    };
    sendJson(res, 200, resp);
    if (opts.autoStatuses && webhookUrl) scheduleAutoStatuses(rec);
  };

  const handleItemsBatch = (res: http.ServerResponse, catalogId: string, parsed: unknown): void => {
    const r = ItemsBatch.safeParse(parsed);
    if (!r.success) {
      const tooMany = r.error.issues.some((i) => i.path.length === 1 && i.path[0] === 'requests' && i.code === 'too_big');
      const details = summarizeIssues(r.error.issues);
      metaError(400, tooMany ? { ...invalidParam(details), message: '(#100) Invalid parameter: requests can contain at most 5000 items' } : invalidParam(details), res);
      return;
    }
    const injected = takeFailure('catalog');
    if (injected) {
      metaError(injected.status, failureError(injected), res);
      return;
    }
    const allowUpsert = r.data.allow_upsert === undefined ? true : r.data.allow_upsert === true || r.data.allow_upsert === 'true';
    const items = catalogs.get(catalogId) ?? new Map<string, Record<string, unknown>>();
    catalogs.set(catalogId, items);
    const validation: Array<{ retailer_id: string; errors: Array<{ message: string }>; warnings: Array<{ message: string }> }> = [];
    const requests = r.data.requests.map((q) => {
      const retailerId = (q.data.id ?? q.data.retailer_id ?? q.retailer_id)!;
      const data = q.data as Record<string, unknown>;
      if (q.method === 'DELETE') items.delete(retailerId);
      else if (q.method === 'CREATE' || allowUpsert || items.has(retailerId)) items.set(retailerId, { ...(items.get(retailerId) ?? {}), ...data });
      else validation.push({ retailer_id: retailerId, errors: [{ message: 'Item does not exist and allow_upsert is false' }], warnings: [] });
      return { method: q.method, retailerId, data };
    });
    const handle = 'AcX' + randomBytes(24).toString('base64url');
    const batch: CatalogBatch = { handle, catalogId, itemType: r.data.item_type, allowUpsert, requests, body: parsed, at: Date.now() };
    batches.push(batch);
    broadcast('catalog-batch', { handle, catalogId, count: requests.length, at: batch.at });
    sendJson(res, 200, { handles: [handle], validation_status: validation });
  };

  const handleGraph = async (req: http.IncomingMessage, res: http.ServerResponse, url: URL, segs: string[]): Promise<void> => {
    if (!faults.intercept('meta', req, res)) return;
    stats.requests++;
    if (responseDelay.ms > 0) await new Promise((r) => setTimeout(r, responseDelay.ms));
    if (await setup.handle(req, res, url, segs)) return;
    if (!checkAuth(req, url)) {
      metaError(
        401,
        { message: 'Invalid OAuth access token - Cannot parse access token', type: 'OAuthException', code: 190 },
        res,
        { 'www-authenticate': 'OAuth "Facebook Platform" "invalid_token" "Invalid OAuth access token - Cannot parse access token"' },
      );
      return;
    }
    const [, nodeId, edge, ...more] = segs;
    const raw = req.method === 'POST' ? await readBody(req) : Buffer.alloc(0);
    const unsupported = (): void => {
      metaError(
        400,
        {
          message: `Unsupported ${req.method?.toLowerCase()} request. Object with ID '${nodeId ?? ''}' does not exist, cannot be loaded due to missing permissions, or does not support this operation.`,
          type: 'GraphMethodException',
          code: 100,
          error_subcode: 33,
        },
        res,
      );
    };
    if (!nodeId || more.length > 0) return unsupported();
    if (inbox.graph(req, res, url, nodeId, edge, biz.wabaId)) return;

    if (req.method === 'POST' && edge === 'messages') {
      if (nodeId !== opts.phoneNumberId) return unsupported();
      const parsed = parseGraphBody(raw, req.headers['content-type']);
      if (parsed.ok) {
        const b = parsed.value as { type?: string; template?: { name?: string }; interactive?: { type?: string } };
        faults.label(req, `POST messages ${b.type ?? 'text'}${b.template?.name ? ` ${b.template.name}` : b.interactive?.type ? ` ${b.interactive.type}` : ''}`);
        if (!(await faults.gate(req, res))) return;
      }
      if (!parsed.ok) {
        const err = metaError(400, invalidParam(parsed.reason), res);
        messages.push({ wamid: null, to: '', input: '', type: 'unknown', body: raw.toString('utf8'), at: Date.now(), status: 'rejected', error: err, statuses: [] });
        return;
      }
      return handleSend(res, parsed.value);
    }
    faults.label(req, `${req.method} ${edge ?? ''}`);
    if (req.method === 'POST' && edge === 'items_batch') {
      const parsed = parseGraphBody(raw, req.headers['content-type']);
      if (!parsed.ok) {
        metaError(400, invalidParam(parsed.reason), res);
        return;
      }
      return handleItemsBatch(res, nodeId, parsed.value);
    }
    if (req.method === 'GET' && edge === 'check_batch_request_status') {
      const handle = url.searchParams.get('handle');
      const b = batches.find((x) => x.handle === handle && x.catalogId === nodeId);
      if (!b) {
        metaError(400, invalidParam('Param handle is invalid'), res);
        return;
      }
      sendJson(res, 200, {
        data: [{ handle: b.handle, status: 'finished', errors_total_count: 0, warnings_total_count: 0, ids_of_invalid_requests: [], errors: [], warnings: [] }],
      });
      return;
    }
    return unsupported();
  };

  // ---- Control API --------------------------------------------------------------------------

  const readJson = async (req: http.IncomingMessage): Promise<Record<string, unknown>> => {
    const raw = (await readBody(req)).toString('utf8');
    if (!raw.trim()) return {};
    const v: unknown = JSON.parse(raw);
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('expected a JSON object');
    return v as Record<string, unknown>;
  };

  const ControlFail = z.object({
    count: z.number().int().min(1).optional(),
    status: z.number().int().min(400).max(599),
    code: z.number().int().optional(),
    message: z.string().optional(),
    details: z.string().optional(),
    subcode: z.number().int().optional(),
    scope: z.enum(['messages', 'catalog', 'any']).optional(),
  });
  const ControlInbound = z
    .object({
      from: z.string().regex(/^\+?\d{6,15}$/).optional(),
      userId: z.string().regex(BSUID).optional(),
      parentUserId: z.string().regex(BSUID).optional(),
      username: z.string().optional(),
      phoneNumberId: z.string().optional(),
      raw: z.looseObject({ type: z.string() }).optional(),
      name: z.string().optional(),
      text: z.string().optional(),
      interactive: z
        .discriminatedUnion('type', [
          z.object({ type: z.literal('list_reply'), id: z.string(), title: z.string(), description: z.string().optional() }),
          z.object({ type: z.literal('button_reply'), id: z.string(), title: z.string() }),
        ])
        .optional(),
      button: z.object({ payload: z.string(), text: z.string() }).optional(),
      order: z
        .object({
          catalog_id: z.string(),
          text: z.string().optional(),
          product_items: z.array(
            z.object({ product_retailer_id: z.string(), quantity: z.number().int().min(1), item_price: z.number(), currency: z.string() }),
          ),
        })
        .optional(),
      wamid: z.string().optional(),
      timestamp: z.number().int().optional(),
      context: z.object({ id: z.string(), from: z.string().optional() }).optional(),
    })
    .refine((v) => [v.text, v.interactive, v.button, v.order, v.raw].filter((x) => x !== undefined).length === 1, 'give exactly one of text, interactive, button, order, raw')
    .refine((v) => v.from !== undefined || v.userId !== undefined, 'give from (a phone) or userId (a BSUID)');
  const ControlStatus = z.object({
    wamid: z.string().min(1),
    status: z.enum(['sent', 'delivered', 'read', 'failed']),
    recipient_id: z.string().optional(),
    recipient_user_id: z.string().optional(),
    errors: z
      .array(z.object({ code: z.number().int(), title: z.string(), message: z.string().optional(), error_data: z.object({ details: z.string() }).optional(), href: z.string().optional() }))
      .optional(),
    biz_opaque_callback_data: z.string().optional(),
    timestamp: z.number().int().optional(),
    category: z.string().optional(),
  });

  const deliveryReply = (res: http.ServerResponse, d: WebhookDelivery, extra: Record<string, unknown> = {}): void => {
    const out = { ...extra, status: d.status, body: d.body, ...(d.error ? { error: d.error } : {}) };
    sendJson(res, d.status === 0 ? (webhookUrl ? 502 : 409) : 200, out, CORS);
  };

  const handleControl = async (req: http.IncomingMessage, res: http.ServerResponse, url: URL, segs: string[]): Promise<void> => {
    const m = req.method;
    const route = segs.slice(1).join('/');
    const bad = (message: string, status = 400): void => sendJson(res, status, { error: { message } }, CORS);

    if (m === 'GET' && route === 'messages') {
      const to = url.searchParams.get('to');
      const status = url.searchParams.get('status');
      sendJson(res, 200, messages.filter((x) => (!to || x.to === recipientKey(to)) && (!status || x.status === status)), CORS);
      return;
    }
    if (m === 'DELETE' && route === 'messages') {
      messages = [];
      reads = [];
      batches = [];
      inboundLog = [];
      failures = [];
      catalogs.clear();
      sendJson(res, 200, { ok: true }, CORS);
      return;
    }
    if (m === 'GET' && route === 'reads') return sendJson(res, 200, reads, CORS);
    if (m === 'GET' && route === 'catalog-batches') return sendJson(res, 200, batches, CORS);
    if (m === 'GET' && segs[1] === 'catalog' && segs[2]) {
      const items = catalogs.get(segs[2]);
      sendJson(res, 200, items ? Object.fromEntries(items) : {}, CORS);
      return;
    }
    if (m === 'GET' && route === 'inbound') return sendJson(res, 200, inboundLog, CORS);
    if (m === 'GET' && route === 'stats') return sendJson(res, 200, { ...stats, queuedFailures: failures.length }, CORS);
    if (m === 'DELETE' && route === 'stats') {
      stats.requests = 0;
      sendJson(res, 200, { ok: true }, CORS);
      return;
    }
    if (m === 'GET' && route === 'fail') return sendJson(res, 200, failures, CORS);
    if (m === 'POST' && route === 'fail') {
      const r = ControlFail.safeParse(await readJson(req));
      if (!r.success) return bad(z.prettifyError(r.error));
      const f = r.data;
      const code = f.code ?? defaultCodeFor(f.status);
      for (let i = 0; i < (f.count ?? 1); i++) {
        const q: QueuedFailure = { status: f.status, code, message: f.message ?? DEFAULT_ERROR_TEXT[code] ?? 'Error', scope: f.scope ?? 'messages' };
        if (f.details !== undefined) q.details = f.details;
        if (f.subcode !== undefined) q.subcode = f.subcode;
        failures.push(q);
      }
      sendJson(res, 200, { queued: failures.length }, CORS);
      return;
    }
    if (m === 'POST' && route === 'throughput') {
      const body = await readJson(req);
      const n = body.perSecond;
      if (n !== null && !(Number.isInteger(n) && (n as number) > 0)) return bad('perSecond must be a positive integer or null');
      throughput.perSecond = n as number | null;
      throughput.recent = [];
      sendJson(res, 200, { perSecond: throughput.perSecond }, CORS);
      return;
    }
    if (m === 'DELETE' && route === 'fail') {
      failures = [];
      sendJson(res, 200, { ok: true }, CORS);
      return;
    }
    if (m === 'POST' && route === 'webhook-url') {
      const body = await readJson(req);
      webhookUrl = typeof body.url === 'string' && body.url ? body.url : null;
      sendJson(res, 200, { webhookUrl }, CORS);
      return;
    }
    if (m === 'POST' && route === 'inbound') {
      const r = ControlInbound.safeParse(await readJson(req));
      if (!r.success) return bad(z.prettifyError(r.error));
      const { wamid, ...d } = await sendInbound(r.data as InboundInput);
      deliveryReply(res, d, { wamid });
      return;
    }
    if (m === 'POST' && route === 'statuses') {
      const r = ControlStatus.safeParse(await readJson(req));
      if (!r.success) return bad(z.prettifyError(r.error));
      const rec = messages.find((x) => x.wamid === r.data.wamid);
      if (!rec && !r.data.recipient_id && !r.data.recipient_user_id) return bad(`unknown wamid ${r.data.wamid}; pass recipient_id or recipient_user_id`);
      const input = r.data as StatusInput;
      const d = await sendStatus(input);
      deliveryReply(res, d, { wamid: r.data.wamid });
      return;
    }
    if (m === 'POST' && route === 'webhook/raw') {
      const body = await readJson(req);
      if (typeof body.payload !== 'string') return bad('payload must be a string (the exact bytes to send)');
      const sig = typeof body.signature === 'string' ? body.signature : undefined;
      deliveryReply(res, await deliverSigned(body.payload, sig));
      return;
    }
    if (m === 'GET' && route === 'events') {
      res.writeHead(200, { ...CORS, 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
      res.write('retry: 1000\n: connected\n\n');
      sseClients.add(res);
      const ping = setInterval(() => res.write(': ping\n\n'), 15_000);
      ping.unref();
      req.on('close', () => {
        clearInterval(ping);
        sseClients.delete(res);
      });
      return;
    }
    bad(`no control route ${m} /${segs.join('/')}`, 404);
  };

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://standin');
    const segs = url.pathname.split('/').filter(Boolean);
    (async () => {
      if (req.method === 'OPTIONS') {
        res.writeHead(204, CORS);
        res.end();
        return;
      }
      if (segs[0] === '_standin' && (await setup.handle(req, res, url, segs))) return;
      if (segs[0] === '_standin' && segs[1] === 'media' && req.method === 'POST') {
        const m = inbox.store(await readBody(req), String(req.headers['content-type'] ?? 'application/octet-stream').split(';')[0]!, url.searchParams.get('filename') ?? undefined);
        return sendJson(res, 200, { id: m.id, sha256: m.sha256, file_size: m.bytes.length, mime_type: m.mimeType }, CORS);
      }
      if (segs[0] === '_standin' && segs[1] === 'media-downloads') return sendJson(res, 200, inbox.downloads(), CORS);
      if (segs[0] === '_standin') return handleControl(req, res, url, segs);
      if (segs[0] === 'whatsapp_business' && segs[1] === 'attachments') return inbox.download(req, res, url);
      if (segs[0] && /^v\d+\.\d+$/.test(segs[0])) return handleGraph(req, res, url, segs);
      sendJson(res, 404, { error: { message: `Unknown path ${url.pathname}`, type: 'GraphMethodException', code: 100, fbtrace_id: fbtraceId() } });
    })().catch((e: unknown) => {
      if (!res.headersSent) sendJson(res, e instanceof SyntaxError ? 400 : 500, { error: { message: (e as Error).message } }, CORS);
      else res.end();
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => resolve());
  });
  const port = (server.address() as import('node:net').AddressInfo).port;
  const root = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  rootUrl = root;

  return {
    baseUrl: `${root}/${apiVersion}`,
    url: root,
    port,
    stats,
    resetStats: () => {
      stats.requests = 0;
    },
    setResponseDelay: (ms) => {
      responseDelay.ms = ms;
    },
    messages: (filter) =>
      structuredClone(messages.filter((x) => (!filter?.to || x.to === recipientKey(filter.to)) && (!filter?.status || x.status === filter.status))),
    reads: () => structuredClone(reads),
    catalogBatches: () => structuredClone(batches),
    inbound: () => structuredClone(inboundLog),
    setWebhookUrl: (u) => {
      webhookUrl = u;
    },
    setup,
    sendInbound,
    sendStatus,
    storeMedia: (bytes, mimeType, filename) => inbox.store(bytes, mimeType, filename),
    mediaDownloads: () => inbox.downloads(),
    close: async () => {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      for (const c of sseClients) c.end();
      sseClients.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
