import type { Config, Context } from '@netlify/functions';
import { handleAdminApi } from '../../lib/http/admin-api.js';

/** The shop's admin API, `Authorization: Bearer <ADMIN_API_KEY>`; routes and errors in lib/http/admin-routes.ts. */
export const config: Config = {
  path: ['/api/orders', '/api/orders.csv', '/api/alerts', '/api/orders/:id/cleanup', '/api/orders/:id', '/api/orders/:id/shipped', '/api/orders/:id/cancel', '/api/offline-payments', '/api/catalog', '/api/catalog/sync'],
};

export default (req: Request, context?: Context) => handleAdminApi(req, context);
