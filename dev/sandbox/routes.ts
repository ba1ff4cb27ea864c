/**
 * The browser sandbox at /sandbox (local-only; plugged into startLocalStack({ routes }) by
 * dev/server.ts and the tests). The page is a Meta stand-in for a person: whatever it sends goes
 * through the Graph stand-in's `POST /_standin/inbound`, which builds Meta's payload, signs it
 * with WHATSAPP_APP_SECRET and posts it to the real webhook function. The shop panel calls the
 * real admin API and the reservation-cleanup function. Nothing here takes a shortcut into lib/
 * to change state; lib/ is only read (order list, template texts, holds).
 *
 *   GET  /sandbox                      the page (?as=<E.164>|elder &name=… &text=… preselects a chat)
 *   GET  /sandbox/static/<file>        its CSS and JS (no external assets)
 *   GET  /sandbox/api/config           shop name, business number, catalog id, template texts
 *   GET  /sandbox/api/state            every chat item so far + the last event id
 *   GET  /sandbox/api/events           SSE: `item` events (id = event id; Last-Event-ID / ?after= resume)
 *   POST /sandbox/api/send             {from, name?, text | interactive | button | order | photo: {caption?}, context?}
 *   GET  /sandbox/api/messages?wa=&contains=&wait=   what the shop sent to wa (long-polls up to wait s)
 *   GET|POST|DELETE /sandbox/api/fail  Graph stand-in failure queue ({status, code?} → fail the next send)
 *   GET  /sandbox/api/catalog          admin GET /api/catalog (the local ADMIN_API_KEY added here)
 *   GET  /sandbox/api/orders?wa=|phone=&wait=        latest orders with their Redis holds
 *   GET  /sandbox/api/orders/:id       admin GET /api/orders/:id
 *   POST /sandbox/api/orders/:id/shipped, /sandbox/api/offline-payments   admin API
 *   POST /sandbox/api/cleanup          POST /.netlify/functions/reservation-cleanup
 *   GET  /sandbox/placeholder/<name>.svg   a product picture stand-in (a coloured tile with the name's initials)
 *   GET  /sandbox/open?url=…           follows an invite link's real 302; a wa.me target lands in
 *                                      the sandbox as the "elder" with the prefilled text
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import type { LocalStack } from '../stack.js';
import { makeWamid, buildInboundMessageValue, type InboundInput } from '../standins/graph.js';
import { ChatHub, type ChatItem, type HubEvent } from './hub.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const STATIC: Record<string, string> = {
  'sandbox.js': 'text/javascript; charset=utf-8',
  'sandbox.css': 'text/css; charset=utf-8',
};

/** Who the invite link makes you: a second chat in the sandbox. */
export const ELDER = { name: 'Grandpa Joe', phone: '+4915187654321' } as const;
export const DEFAULT_CUSTOMER = { name: 'Ada', phone: '+4915112345678' } as const;

const hubs = new WeakMap<LocalStack, ChatHub>();
function hubOf(stack: LocalStack): ChatHub {
  if (!stack.graph) throw new SandboxError(409, 'the sandbox needs the Meta Graph stand-in (unset WHATSAPP_API_BASE)');
  let hub = hubs.get(stack);
  if (!hub) {
    hub = new ChatHub(stack.graph.url);
    hubs.set(stack, hub);
  }
  return hub;
}

class SandboxError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const json = (body: unknown, status = 200, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers } });
const digits = (s: string) => s.replace(/\D/g, '');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Meta retries a webhook delivery that failed; the sandbox does it sooner. */
const META_RETRY_DELAYS_MS = [1000, 2000, 4000, 8000];

/**
 * Calls one of the shop's own functions. The local runtime keeps its builds in the shared
 * .netlify/functions-serve; while another local stack (a test run) rebuilds them an invocation
 * cannot load or build its module and answers 500 without having run: only those answers are retried.
 */
export const LOCAL_RUNTIME_RACE = /Cannot find module .*functions-serve|"error":\s*"local server error"/;
async function callFunction(url: string, init: RequestInit = {}): Promise<Response> {
  for (let attempt = 1; ; attempt++) {
    const r = await fetch(url, init);
    if (r.status !== 500 || attempt >= 6) return r;
    const text = await r.clone().text();
    if (!LOCAL_RUNTIME_RACE.test(text)) return r;
    await sleep(400 * attempt);
  }
}

