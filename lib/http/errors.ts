import type { z } from '../zod.js';
import { forMessage } from '../safe-text.js';

/**
 * The one error shape of every HTTP answer we build: `{ error, message, fields? }`, where `error`
 * is a stable snake_case code for programs, `message` a sentence for people, and `fields` the
 * input that was wrong, each with a JavaScript-style path (`items[0].quantity`, `products[1].name`,
 * `(body)` for the body as a whole). A few errors add details of their own next to these
 * (`shortages`, `max`, `orderId`, `variables`). Only lib/http builds error bodies
 * (tests/architecture-http.test.ts); lib/ throws or returns HttpError and the edge answers it.
 */
export type FieldError = { path: string; message: string };

export type ErrorBody = { error: string; message: string; fields?: FieldError[] } & Record<string, unknown>;

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly fields?: FieldError[],
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'HttpError';
  }

  get body(): ErrorBody {
    return errorBody(this.code, this.message, this.fields, this.details);
  }
}

export function errorBody(code: string, message: string, fields?: FieldError[], details?: Record<string, unknown>): ErrorBody {
  return { ...details, error: code, message, ...(fields ? { fields } : {}) };
}

export const invalidRequest = (fields: FieldError[], message = 'the request is invalid') => new HttpError(422, 'invalid_request', message, fields);
export const notFound = (what: string) => new HttpError(404, 'not_found', `${what} not found`);
export const conflict = (code: string, message: string, details?: Record<string, unknown>) => new HttpError(409, code, message, undefined, details);

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
