import { DomainError, type ErrorKind, type FieldError } from '../errors.js';

/**
 * The edge's side of lib/errors.ts: the ONE mapping of a refusal's kind to its HTTP status, and the one
 * error shape of every HTTP answer we build: `{ error, message, fields? }`, where `error` is a stable
 * snake_case code for programs, `message` a sentence for people, and `fields` the input that was wrong.
 * A few errors add details of their own next to these (`order`, `shortages`, `max`, `orderId`,
 * `variables`). Only lib/http builds error bodies (tests/architecture-http.test.ts); lib/ throws or
 * returns DomainError and the edge answers it.
 */
export { DomainError, fieldPath, invalidRequest, notFound, conflict, zodFields, type ErrorKind, type FieldError } from '../errors.js';

export type ErrorBody = { error: string; message: string; fields?: FieldError[] } & Record<string, unknown>;

/** Each kind of refusal as its HTTP status (401, 403 and 405 are the edge's own: lib/http/auth.ts, respond.ts). */
export const STATUS_OF_KIND: Readonly<Record<ErrorKind, number>> = {
  malformed: 400,
  not_found: 404,
  conflict: 409,
  too_large: 413,
  unsupported: 415,
  invalid: 422,
  failed: 500,
  upstream_failed: 502,
  unavailable: 503,
};

export const statusOf = (error: DomainError): number => STATUS_OF_KIND[error.kind];

export function errorBody(code: string, message: string, fields?: FieldError[], details?: Record<string, unknown>): ErrorBody {
  return { ...details, error: code, message, ...(fields ? { fields } : {}) };
}

export const bodyOf = (error: DomainError): ErrorBody => errorBody(error.code, error.message, error.fields, error.details);
