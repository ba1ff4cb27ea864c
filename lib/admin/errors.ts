import type { z } from 'zod';

/**
 * Outcomes of admin operations, independent of HTTP: the admin function maps them to
 * responses (422 with field paths, 404, 409). Field paths read like `variants[1].stock`.
 */
export type FieldError = { path: string; message: string };

export class AdminError extends Error {
  constructor(
    readonly status: 404 | 409 | 422,
    readonly code: string,
    message: string,
    readonly fields?: FieldError[],
  ) {
    super(message);
    this.name = 'AdminError';
  }
}

export const invalidRequest = (fields: FieldError[]) => new AdminError(422, 'invalid_request', 'the request is invalid', fields);
export const notFound = (what: string) => new AdminError(404, 'not_found', `${what} not found`);
export const conflict = (code: string, message: string) => new AdminError(409, code, message);

/** `['variants', 1, 'stock']` → `variants[1].stock` */
export function fieldPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${String(p)}` : String(p);
  return out || '(body)';
}

export function zodFields(error: z.ZodError): FieldError[] {
  return error.issues.map((i) => ({ path: fieldPath(i.path), message: i.message }));
}

/** A finished admin request: status, JSON body, and whether it replays an earlier answer. */
export type AdminResult = { status: number; body: unknown; replayed: boolean };
