import { handleCreateOrder } from '../../lib/http/order-api.js';

/**
 * The order API for storefronts and integrations (server to server): POST with
 * `Authorization: Bearer <ADMIN_API_KEY>` and a JSON body (lib/flows/order-api.ts has the contract).
 * Inline, or validated here and forwarded to the dedicated backend (lib/http/order-api.ts).
 */
export default (req: Request) => handleCreateOrder(req);
