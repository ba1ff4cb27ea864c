/**
 * The dedicated backend (`npm run backend`): one long-lived Node HTTP server built from the same
 * lib/ and the same function handlers, for shops that outgrow function time limits. It keeps no
 * state of its own (Postgres, Redis, Stripe and Meta hold it all), so several can run behind a
 * load balancer.
 *
 *   POST /create-order         the order API forwarded by create-order-proxy (BACKEND_MODE=proxy);
 *                              401 unless X-Backend-Timestamp / -Nonce / -Signature are right,
 *                              fresh (5 min) and not replayed (lib/backend-proxy.ts)
 *   GET  /healthz              200 {ok:true}; 503 while draining
 *   the Netlify functions webhook, payment-callback and invite-redirect, at their Netlify paths
 *   (/.netlify/functions/<name>, their config.path if any) and at /<name>: their default exports
 *   are called with a small Context shim (params, waitUntil, requestId, ip, url), no logic copied.
 *
 * Production: `npm run build:backend` bundles this file (not its packages) into dist/backend.js,
 * started with plain `node` from an `npm ci --omit=dev` install (README). PORT (default 8787). SIGTERM/SIGINT: stop accepting, finish requests in flight and the work
 * they handed to waitUntil (at most 25 s), then exit.
 */
import http from 'node:http';
import { sendWebResponse, toWebRequest } from '../lib/node-http.js';
import { randomUUID } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import type { Config as FunctionConfig, Context } from '@netlify/functions';
import { ConfigError, requireConfig } from '../lib/config.js';
import { needs } from '../lib/config-needs.js';
import { verifyForward } from '../lib/backend-proxy.js';
import { json, withConfig } from '../lib/http.js';
import { log } from '../lib/log.js';
import { createOrderFromApi, parseCreateOrderRequest } from '../lib/order-api.js';
import * as webhook from '../netlify/functions/webhook.js';
import * as paymentCallback from '../netlify/functions/payment-callback.js';
import * as inviteRedirect from '../netlify/functions/invite-redirect.js';

type FunctionHandler = (req: Request, context: Context) => Response | Promise<Response>;
type FunctionModule = { default: FunctionHandler; config?: FunctionConfig };
type Route = { match: (path: string) => Record<string, string> | null; handler: FunctionHandler; name: string };

const DRAIN_LIMIT_MS = 25_000;

/** Netlify-style path patterns: literal segments, `:name` parameters, a trailing `*`. */
export function compilePath(pattern: string): (path: string) => Record<string, string> | null {
  const names: string[] = [];
  const source = pattern
    .replace(/\/+$/, '')
    .split('/')
    .map((segment) => {
      if (segment === '*') {
        names.push('0');
        return '(?:/(.*))?';
      }
      const param = /^:([A-Za-z_]\w*)$/.exec(segment);
      if (param) {
        names.push(param[1]!);
        return '/([^/]+)';
      }
      return segment ? `/${segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}` : '';
    })
    .join('');
  const re = new RegExp(`^${source}/?$`);
  return (path) => {
    const m = re.exec(path);
    if (!m) return null;
    return Object.fromEntries(names.map((n, i) => [n, decodeURIComponent(m[i + 1] ?? '')]));
  };
}

function functionRoutes(modules: Record<string, FunctionModule>): Route[] {
  const routes: Route[] = [];
  for (const [name, mod] of Object.entries(modules)) {
    const configured = mod.config?.path;
    const paths = configured ? (Array.isArray(configured) ? configured : [configured]) : [];
    for (const p of [...paths, `/.netlify/functions/${name}`, `/${name}`]) routes.push({ match: compilePath(p), handler: mod.default, name });
  }
  return routes;
}

export type Backend = { server: http.Server; close(): Promise<void>; draining(): boolean };

