import type { Config, Context } from '@netlify/functions';
import { handleAdminApi } from '../../lib/http/admin-api.js';

/**
 * The shop's admin API, `Authorization: Bearer <ADMIN_API_KEY>`; handlers in lib/http/admin-routes.ts. `path` is the
 * admin-api routes of lib/http/routes.ts (Netlify reads it as a literal; tests/architecture-layers.test.ts compares).
 */
export const config: Config = {
  path: ['/api/orders', '/api/orders.csv', '/api/alerts', '/api/orders/:id/cleanup', '/api/orders/:id', '/api/orders/:id/shipped', '/api/orders/:id/cancel',
    '/api/orders/:id/delivered', '/api/orders/:id/tracking', '/api/orders/:id/ready-for-pickup', '/api/orders/:id/shipping-address', '/api/offline-payments', '/api/catalog', '/api/catalog/sync',
    '/api/second-chances', '/api/conversations', '/api/conversations/:id', '/api/conversations/:id/messages', '/api/conversations/:id/read', '/api/conversations/:id/typing',
    '/api/conversations/:id/mode', '/api/templates', '/api/media/:id'],
};

export default (req: Request, context?: Context) => handleAdminApi(req, context);
