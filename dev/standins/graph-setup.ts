/**
 * The Graph stand-in's account endpoints that `npm run setup` and `npm run doctor` call, as Meta
 * documents them (Graph API reference: WhatsApp Business Phone Number, Application /subscriptions,
 * WhatsApp Business Account /subscribed_apps and /message_templates):
 *
 *   GET  /{phone-number-id}?fields=display_phone_number,quality_rating,verified_name
 *        → {display_phone_number: "+1 555-010-0001", quality_rating: "GREEN", verified_name, id}   (user/system-user token)
 *   GET  /{app-id}/subscriptions → {data: [{object, callback_url, active, fields: [{name, version}]}]}   (app token app_id|app_secret)
 *   POST /{app-id}/subscriptions {object, callback_url, verify_token, fields[, include_values]} → {success: true}
 *        Meta first verifies the callback: GET callback_url?hub.mode=subscribe&hub.challenge=…&hub.verify_token=…
 *        must answer 200 with the challenge, else (#2200) Callback verification failed. A user token is
 *        refused: (#15) This method must be called with an app access_token.
 *   GET  /{waba-id}/subscribed_apps → {data: [{whatsapp_business_api_data: {id, link, name}}]}
 *   POST /{waba-id}/subscribed_apps → {success: true}
 *   /{waba-id}/message_templates: graph-templates.ts.
 *
 * Wired into graph.ts by one hook before its own routes (`handle` answers or returns false).
 */
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { templatesEndpoint, type GraphAnswer, type TemplatesEndpoint } from './graph-templates.js';

export interface GraphSetupOptions {
  accessToken: string;
  appSecret: string;
  appId: string;
  wabaId: string;
  phoneNumberId: string;
  /** digits */
  displayPhoneNumber: string;
  verifiedName?: string;
  qualityRating?: 'GREEN' | 'YELLOW' | 'RED' | 'UNKNOWN';
}

export interface AppSubscription {
  object: string;
  callback_url: string;
  active: boolean;
  fields: Array<{ name: string; version: string }>;
}

export interface GraphSetup {
  handle(req: http.IncomingMessage, res: http.ServerResponse, url: URL, segs: string[]): Promise<boolean>;
  templates: TemplatesEndpoint;
  subscriptions(): AppSubscription[];
  subscribedApps(): string[];
}

const fbtrace = () => `A${randomBytes(11).toString('base64url')}`;
const err = (status: number, message: string, code: number, type = 'OAuthException', extra: Record<string, unknown> = {}): GraphAnswer => ({
  status,
  body: { error: { message, type, code, ...extra, fbtrace_id: fbtrace() } },
});

