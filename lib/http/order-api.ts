import { randomUUID } from 'node:crypto';
import { ConfigError } from '../config.js';
import { needs } from '../config-needs.js';
import { log } from '../log.js';
import type { OrderApiAnswer } from '../flows/order-api.js';
import { requireBearer } from './auth.js';
import { forwardCreateOrder, proxyTarget, verifyForward } from './backend-proxy.js';
import { BODY_LIMITS, readBody } from './body.js';
import { configProblem, ready, withConfig } from './edge.js';
import { DomainError } from './errors.js';
import { domainErrorResponse, errorResponse, json, methodNotAllowed } from './respond.js';
import { lazyModule } from '../lazy-module.js';

/**
 * The order API (lib/flows/order-api.ts has the contract), at its two doors:
 * - `handleCreateOrder`, the create-order-proxy function: `Authorization: Bearer <ADMIN_API_KEY>`;
 *   BACKEND_MODE=inline creates the order here, BACKEND_MODE=proxy validates here, then forwards
 *   the request, signed, to the dedicated backend and relays its answer (./backend-proxy.ts);
 * - `handleBackendCreateOrder`, the backend's POST /create-order: that signed forward.
 * The contract's module (its zod schema, the order modules) loads once the caller is let in.
 *
 * Every request has an idempotency key: the caller's (`Idempotency-Key` header or body
 * `idempotencyKey`), else one made here. Every answer once the request is valid carries it in the
 * `Idempotency-Key` header (the proxy's 502/504 included), so a caller that sent none can still
 * retry an answer it never got (a timeout) without making a second order.
 */
const orderApi = lazyModule(() => import('../flows/order-api.js'));


export const IDEMPOTENCY_KEY_HEADER = 'idempotency-key';

/** An order created (or found again: `Idempotent-Replayed: true`) answers 201 with the order. */
const created = (a: OrderApiAnswer): Response => json(a.order, 201, a.replayed ? { 'idempotent-replayed': 'true' } : {});

/** The request with its key: the caller's, else a fresh one (a retry must send it back). */
function keyed<T extends { idempotencyKey?: string }>(request: T): T & { idempotencyKey: string } {
  return { ...request, idempotencyKey: request.idempotencyKey ?? randomUUID() };
}

/** The answer (a refusal's too), with the request's key. */
async function withKey(key: string, answer: () => Promise<Response>): Promise<Response> {
  let response: Response;
  try {
    response = await answer();
  } catch (error) {
    if (!(error instanceof DomainError)) throw error;
    response = domainErrorResponse(error);
  }
  response.headers.set(IDEMPOTENCY_KEY_HEADER, key);
  return response;
}

export const handleCreateOrder = (req: Request): Promise<Response> =>
  withConfig('create-order-proxy', async (config) => {
    if (req.method !== 'POST') return methodNotAllowed('POST');
    const refused = requireBearer(req, config.ADMIN_API_KEY, 'ADMIN_API_KEY', 'create-order-proxy');
    if (refused) return refused;

    const raw = new TextDecoder().decode(await readBody(req, BODY_LIMITS.orderApi));
    const { createOrderFromApi, parseCreateOrderRequest, serializeForBackend } = await orderApi();
    const request = keyed(parseCreateOrderRequest(raw, req.headers.get(IDEMPOTENCY_KEY_HEADER)));
    if (config.BACKEND_MODE === 'proxy') {
      const target = proxyTarget(config);
      if (target instanceof ConfigError) return configProblem('create-order-proxy', target);
      return forwardCreateOrder(target, serializeForBackend(request), { idempotencyKey: request.idempotencyKey, timeoutMs: config.BACKEND_TIMEOUT_MS });
    }
    await ready(needs.orderApiInline);
    return withKey(request.idempotencyKey, async () => created(await createOrderFromApi(request)));
  });

export const handleBackendCreateOrder = (req: Request): Promise<Response> =>
  withConfig('backend.create-order', async (config) => {
    if (req.method !== 'POST') return methodNotAllowed('POST');
    if (!config.BACKEND_SHARED_SECRET) return errorResponse(503, 'not_configured', 'BACKEND_SHARED_SECRET is not set');
    const raw = await readBody(req, BODY_LIMITS.orderApi);
    const verdict = await verifyForward(config.BACKEND_SHARED_SECRET, raw, req.headers);
    if (!verdict.ok) {
      log.warn('backend.signature_refused', { reason: verdict.reason });
      return errorResponse(401, 'invalid_signature', 'X-Backend-Signature is missing, wrong, stale or replayed');
    }
    const { createOrderFromApi, parseCreateOrderRequest } = await orderApi();
    const request = keyed(parseCreateOrderRequest(new TextDecoder().decode(raw), req.headers.get(IDEMPOTENCY_KEY_HEADER)));
    return withKey(request.idempotencyKey, async () => created(await createOrderFromApi(request)));
  });
