import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { ConfigError, type Config } from '../config.js';
import { log } from '../log.js';
import { redis } from '../redis.js';
import { errorBody } from './errors.js';
import { json } from './respond.js';

/**
 * The signed hop from the create-order-proxy function (BACKEND_MODE=proxy) to the dedicated
 * backend (`npm run backend`). Each forward carries
 *   X-Backend-Timestamp: <unix seconds>
 *   X-Backend-Nonce:     <32 hex chars, random per forward>
 *   X-Backend-Signature: sha256=<hex HMAC-SHA256(BACKEND_SHARED_SECRET, timestamp + "." + nonce + "." + raw body)>
 * The backend refuses (401) a missing, malformed, wrong or stale (more than 5 minutes off its
 * clock, either way) signature, and a nonce it has already accepted (Redis, 10 minutes), so a
 * captured forward cannot be replayed, while two identical requests (no idempotency key, same
 * second) are still two forwards. The forward gives up well before Netlify's synchronous
 * function limit: no answer in BACKEND_TIMEOUT_MS (8 s) → 504, backend unreachable → 502, always
 * as JSON and with the request's Idempotency-Key.
 */

export const TIMESTAMP_HEADER = 'x-backend-timestamp';
export const NONCE_HEADER = 'x-backend-nonce';
export const SIGNATURE_HEADER = 'x-backend-signature';
export const SIGNATURE_TOLERANCE_SECONDS = 5 * 60;
export const FORWARD_TIMEOUT_MS = 8_000;
const REPLAY_WINDOW_SECONDS = 2 * SIGNATURE_TOLERANCE_SECONDS;

type Bytes = Uint8Array | string;
const bytes = (b: Bytes): Buffer => (typeof b === 'string' ? Buffer.from(b, 'utf8') : Buffer.from(b.buffer, b.byteOffset, b.byteLength));

function hmacHex(secret: string, timestamp: string, nonce: string, body: Bytes): string {
  return createHmac('sha256', secret).update(`${timestamp}.${nonce}.`).update(bytes(body)).digest('hex');
}

/** The three headers for a body sent now (or at `nowMs`). */
export function signBackendRequest(secret: string, body: Bytes, nowMs = Date.now(), nonce = randomBytes(16).toString('hex')): Record<string, string> {
  const timestamp = String(Math.floor(nowMs / 1000));
  return { [TIMESTAMP_HEADER]: timestamp, [NONCE_HEADER]: nonce, [SIGNATURE_HEADER]: `sha256=${hmacHex(secret, timestamp, nonce, body)}` };
}

export type SignatureVerdict = { ok: true; nonce: string } | { ok: false; reason: 'missing' | 'malformed' | 'stale' | 'mismatch' | 'replayed' };

/** Checks the signature over the exact bytes received, in constant time, and the timestamp's age. */
export function verifyBackendSignature(
  secret: string,
  body: Bytes,
  headers: Headers,
  nowMs = Date.now(),
  toleranceSeconds = SIGNATURE_TOLERANCE_SECONDS,
): SignatureVerdict {
  const timestamp = headers.get(TIMESTAMP_HEADER);
  const nonce = headers.get(NONCE_HEADER);
  const signature = headers.get(SIGNATURE_HEADER);
  if (!timestamp || !nonce || !signature) return { ok: false, reason: 'missing' };
  const hex = /^sha256=([0-9a-f]{64})$/i.exec(signature.trim())?.[1];
  if (!/^\d{1,12}$/.test(timestamp) || !/^[0-9a-f]{16,64}$/.test(nonce) || !hex) return { ok: false, reason: 'malformed' };
  const given = Buffer.from(hex, 'hex');
  const expected = Buffer.from(hmacHex(secret, timestamp, nonce, body), 'hex');
  if (!timingSafeEqual(given, expected)) return { ok: false, reason: 'mismatch' };
  // Judged only once the signature is right, so nobody learns anything from forged timestamps.
  if (Math.abs(nowMs / 1000 - Number(timestamp)) > toleranceSeconds) return { ok: false, reason: 'stale' };
  return { ok: true, nonce };
}

/**
 * verifyBackendSignature plus replay protection: the first request with a given nonce claims it
 * in Redis (SET NX, shared by every backend instance, kept past the 5-minute window); the same
 * signed request again is refused.
 */
export async function verifyForward(secret: string, body: Bytes, headers: Headers, nowMs = Date.now()): Promise<SignatureVerdict> {
  const verdict = verifyBackendSignature(secret, body, headers, nowMs);
  if (!verdict.ok) return verdict;
  const fresh = await redis().set(`backend-nonce:${verdict.nonce}`, 1, { nx: true, ex: REPLAY_WINDOW_SECONDS });
  return fresh === 'OK' ? verdict : { ok: false, reason: 'replayed' };
}

