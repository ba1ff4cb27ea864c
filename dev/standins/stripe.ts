/**
 * Local stand-in for the parts of Stripe's API this project uses (Checkout Sessions, Refunds,
 * PaymentIntent retrieval) plus signed webhook delivery. Works with the real `stripe` client:
 *
 *   new Stripe(key, { host: '127.0.0.1', port, protocol: 'http' })
 *
 * Wire format the client uses (stripe-node 23): every v1 request is
 * `application/x-www-form-urlencoded` with bracket keys left unencoded
 * (`line_items[0][price_data][currency]=eur`, `metadata[order_id]=o1`, `expand[0]=line_items`),
 * all scalars as strings (`false`, `1500`), empty arrays omitted entirely, `null` sent as an
 * empty string; GET params go in the query string. Every POST carries an `Idempotency-Key`
 * (`stripe-node-retry-<uuid>` unless the caller passes `idempotencyKey`), and the client retries
 * 409 / 5xx / connection errors up to maxNetworkRetries (default 2) with the same key.
 *
 * Control API (JSON), for tests and the browser sandbox:
 *   POST   /_standin/sessions/:id/complete {paid?=true, eventId?, email?, name?}
 *   POST   /_standin/sessions/:id/async-succeeded {eventId?}
 *   POST   /_standin/sessions/:id/async-failed {eventId?}
 *   POST   /_standin/sessions/:id/expire {eventId?}
 *   DELETE /_standin/sessions/:id   forget the session: the API answers 404 resource_missing for it
 *   POST   /_standin/events {type, object? (object | id of a session/refund/pi), id?}   send a signed event
 *   POST   /_standin/events/raw {payload, signature?, secret?, timestamp?}             send exact bytes
 *   GET    /_standin/events          events sent and their deliveries
 *   GET    /_standin/sessions   GET /_standin/sessions/:id   GET /_standin/refunds
 *   POST   /_standin/webhook-url {url}
 *   GET    /_standin/stats   DELETE /_standin/stats   DELETE /_standin/reset
 *   GET    /checkout/:id             the hosted-checkout page (Pay / Pay later / Let it expire)
 */
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import Stripe from 'stripe';
import { faults } from '../faults.js';
import { webhookEndpoints, type WebhookEndpoint } from './stripe-webhook-endpoints.js';
import { completeShipping, parseShippingParams, priceSession, SHIPPING_FORM_SCRIPT, shippingFormHtml, type ApiErrors, type SessionShippingFields, type ShippingRateObject } from './stripe-shipping.js';

// ---------------------------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------------------------

export interface StripeStandInOptions {
  secretKey: string;
  webhookSecret: string;
  webhookUrl?: string;
  port?: number;
  host?: string;
  /** api_version stamped on events; default: the installed client's pinned version. */
  apiVersion?: string;
  /** Every API answer waits this long first (benchmarks: a slow upstream). Default 0; settable later via `setResponseDelay`. */
  responseDelayMs?: number;
}

export interface CheckoutLineItem {
  id: string;
  object: 'item';
  amount_discount: number;
  amount_subtotal: number;
  amount_tax: number;
  amount_total: number;
  currency: string;
  description: string;
  price: {
    id: string;
    object: 'price';
    active: boolean;
    currency: string;
    product: string;
    type: 'one_time';
    unit_amount: number;
    unit_amount_decimal: string;
    livemode: false;
    metadata: Record<string, string>;
  };
  quantity: number;
}

/** Shipping and tax fields: ./stripe-shipping.ts. */
export interface Session extends SessionShippingFields {
  id: string;
  object: 'checkout.session';
  after_expiration: null;
  allow_promotion_codes: boolean | null;
  amount_subtotal: number;
  amount_total: number;
  billing_address_collection: string | null;
  cancel_url: string | null;
  client_reference_id: string | null;
  client_secret: null;
  created: number;
  currency: string;
  customer: string | null;
  customer_creation: string | null;
  customer_details: null | {
    address: null;
    email: string | null;
    name: string | null;
    phone: string | null;
    tax_exempt: 'none';
    tax_ids: [];
  };
  customer_email: string | null;
  expires_at: number;
  invoice: null;
  livemode: false;
  locale: string | null;
  metadata: Record<string, string>;
  mode: 'payment';
  payment_intent: string | null;
  payment_link: null;
  payment_method_collection: string;
  payment_method_types: string[];
  payment_status: 'paid' | 'unpaid' | 'no_payment_required';
  status: 'open' | 'complete' | 'expired';
  submit_type: string | null;
  subscription: null;
  success_url: string | null;
  total_details: { amount_discount: number; amount_shipping: number; amount_tax: number };
  ui_mode: 'hosted';
  url: string | null;
  line_items?: StripeList<CheckoutLineItem>;
}

export interface Refund {
  id: string;
  object: 'refund';
  amount: number;
  balance_transaction: string;
  charge: string;
  created: number;
  currency: string;
  metadata: Record<string, string>;
  payment_intent: string;
  reason: string | null;
  receipt_number: null;
  source_transfer_reversal: null;
  status: 'succeeded';
  transfer_reversal: null;
}

export interface PaymentIntent {
  id: string;
  object: 'payment_intent';
  amount: number;
  amount_received: number;
  currency: string;
  created: number;
  latest_charge: string | null;
  livemode: false;
  metadata: Record<string, string>;
  status: 'processing' | 'succeeded' | 'requires_payment_method';
}

export interface StripeList<T> {
  object: 'list';
  data: T[];
  has_more: boolean;
  url: string;
}

export interface SentEvent {
  id: string;
  type: string;
  payload: string;
  at: number;
  deliveries: Array<{ status: number; body: string; error?: string; at: number }>;
}