/** As Meta shows a number: "+1 555-010-0001" for a NANP number, else "+<digits>". */
function formatNumber(digits: string): string {
  return digits.length === 11 && digits.startsWith('1') ? `+1 ${digits.slice(1, 4)}-${digits.slice(4, 7)}-${digits.slice(7)}` : `+${digits}`;
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** Graph takes parameters in the query string, a form body (nested values as JSON) or a JSON body. */
function params(url: URL, raw: string, contentType: string | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const take = (k: string, v: string) => {
    const t = v.trim();
    if (t.startsWith('{') || t.startsWith('[')) {
      try {
        out[k] = JSON.parse(t);
        return;
      } catch {
        /* a plain string */
      }
    }
    out[k] = v;
  };
  for (const [k, v] of url.searchParams) if (k !== 'access_token') take(k, v);
  if (raw.trim()) {
    if (contentType?.includes('application/x-www-form-urlencoded')) for (const [k, v] of new URLSearchParams(raw)) take(k, v);
    else Object.assign(out, JSON.parse(raw) as Record<string, unknown>);
  }
  return out;
}

export function graphSetupEndpoints(opts: GraphSetupOptions, apiVersion: string): GraphSetup {
  const templates = templatesEndpoint({ wabaId: opts.wabaId });
  const subscriptions = new Map<string, AppSubscription>();
  const subscribedApps = new Set<string>();
  const appToken = `${opts.appId}|${opts.appSecret}`;

  const tokenOf = (req: http.IncomingMessage, url: URL) => req.headers.authorization?.match(/^Bearer\s+(.+)$/i)?.[1] ?? url.searchParams.get('access_token') ?? undefined;
  const badToken = () => err(401, 'Invalid OAuth access token - Cannot parse access token', 190);

  async function verifyCallback(callbackUrl: string, verifyToken: string): Promise<string | undefined> {
    const challenge = String(Math.floor(Math.random() * 1e9));
    const u = new URL(callbackUrl);
    u.searchParams.set('hub.mode', 'subscribe');
    u.searchParams.set('hub.challenge', challenge);
    u.searchParams.set('hub.verify_token', verifyToken);
    try {
      const r = await fetch(u, { headers: { 'user-agent': 'facebookplatform/1.0 (+http://developers.facebook.com)' }, signal: AbortSignal.timeout(10_000) });
      const text = await r.text();
      if (r.status !== 200 || text.trim() !== challenge) return `The URL couldn't be validated. Response does not match challenge, expected value="${challenge}", received="${text.slice(0, 40)}"`;
      return undefined;
    } catch (e) {
      return `The URL couldn't be validated. Callback verification failed with the following errors: ${(e as Error).message}`;
    }
  }

  async function route(method: string, nodeId: string, edge: string | undefined, url: URL, token: string | undefined, body: Record<string, unknown>): Promise<GraphAnswer | undefined> {
    // The app's webhook subscriptions: app token only.
    if (nodeId === opts.appId && edge === 'subscriptions') {
      if (token === opts.accessToken) return err(400, '(#15) This method must be called with an app access_token.', 15);
      if (token !== appToken) return badToken();
      if (method === 'GET') return { status: 200, body: { data: [...subscriptions.values()] } };
      if (method === 'POST') {
        const object = String(body.object ?? '');
        if (!object) return err(400, '(#100) The parameter object is required', 100);
        if (typeof body.callback_url !== 'string' || !/^https?:\/\//.test(body.callback_url)) return err(400, '(#100) callback_url must be a valid URL', 100);
        if (typeof body.verify_token !== 'string' || !body.verify_token) return err(400, '(#100) The parameter verify_token is required', 100);
        const fields = (Array.isArray(body.fields) ? body.fields.map(String) : String(body.fields ?? '').split(',')).map((f) => f.trim()).filter(Boolean);
        if (!fields.length) return err(400, '(#100) The parameter fields is required', 100);
        const failed = await verifyCallback(body.callback_url, body.verify_token);
        if (failed) return err(400, `(#2200) Callback verification failed: ${failed}`, 2200);
        const had = subscriptions.get(object);
        const names = new Set([...(had && had.callback_url === body.callback_url ? had.fields.map((f) => f.name) : []), ...fields]);
        subscriptions.set(object, { object, callback_url: body.callback_url, active: true, fields: [...names].map((name) => ({ name, version: apiVersion })) });
        return { status: 200, body: { success: true } };
      }
      return undefined;
    }
    if (token !== opts.accessToken) return token === appToken && nodeId !== opts.appId ? err(400, '(#200) Provide valid app ID', 200) : badToken();
    if (method === 'GET' && nodeId === opts.phoneNumberId && edge === undefined) {
      const all: Record<string, unknown> = {
        display_phone_number: formatNumber(opts.displayPhoneNumber),
        quality_rating: opts.qualityRating ?? 'GREEN',
        verified_name: opts.verifiedName ?? 'Our shop',
        code_verification_status: 'VERIFIED',
        platform_type: 'CLOUD_API',
        throughput: { level: 'STANDARD' },
      };
      const fields = url.searchParams.get('fields')?.split(',').map((f) => f.trim()) ?? ['display_phone_number', 'quality_rating', 'verified_name'];
      return { status: 200, body: { ...Object.fromEntries(fields.filter((f) => f in all).map((f) => [f, all[f]])), id: opts.phoneNumberId } };
    }
    if (nodeId === opts.wabaId && edge === 'subscribed_apps') {
      if (method === 'GET')
        return {
          status: 200,
          body: { data: [...subscribedApps].map((id) => ({ whatsapp_business_api_data: { id, link: `https://www.facebook.com/games/?app_id=${id}`, name: 'Shop app' } })) },
        };
      if (method === 'POST') {
        subscribedApps.add(opts.appId);
        return { status: 200, body: { success: true } };
      }
      if (method === 'DELETE') {
        subscribedApps.delete(opts.appId);
        return { status: 200, body: { success: true } };
      }
    }
    return templates.api(method, nodeId, edge, url.searchParams, body);
  }

  const send = (res: http.ServerResponse, a: GraphAnswer) => {
    const text = JSON.stringify(a.body);
    res.writeHead(a.status, { 'content-type': 'application/json; charset=UTF-8', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };

  return {
    templates,
    subscriptions: () => structuredClone([...subscriptions.values()]),
    subscribedApps: () => [...subscribedApps],
    async handle(req, res, url, segs) {
      const method = req.method ?? 'GET';
      if (segs[0] === '_standin') {
        if (segs[1] !== 'templates') return false;
        const raw = method === 'POST' ? await readBody(req) : '';
        const a = templates.control(method, segs.slice(2), raw.trim() ? (JSON.parse(raw) as Record<string, unknown>) : {});
        if (!a) return false;
        send(res, a);
        return true;
      }
      const [, nodeId, edge, ...more] = segs;
      if (!nodeId || more.length) return false;
      const mine =
        (nodeId === opts.appId && edge === 'subscriptions') ||
        (nodeId === opts.phoneNumberId && edge === undefined) ||
        (nodeId === opts.wabaId && (edge === 'subscribed_apps' || edge === 'message_templates'));
      if (!mine) return false;
      const raw = method === 'POST' || method === 'DELETE' ? await readBody(req) : '';
      let body: Record<string, unknown>;
      try {
        body = params(url, raw, req.headers['content-type']);
      } catch (e) {
        send(res, err(400, `(#100) request body is not valid JSON: ${(e as Error).message}`, 100));
        return true;
      }
      const a = await route(method, nodeId, edge, url, tokenOf(req, url), body);
      if (!a) return false;
      send(res, a);
      return true;
    },
  };
}
