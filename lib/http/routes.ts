/**
 * Every HTTP route of the shop, in ONE table: method + path pattern → the function (or backend door) that
 * answers it, and the route's name, which its handler is keyed by. Read by
 * - the admin API's router (./admin-routes.ts: a handler per admin route name, checked complete by the types),
 * - the dedicated backend (backend/server.ts) and the local server (dev/invoke.ts), which route a request here,
 * - and held against each Netlify function's `config.path`, which Netlify needs as a literal in the function's
 *   file (tests/architecture-layers.test.ts checks they agree).
 * A function that is in no route of the table is reached at Netlify's default `/.netlify/functions/<name>`.
 * Data only (no handler is imported here): a function's cold start loads none of the others.
 */

export type Method = 'GET' | 'POST' | 'PUT';

/** A Netlify function (netlify/functions/<name>.ts), or `backend`: a door only the dedicated backend has. */
export type Door = 'admin-api' | 'invite-redirect' | 'backend';

type RouteSpec = { door: Door; method: Method; path: string; name: string };

/** Patterns as Netlify writes them: literal segments and `:name` parameters. */
export const ROUTES = [
  // The admin API (Authorization: Bearer <ADMIN_API_KEY>; the routes' contracts in ./admin-routes.ts).
  { door: 'admin-api', method: 'GET', path: '/api/orders', name: 'orders.list' },
  { door: 'admin-api', method: 'GET', path: '/api/orders.csv', name: 'orders.csv' },
  { door: 'admin-api', method: 'GET', path: '/api/alerts', name: 'alerts.list' },
  { door: 'admin-api', method: 'POST', path: '/api/orders/:id/cleanup', name: 'order.cleanup' },
  { door: 'admin-api', method: 'GET', path: '/api/orders/:id', name: 'order.view' },
  { door: 'admin-api', method: 'POST', path: '/api/orders/:id/shipped', name: 'order.shipped' },
  { door: 'admin-api', method: 'POST', path: '/api/orders/:id/cancel', name: 'order.cancel' },
  { door: 'admin-api', method: 'POST', path: '/api/orders/:id/delivered', name: 'order.delivered' },
  { door: 'admin-api', method: 'POST', path: '/api/orders/:id/tracking', name: 'order.tracking' },
  { door: 'admin-api', method: 'POST', path: '/api/orders/:id/ready-for-pickup', name: 'order.ready-for-pickup' },
  { door: 'admin-api', method: 'PUT', path: '/api/orders/:id/shipping-address', name: 'order.shipping-address' },
  { door: 'admin-api', method: 'POST', path: '/api/offline-payments', name: 'offline-payment' },
  { door: 'admin-api', method: 'GET', path: '/api/catalog', name: 'catalog.list' },
  { door: 'admin-api', method: 'PUT', path: '/api/catalog', name: 'catalog.import' },
  { door: 'admin-api', method: 'POST', path: '/api/catalog/sync', name: 'catalog.sync' },
  { door: 'admin-api', method: 'GET', path: '/api/second-chances', name: 'second-chances' },
  { door: 'admin-api', method: 'GET', path: '/api/conversations', name: 'conversations.list' },
  { door: 'admin-api', method: 'GET', path: '/api/conversations/:id', name: 'conversation.view' },
  { door: 'admin-api', method: 'POST', path: '/api/conversations/:id/messages', name: 'conversation.send' },
  { door: 'admin-api', method: 'POST', path: '/api/conversations/:id/read', name: 'conversation.read' },
  { door: 'admin-api', method: 'POST', path: '/api/conversations/:id/typing', name: 'conversation.typing' },
  { door: 'admin-api', method: 'PUT', path: '/api/conversations/:id/mode', name: 'conversation.mode' },
  { door: 'admin-api', method: 'GET', path: '/api/templates', name: 'templates.list' },
  { door: 'admin-api', method: 'GET', path: '/api/media/:id', name: 'media' },
  // The forwardable order link (netlify/functions/invite-redirect.ts).
  { door: 'invite-redirect', method: 'GET', path: '/w/invite/:token', name: 'invite' },
  // The dedicated backend's own doors (backend/server.ts); it also serves BACKEND_FUNCTIONS.
  { door: 'backend', method: 'GET', path: '/healthz', name: 'healthz' },
  { door: 'backend', method: 'POST', path: '/create-order', name: 'create-order' },
] as const satisfies readonly RouteSpec[];

export type Route = (typeof ROUTES)[number];
export type RouteOf<D extends Door> = Extract<Route, { door: D }>;

/** The functions the dedicated backend answers for, at their table paths, `/.netlify/functions/<name>` and `/<name>`. */
export const BACKEND_FUNCTIONS = ['webhook', 'payment-callback', 'invite-redirect'] as const;

/** A function's paths as its `config.path` must list them (table order, each once); none: Netlify's default path. */
export function functionPaths(fn: string): string[] {
  return [...new Set(ROUTES.filter((r) => r.door === fn).map((r) => r.path))];
}

/** A path as its segments (`/api/orders/1/` → ['api', 'orders', '1']), raw: the caller decodes. */
export const rawSegments = (pathname: string): string[] => pathname.replace(/\/$/, '').split('/').slice(1);

/** The parameters of `pattern` in `segments` (`:id` → the segment), or null when the path is not the pattern's. */
export function matchPath(pattern: string, segments: readonly string[]): Record<string, string> | null {
  const parts = rawSegments(pattern);
  if (parts.length !== segments.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    const segment = segments[i]!;
    if (part.startsWith(':')) {
      if (!segment) return null;
      params[part.slice(1)] = segment;
    } else if (part !== segment) return null;
  }
  return params;
}

export type Matched<R extends Route> = { route: R; params: Record<string, string> } | { allow: Method[] } | null;

/**
 * The route of `routes` for this method and path; `{ allow }` when the path is a route's but the method is
 * not (the methods it takes, for a 405); null when no route has the path.
 */
export function matchRoute<R extends Route>(routes: readonly R[], method: string, segments: readonly string[]): Matched<R> {
  const allow: Method[] = [];
  for (const route of routes) {
    const params = matchPath(route.path, segments);
    if (!params) continue;
    if (route.method === method) return { route, params };
    allow.push(route.method);
  }
  return allow.length ? { allow } : null;
}