export interface StripeStandIn {
  /** http://127.0.0.1:P — what STRIPE_API_BASE is set to. */
  url: string;
  host: string;
  port: number;
  /** Counts /v1/* API calls only (round trips the app makes), not control calls. */
  stats: { requests: number };
  resetStats(): void;
  /** Every API answer (not control calls) waits this many ms first: a slow upstream. */
  setResponseDelay(ms: number): void;
  sessions(): Session[];
  refunds(): Refund[];
  events(): SentEvent[];
  setWebhookUrl(url: string | null): void;
  /** Webhook endpoints created through the API (`npm run setup`), without their secrets (stripe-webhook-endpoints.ts). */
  webhookEndpoints(): WebhookEndpoint[];
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Form parsing (bracket notation) — exported for tests
// ---------------------------------------------------------------------------------------------

const UNSAFE_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * Parse `a[b][0][c]=x&metadata[k]=v&list[]=y` into nested objects/arrays (qs-style).
 * Objects whose keys are all integers become arrays, except under `metadata`.
 */
export function parseStripeForm(text: string): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  for (const [rawKey, value] of new URLSearchParams(text)) {
    const m = /^([^[\]]+)((?:\[[^\]]*\])*)$/.exec(rawKey);
    const path = m ? [m[1]!, ...Array.from(m[2]!.matchAll(/\[([^\]]*)\]/g), (x) => x[1]!)] : [rawKey];
    if (path.some((p) => UNSAFE_KEYS.has(p))) continue;
    let node: Record<string, unknown> = root;
    for (let i = 0; i < path.length; i++) {
      let key = path[i]!;
      if (key === '') key = String(Object.keys(node).length);
      if (i === path.length - 1) {
        node[key] = value;
      } else {
        const next = node[key];
        if (!next || typeof next !== 'object') node[key] = {};
        node = node[key] as Record<string, unknown>;
      }
    }
  }
  return arrayify(root, null) as Record<string, unknown>;
}

function arrayify(v: unknown, parentKey: string | null): unknown {
  if (!v || typeof v !== 'object') return v;
  const obj = v as Record<string, unknown>;
  const keys = Object.keys(obj);
  const out: Record<string, unknown> = {};
  for (const k of keys) out[k] = arrayify(obj[k], k);
  if (parentKey !== 'metadata' && keys.length > 0 && keys.every((k) => /^\d+$/.test(k))) {
    return keys.sort((a, b) => Number(a) - Number(b)).map((k) => out[k]);
  }
  return out;
}

function stableStringify(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableStringify).join(',')}]`;
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableStringify(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

// ---------------------------------------------------------------------------------------------
// Errors and small helpers
// ---------------------------------------------------------------------------------------------

class ControlError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: { type: string; message: string; code?: string; param?: string; doc_url?: string },
    /** Stripe saves idempotent results only once the endpoint started executing. */
    readonly cacheable = false,
  ) {
    super(body.message);
  }
}

const invalid = (message: string, param?: string, code?: string, cacheable = false): ApiError =>
  new ApiError(
    400,
    {
      type: 'invalid_request_error',
      message,
      ...(code ? { code, doc_url: `https://stripe.com/docs/error-codes/${code.replace(/_/g, '-')}` } : {}),
      ...(param ? { param } : {}),
    },
    cacheable,
  );
const missing = (param: string): ApiError => invalid(`Missing required param: ${param}.`, param, 'parameter_missing');
const noSuch = (kind: string, id: string, param: string): ApiError =>
  new ApiError(404, { type: 'invalid_request_error', message: `No such ${kind}: '${id}'`, code: 'resource_missing', param });

const ALPHA = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
function genId(prefix: string, len = 24): string {
  const b = randomBytes(len);
  let s = '';
  for (const x of b) s += ALPHA[x % ALPHA.length];
  return prefix + s;
}
const now = (): number => Math.floor(Date.now() / 1000);