export function createBackend(): Backend {
  const routes = functionRoutes({
    webhook: webhook as FunctionModule,
    'payment-callback': paymentCallback as FunctionModule,
    'invite-redirect': inviteRedirect as FunctionModule,
  });
  const background = new Set<Promise<unknown>>();
  let inFlight = 0;
  let draining = false;
  let idle: (() => void) | undefined;

  const track = (promise: Promise<unknown>) => {
    const p = Promise.resolve(promise)
      .catch((error) => log.error('backend.background_failed', { error }))
      .finally(() => {
        background.delete(p);
        if (draining && inFlight === 0 && background.size === 0) idle?.();
      });
    background.add(p);
  };

  const contextFor = (request: Request, params: Record<string, string>, ip: string): Context =>
    ({
      params,
      waitUntil: track,
      requestId: randomUUID(),
      ip,
      url: new URL(request.url),
      geo: {},
      site: {},
      server: {},
      account: { id: '' },
      deploy: { context: 'backend', id: 'backend', published: true },
      json: (body: unknown) => json(body),
      log: (...data: unknown[]) => console.log(...data),
    }) as unknown as Context;

  const handle = async (request: Request, ip: string): Promise<Response> => {
    const path = new URL(request.url).pathname;
    if (path === '/healthz') return json(draining ? { ok: false, draining: true } : { ok: true }, draining ? 503 : 200);
    if (path === '/create-order') return createOrder(request);
    for (const route of routes) {
      const params = route.match(path);
      if (params) return route.handler(request, contextFor(request, params, ip));
    }
    return json({ error: 'not found' }, 404);
  };

  const server = http.createServer((req, res) => {
    inFlight++;
    void serve(req, res, handle).finally(() => {
      inFlight--;
      if (draining && inFlight === 0 && background.size === 0) idle?.();
    });
  });
  // Keep-alive sockets from a load balancer must not outlive a drain.
  server.keepAliveTimeout = 5_000;

  const close = () =>
    new Promise<void>((resolve) => {
      draining = true;
      log.info('backend.draining', { inFlight, background: background.size });
      const timer = setTimeout(() => {
        log.warn('backend.drain_timeout', { inFlight, background: background.size });
        server.closeAllConnections();
        resolve();
      }, DRAIN_LIMIT_MS);
      timer.unref();
      let closed = false;
      let quiet = inFlight === 0 && background.size === 0;
      const done = () => {
        if (closed && quiet) {
          clearTimeout(timer);
          resolve();
        }
      };
      idle = () => {
        quiet = true;
        done();
      };
      server.close(() => {
        closed = true;
        done();
      });
      server.closeIdleConnections();
    });

  return { server, close, draining: () => draining };
}

/** POST /create-order: the signed forward from create-order-proxy. */
function createOrder(request: Request): Promise<Response> {
  return withConfig('backend.create-order', async (config) => {
    if (request.method !== 'POST') return json({ error: 'method_not_allowed' }, 405, { allow: 'POST' });
    if (!config.BACKEND_SHARED_SECRET) return json({ error: 'BACKEND_SHARED_SECRET is missing' }, 500);
    const raw = new Uint8Array(await request.arrayBuffer());
    const verdict = await verifyForward(config.BACKEND_SHARED_SECRET, raw, request.headers);
    if (!verdict.ok) {
      log.warn('backend.signature_refused', { reason: verdict.reason });
      return json({ error: 'invalid_signature' }, 401);
    }
    const parsed = parseCreateOrderRequest(new TextDecoder().decode(raw), request.headers.get('idempotency-key'));
    const reply = parsed.ok ? await createOrderFromApi(parsed.request) : parsed.reply;
    return json(reply.body, reply.status, reply.headers);
  });
}

/** node:http ⇄ fetch Request/Response, keeping the raw body bytes exactly as received (signatures). */
async function serve(req: http.IncomingMessage, res: http.ServerResponse, handle: (r: Request, ip: string) => Promise<Response>): Promise<void> {
  try {
    const request = await toWebRequest(req);
    const forwarded = req.headers['x-forwarded-for'];
    const ip = (Array.isArray(forwarded) ? forwarded[0] : forwarded)?.split(',')[0]?.trim() || req.socket.remoteAddress || '';
    await sendWebResponse(res, await handle(request, ip), request.method);
  } catch (error) {
    log.error('backend.request_failed', { path: req.url?.split('?')[0], error });
    if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json; charset=utf-8' });
    res.end(JSON.stringify({ error: 'internal error' }));
  }
}

async function main(): Promise<void> {
  let port: number;
  try {
    port = requireConfig(needs.backend).PORT;
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`backend: ${error.variables.join('; ')}. Set ${error.variables.length > 1 ? 'these variables' : 'it'} in its environment (see .env.example).`);
      process.exit(1);
    }
    throw error;
  }
  const backend = createBackend();
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
