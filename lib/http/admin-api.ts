import { needs } from '../config-needs.js';
import { requireBearer, staffOfBearer } from './auth.js';
import { ready, withConfig, type EdgeContext } from './edge.js';

/**
 * The shop's admin API (netlify/functions/admin-api.ts), routes in ./admin-routes.ts.
 * `Authorization: Bearer <ADMIN_API_KEY>` first (lib/http/auth.ts); the routes and the modules
 * behind them (zod schemas, catalog, orders) load only once the caller is let in.
 */
export const handleAdminApi = (req: Request, context?: Pick<EdgeContext, 'waitUntil'>): Promise<Response> =>
  withConfig('admin-api', async (config) => {
    // A named staff key (ADMIN_API_KEYS) or the single ADMIN_API_KEY ("admin"); with only named keys set, anything else is a 401.
    const staff = staffOfBearer(req, config.ADMIN_API_KEYS);
    if (!staff) {
      const refused = requireBearer(req, config.ADMIN_API_KEY ?? (config.ADMIN_API_KEYS ? '\u0000' : undefined), 'ADMIN_API_KEY', 'admin-api');
      if (refused) return refused;
    }
    await ready(needs.adminApi);
    const { routeAdminRequest } = await import('./admin-routes.js');
    return routeAdminRequest(req, { staff: staff ?? 'admin' }, context);
  });