/** The route handler for startLocalStack({ routes }). Undefined for anything outside /sandbox. */
export async function sandboxRoutes(request: Request, stack: LocalStack): Promise<Response | undefined> {
  const url = new URL(request.url);
  if (url.pathname !== '/sandbox' && !url.pathname.startsWith('/sandbox/')) return undefined;
  try {
    return await route(request, url, stack);
  } catch (error) {
    if (error instanceof SandboxError) return json({ error: error.message }, error.status);
    if (error instanceof z.ZodError) return json({ error: z.prettifyError(error) }, 400);
    // A stand-in or function that could not be reached (the shop stopping, say) answers 502; anything else is a bug here.
    const unreachable = error instanceof TypeError && error.message === 'fetch failed';
    if (!unreachable) console.error('sandbox error', error);
    const cause = (error as { cause?: { message?: string } }).cause?.message;
    return json({ error: `${(error as Error).message}${cause ? `: ${cause}` : ''}` }, 502);
  }
}

async function route(request: Request, url: URL, stack: LocalStack): Promise<Response> {
  const p = url.pathname.replace(/\/+$/, '');
  const m = request.method;
  if (m === 'GET' && p === '/sandbox') return page();
  if (m === 'GET' && p.startsWith('/sandbox/static/')) return staticFile(p.slice('/sandbox/static/'.length));
  if (m === 'GET' && p === '/sandbox/open') return openLink(url, stack);
  if (m === 'GET' && p.startsWith('/sandbox/placeholder/')) return placeholder(decodeURIComponent(p.slice('/sandbox/placeholder/'.length)));
  if (!p.startsWith('/sandbox/api/')) throw new SandboxError(404, `no sandbox route ${m} ${p}`);
  const api = p.slice('/sandbox/api/'.length);

  if (m === 'GET' && api === 'config') return json(await config(stack));
  if (m === 'GET' && api === 'state') {
    const hub = hubOf(stack);
    await hub.ensure();
    return json({ lastEventId: hub.lastEventId, items: hub.all() });
  }
  if (m === 'GET' && api === 'events') return events(request, url, stack);
  if (m === 'POST' && api === 'send') return send(request, stack);
  if (m === 'GET' && api === 'messages') return messages(url, stack);
  if (api === 'fail') return failSwitch(request, stack);
  if (m === 'GET' && api === 'catalog') return admin(stack, 'GET', '/api/catalog');
  if (m === 'GET' && api === 'orders') return json({ orders: await listOrders(url) });
  if (m === 'POST' && api === 'cleanup') return relay(await callFunction(`${stack.url}/.netlify/functions/reservation-cleanup`, { method: 'POST' }));
  if (m === 'POST' && api === 'offline-payments') return admin(stack, 'POST', '/api/offline-payments', await request.text());
  const order = /^orders\/([^/]+)(\/shipped)?$/.exec(api);
  if (order && m === 'GET' && !order[2]) return admin(stack, 'GET', `/api/orders/${encodeURIComponent(order[1]!)}${url.search}`);
  if (order && m === 'POST' && order[2]) return admin(stack, 'POST', `/api/orders/${encodeURIComponent(order[1]!)}/shipped`, await request.text());
  throw new SandboxError(404, `no sandbox route ${m} ${p}`);
}

// ---- page ----------------------------------------------------------------------------------

