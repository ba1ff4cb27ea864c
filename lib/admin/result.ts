/**
 * A finished admin request, independent of HTTP: status, JSON body, and whether it replays an
 * earlier answer. Refusals are thrown as lib/http/errors.ts's HttpError (404, 409, 422).
 */
export type AdminResult = { status: number; body: unknown; replayed: boolean };
