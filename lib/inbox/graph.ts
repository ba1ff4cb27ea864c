import { getConfig } from '../config.js';
import { readCapped } from '../bytes.js';
import { DomainError } from '../errors.js';

/**
 * The Graph API calls of the team inbox that are not messages (those go through the outbox): read
 * receipts and the typing indicator (POST /{phone-number-id}/messages with `status: "read"`), media
 * (GET /{media-id} → a short-lived URL, downloaded with the same bearer token) and the WABA's
 * message templates (GET /{waba-id}/message_templates). A failure is a 502 naming Meta's error.
 */

async function graphFetch(url: string, init: RequestInit = {}): Promise<Response> {
  const config = getConfig();
  try {
    return await fetch(url, {
      ...init,
      headers: { authorization: `Bearer ${config.WHATSAPP_ACCESS_TOKEN}`, ...(init.headers as Record<string, string> | undefined) },
      signal: AbortSignal.timeout(15_000),
    });
  } catch (error) {
    throw new DomainError('upstream_failed', 'whatsapp_unavailable', `the WhatsApp API could not be reached (${(error as Error).message})`);
  }
}

async function graphJson(url: string, init: RequestInit = {}): Promise<Record<string, unknown>> {
  const r = await graphFetch(url, init);
  const body = (await r.json().catch(() => null)) as Record<string, unknown> | null;
  if (!r.ok || !body) {
    const e = (body?.error ?? {}) as { code?: number; message?: string };
    throw new DomainError('upstream_failed', 'whatsapp_refused', `the WhatsApp API answered HTTP ${r.status}${e.code ? ` (code ${e.code})` : ''}: ${e.message ?? r.statusText}`, undefined, { metaCode: e.code ?? null });
  }
  return body;
}

/** Marks a customer's message (and every earlier one) read: blue ticks; with `typing`, also shows the typing indicator (up to 25 s). */
export async function markReadOnWhatsApp(wamid: string, typing = false): Promise<void> {
  const c = getConfig();
  await graphJson(`${c.WHATSAPP_API_BASE}/${c.WHATSAPP_PHONE_NUMBER_ID}/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ messaging_product: 'whatsapp', status: 'read', message_id: wamid, ...(typing ? { typing_indicator: { type: 'text' } } : {}) }),
  });
}

export type MediaInfo = { url: string; mimeType: string; fileSize: number | null; sha256: string | null };

/** GET /{media-id}: Meta's short-lived download URL (about 5 minutes) and the file's facts. */
export async function mediaInfo(mediaId: string): Promise<MediaInfo> {
  const c = getConfig();
  const j = await graphJson(`${c.WHATSAPP_API_BASE}/${encodeURIComponent(mediaId)}?phone_number_id=${c.WHATSAPP_PHONE_NUMBER_ID}`);
  if (typeof j.url !== 'string' || typeof j.mime_type !== 'string') throw new DomainError('upstream_failed', 'whatsapp_refused', 'the WhatsApp API gave no media URL');
  return { url: j.url, mimeType: j.mime_type, fileSize: j.file_size === undefined ? null : Number(j.file_size), sha256: typeof j.sha256 === 'string' ? j.sha256 : null };
}

/** Downloads a media URL (bearer token required by Meta), refusing more than `maxBytes`. */
export async function downloadMedia(url: string, maxBytes: number): Promise<Uint8Array> {
  const r = await graphFetch(url);
  if (!r.ok) throw new DomainError('upstream_failed', 'whatsapp_refused', `the media download answered HTTP ${r.status}`);
  const tooLarge = () => new DomainError('too_large', 'media_too_large', `the file is larger than ${maxBytes} bytes`);
  return readCapped(r.body, maxBytes, Number(r.headers.get('content-length') ?? 0), tooLarge);
}

export type GraphTemplate = { name: string; language: string; status: string; category: string | null; components: { type: string; format?: string; text?: string; buttons?: { type: string; url?: string; text?: string }[] }[] };

/** GET /{waba-id}/message_templates (approved and others; the caller keeps APPROVED). */
export async function listMessageTemplates(wabaId: string): Promise<GraphTemplate[]> {
  const c = getConfig();
  const j = await graphJson(`${c.WHATSAPP_API_BASE}/${wabaId}/message_templates?fields=name,language,status,category,components&limit=200`);
  return Array.isArray(j.data) ? (j.data as GraphTemplate[]) : [];
}
