import { getConfig } from '../config.js';
import { sendPace, THROTTLED_CODE } from './send-pace.js';

/** A failed Graph API send, classified: retryable (throttling, Meta-side errors) or final. */
export class WhatsAppSendError extends Error {
  constructor(
    readonly status: number,
    readonly code: number | null,
    readonly title: string,
    readonly retryable: boolean,
    /** The request may have reached Meta (timeout, connection lost before the answer): it may have been sent. */
    readonly ambiguous = false,
  ) {
    super(`WhatsApp send failed: HTTP ${status}${code ? ` code ${code}` : ''} ${title}`.trim());
    this.name = 'WhatsAppSendError';
  }
}

// 130429 throughput, 131056 pair rate limit, 131000/131016 Meta-side trouble, 2/4/80007 API throttling.
const RETRYABLE_CODES = new Set([2, 4, 80007, 130429, 131000, 131016, 131056]);

const NEVER_CONNECTED = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT']);

export function isRetryable(status: number, code: number | null): boolean {
  return status === 429 || status >= 500 || (code !== null && RETRYABLE_CODES.has(code));
}

/**
 * POST {WHATSAPP_API_BASE}/{phone-number-id}/messages: one HTTP round trip, no retry (the outbox retries),
 * started at this process's pace (./send-pace.ts: the number's messages per second, and a shared cool-down after a 130429).
 */
export async function postGraphMessage(body: Record<string, unknown>): Promise<{ wamid: string }> {
  const config = getConfig();
  const pace = sendPace();
  const answered = await pace.take();
  try {
    return await post(config, body, pace);
  } finally {
    answered();
  }
}

async function post(config: ReturnType<typeof getConfig>, body: Record<string, unknown>, pace: ReturnType<typeof sendPace>): Promise<{ wamid: string }> {
  let response: Response;
  try {
    response = await fetch(`${config.WHATSAPP_API_BASE}/${config.WHATSAPP_PHONE_NUMBER_ID}/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${config.WHATSAPP_ACCESS_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
  } catch (error) {
    // Only a connection that was never made is known not to have sent anything; anything else may have.
    const code = ((error as { cause?: { code?: string } }).cause?.code ?? '') as string;
    throw new WhatsAppSendError(0, null, `network: ${(error as Error).message}`, true, !NEVER_CONNECTED.has(code));
  }
  const json = (await response.json().catch(() => null)) as {
    messages?: { id: string }[];
    error?: { code?: number; message?: string; error_data?: { details?: string } };
  } | null;
  const wamid = json?.messages?.[0]?.id;
  if (response.ok && wamid) {
    pace.succeeded();
    return { wamid };
  }
  const code = json?.error?.code ?? null;
  if (code === THROTTLED_CODE || (response.status === 429 && code === null)) pace.throttled();
  const title = json?.error?.message ?? response.statusText;
  throw new WhatsAppSendError(response.status, code, title, isRetryable(response.status, code));
}
