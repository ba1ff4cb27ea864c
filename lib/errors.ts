import { forMessage } from './safe-text.js';
import type { z } from './zod.js';

/**
 * The one error base of the domain: a refusal with a KIND (what went wrong, in the domain's words), a
 * stable snake_case `code` for programs, a `message` for people, the input that was wrong (`fields`, each
 * with a JavaScript-style path: `items[0].quantity`, `(body)` for the body as a whole) and the facts the
 * answer carries next to them (`details`: a lost race's current order state, `shortages`, `maxBytes`...).
 *
 * No HTTP status here: lib/http/errors.ts maps each kind to one status at the edge, and builds the
 * body `{ error: code, message, fields?, ...details }` there (tests/architecture-layers.test.ts keeps
 * lib/ outside lib/http from importing lib/http).
 */
export type ErrorKind =
  /** the input breaks a rule (a field, a combination, a reused key): fix it and ask again */
  | 'invalid'
  /** the input could not be read at all (not JSON, not a JSON object) */
  | 'malformed'
  /** what the request names does not exist (or is not ours to show) */
  | 'not_found'
  /** the state moved on: a lost race, an action that no longer applies; `details` says the state that won */
  | 'conflict'
  /** larger than we take (a body, a media file) */
  | 'too_large'
  /** a kind of content we do not serve */
  | 'unsupported'
  /** a provider (Meta, Stripe) failed or refused: what we asked of it did not happen */
  | 'upstream_failed'
  /** our own stores cannot take it now; the same request later will (webhook senders retry) */
  | 'unavailable'
  /** it was taken but could not be applied; the sender retries */
  | 'failed';

export type FieldError = { path: string; message: string };

export class DomainError extends Error {
  constructor(
    readonly kind: ErrorKind,
    readonly code: string,
    message: string,
    readonly fields?: FieldError[],
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'DomainError';
  }
}

export const invalidRequest = (fields: FieldError[], message = 'the request is invalid') => new DomainError('invalid', 'invalid_request', message, fields);
export const notFound = (what: string) => new DomainError('not_found', 'not_found', `${what} not found`);
export const conflict = (code: string, message: string, details?: Record<string, unknown>) => new DomainError('conflict', code, message, undefined, details);

/**
 * `['items', 0, 'quantity']` → `items[0].quantity`; the whole body → `(body)`. At most 50 steps,
 * and text Postgres couldn't store is replaced, so a hostile key can't make the answer unsafe.
 */
export function fieldPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const p of path.slice(0, 50)) out += typeof p === 'number' ? `[${p}]` : out ? `.${String(p)}` : String(p);
  return forMessage(out) || '(body)';
}

export function zodFields(error: z.ZodError): FieldError[] {
  return error.issues.map((i) => ({ path: fieldPath(i.path), message: i.message }));
}