async function page(): Promise<Response> {
  const html = await readFile(path.join(here, 'page.html'), 'utf8');
  return new Response(html, { headers: { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' } });
}

/** A product picture for local catalogs (imageUrl must be http(s)): a tile coloured by the name, with its initials. */
function placeholder(file: string): Response {
  const name = file.replace(/\.svg$/, '').replace(/[-_]+/g, ' ');
  let h = 0;
  for (const c of name) h = (h * 31 + c.charCodeAt(0)) % 360;
  const initials = name.split(/\s+/).filter(Boolean).map((w) => w[0]!.toUpperCase()).join('').slice(0, 3).replace(/[<&>"]/g, '');
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="240" height="180" viewBox="0 0 240 180"><rect width="240" height="180" fill="hsl(${h} 55% 78%)"/><circle cx="120" cy="80" r="46" fill="hsl(${h} 45% 62%)"/><text x="120" y="96" font-family="sans-serif" font-size="42" font-weight="700" text-anchor="middle" fill="#fff">${initials}</text></svg>`;
  return new Response(svg, { headers: { 'content-type': 'image/svg+xml', 'cache-control': 'max-age=3600' } });
}

async function staticFile(name: string): Promise<Response> {
  const type = STATIC[name];
  if (!type) throw new SandboxError(404, 'no such file');
  return new Response(await readFile(path.join(here, name), 'utf8'), { headers: { 'content-type': type, 'cache-control': 'no-store' } });
}

type TemplateView = { header?: string; body: string; button?: { text: string; url?: string } };

/** The approved template texts (lib/whatsapp/templates.ts) split into what WhatsApp renders. */
export async function templateViews(): Promise<Record<string, TemplateView>> {
  const { templateRegistry } = await import('../../lib/messaging/templates.js');
  const out: Record<string, TemplateView> = {};
  for (const spec of Object.values(templateRegistry)) {
    let text = spec.text;
    const view: TemplateView = { body: text };
    const button = /\s*Button \(([^)]*)\):\s*(.+)$/.exec(text);
    if (button) {
      text = text.slice(0, button.index);
      const base = /(https?:\/\/\S*)/.exec(button[1]!)?.[1];
      view.button = { text: button[2]!.trim(), ...(base ? { url: base } : {}) };
    }
    const parts = /^Header:\s*(.*?)\s*Body:\s*(.*)$/.exec(text);
    if (parts) {
      view.header = parts[1]!;
      view.body = parts[2]!;
    } else view.body = text.replace(/^Body:\s*/, '');
    out[spec.configName()] = view;
  }
  return out;
}

async function config(stack: LocalStack) {
  const { getConfig } = await import('../../lib/config.js');
  const c = getConfig();
  return {
    shopName: c.SHOP_NAME,
    businessNumber: c.WHATSAPP_BUSINESS_NUMBER_E164,
    catalogId: c.WHATSAPP_CATALOG_ID ?? 'sandbox-catalog',
    appBaseUrl: c.APP_BASE_URL,
    stripeUrl: stack.stripe?.url ?? null,
    templates: await templateViews(),
    defaults: { customer: DEFAULT_CUSTOMER, elder: ELDER },
  };
}

// ---- chat ----------------------------------------------------------------------------------

/** SSE of hub events. Each response ends after ~25 s and the browser's EventSource resumes with Last-Event-ID. */
async function events(request: Request, url: URL, stack: LocalStack): Promise<Response> {
  const hub = hubOf(stack);
  await hub.ensure();
  const after = Number(request.headers.get('last-event-id') ?? url.searchParams.get('after') ?? hub.lastEventId);
  const encoder = new TextEncoder();
  let cleanup = () => {};
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      const write = (s: string) => {
        try {
          controller.enqueue(encoder.encode(s));
        } catch {
          cleanup();
        }
      };
      const frame = (e: HubEvent) => write(`id: ${e.id}\nevent: item\ndata: ${JSON.stringify(e.item)}\n\n`);
      write('retry: 500\n: sandbox events\n\n');
      for (const e of hub.since(Number.isFinite(after) ? after : 0)) frame(e);
      const unsubscribe = hub.subscribe(frame);
      const ping = setInterval(() => write(': ping\n\n'), 10_000);
      const end = setTimeout(() => {
        cleanup();
        try {
          controller.close();
        } catch {
          /* already closed */
        }
      }, 25_000);
      ping.unref();
      end.unref();
      cleanup = () => {
        unsubscribe();
        clearInterval(ping);
        clearTimeout(end);
      };
    },
    cancel() {
      cleanup();
    },
  });
  return new Response(stream, { headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' } });
}

const phoneShape = z.string().regex(/^\+?[1-9]\d{7,14}$/, 'a phone number in E.164, e.g. +4915112345678');
const SendBody = z
  .object({
    from: phoneShape.optional(),
    /** A username-only customer: known to the shop only by this business-scoped user ID. */
    userId: z.string().regex(/^[A-Z]{2}\.(ENT\.)?[A-Za-z0-9]{1,128}$/, 'a business-scoped user ID, e.g. US.13491208655302741918').optional(),
    username: z.string().trim().min(1).max(60).optional(),
    name: z.string().trim().min(1).max(60).optional(),
    text: z.string().min(1).max(4096).optional(),
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
        product_items: z
          .array(z.object({ product_retailer_id: z.string(), quantity: z.number().int().min(1), item_price: z.number(), currency: z.string() }))
          .min(1),
      })
      .optional(),
    context: z.object({ id: z.string() }).optional(),
    /** A photo from the phone's camera (team inbox): uploaded to the Graph stand-in, sent as Meta sends an image message. */
    photo: z.object({ caption: z.string().max(1024).optional() }).optional(),
  })
  .refine((v) => [v.text, v.interactive, v.button, v.order, v.photo].filter((x) => x !== undefined).length === 1, 'give exactly one of text, interactive, button, order, photo')
  .refine((v) => v.from !== undefined || v.userId !== undefined, 'give from (a phone) or userId (a username-only customer)');

/** The customer sends a message: through the Graph stand-in, signed, to the real webhook. */
async function send(request: Request, stack: LocalStack): Promise<Response> {
  const hub = hubOf(stack);
  await hub.ensure();
  const body = SendBody.parse(await request.json());
  // The chat's key: the phone, or the BSUID of a username-only customer (what the shop addresses).
  const from = body.from ? digits(body.from) : body.userId!;
  const wamid = makeWamid(from);
  const input: InboundInput = {
    ...(body.from ? { from } : {}),
    ...(body.userId ? { userId: body.userId } : {}),
    ...(body.username ? { username: body.username } : {}),
    ...(body.name ? { name: body.name } : {}),
    ...(body.text !== undefined ? { text: body.text } : {}),
    ...(body.interactive ? { interactive: body.interactive } : {}),
    ...(body.button ? { button: body.button } : {}),
    ...(body.order ? { order: body.order } : {}),
    ...(body.context ? { context: body.context } : {}),
    ...(body.photo ? { raw: photoMessage(stack, body.photo.caption) } : {}),
    wamid,
  };
  input.timestamp = Math.floor(Date.now() / 1000);
  const message = buildInboundMessageValue({ wabaId: '0', phoneNumberId: '0', displayPhoneNumber: digits(stack.env.WHATSAPP_BUSINESS_NUMBER_E164 ?? '') }, input).messages![0]!;
  hub.rememberName(from, body.name);
  hub.addOutgoingCustomerMessage({ key: wamid, dir: 'in', wa: from, at: Date.now(), ...(body.name ? { name: body.name } : {}), message });
  // Like Meta, redeliver the same message (same wamid and timestamp) while the webhook answers 5xx
  // or nothing, with backoff; the page shows each answer.
  let last: { status: number; error?: string } = { status: 0 };
  for (let attempt = 0; attempt < META_RETRY_DELAYS_MS.length + 1; attempt++) {
    if (attempt > 0) await sleep(META_RETRY_DELAYS_MS[attempt - 1]!);
    const r = await fetch(`${stack.graph!.url}/_standin/inbound`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(input) });
    const delivery = (await r.json().catch(() => ({}))) as { status?: number; body?: string; error?: unknown };
    if (r.status === 400) throw new SandboxError(400, JSON.stringify(delivery));
    const error = typeof delivery.error === 'string' ? delivery.error : delivery.error ? JSON.stringify(delivery.error) : (delivery.status ?? 0) >= 300 ? delivery.body?.slice(0, 300) : undefined;
    last = { status: typeof delivery.status === 'number' ? delivery.status : 0, ...(error ? { error } : {}) };
    hub.setDelivery(wamid, last.status, last.error);
    if (last.status > 0 && last.status < 500) break;
  }
  return json({ wamid, webhookStatus: last.status, ...(last.error ? { error: last.error } : {}) });
}

/** A small PNG "photo" (a broken mug, as far as the shop can tell), stored at the Graph stand-in like a phone's upload. */
const PHOTO = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAABgAAAAYCAIAAABvFaqvAAAAUElEQVR42mN4/eErVRDDqEEDZ9C0KA2CiFiD/v//Tx2DqOYiCCLoLjRDyXEROQbhchdcMaUuItMgTHcNtIvwhBfdYw2ruwYoZQ8ag4ZRCQkALNQBCi1KEPcAAAAASUVORK5CYII=',
  'base64',
);
function photoMessage(stack: LocalStack, caption?: string): Record<string, unknown> {
  const media = stack.graph!.storeMedia(PHOTO, 'image/png');
  return { type: 'image', image: { id: media.id, mime_type: 'image/png', sha256: media.sha256, ...(caption ? { caption } : {}) } };
}

/** Plain text of a shop message, for lookups (Postman, simulate). */
export function plainText(item: ChatItem): string {
  const b = item.message as { type?: string; text?: { body?: string }; interactive?: Record<string, unknown>; template?: unknown };
  if (b.type === 'text') return b.text?.body ?? '';
  return JSON.stringify(b.interactive ?? b.template ?? b);
}

/** A chat is keyed by phone digits, or by the BSUID of a username-only customer. */
const chatKey = (raw: string): string => (/^[A-Z]{2}\./.test(raw.trim()) ? raw.trim() : digits(raw));

/** GET /sandbox/api/messages?wa=&contains=&wait=: the shop's messages to wa (accepted ones), long-polling. */
async function messages(url: URL, stack: LocalStack): Promise<Response> {
  const hub = hubOf(stack);
  await hub.ensure();
  const wa = chatKey(url.searchParams.get('wa') ?? url.searchParams.get('phone') ?? '');
  if (!wa) throw new SandboxError(400, 'wa (digits or E.164) is required');
  const contains = url.searchParams.get('contains');
  const deadline = Date.now() + Math.min(Number(url.searchParams.get('wait') ?? 0) || 0, 60) * 1000;
  for (;;) {
    const found = hub
      .all()
      .filter((i) => i.dir === 'out' && i.wa === wa && i.accepted)
      .map((i) => ({ wamid: i.key, at: new Date(i.at).toISOString(), type: String(i.message.type), text: plainText(i), body: i.message, statuses: i.statuses.map((s) => s.status) }))
      .filter((x) => !contains || x.text.includes(contains));
    if (found.length > 0 || Date.now() >= deadline) return json({ messages: found });
    await sleep(200);
  }
}

async function failSwitch(request: Request, stack: LocalStack): Promise<Response> {
  const base = `${stack.graph!.url}/_standin/fail`;
  if (request.method === 'GET') return relay(await fetch(base));
  if (request.method === 'DELETE') return relay(await fetch(base, { method: 'DELETE' }));
  if (request.method !== 'POST') throw new SandboxError(405, 'use GET, POST or DELETE');
  const b = z
    .object({ status: z.number().int().min(400).max(599), code: z.number().int().optional(), details: z.string().optional() })
    .parse(await request.json());
  return relay(await fetch(base, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...b, count: 1, scope: 'messages' }) }));
}

// ---- shop panel ----------------------------------------------------------------------------

async function relay(r: Response): Promise<Response> {
  const text = await r.text();
  return new Response(text, { status: r.status, headers: { 'content-type': r.headers.get('content-type') ?? 'application/json', 'cache-control': 'no-store' } });
}

/** The admin API, with the local ADMIN_API_KEY added here (the page never sees it). */
async function admin(stack: LocalStack, method: string, pathname: string, body?: string): Promise<Response> {
  const key = stack.env.ADMIN_API_KEY;
  if (!key) throw new SandboxError(409, 'ADMIN_API_KEY is not set');
  return relay(
    await callFunction(`${stack.url}${pathname}`, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body } : {}),
    }),
  );
}

/** Latest orders (optionally one customer's), each with its Redis hold. Waits up to `wait` s for one to exist. */
async function listOrders(url: URL) {
  const { db } = await import('../../lib/db.js');
  const { orderColumns, toOrder } = await import('../../lib/orders/order.js');
  const { readHold } = await import('../../lib/stock/index.js');
  const { formatMoney } = await import('../../lib/money.js');
  const wa = chatKey(url.searchParams.get('wa') ?? url.searchParams.get('phone') ?? '');
  const status = url.searchParams.get('status');
  const deadline = Date.now() + Math.min(Number(url.searchParams.get('wait') ?? 0) || 0, 60) * 1000;
  for (;;) {
    const rows = await db().query(
      `SELECT ${orderColumns()} FROM orders o JOIN customers c ON c.id = o.customer_id
       WHERE ($1 = '' OR c.wa_id = $1 OR c.bsuid = $1) AND ($2 = '' OR o.payment_status = $2)
       ORDER BY o.created_at DESC LIMIT 30`,
      [wa, status ?? ''],
    );
    if (rows.length > 0 || Date.now() >= deadline) {
      const orders = rows.map(toOrder);
      const holds = await Promise.all(orders.map((o) => readHold(o.id).catch(() => null)));
      return orders.map((o, i) => ({
        id: o.id,
        reference: o.reference,
        source: o.source,
        customer: { waId: o.customerWaId, userId: o.customerUserId, phone: o.customerWaId ? `+${o.customerWaId}` : o.customerUserId, name: o.customerName },
        items: o.items,
        totalMinor: o.totalMinor,
        currency: o.currency,
        total: formatMoney(o.totalMinor, o.currency),
        paymentStatus: o.paymentStatus,
        fulfillmentStatus: o.fulfillmentStatus,
        stripeSessionId: o.stripeSessionId,
        checkoutUrl: o.checkoutUrl,
        holdExpiresAt: o.holdExpiresAt?.toISOString() ?? null,
        createdAt: o.createdAt.toISOString(),
        hold: holds[i],
      }));
    }
    await sleep(250);
  }
}

// ---- links ---------------------------------------------------------------------------------

/**
 * Opens a link from the chat as a phone would: an invite link is requested for real (its 302 is
 * followed by hand) and a wa.me target, which would open WhatsApp, opens the sandbox chat of the
 * elder instead, with the prefilled text in the composer.
 */
async function openLink(url: URL, stack: LocalStack): Promise<Response> {
  const raw = url.searchParams.get('url') ?? '';
  let target: URL;
  try {
    target = new URL(raw, stack.url);
  } catch {
    throw new SandboxError(400, 'url must be a URL');
  }
  if (target.protocol !== 'http:' && target.protocol !== 'https:') throw new SandboxError(400, 'only http(s) links');
  const own = new URL(stack.url);
  const appBase = stack.env.APP_BASE_URL ? new URL(stack.env.APP_BASE_URL) : own;
  for (let hop = 0; hop < 5; hop++) {
    if (target.hostname === 'wa.me' || target.hostname === 'api.whatsapp.com') {
      const params = new URLSearchParams({ as: 'elder' });
      const text = target.searchParams.get('text');
      if (text) params.set('text', text);
      return new Response(null, { status: 302, headers: { location: `/sandbox?${params}`, 'cache-control': 'no-store' } });
    }
    const isOurs = target.host === own.host || target.host === appBase.host;
    if (!isOurs) return new Response(null, { status: 302, headers: { location: target.toString() } });
    const r = await callFunction(`${stack.url}${target.pathname}${target.search}`, { redirect: 'manual' });
    const location = r.headers.get('location');
    if (r.status >= 300 && r.status < 400 && location) {
      target = new URL(location, target);
      continue;
    }
    // An expired or unknown link answers a small page offering a wa.me chat: keep that in the sandbox too.
    const html = (await r.text()).replace(/href="(https:\/\/wa\.me\/[^"]*)"/g, (_, u: string) => `href="/sandbox/open?url=${encodeURIComponent(u.replace(/&amp;/g, '&'))}"`);
    return new Response(html, { status: r.status, headers: { 'content-type': r.headers.get('content-type') ?? 'text/html; charset=utf-8', 'cache-control': 'no-store' } });
  }
  throw new SandboxError(508, 'too many redirects');
}
