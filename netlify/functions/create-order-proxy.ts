import { ConfigError } from '../../lib/config.js';
import { needs } from '../../lib/config-needs.js';
import { forwardCreateOrder, proxyTarget } from '../../lib/backend-proxy.js';
import { adminKeyProblem, configProblem, json, ready, secretsEqual, withConfig } from '../../lib/http.js';
import { log } from '../../lib/log.js';
import { createOrderFromApi, parseCreateOrderRequest, serializeForBackend, type ApiReply } from '../../lib/order-api.js';

/**
 * The order API for storefronts and integrations (server to server).
 * POST, `Authorization: Bearer <ADMIN_API_KEY>`, JSON body (see lib/order-api.ts for the contract).
 * Without ADMIN_API_KEY: 503 {error: 'not_configured'}, as the admin API.
 * BACKEND_MODE=inline creates the order here; BACKEND_MODE=proxy validates here, then forwards the
 * request, signed, to the dedicated backend and relays its answer (lib/backend-proxy.ts).
 */
export default (req: Request) =>
  withConfig('create-order-proxy', async (config) => {
    if (req.method !== 'POST') return json({ error: 'method_not_allowed' }, 405, { allow: 'POST' });
    if (!config.ADMIN_API_KEY) return adminKeyProblem('create-order-proxy');

    const token = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.get('authorization') ?? '')?.[1];
    if (!secretsEqual(token, config.ADMIN_API_KEY)) {
      log.warn('order_api.unauthorized', { hasAuthorization: req.headers.has('authorization') });
      return json({ error: 'unauthorized' }, 401, { 'www-authenticate': 'Bearer' });
    }

    const parsed = parseCreateOrderRequest(await req.text(), req.headers.get('idempotency-key'));
    if (!parsed.ok) return reply(parsed.reply);

    if (config.BACKEND_MODE === 'proxy') {
      const target = proxyTarget(config);
      if (target instanceof ConfigError) return configProblem('create-order-proxy', target);
      return forwardCreateOrder(target, serializeForBackend(parsed.request), { idempotencyKey: parsed.request.idempotencyKey });
    }
    await ready(needs.orderApiInline);
    return reply(await createOrderFromApi(parsed.request));
  });

const reply = (r: ApiReply) => json(r.body, r.status, r.headers);
