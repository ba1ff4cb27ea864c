import { createHash, timingSafeEqual } from 'node:crypto';
import { bodyOf, errorBody, statusOf, type DomainError, type FieldError } from './errors.js';

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

/** A domain refusal (lib/errors.ts) as its answer: the status its kind maps to, the one body shape. */
export const domainErrorResponse = (error: DomainError): Response => json(bodyOf(error), statusOf(error));

export const methodNotAllowed = (allow: string): Response => errorResponse(405, 'method_not_allowed', `use ${allow}`, undefined, { allow });

/** Constant-time comparison of two secrets of any length. */
export function secretsEqual(given: string | null | undefined, expected: string): boolean {
  if (typeof given !== 'string') return false;
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}