function toInt(v: unknown, param: string): number {
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'string' && /^-?\d+$/.test(v.trim())) return Number(v.trim());
  throw invalid(`Invalid integer: ${typeof v === 'string' ? v : JSON.stringify(v)}`, param, 'parameter_invalid_integer');
}
function toBool(v: unknown, param: string): boolean {
  if (v === true || v === 'true') return true;
  if (v === false || v === 'false') return false;
  throw invalid(`Invalid boolean: ${String(v)}`, param, 'parameter_invalid_string_blank');
}
function toStr(v: unknown, param: string): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw invalid(`Invalid string: ${JSON.stringify(v)}`, param);
}
function isObj(v: unknown): v is Record<string, unknown> {
  return !!v && typeof v === 'object' && !Array.isArray(v);
}
function isUrl(s: string): boolean {
  try {
    const u = new URL(s.replace(/\{CHECKOUT_SESSION_ID\}/g, 'x'));
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}
function checkMetadata(v: unknown, param: string): Record<string, string> {
  if (v === undefined || v === '') return {};
  if (!isObj(v)) throw invalid('Invalid object', param);
  const out: Record<string, string> = {};
  const keys = Object.keys(v);
  if (keys.length > 50) throw invalid('You can only have up to 50 keys in metadata.', param);
  for (const k of keys) {
    if (k.length > 40) throw invalid(`Metadata keys can have up to 40 characters. The key "${k}" is too long.`, `${param}[${k}]`);
    const val = toStr(v[k], `${param}[${k}]`);
    if (val.length > 500) throw invalid(`Metadata values can have up to 500 characters, but you passed in a value that is ${val.length} characters.`, `${param}[${k}]`);
    if (val !== '') out[k] = val;
  }
  return out;
}
function money(amount: number, currency: string): string {
  try {
    return new Intl.NumberFormat('en-US', { style: 'currency', currency: currency.toUpperCase() }).format(amount / 100);
  } catch {
    return `${(amount / 100).toFixed(2)} ${currency.toUpperCase()}`;
  }
}
function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const KNOWN_SESSION_PARAMS = new Set([
  'mode', 'line_items', 'success_url', 'cancel_url', 'expires_at', 'client_reference_id', 'metadata', 'customer',
  'customer_email', 'customer_creation', 'locale', 'payment_method_types', 'allow_promotion_codes', 'payment_intent_data',
  'expand', 'billing_address_collection', 'phone_number_collection', 'shipping_address_collection', 'shipping_options',
  'custom_text', 'custom_fields', 'submit_type', 'consent_collection', 'invoice_creation', 'automatic_tax', 'ui_mode',
  'currency', 'discounts', 'after_expiration', 'payment_method_options', 'payment_method_configuration',
  'payment_method_collection', 'tax_id_collection', 'saved_payment_method_options', 'adaptive_pricing', 'branding_settings',
  'name_collection', 'optional_items', 'permissions', 'return_url', 'redirect_on_completion', 'wallet_options',
  'origin_context', 'customer_update',
]);
const KNOWN_REFUND_PARAMS = new Set([
  'payment_intent', 'charge', 'amount', 'reason', 'metadata', 'expand', 'refund_application_fee', 'reverse_transfer',
  'instructions_email', 'origin',
]);

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > 8 * 1024 * 1024) {
        reject(new Error('body too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body, null, 2);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

const CORS: Record<string, string> = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'GET, POST, DELETE, OPTIONS',
  'access-control-allow-headers': 'content-type, authorization',
};

// ---------------------------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------------------------

interface SessionRecord {
  session: Session;
  lineItems: CheckoutLineItem[];
  piMetadata: Record<string, string>;
}
interface PiRecord {
  pi: PaymentIntent;
  sessionId: string;
  amountRefunded: number;
}
interface IdemRecord {
  endpoint: string;
  params: string;
  status: number;
  body: unknown;
}

export async function startStripeStandIn(opts: StripeStandInOptions): Promise<StripeStandIn> {
  const host = opts.host ?? '127.0.0.1';
  const signer = new Stripe(opts.secretKey);
  const apiVersion = opts.apiVersion ?? Stripe.API_VERSION;

  let webhookUrl: string | null = opts.webhookUrl ?? null;
  const stats = { requests: 0 };
  const responseDelay = { ms: opts.responseDelayMs ?? 0 };
  const sessions = new Map<string, SessionRecord>();
  const refunds = new Map<string, Refund>();
  const pis = new Map<string, PiRecord>();
  const charges = new Map<string, string>(); // ch_ -> pi_
  const idem = new Map<string, IdemRecord>();
  const events = new Map<string, SentEvent>();
  const shippingRates = new Map<string, ShippingRateObject>();
  const apiErrors: ApiErrors = { invalid, missing, noSuch, control: (status, message) => new ControlError(status, message), genId, now };
  let root = '';
  const endpoints = webhookEndpoints({ livemode: /^(sk|rk)_live_/.test(opts.secretKey), invalid, missing, noSuch });

  const reset = (): void => {
    sessions.clear();
    refunds.clear();
    pis.clear();
    charges.clear();
    idem.clear();
    events.clear();
    shippingRates.clear();
  };

  // ---- API operations -----------------------------------------------------------------------

  const withExpand = (rec: SessionRecord, expand: unknown): Session => {
    const list = Array.isArray(expand) ? expand : typeof expand === 'string' ? [expand] : [];
    const s: Session = { ...rec.session };
    if (list.includes('line_items')) {
      s.line_items = { object: 'list', data: rec.lineItems, has_more: false, url: `/v1/checkout/sessions/${s.id}/line_items` };
    }
    return s;
  };

  const createSession = (p: Record<string, unknown>): Session => {
    for (const k of Object.keys(p)) {
      if (!KNOWN_SESSION_PARAMS.has(k)) throw invalid(`Received unknown parameter: ${k}`, k, 'parameter_unknown');
    }
    if (p.mode === undefined || p.mode === '') throw missing('mode');
    if (!['payment', 'setup', 'subscription'].includes(String(p.mode))) {
      throw invalid(`Invalid mode: must be one of payment, setup, or subscription`, 'mode');
    }
    if (p.mode !== 'payment') throw invalid(`The stand-in only implements mode=payment (got ${String(p.mode)}).`, 'mode');
    const ui = p.ui_mode === undefined ? 'hosted' : String(p.ui_mode);
    if (ui !== 'hosted') throw invalid(`The stand-in only implements ui_mode=hosted.`, 'ui_mode');
    if (p.success_url === undefined || p.success_url === '') throw missing('success_url');
    const successUrl = toStr(p.success_url, 'success_url');
    if (!isUrl(successUrl)) throw invalid('Not a valid URL', 'success_url', 'url_invalid');
    let cancelUrl: string | null = null;
    if (p.cancel_url !== undefined && p.cancel_url !== '') {
      cancelUrl = toStr(p.cancel_url, 'cancel_url');
      if (!isUrl(cancelUrl)) throw invalid('Not a valid URL', 'cancel_url', 'url_invalid');
    }
    if (p.line_items === undefined) throw missing('line_items');
    if (!Array.isArray(p.line_items)) throw invalid('Invalid array', 'line_items');
    if (p.line_items.length === 0) throw missing('line_items');
    if (p.line_items.length > 100) throw invalid('You may only specify up to 100 line items.', 'line_items');

    let currency: string | null = null;
    const lineItems: CheckoutLineItem[] = p.line_items.map((raw, i) => {
      const base = `line_items[${i}]`;
      if (!isObj(raw)) throw invalid('Invalid object', base);
      if (raw.price !== undefined) throw noSuch('price', String(raw.price), `${base}[price]`);
      if (raw.price_data === undefined) throw invalid(`You must specify either \`price\` or \`price_data\` in \`${base}\`.`, base);
      const pd = raw.price_data;
      if (!isObj(pd)) throw invalid('Invalid object', `${base}[price_data]`);
      if (pd.currency === undefined || pd.currency === '') throw missing(`${base}[price_data][currency]`);
      const cur = toStr(pd.currency, `${base}[price_data][currency]`).toLowerCase();
      if (!/^[a-z]{3}$/.test(cur)) throw invalid(`Invalid currency: ${cur}`, `${base}[price_data][currency]`);
      if (currency && currency !== cur) {
        throw invalid('All line items must use the same currency.', `${base}[price_data][currency]`);
      }
      currency = cur;
      let unit: number;
      if (pd.unit_amount !== undefined) unit = toInt(pd.unit_amount, `${base}[price_data][unit_amount]`);
      else if (pd.unit_amount_decimal !== undefined) {
        const d = Number(toStr(pd.unit_amount_decimal, `${base}[price_data][unit_amount_decimal]`));
        if (!Number.isFinite(d)) throw invalid('Invalid decimal', `${base}[price_data][unit_amount_decimal]`);
        unit = Math.round(d);
      } else throw missing(`${base}[price_data][unit_amount]`);
      if (unit < 0) throw invalid('This value must be greater than or equal to 0.', `${base}[price_data][unit_amount]`);
      if (unit > 99_999_999) throw invalid('This value must be less than or equal to 99999999.', `${base}[price_data][unit_amount]`);
      if (pd.product !== undefined) throw noSuch('product', String(pd.product), `${base}[price_data][product]`);
      if (!isObj(pd.product_data)) throw missing(`${base}[price_data][product_data]`);
      if (pd.product_data.name === undefined || pd.product_data.name === '') throw missing(`${base}[price_data][product_data][name]`);
      const name = toStr(pd.product_data.name, `${base}[price_data][product_data][name]`);
      if (raw.quantity === undefined) throw missing(`${base}[quantity]`);
      const qty = toInt(raw.quantity, `${base}[quantity]`);
      if (qty < 1) throw invalid('This value must be greater than or equal to 1.', `${base}[quantity]`);
      if (qty > 999_999) throw invalid('This value must be less than or equal to 999999.', `${base}[quantity]`);
      const productMeta = checkMetadata(pd.product_data.metadata, `${base}[price_data][product_data][metadata]`);
      return {
        id: genId('li_'),
        object: 'item',
        amount_discount: 0,
        amount_subtotal: unit * qty,
        amount_tax: 0,
        amount_total: unit * qty,
        currency: cur,
        description: name,
        price: {
          id: genId('price_'),
          object: 'price',
          active: false,
          currency: cur,
          product: genId('prod_', 14),
          type: 'one_time',
          unit_amount: unit,
          unit_amount_decimal: String(unit),
          livemode: false,
          metadata: productMeta,
        },
        quantity: qty,
      } satisfies CheckoutLineItem;
    });

    const created = now();
    let expiresAt = created + 24 * 3600;
    if (p.expires_at !== undefined && p.expires_at !== '') {
      expiresAt = toInt(p.expires_at, 'expires_at');
      // Small leeway on the lower bound: the app computes now+30min a moment before we see it.
      if (expiresAt < created + 30 * 60 - 10) {
        throw invalid('The `expires_at` timestamp must be at least 30 minutes from Checkout Session creation.', 'expires_at');
      }
      if (expiresAt > created + 24 * 3600) {
        throw invalid('The `expires_at` timestamp must be less than 24 hours from Checkout Session creation.', 'expires_at');
      }
    }
    let clientRef: string | null = null;
    if (p.client_reference_id !== undefined && p.client_reference_id !== '') {
      clientRef = toStr(p.client_reference_id, 'client_reference_id');
      if (clientRef.length > 200) {
        throw invalid('Invalid client_reference_id: must be at most 200 characters', 'client_reference_id');
      }
    }
    const metadata = checkMetadata(p.metadata, 'metadata');
    const pid = isObj(p.payment_intent_data) ? p.payment_intent_data : {};
    const piMetadata = checkMetadata(pid.metadata, 'payment_intent_data[metadata]');
    const subtotal = lineItems.reduce((a, l) => a + l.amount_subtotal, 0);
    const shipping = parseShippingParams(p, currency!, shippingRates, apiErrors);
    const id = genId('cs_test_', 58);
    const pmt = Array.isArray(p.payment_method_types) ? p.payment_method_types.map((x) => String(x)) : ['card'];
    const session: Session = {
      id,
      object: 'checkout.session',
      after_expiration: null,
      allow_promotion_codes: p.allow_promotion_codes === undefined ? null : toBool(p.allow_promotion_codes, 'allow_promotion_codes'),
      amount_subtotal: subtotal,
      amount_total: subtotal,
      ...shipping.fields,
      billing_address_collection: p.billing_address_collection === undefined ? null : String(p.billing_address_collection),
      cancel_url: cancelUrl,
      client_reference_id: clientRef,
      client_secret: null,
      created,
      currency: currency!,
      customer: null,
      customer_creation: p.customer_creation === undefined ? 'if_required' : String(p.customer_creation),
      customer_details: null,
      customer_email: p.customer_email === undefined || p.customer_email === '' ? null : toStr(p.customer_email, 'customer_email'),
      expires_at: expiresAt,
      invoice: null,
      livemode: false,
      locale: p.locale === undefined || p.locale === '' ? null : String(p.locale),
      metadata,
      mode: 'payment',
      payment_intent: null,
      payment_link: null,
      payment_method_collection: 'if_required',
      payment_method_types: pmt,
      payment_status: 'unpaid',
      status: 'open',
      submit_type: p.submit_type === undefined ? null : String(p.submit_type),
      subscription: null,
      success_url: successUrl,
      total_details: { amount_discount: 0, amount_shipping: 0, amount_tax: 0 },
      ui_mode: 'hosted',
      url: `${root}/checkout/${id}`,
    };
    priceSession(session, lineItems);
    const rec: SessionRecord = { session, lineItems, piMetadata };
    sessions.set(id, rec);
    return withExpand(rec, p.expand);
  };

  const getSession = (id: string): SessionRecord => {
    const rec = sessions.get(id);
    if (!rec) throw noSuch('checkout.session', id, 'session');
    return rec;
  };

  const expireSession = (id: string): SessionRecord => {
    const rec = getSession(id);
    if (rec.session.status !== 'open') {
      throw invalid(
        `Only Checkout Sessions with a status in ["open"] can be expired. This Checkout Session has a status of \`${rec.session.status}\`.`,
        undefined,
        undefined,
        true,
      );
    }
    rec.session.status = 'expired';
    rec.session.url = null;
    return rec;
  };

  const createRefund = (p: Record<string, unknown>): Refund => {
    for (const k of Object.keys(p)) {
      if (!KNOWN_REFUND_PARAMS.has(k)) throw invalid(`Received unknown parameter: ${k}`, k, 'parameter_unknown');
    }
    let piId: string;
    if (p.payment_intent !== undefined && p.payment_intent !== '') {
      piId = toStr(p.payment_intent, 'payment_intent');
      if (!pis.has(piId)) throw noSuch('payment_intent', piId, 'payment_intent');
      if (p.charge !== undefined && p.charge !== '' && charges.get(String(p.charge)) !== piId) {
        throw invalid('The charge does not belong to the given PaymentIntent.', 'charge');
      }
    } else if (p.charge !== undefined && p.charge !== '') {
      const ch = toStr(p.charge, 'charge');
      const found = charges.get(ch);
      if (!found) throw noSuch('charge', ch, 'charge');
      piId = found;
    } else {
      throw invalid('One of the following params should be provided for this request: payment_intent or charge.', undefined, 'parameter_missing');
    }
    const pr = pis.get(piId)!;
    if (pr.pi.status !== 'succeeded' || !pr.pi.latest_charge) {
      throw invalid(`This PaymentIntent (${piId}) does not have a successful charge to refund.`, 'payment_intent', 'charge_not_refundable', true);
    }
    const remaining = pr.pi.amount - pr.amountRefunded;
    if (remaining <= 0) {
      throw invalid(`Charge ${pr.pi.latest_charge} has already been refunded.`, 'charge', 'charge_already_refunded', true);
    }
    let amount = remaining;
    if (p.amount !== undefined && p.amount !== '') {
      amount = toInt(p.amount, 'amount');
      if (amount < 1) throw invalid('This value must be greater than or equal to 1.', 'amount');
      if (amount > remaining) {
        throw invalid(
          `Refund amount (${money(amount, pr.pi.currency)}) is greater than unrefunded amount on charge (${money(remaining, pr.pi.currency)})`,
          'amount',
          'amount_too_large',
          true,
        );
      }
    }
    let reason: string | null = null;
    if (p.reason !== undefined && p.reason !== '') {
      reason = toStr(p.reason, 'reason');
      if (!['duplicate', 'fraudulent', 'requested_by_customer'].includes(reason)) {
        throw invalid('Invalid reason: must be one of duplicate, fraudulent, or requested_by_customer', 'reason');
      }
    }
    const metadata = checkMetadata(p.metadata, 'metadata');
    pr.amountRefunded += amount;
    const refund: Refund = {
      id: genId('re_'),
      object: 'refund',
      amount,
      balance_transaction: genId('txn_'),
      charge: pr.pi.latest_charge,
      created: now(),
      currency: pr.pi.currency,
      metadata,
      payment_intent: piId,
      reason,
      receipt_number: null,
      source_transfer_reversal: null,
      status: 'succeeded',
      transfer_reversal: null,
    };
    refunds.set(refund.id, refund);
    return refund;
  };

  const list = <T extends { id: string; created: number }>(items: T[], q: Record<string, unknown>, url: string): StripeList<T> => {
    const limit = q.limit === undefined ? 10 : toInt(q.limit, 'limit');
    if (limit < 1 || limit > 100) throw invalid('This value must be greater than or equal to 1 and less than or equal to 100.', 'limit');
    let sorted = [...items].reverse(); // newest first
    if (typeof q.starting_after === 'string') {
      const i = sorted.findIndex((x) => x.id === q.starting_after);
      sorted = i >= 0 ? sorted.slice(i + 1) : [];
    }
    return { object: 'list', data: sorted.slice(0, limit), has_more: sorted.length > limit, url };
  };

  /** Route a /v1 request. Returns [status, body]. */
  const routeApi = (method: string, segs: string[], params: Record<string, unknown>): [number, unknown] => {
    const path = segs.join('/');
    if (method === 'POST' && path === 'v1/checkout/sessions') return [200, createSession(params)];
    if (method === 'GET' && segs[1] === 'shipping_rates' && segs[2] && segs.length === 3) {
      const rate = shippingRates.get(segs[2]);
      if (!rate) throw noSuch('shipping_rate', segs[2], 'shipping_rate');
      return [200, rate];
    }
    if (segs[0] === 'v1' && segs[1] === 'checkout' && segs[2] === 'sessions' && segs[3]) {
      const id = segs[3];
      if (method === 'GET' && segs.length === 4) return [200, withExpand(getSession(id), params.expand)];
      if (method === 'POST' && segs[4] === 'expire' && segs.length === 5) return [200, withExpand(expireSession(id), params.expand)];
      if (method === 'GET' && segs[4] === 'line_items' && segs.length === 5) {
        return [200, list(getSession(id).lineItems.map((l) => ({ ...l, created: 0 })).reverse(), params, `/v1/checkout/sessions/${id}/line_items`)];
      }
    }
    if (method === 'GET' && path === 'v1/checkout/sessions') {
      const all = [...sessions.values()].map((r) => r.session).filter((s) => {
        if (typeof params.payment_intent === 'string' && s.payment_intent !== params.payment_intent) return false;
        if (typeof params.status === 'string' && s.status !== params.status) return false;
        return true;
      });
      return [200, list(all, params, '/v1/checkout/sessions')];
    }
    if (method === 'POST' && path === 'v1/refunds') return [200, createRefund(params)];
    if (method === 'GET' && path === 'v1/refunds') {
      const all = [...refunds.values()].filter(
        (r) =>
          (typeof params.payment_intent !== 'string' || r.payment_intent === params.payment_intent) &&
          (typeof params.charge !== 'string' || r.charge === params.charge),
      );
      return [200, list(all, params, '/v1/refunds')];
    }
    if (method === 'GET' && segs[0] === 'v1' && segs[1] === 'refunds' && segs[2] && segs.length === 3) {
      const r = refunds.get(segs[2]);
      if (!r) throw noSuch('refund', segs[2], 'id');
      return [200, r];
    }
    if (method === 'GET' && segs[0] === 'v1' && segs[1] === 'payment_intents' && segs[2] && segs.length === 3) {
      const r = pis.get(segs[2]);
      if (!r) throw noSuch('payment_intent', segs[2], 'intent');
      return [200, r.pi];
    }
    const endpointAnswer = endpoints.route(method, segs, params);
    if (endpointAnswer) return endpointAnswer;
    throw new ApiError(404, {
      type: 'invalid_request_error',
      message: `Unrecognized request URL (${method}: /${path}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.`,
    });
  };

  const authError = (req: http.IncomingMessage): string | null => {
    const h = req.headers.authorization;
    let key: string | undefined;
    if (h?.startsWith('Bearer ')) key = h.slice(7).trim();
    else if (h?.startsWith('Basic ')) key = Buffer.from(h.slice(6), 'base64').toString('utf8').split(':')[0];
    if (!key) {
      return "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, or we can help at https://support.stripe.com/.";
    }
    if (key !== opts.secretKey) {
      const shown = key.length > 12 ? `${key.slice(0, 8)}${'*'.repeat(Math.max(0, key.length - 12))}${key.slice(-4)}` : '****';
      return `Invalid API Key provided: ${shown}`;
    }
    return null;
  };

  const handleApi = async (req: http.IncomingMessage, res: http.ServerResponse, url: URL, segs: string[]): Promise<void> => {
    if (!faults.intercept('stripe', req, res)) return;
    faults.label(req, `${req.method} ${url.pathname}`);
    if (!(await faults.gate(req, res))) return;
    stats.requests++;
    if (responseDelay.ms > 0) await new Promise((r) => setTimeout(r, responseDelay.ms));
    const method = req.method ?? 'GET';
    const headers = { 'request-id': genId('req_', 14), 'stripe-version': String(req.headers['stripe-version'] ?? apiVersion) };
    const auth = authError(req);
    if (auth) {
      sendJson(res, 401, { error: { type: 'invalid_request_error', message: auth } }, { ...headers, 'www-authenticate': 'Bearer realm="Stripe"' });
      return;
    }
    const raw = await readBody(req);
    let params: Record<string, unknown>;
    if (method === 'GET' || method === 'DELETE') params = parseStripeForm(url.search.slice(1));
    else if (String(req.headers['content-type'] ?? '').includes('application/json')) {
      try {
        params = raw.trim() ? (JSON.parse(raw) as Record<string, unknown>) : {};
      } catch {
        sendJson(res, 400, { error: { type: 'invalid_request_error', message: 'Invalid JSON body.' } }, headers);
        return;
      }
    } else params = parseStripeForm(raw);

    const key = method === 'POST' ? req.headers['idempotency-key'] : undefined;
    const idemKey = typeof key === 'string' && key ? key : null;
    const endpoint = `${method} ${url.pathname}`;
    const canon = stableStringify(params);
    if (idemKey) {
      const prev = idem.get(idemKey);
      if (prev) {
        if (prev.endpoint !== endpoint) {
          sendJson(res, 400, {
            error: {
              type: 'idempotency_error',
              message: `Keys for idempotent requests can only be used for the same endpoint they were first used for ('${url.pathname}' vs '${prev.endpoint.split(' ')[1]}'). Try using a key other than '${idemKey}' if you meant to execute a different request.`,
            },
          }, headers);
          return;
        }
        if (prev.params !== canon) {
          sendJson(res, 400, {
            error: {
              type: 'idempotency_error',
              message: `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${idemKey}' if you meant to execute a different request.`,
            },
          }, headers);
          return;
        }
        sendJson(res, prev.status, prev.body, { ...headers, 'idempotent-replayed': 'true', 'original-request': headers['request-id'] });
        return;
      }
    }
    let status: number;
    let body: unknown;
    let cacheable = true;
    try {
      [status, body] = routeApi(method, segs, params);
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      status = e.status;
      body = { error: e.body };
      cacheable = e.cacheable;
    }
    if (idemKey && cacheable) idem.set(idemKey, { endpoint, params: canon, status, body });
    sendJson(res, status, body, idemKey ? { ...headers, 'idempotency-key': idemKey } : headers);
  };

  // ---- Webhooks -----------------------------------------------------------------------------

  const deliver = async (payload: string, signature: string): Promise<{ status: number; body: string; error?: string }> => {
    if (!webhookUrl) return { status: 0, body: '', error: 'no webhookUrl configured' };
    try {
      const r = await fetch(webhookUrl, {
        method: 'POST',
        headers: {
          'content-type': 'application/json; charset=utf-8',
          'user-agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)',
          'stripe-signature': signature,
        },
        body: payload,
        signal: AbortSignal.timeout(15_000),
      });
      return { status: r.status, body: await r.text() };
    } catch (e) {
      const err = e as Error & { cause?: Error };
      return { status: 0, body: '', error: err.cause?.message ?? err.message };
    }
  };

  const sendEvent = async (type: string, object: unknown, eventId?: string): Promise<{ eventId: string; status: number; body: string; error?: string }> => {
    const existing = eventId ? events.get(eventId) : undefined;
    let ev: SentEvent;
    if (existing && (object === undefined || existing.type === type)) {
      ev = existing; // a retry: Stripe resends the identical body with a fresh signature
    } else {
      const id = eventId ?? genId('evt_');
      const event = {
        id,
        object: 'event',
        api_version: apiVersion,
        created: now(),
        data: { object },
        livemode: false,
        pending_webhooks: 1,
        request: { id: null, idempotency_key: null },
        type,
      };
      // Stripe delivers pretty-printed JSON (2-space indent).
      ev = { id, type, payload: JSON.stringify(event, null, 2), at: Date.now(), deliveries: [] };
      events.set(id, ev);
    }
    const signature = signer.webhooks.generateTestHeaderString({ payload: ev.payload, secret: opts.webhookSecret });
    const d = await deliver(ev.payload, signature);
    ev.deliveries.push({ ...d, at: Date.now() });
    return { eventId: ev.id, ...d };
  };

  // ---- Session lifecycle (control) ----------------------------------------------------------

  const ctlSession = (id: string): SessionRecord => {
    const rec = sessions.get(id);
    if (!rec) throw new ControlError(404, `No such checkout.session: '${id}'`);
    return rec;
  };
  const newCharge = (pi: string): string => {
    const ch = genId('ch_');
    charges.set(ch, pi);
    return ch;
  };

  const complete = (id: string, paid: boolean, email?: string, name?: string, shipping: Record<string, unknown> = {}): Session => {
    const rec = ctlSession(id);
    const s = rec.session;
    if (s.status !== 'open') throw new ControlError(409, `Checkout Session ${id} has status '${s.status}'; only 'open' sessions can be completed.`);
    // Stripe: a session can't be paid once its expires_at has passed (it expires then).
    if (Math.floor(Date.now() / 1000) >= s.expires_at) throw new ControlError(409, `Checkout Session ${id} expired at ${s.expires_at}; it can no longer be paid.`);
    completeShipping(s, rec.lineItems, shipping, name ?? 'Test Customer', apiErrors);
    s.status = 'complete';
    s.url = null;
    s.customer_details = {
      address: null,
      email: email ?? s.customer_email ?? 'customer@example.com',
      name: name ?? 'Test Customer',
      phone: null,
      tax_exempt: 'none',
      tax_ids: [],
    };
    if (s.amount_total === 0) {
      s.payment_status = 'no_payment_required';
      return s;
    }
    const piId = genId('pi_');
    s.payment_intent = piId;
    s.payment_status = paid ? 'paid' : 'unpaid';
    pis.set(piId, {
      sessionId: id,
      amountRefunded: 0,
      pi: {
        id: piId,
        object: 'payment_intent',
        amount: s.amount_total,
        amount_received: paid ? s.amount_total : 0,
        currency: s.currency,
        created: now(),
        latest_charge: paid ? newCharge(piId) : null,
        livemode: false,
        metadata: rec.piMetadata,
        status: paid ? 'succeeded' : 'processing',
      },
    });
    return s;
  };

  const asyncResult = (id: string, ok: boolean): Session => {
    const s = ctlSession(id).session;
    const pr = s.payment_intent ? pis.get(s.payment_intent) : undefined;
    if (s.status !== 'complete' || s.payment_status !== 'unpaid' || !pr || pr.pi.status !== 'processing') {
      throw new ControlError(409, `Checkout Session ${id} is not awaiting a delayed payment (status '${s.status}', payment_status '${s.payment_status}').`);
    }
    if (ok) {
      s.payment_status = 'paid';
      pr.pi.status = 'succeeded';
      pr.pi.amount_received = pr.pi.amount;
      pr.pi.latest_charge = newCharge(pr.pi.id);
    } else {
      pr.pi.status = 'requires_payment_method';
    }
    return s;
  };

  const lookupObject = (ref: string): unknown => {
    if (sessions.has(ref)) return sessions.get(ref)!.session;
    if (refunds.has(ref)) return refunds.get(ref);
    if (pis.has(ref)) return pis.get(ref)!.pi;
    throw new ControlError(404, `Unknown object id '${ref}'`);
  };

  const readJson = async (req: http.IncomingMessage): Promise<Record<string, unknown>> => {
    const raw = await readBody(req);
    if (!raw.trim()) return {};
    const v: unknown = JSON.parse(raw);
    if (!isObj(v)) throw new ControlError(400, 'expected a JSON object');
    return v;
  };

  const handleControl = async (req: http.IncomingMessage, res: http.ServerResponse, segs: string[]): Promise<void> => {
    const m = req.method;
    const route = segs.slice(1).join('/');
    const reply = (d: { eventId: string; status: number; body: string; error?: string }, extra: Record<string, unknown> = {}): void =>
      sendJson(res, d.status === 0 ? (webhookUrl ? 502 : 409) : 200, { ...d, ...extra }, CORS);
    const optEventId = (b: Record<string, unknown>): string | undefined => (typeof b.eventId === 'string' && b.eventId ? b.eventId : undefined);

    if (segs[1] === 'sessions' && segs[2] && segs[3] && m === 'POST') {
      const id = segs[2];
      const b = await readJson(req);
      const action = segs[3];
      if (action === 'complete') {
        const paid = b.paid === undefined ? true : b.paid === true;
        const shipping = { name: b.shippingName ?? b.name, address: b.address, shippingRate: b.shippingRate };
        const s = complete(id, paid, typeof b.email === 'string' ? b.email : undefined, typeof b.name === 'string' ? b.name : undefined, shipping);
        reply(await sendEvent('checkout.session.completed', { ...s }, optEventId(b)), { session: s });
        return;
      }
      if (action === 'async-succeeded' || action === 'async-failed') {
        const ok = action === 'async-succeeded';
        const s = asyncResult(id, ok);
        const type = ok ? 'checkout.session.async_payment_succeeded' : 'checkout.session.async_payment_failed';
        reply(await sendEvent(type, { ...s }, optEventId(b)), { session: s });
        return;
      }
      if (action === 'expire') {
        let s: Session;
        try {
          s = expireSession(id).session;
        } catch (e) {
          if (e instanceof ApiError) throw new ControlError(e.status === 404 ? 404 : 409, e.message);
          throw e;
        }
        reply(await sendEvent('checkout.session.expired', { ...s }, optEventId(b)), { session: s });
        return;
      }
    }
    if (m === 'DELETE' && segs[1] === 'sessions' && segs[2] && segs.length === 3) {
      // Stripe forgets the session (test data deleted, another account): every call then answers 404.
      const found = sessions.delete(segs[2]);
      return sendJson(res, found ? 200 : 404, { deleted: found, id: segs[2] }, CORS);
    }
    if (m === 'GET' && route === 'sessions') return sendJson(res, 200, [...sessions.values()].map((r) => r.session), CORS);
    if (m === 'GET' && segs[1] === 'sessions' && segs[2] && segs.length === 3) {
      const rec = ctlSession(segs[2]);
      return sendJson(res, 200, { ...rec.session, line_items: { object: 'list', data: rec.lineItems, has_more: false } }, CORS);
    }
    if (m === 'GET' && route === 'refunds') return sendJson(res, 200, [...refunds.values()], CORS);
    if (m === 'GET' && route === 'events') return sendJson(res, 200, [...events.values()], CORS);
    if (m === 'POST' && route === 'events') {
      const b = await readJson(req);
      const id = optEventId(b) ?? (typeof b.id === 'string' && b.id ? b.id : undefined);
      const existing = id ? events.get(id) : undefined;
      if (typeof b.type !== 'string' && !existing) throw new ControlError(400, 'type is required');
      const type = typeof b.type === 'string' ? b.type : existing!.type;
      let object: unknown;
      if (typeof b.object === 'string') object = lookupObject(b.object);
      else if (isObj(b.object)) object = b.object;
      else if (!existing) throw new ControlError(400, 'object is required (an object, or the id of a session/refund/payment_intent)');
      reply(await sendEvent(type, object, id));
      return;
    }
    if (m === 'POST' && route === 'events/raw') {
      const b = await readJson(req);
      if (typeof b.payload !== 'string') throw new ControlError(400, 'payload must be a string (the exact bytes to send)');
      const signature =
        typeof b.signature === 'string'
          ? b.signature
          : signer.webhooks.generateTestHeaderString({
              payload: b.payload,
              secret: typeof b.secret === 'string' ? b.secret : opts.webhookSecret,
              ...(typeof b.timestamp === 'number' ? { timestamp: b.timestamp } : {}),
            });
      const d = await deliver(b.payload, signature);
      let eventId = '';
      try {
        eventId = String((JSON.parse(b.payload) as { id?: unknown }).id ?? '');
      } catch {
        /* not JSON: fine, it is raw */
      }
      reply({ eventId, ...d });
      return;
    }
    if (m === 'POST' && route === 'webhook-url') {
      const b = await readJson(req);
      webhookUrl = typeof b.url === 'string' && b.url ? b.url : null;
      return sendJson(res, 200, { webhookUrl }, CORS);
    }
    if (m === 'GET' && route === 'stats') return sendJson(res, 200, stats, CORS);
    if (m === 'DELETE' && route === 'stats') {
      stats.requests = 0;
      return sendJson(res, 200, { ok: true }, CORS);
    }
    if (m === 'DELETE' && route === 'reset') {
      reset();
      return sendJson(res, 200, { ok: true }, CORS);
    }
    throw new ControlError(404, `no control route ${m} /${segs.join('/')}`);
  };

  // ---- Hosted checkout page -----------------------------------------------------------------

  const checkoutPage = (id: string): [number, string] => {
    const rec = sessions.get(id);
    const shell = (title: string, inner: string): string => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>
  :root { color-scheme: light; }
  body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; background: #f6f8fa; color: #1a1f36; }
  main { max-width: 440px; margin: 48px auto; background: #fff; border: 1px solid #e3e8ee; border-radius: 10px; padding: 28px 28px 22px; box-shadow: 0 2px 10px rgba(0,0,0,.04); }
  h1 { font-size: 18px; margin: 0 0 4px; } .muted { color: #6a7383; font-size: 13px; }
  table { width: 100%; border-collapse: collapse; margin: 18px 0 8px; }
  td { padding: 6px 0; vertical-align: top; } td.r { text-align: right; white-space: nowrap; }
  tr.total td { border-top: 1px solid #e3e8ee; font-weight: 600; padding-top: 10px; }
  .buttons { display: grid; gap: 8px; margin-top: 18px; }
  button { font: inherit; padding: 10px 14px; border-radius: 6px; border: 1px solid #d5dbe1; background: #fff; cursor: pointer; }
  button.primary { background: #635bff; border-color: #635bff; color: #fff; font-weight: 600; }
  button:disabled { opacity: .5; cursor: default; }
  #result { margin-top: 16px; min-height: 1.4em; } #result.err { color: #c0123c; } #result.ok { color: #0e7a3e; }
  a { color: #635bff; }
  .badge { display: inline-block; font-size: 12px; padding: 1px 8px; border-radius: 10px; background: #eef0f3; }
</style></head><body><main>${inner}</main></body></html>`;
    if (!rec) return [404, shell('Not found', `<h1>Checkout Session not found</h1><p class="muted">${escapeHtml(id)}</p>`)];
    const s = rec.session;
    const rows = rec.lineItems
      .map(
        (l) =>
          `<tr><td>${escapeHtml(l.description)}<div class="muted">Qty ${l.quantity} × ${escapeHtml(money(l.price.unit_amount, l.currency))}</div></td><td class="r">${escapeHtml(money(l.amount_total, l.currency))}</td></tr>`,
      )
      .join('');
    const successHref = s.success_url ? s.success_url.replace(/\{CHECKOUT_SESSION_ID\}/g, s.id) : '';
    const open = s.status === 'open';
    const inner = `
<h1>Stand-in Checkout</h1>
<div class="muted">Test mode · <span class="badge" data-testid="status">${escapeHtml(s.status)} / ${escapeHtml(s.payment_status)}</span></div>
<table data-testid="line-items">${rows}
${s.total_details.amount_shipping ? `<tr><td>Shipping</td><td class="r" data-testid="shipping">${escapeHtml(money(s.total_details.amount_shipping, s.currency))}</td></tr>` : ''}
${s.total_details.amount_tax ? `<tr><td>Tax</td><td class="r" data-testid="tax">${escapeHtml(money(s.total_details.amount_tax, s.currency))}</td></tr>` : ''}
<tr class="total"><td>Total</td><td class="r" data-testid="total">${escapeHtml(money(s.amount_total, s.currency))}</td></tr></table>
${open ? shippingFormHtml(s, shippingRates, money) : ''}
${
  open
    ? `<div class="buttons">
  <button class="primary" data-testid="pay">Pay ${escapeHtml(money(s.amount_total, s.currency))}</button>
  <button data-testid="pay-later">Pay later (delayed method)</button>
  <button data-testid="expire">Let it expire</button>
</div>`
    : `<p data-testid="closed">${s.status === 'expired' ? 'This Checkout Session has expired.' : 'This Checkout Session is complete.'}</p>`
}
<div id="result" data-testid="result" role="status"></div>
<p id="links">${s.cancel_url && open ? `<a data-testid="cancel-link" href="${escapeHtml(s.cancel_url)}">← Back</a>` : ''}</p>
<script>
(() => {
  const id = ${JSON.stringify(s.id)};
  const successHref = ${JSON.stringify(successHref)};
  const result = document.getElementById('result');
  const links = document.getElementById('links');
  const buttons = Array.from(document.querySelectorAll('button'));
  const show = (text, cls) => { result.textContent = text; result.className = cls || ''; };
  ${SHIPPING_FORM_SCRIPT}
  const call = async (action, body) => {
    const r = await fetch('/_standin/sessions/' + encodeURIComponent(id) + '/' + action, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body || {}) });
    const j = await r.json().catch(() => ({}));
    if (!r.ok && !('status' in j)) throw new Error((j.error && j.error.message) || ('HTTP ' + r.status));
    return j;
  };
  const hook = (j) => j.status ? 'webhook answered ' + j.status : 'webhook not delivered' + (j.error ? ' (' + j.error + ')' : '');
  const successLink = () => { if (successHref) links.innerHTML = '<a data-testid="success-link" href="' +
    successHref.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;') + '">Continue →</a>'; };
  const run = (fn) => async () => { buttons.forEach((b) => b.disabled = true);
    try { await fn(); } catch (e) { show(String(e.message || e), 'err'); } };
  const on = (tid, fn) => { const b = document.querySelector('[data-testid="' + tid + '"]'); if (b) b.addEventListener('click', run(fn)); };
  on('pay', async () => { const j = await call('complete', { paid: true, ...shippingInput() }); show('Payment succeeded — ' + hook(j), 'ok'); successLink(); });
  on('pay-later', async () => {
    const j = await call('complete', { paid: false, ...shippingInput() });
    show('Payment pending — ' + hook(j), '');
    await new Promise((r) => setTimeout(r, 1000));
    const k = await call('async-succeeded', {});
    show('Delayed payment succeeded — ' + hook(k), 'ok'); successLink();
  });
  on('expire', async () => { const j = await call('expire', {}); show('Session expired — ' + hook(j), ''); links.innerHTML = ''; });
})();
</script>`;
    return [200, shell('Stand-in Checkout', inner)];
  };

  // ---- Server -------------------------------------------------------------------------------

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://standin');
    const segs = url.pathname.split('/').filter(Boolean).map((s) => decodeURIComponent(s));
    (async () => {
      if (req.method === 'OPTIONS') {
        res.writeHead(204, CORS);
        res.end();
        return;
      }
      if (segs[0] === 'v1') return handleApi(req, res, url, segs);
      if (segs[0] === '_standin') return handleControl(req, res, segs);
      if (req.method === 'GET' && segs[0] === 'checkout' && segs[1] && segs.length === 2) {
        const [status, html] = checkoutPage(segs[1]);
        res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
        res.end(html);
        return;
      }
      sendJson(res, 404, { error: { type: 'invalid_request_error', message: `Unrecognized request URL (${req.method}: ${url.pathname}).` } });
    })().catch((e: unknown) => {
      const status = e instanceof ControlError ? e.status : e instanceof SyntaxError ? 400 : 500;
      if (!res.headersSent) sendJson(res, status, { error: { message: (e as Error).message } }, CORS);
      else res.end();
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => resolve());
  });
  const port = (server.address() as import('node:net').AddressInfo).port;
  root = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;

  return {
    url: root,
    host,
    port,
    stats,
    resetStats: () => {
      stats.requests = 0;
    },
    setResponseDelay: (ms) => {
      responseDelay.ms = ms;
    },
    sessions: () => [...sessions.values()].map((r) => structuredClone(r.session)),
    refunds: () => [...refunds.values()].map((r) => structuredClone(r)),
    events: () => [...events.values()].map((e) => structuredClone(e)),
    webhookEndpoints: () => endpoints.list(),
    setWebhookUrl: (u) => {
      webhookUrl = u;
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
