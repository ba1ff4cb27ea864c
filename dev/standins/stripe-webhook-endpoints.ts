/**
 * The Stripe stand-in's webhook endpoints (`npm run setup` creates one, `npm run doctor` reads them),
 * as Stripe's API reference documents them:
 *
 *   POST   /v1/webhook_endpoints {url, enabled_events[], description?, api_version?, metadata?}
 *          → the webhook_endpoint, with its signing `secret` (whsec_…): returned on create only
 *   GET    /v1/webhook_endpoints[?limit=&starting_after=] → a list (no `secret`)
 *   GET    /v1/webhook_endpoints/:id                      → the endpoint (no `secret`)
 *   POST   /v1/webhook_endpoints/:id {url?, enabled_events[]?, disabled?, description?} → the endpoint (no `secret`)
 *   DELETE /v1/webhook_endpoints/:id → {id, object: 'webhook_endpoint', deleted: true}
 *
 * `livemode` is the key's mode (sk_live_/rk_live_ → true). Event names are checked for shape
 * (`a.b[.c]`, or `*`); Stripe also refuses names it doesn't know.
 * Wired into stripe.ts by one hook in its router (`route` answers or returns undefined).
 */
import { randomBytes } from 'node:crypto';

export interface WebhookEndpoint {
  id: string;
  object: 'webhook_endpoint';
  api_version: string | null;
  application: null;
  created: number;
  description: string | null;
  enabled_events: string[];
  livemode: boolean;
  metadata: Record<string, string>;
  status: 'enabled' | 'disabled';
  url: string;
  secret?: string;
}

type Fail = (message: string, param?: string, code?: string) => Error;

const ALPHA = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const genId = (prefix: string, len = 24) => prefix + [...randomBytes(len)].map((b) => ALPHA[b % ALPHA.length]).join('');

export function webhookEndpoints(opts: { livemode: boolean; invalid: Fail; missing: (param: string) => Error; noSuch: (kind: string, id: string, param: string) => Error }) {
  const endpoints = new Map<string, WebhookEndpoint & { secret: string }>();
  const visible = (e: WebhookEndpoint & { secret: string }): WebhookEndpoint => {
    const { secret: _secret, ...rest } = e;
    return structuredClone(rest);
  };
  const events = (v: unknown, required: boolean): string[] | undefined => {
    if (v === undefined) {
      if (required) throw opts.missing('enabled_events');
      return undefined;
    }
    const list = Array.isArray(v) ? v.map(String) : typeof v === 'object' && v !== null ? Object.values(v).map(String) : [String(v)];
    if (!list.length) throw opts.missing('enabled_events');
    list.forEach((name, i) => {
      if (name !== '*' && !/^[a-z_]+(\.[a-z_]+)+$/.test(name)) throw opts.invalid(`Invalid enabled_events[${i}]: must be one of the event types Stripe sends, or *`, `enabled_events[${i}]`);
    });
    return [...new Set(list)];
  };
  const checkUrl = (v: unknown) => {
    if (typeof v !== 'string' || !v) throw opts.missing('url');
    if (!/^https?:\/\/[^\s]+$/.test(v)) throw opts.invalid('Invalid URL: URL must be publicly accessible. Consider using a tool like the Stripe CLI to test webhooks locally.', 'url', 'url_invalid');
    return v;
  };

  /** [status, body] for a /v1/webhook_endpoints request, or undefined when it isn't one. */
  function route(method: string, segs: string[], params: Record<string, unknown>): [number, unknown] | undefined {
    if (segs[0] !== 'v1' || segs[1] !== 'webhook_endpoints') return undefined;
    const id = segs[2];
    if (!id && method === 'POST') {
      const e = {
        id: genId('we_'),
        object: 'webhook_endpoint' as const,
        api_version: typeof params.api_version === 'string' ? params.api_version : null,
        application: null,
        created: Math.floor(Date.now() / 1000),
        description: typeof params.description === 'string' ? params.description : null,
        enabled_events: events(params.enabled_events, true)!,
        livemode: opts.livemode,
        metadata: (params.metadata as Record<string, string> | undefined) ?? {},
        status: 'enabled' as const,
        url: checkUrl(params.url),
        secret: genId('whsec_', 32),
      };
      endpoints.set(e.id, e);
      return [200, structuredClone(e)];
    }
    if (!id && method === 'GET') {
      const limit = params.limit === undefined ? 10 : Number(params.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 100) throw opts.invalid('This value must be greater than or equal to 1 and less than or equal to 100.', 'limit');
      let all = [...endpoints.values()].reverse();
      if (typeof params.starting_after === 'string') all = all.slice(all.findIndex((e) => e.id === params.starting_after) + 1);
      return [200, { object: 'list', data: all.slice(0, limit).map(visible), has_more: all.length > limit, url: '/v1/webhook_endpoints' }];
    }
    if (id && segs.length === 3) {
      const e = endpoints.get(id);
      if (!e) throw opts.noSuch('webhook endpoint', id, 'id');
      if (method === 'GET') return [200, visible(e)];
      if (method === 'DELETE') {
        endpoints.delete(id);
        return [200, { id, object: 'webhook_endpoint', deleted: true }];
      }
      if (method === 'POST') {
        if (params.url !== undefined) e.url = checkUrl(params.url);
        const ev = events(params.enabled_events, false);
        if (ev) e.enabled_events = ev;
        if (params.disabled !== undefined) e.status = String(params.disabled) === 'true' ? 'disabled' : 'enabled';
        if (typeof params.description === 'string') e.description = params.description;
        return [200, visible(e)];
      }
    }
    return undefined;
  }

  return { route, list: () => [...endpoints.values()].map(visible) };
}
