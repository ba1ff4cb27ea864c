import { ConfigError } from '../config.js';
import { needs } from '../config-needs.js';
import { log } from '../log.js';
import { requireBearer } from './auth.js';
import { forwardCreateOrder, proxyTarget, verifyForward } from './backend-proxy.js';
import { configProblem, ready, withConfig } from './edge.js';
import { errorResponse, methodNotAllowed, reply } from './respond.js';

/**
 * The order API (lib/order-api.ts has the contract), at its two doors:
 * - `handleCreateOrder`, the create-order-proxy function: `Authorization: Bearer <ADMIN_API_KEY>`;
 *   BACKEND_MODE=inline creates the order here, BACKEND_MODE=proxy validates here, then forwards
 *   the request, signed, to the dedicated backend and relays its answer (./backend-proxy.ts);
 * - `handleBackendCreateOrder`, the backend's POST /create-order: that signed forward.
 * The contract's module (its zod schema, the order modules) loads once the caller is let in.
 */
const orderApi = () => import('../order-api.js');

export const handleCreateOrder = (req: Request): Promise<Response> =>
  withConfig('create-order-proxy', async (config) => {
    if (req.method !== 'POST') return methodNotAllowed('POST');
    const refused = requireBearer(req, config.ADMIN_API_KEY, 'ADMIN_API_KEY', 'create-order-proxy');
    if (refused) return refused;

    const { createOrderFromApi, parseCreateOrderRequest, serializeForBackend } = await orderApi();
    const request = parseCreateOrderRequest(await req.text(), req.headers.get('idempotency-key'));
    if (config.BACKEND_MODE === 'proxy') {
      const target = proxyTarget(config);
      if (target instanceof ConfigError) return configProblem('create-order-proxy', target);
      return forwardCreateOrder(target, serializeForBackend(request), { idempotencyKey: request.idempotencyKey });
    }
    await ready(needs.orderApiInline);
    return reply(await createOrderFromApi(request));
  });

export const handleBackendCreateOrder = (req: Request): Promise<Response> =>
  withConfig('backend.create-order', async (config) => {
    if (req.method !== 'POST') return methodNotAllowed('POST');
    if (!config.BACKEND_SHARED_SECRET) return errorResponse(503, 'not_configured', 'BACKEND_SHARED_SECRET is not set');
    const raw = new Uint8Array(await req.arrayBuffer());
    const verdict = await verifyForward(config.BACKEND_SHARED_SECRET, raw, req.headers);
    if (!verdict.ok) {
      log.warn('backend.signature_refused', { reason: verdict.reason });
      return errorResponse(401, 'invalid_signature', 'X-Backend-Signature is missing, wrong, stale or replayed');
    }
    const { createOrderFromApi, parseCreateOrderRequest } = await orderApi();
    return reply(await createOrderFromApi(parseCreateOrderRequest(new TextDecoder().decode(raw), req.headers.get('idempotency-key'))));
  });
