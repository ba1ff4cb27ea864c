import { needs } from '../config-needs.js';
import { requireBearer } from './auth.js';
import { ready, withConfig, type EdgeContext } from './edge.js';

/**
 * The shop's admin API (netlify/functions/admin-api.ts), routes in ./admin-routes.ts.
 * `Authorization: Bearer <ADMIN_API_KEY>` first (lib/http/auth.ts); the routes and the modules
 * behind them (zod schemas, catalog, orders) load only once the caller is let in.
 */
export const handleAdminApi = (req: Request, context?: Pick<EdgeContext, 'waitUntil'>): Promise<Response> =>
  withConfig('admin-api', async (config) => {
    const refused = requireBearer(req, config.ADMIN_API_KEY, 'ADMIN_API_KEY', 'admin-api');
    if (refused) return refused;
    await ready(needs.adminApi);
    const { routeAdminRequest } = await import('./admin-routes.js');
    return routeAdminRequest(req, context);
  });
