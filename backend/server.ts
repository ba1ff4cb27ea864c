/**
 * The dedicated backend (`npm run backend`): one long-lived Node HTTP server over the same lib/http
 * handlers as the Netlify functions, for shops that outgrow function time limits. It keeps no
 * state of its own (Postgres, Redis, Stripe and Meta hold it all), so several can run behind a
 * load balancer.
 *
 *   POST /create-order         the order API forwarded by create-order-proxy (BACKEND_MODE=proxy);
 *                              401 unless X-Backend-Timestamp / -Nonce / -Signature are right,
 *                              fresh (5 min) and not replayed (lib/http/backend-proxy.ts)
 *   GET  /healthz              200 {ok:true}; 503 {ok:false,draining:true} while draining
 *   the webhook, payment-callback and invite-redirect handlers (lib/http), at the functions'
 *   Netlify paths (/.netlify/functions/<name>, the invite's /w/invite/:token) and at /<name>
 * Every path is in the one route table, lib/http/routes.ts.
 *
 * Production: `npm run build:backend` bundles this file (not its packages) into dist/backend.js,
 * started with plain `node` from an `npm ci --omit=dev` install (README). PORT (default 8787).
 *
 * Bodies: each route reads its body only up to its limit (lib/http/body.ts); /healthz and unknown
 * paths read nothing; an oversized body is refused with 413 and its connection dropped.
 *
 * SIGTERM/SIGINT: drain. For BACKEND_DRAIN_SECONDS (default 10) the server keeps accepting and
 * answers /healthz 503 and every new request 503 `draining` with Retry-After (no keep-alive), so a
 * load balancer takes it out of rotation; requests in flight go on. Then it stops accepting,
 * finishes the requests in flight and the work they handed to waitUntil (at most 25 s more), and
 * exits 0.
 */
import http from 'node:http';
import { pathToFileURL } from 'node:url';
import { ConfigError, requireConfig } from '../lib/config.js';
import { needs } from '../lib/config-needs.js';
import type { EdgeContext, EdgeHandler } from '../lib/http/edge.js';
import { handleInviteRedirect } from '../lib/http/invite-redirect.js';
import { sendWebResponse, toWebRequest } from '../lib/http/node.js';
import { handleBackendCreateOrder } from '../lib/http/order-api.js';
import { handlePaymentCallback } from '../lib/http/payment-callback.js';
import { errorResponse, json } from '../lib/http/respond.js';
import { BACKEND_FUNCTIONS, functionPaths, matchPath, rawSegments, ROUTES, type RouteOf } from '../lib/http/routes.js';
import { handleWebhook } from '../lib/http/webhook.js';
import { log } from '../lib/log.js';

type Route = { path: string; handler: EdgeHandler };

/** After the drain window, the most the requests in flight and their waitUntil work may take. */
const DRAIN_LIMIT_MS = 25_000;
const RETRY_AFTER_SECONDS = 5;

/** The backend's handler of each function it serves (lib/http/routes.ts BACKEND_FUNCTIONS). */
const FUNCTION_HANDLERS: Record<(typeof BACKEND_FUNCTIONS)[number], EdgeHandler> = {
  webhook: handleWebhook,
  'payment-callback': handlePaymentCallback,
  'invite-redirect': handleInviteRedirect,
};

/** Each function at its table paths (its config.path), at Netlify's default path and at /<name>. */
const routes: Route[] = BACKEND_FUNCTIONS.flatMap((name) =>
  [...functionPaths(name), `/.netlify/functions/${name}`, `/${name}`].map((path) => ({ path, handler: FUNCTION_HANDLERS[name] })),
);

/** The path of one of the backend's own doors in the table. */
const door = (name: RouteOf<'backend'>['name']): string => ROUTES.find((r) => r.door === 'backend' && r.name === name)!.path;
const HEALTHZ = door('healthz');
const CREATE_ORDER = door('create-order');

const decoded = (params: Record<string, string>) => Object.fromEntries(Object.entries(params).map(([k, v]) => [k, decodeURIComponent(v)]));

export type Backend = { server: http.Server; close(): Promise<void>; draining(): boolean };

export type BackendOptions = {
  /**
   * After close() (SIGTERM), how long the server keeps accepting and answering 503 (health checks
   * `{ok:false,draining:true}`, every other request `draining` with Retry-After) before it closes its
   * listener, so a load balancer sees the drain and stops sending traffic; default 10 s.
   */
  drainWindowMs?: number;
};