export type ProxyTarget = { url: string; secret: string };

/** Where BACKEND_MODE=proxy forwards to; a ConfigError naming the missing variables otherwise. */
export function proxyTarget(config: Config): ProxyTarget | ConfigError {
  const missing = [
    !config.BACKEND_URL && 'BACKEND_URL is missing (required with BACKEND_MODE=proxy)',
    !config.BACKEND_SHARED_SECRET && 'BACKEND_SHARED_SECRET is missing (required with BACKEND_MODE=proxy)',
  ].filter((m): m is string => Boolean(m));
  if (missing.length) return new ConfigError(missing);
  return { url: `${config.BACKEND_URL!.replace(/\/+$/, '')}/create-order`, secret: config.BACKEND_SHARED_SECRET! };
}

/** Connection-level failures: the request never reached a backend, so nothing was created. */
const NOT_CONNECTED = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_SOCKET']);

function errorCode(error: unknown): string | undefined {
  const cause = (error as { cause?: { code?: string; errors?: { code?: string }[] } })?.cause;
  return cause?.code ?? cause?.errors?.[0]?.code ?? (error as { code?: string })?.code;
}

/**
 * Signs and POSTs the validated request body to the backend and relays its status and JSON body.
 * Every forward carries an idempotency key (the caller's, else one lib/http/order-api.ts made), and
 * every answer returns it in the `Idempotency-Key` header: after a 504 (the backend may still make
 * the order) or a 502 the caller retries with that key and gets the one order. The forward itself
 * is retried once when the connection failed (nothing reached a backend).
 */
export async function forwardCreateOrder(target: ProxyTarget, body: string, options: { idempotencyKey: string; timeoutMs?: number }): Promise<Response> {
  const timeoutMs = options.timeoutMs ?? FORWARD_TIMEOUT_MS;
  const key = options.idempotencyKey;
  const deadline = Date.now() + timeoutMs;
  const started = Date.now();
  const keyed = (status: number, code: string, message: string, extra: Record<string, string> = {}) =>
    json(errorBody(code, message, undefined, { idempotencyKey: key }), status, { 'idempotency-key': key, ...extra });
  for (let attempt = 1; ; attempt++) {
    const headers: Record<string, string> = { 'content-type': 'application/json', 'idempotency-key': key, ...signBackendRequest(target.secret, body) };
    let response: globalThis.Response;
    let text: string;
    try {
      response = await fetch(target.url, { method: 'POST', headers, body, signal: AbortSignal.timeout(Math.max(1, deadline - Date.now())) });
      text = await response.text();
    } catch (error) {
      const timedOut = (error as Error)?.name === 'TimeoutError' || (error as Error)?.name === 'AbortError';
      const code = errorCode(error);
      if (timedOut) {
        log.error('backend.timeout', { attempt, timeoutMs });
        const message = `The order backend did not answer within ${timeoutMs / 1000} s; the order may or may not exist. Retry the same request with the header Idempotency-Key: ${key} (returned in this answer's Idempotency-Key header and idempotencyKey): it answers the one order, never a second.`;
        return keyed(504, 'backend_timeout', message, { 'retry-after': '2' });
      }
      if (attempt < 2 && code && NOT_CONNECTED.has(code) && deadline - Date.now() > 1_000) {
        log.warn('backend.retrying', { attempt, code });
        await new Promise((r) => setTimeout(r, 200));
        continue;
      }
      log.error('backend.unreachable', { attempt, code: code ?? null, error });
      return keyed(502, 'backend_unavailable', `The order backend could not be reached. Retry with the header Idempotency-Key: ${key}.`, { 'retry-after': '5' });
    }
    if (response.status === 401) {
      // The backend refused our signature: a BACKEND_SHARED_SECRET mismatch (or clock skew), not the caller's fault.
      log.error('backend.signature_refused', { body: text.slice(0, 200) });
      return keyed(502, 'backend_unavailable', 'The order backend refused the forwarded request.');
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      log.error('backend.bad_response', { status: response.status, contentType: response.headers.get('content-type') });
      return keyed(502, 'backend_unavailable', `The order backend answered ${response.status} without JSON.`);
    }
    log.info('backend.forwarded', { status: response.status, attempt, ms: Date.now() - started });
    const relayed: Record<string, string> = { 'idempotency-key': key };
    for (const name of ['idempotent-replayed', 'retry-after']) {
      const value = response.headers.get(name);
      if (value) relayed[name] = value;
    }
    return json(parsed, response.status, relayed);
  }
}
