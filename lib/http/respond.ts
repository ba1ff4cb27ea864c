import { createHash, timingSafeEqual } from 'node:crypto';
import { errorBody, HttpError, type FieldError } from './errors.js';

/** Responses of the HTTP edge (the Netlify functions and the dedicated backend). */

export function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json; charset=utf-8', ...headers } });
}

export function text(body: string, status = 200): Response {
  return new Response(body, { status, headers: { 'content-type': 'text/plain; charset=utf-8' } });
}

/** An error answer in the one shape (lib/http/errors.ts). */
export function errorResponse(status: number, code: string, message: string, fields?: FieldError[], headers: Record<string, string> = {}): Response {
  return json(errorBody(code, message, fields), status, headers);
}

export const httpErrorResponse = (error: HttpError): Response => json(error.body, error.status);

export const methodNotAllowed = (allow: string): Response => errorResponse(405, 'method_not_allowed', `use ${allow}`, undefined, { allow });

/** A transport-independent answer (lib/ domain results the edges relay as they are). */
export type Reply = { status: number; body: unknown; headers?: Record<string, string> };

export const reply = (r: Reply): Response => json(r.body, r.status, r.headers);

/** Constant-time comparison of two secrets of any length. */
export function secretsEqual(given: string | null | undefined, expected: string): boolean {
  if (typeof given !== 'string') return false;
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}
