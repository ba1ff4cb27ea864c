/**
 * Outcomes of admin operations, independent of HTTP. Refusals are lib/http/errors.ts's HttpError
 * (re-exported here under the names the admin modules use); the admin API answers them as
 * `{ error, message, fields? }` (404, 409, 422).
 */
export { conflict, HttpError as AdminError, invalidRequest, notFound, type FieldError } from '../http/errors.js';

/** A finished admin request: status, JSON body, and whether it replays an earlier answer. */
export type AdminResult = { status: number; body: unknown; replayed: boolean };