export function createBackend(options: BackendOptions = {}): Backend {
  const drainWindowMs = options.drainWindowMs ?? 10_000;
  const background = new Set<Promise<unknown>>();
  let inFlight = 0;
  let draining = false;
  let idle: (() => void) | undefined;
  const quiet = () => inFlight === 0 && background.size === 0;

  const track = (promise: Promise<unknown>) => {
    const p = Promise.resolve(promise)
      .catch((error) => log.error('backend.background_failed', { error }))
      .finally(() => {
        background.delete(p);
        if (draining && quiet()) idle?.();
      });
    background.add(p);
  };

  const handle = async (request: Request): Promise<Response> => {
    const path = new URL(request.url).pathname;
    // Neither reads the body: a route with none to read leaves it unread (lib/http/node.ts).
    if (path === HEALTHZ) return json(draining ? { ok: false, draining: true } : { ok: true }, draining ? 503 : 200, draining ? { 'retry-after': String(RETRY_AFTER_SECONDS) } : {});
    if (draining) {
      // New work goes to another instance; the caller (a proxy, Meta, Stripe) retries it there.
      return errorResponse(503, 'draining', 'This backend is shutting down; retry shortly (with the same Idempotency-Key for an order).', undefined, {
        'retry-after': String(RETRY_AFTER_SECONDS),
        connection: 'close',
      });
    }
    if (path === CREATE_ORDER) return handleBackendCreateOrder(request);
    const segments = rawSegments(path);
    for (const route of routes) {
      const params = matchPath(route.path, segments);
      if (params) return route.handler(request, { params: decoded(params), waitUntil: track } satisfies EdgeContext);
    }
    return errorResponse(404, 'not_found', 'no such route');
  };

  const server = http.createServer((req, res) => {
    inFlight++;
    // During a drain no connection is kept alive (also for a request that began before it): the
    // next request opens one, to another instance.
    const answer = async (request: Request) => {
      const response = await handle(request);
      if (draining) res.shouldKeepAlive = false;
      return response;
    };
    void serve(req, res, answer).finally(() => {
      inFlight--;
      if (draining && quiet()) idle?.();
    });
  });
  // Keep-alive sockets from a load balancer must not outlive a drain.
  server.keepAliveTimeout = 5_000;

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= new Promise<void>((resolve) => {
      draining = true;
      log.info('backend.draining', { inFlight, background: background.size, windowMs: drainWindowMs });
      const timer = setTimeout(() => {
        log.warn('backend.drain_timeout', { inFlight, background: background.size });
        server.closeAllConnections();
        resolve();
      }, drainWindowMs + DRAIN_LIMIT_MS);
      timer.unref();
      let closed = false;
      const done = () => {
        if (closed && quiet()) {
          clearTimeout(timer);
          resolve();
        }
      };
      idle = done;
      // The window: still accepting, answering 503; requests in flight go on. Then stop accepting.
      setTimeout(() => {
        server.close(() => {
          closed = true;
          done();
        });
        server.closeIdleConnections();
      }, drainWindowMs);
    }));

  return { server, close, draining: () => draining };
}

/** node:http ⇄ fetch Request/Response, keeping the raw body bytes exactly as received (signatures). */
async function serve(req: http.IncomingMessage, res: http.ServerResponse, handle: (r: Request) => Promise<Response>): Promise<void> {
  try {
    const request = await toWebRequest(req);
    await sendWebResponse(res, await handle(request), request.method);
  } catch (error) {
    log.error('backend.request_failed', { path: req.url?.split('?')[0], error });
    if (res.headersSent) return void res.end();
    await sendWebResponse(res, errorResponse(500, 'internal_error', 'internal error'));
  }
}

async function main(): Promise<void> {
  let port: number;
  let drainWindowMs: number;
  try {
    const config = requireConfig(needs.backend);
    port = config.PORT;
    drainWindowMs = config.BACKEND_DRAIN_SECONDS * 1000;
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`backend: ${error.variables.join('; ')}. Set ${error.variables.length > 1 ? 'these variables' : 'it'} in its environment (see .env.example).`);
      process.exit(1);
    }
    throw error;
  }
  const backend = createBackend({ drainWindowMs });
  await new Promise<void>((resolve, reject) => backend.server.once('error', reject).listen(port, () => resolve()));
  const address = backend.server.address();
  log.info('backend.listening', { port: typeof address === 'object' && address ? address.port : port });

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info('backend.stopping', { signal });
    void backend.close().then(() => {
      log.info('backend.stopped', {});
      process.exit(0);
    });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
