import type { Context } from '@netlify/functions';
import { handleWebhook } from '../../lib/http/webhook.js';

/** Meta's WhatsApp Cloud API webhook: the handshake (GET) and signed events (POST), lib/http/webhook.ts. */
export default (req: Request, context: Context) => handleWebhook(req, context);
