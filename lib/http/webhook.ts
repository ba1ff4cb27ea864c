import { needs } from '../config-needs.js';
import { log } from '../log.js';
import { logSafe, parseStorableJson } from '../safe-text.js';
import { verifyMetaSignature } from '../whatsapp/signature.js';
import { BODY_LIMITS, readBody } from './body.js';
import { withConfig, type EdgeContext } from './edge.js';
import { lazyModule } from '../lazy-module.js';
import { errorResponse, json, secretsEqual, text } from './respond.js';

/**
 * Meta's WhatsApp Cloud API webhook (netlify/functions/webhook.ts, the backend's /webhook).
 * GET: the verification handshake. POST: verify the signature on the raw bytes, record every
 * message and status durably, answer 200, then do the slow work (Stripe, Graph) after the response.
 * The handshake needs only WHATSAPP_VERIFY_TOKEN and loads nothing else; the POST path loads its
 * modules (zod, Postgres, Redis, the conversation) on first use, keeping the cold start small.
 */
const inboundPayload = lazyModule(() => import('../whatsapp/inbound-payload.js'));
const inboundEvents = lazyModule(() => import('../conversation/inbound-events.js'));

export const handleWebhook = (req: Request, context: EdgeContext): Promise<Response> =>
  withConfig('webhook', async (config) => {
    if (req.method === 'GET') {
      const q = new URL(req.url).searchParams;
      if (q.get('hub.mode') === 'subscribe' && secretsEqual(q.get('hub.verify_token'), config.WHATSAPP_VERIFY_TOKEN))
        return text(q.get('hub.challenge') ?? '');
      log.warn('webhook.verification_refused');
      return text('verification failed', 403);
    }
    if (req.method !== 'POST') return text('method not allowed', 405);

    const raw = await readBody(req, BODY_LIMITS.webhook);
    if (!verifyMetaSignature(raw, req.headers.get('x-hub-signature-256'), config.WHATSAPP_APP_SECRET)) {
      log.warn('webhook.bad_signature', { bytes: raw.length });
      return errorResponse(401, 'invalid_signature', 'X-Hub-Signature-256 does not match the body');
    }
    let body: unknown;
    try {
      body = parseStorableJson(new TextDecoder().decode(raw));
    } catch {
      log.warn('webhook.malformed', { reason: 'not JSON', bytes: raw.length });
      return json({ received: true, ignored: 'not JSON' });
    }
    const { parseWebhookPayload } = await inboundPayload();
    const parsed = parseWebhookPayload(body, config.WHATSAPP_PHONE_NUMBER_ID);
    if ('error' in parsed) {
      log.warn('webhook.malformed', { reason: parsed.error });
      return json({ received: true, ignored: parsed.error });
    }
    if (parsed.rejected.length) log.warn('webhook.items_rejected', { reasons: parsed.rejected });
    if (parsed.foreign.length) log.info('webhook.other_number', { items: parsed.foreign.length, phoneNumberIds: [...new Set(parsed.foreign.map((f) => f.phoneNumberId))].slice(0, 5).map((id) => logSafe(id, 40)) });

    const { processRecordedEvents, recordWebhookEvents } = await inboundEvents();
    let recorded;
    try {
      recorded = await recordWebhookEvents(parsed);
    } catch (error) {
      // Nothing was recorded: let Meta retry.
      log.error('webhook.record_failed', { error });
      return errorResponse(503, 'temporarily_unavailable', 'the events could not be recorded; retry');
    }
    context.waitUntil(processRecordedEvents(recorded));
    return json({ received: true, new: recorded.length });
  }, req.method === 'POST' ? needs.webhookPost : needs.webhookVerify);
