import { DomainError } from './errors.js';
import { readCapped } from '../bytes.js';

/**
 * Reading a request body, never past its route's limit (issue 31). The one place every entry reads
 * a body through: the Netlify functions, the dedicated backend (backend/server.ts) and the local
 * server (dev/stack.ts), whose node:http requests reach the handlers as a stream that is pulled
 * only as far as the handler reads it (lib/http/node.ts). So:
 * - a `Content-Length` over the limit is refused (413) before a byte is read;
 * - a chunked (or lying) body is counted as it arrives and reading stops at the limit: the stream
 *   is cancelled, the node server answers 413 with `Connection: close` and drops the connection
 *   instead of reading the rest;
 * - a route that takes no body (`/healthz`, the invite redirect, an unknown path, a GET) reads nothing.
 */

/** The body limits per route, in bytes (docs/reliability.md lists them). */
export const BODY_LIMITS = {
  /** The order API (create-order-proxy and the backend's POST /create-order). */
  orderApi: 64 * 1024,
  /**
   * Meta's and Stripe's webhooks: whatever Netlify lets through (6 MB). A signed delivery refused for its size
   * would be redelivered for days and its messages lost, and neither provider documents a smaller maximum; a
   * forged one is refused by its signature, read only up to this limit.
   */
  webhook: 6 * 1000 * 1000,
  paymentCallback: 6 * 1000 * 1000,
  /** The admin API (a catalog import as JSON or CSV). */
  admin: 5 * 1024 * 1024,
} as const;

export function payloadTooLarge(maxBytes: number): DomainError {
  return new DomainError('too_large', 'payload_too_large', `The request body must be at most ${maxBytes} bytes.`, undefined, { maxBytes });
}

/**
 * The body's bytes, at most `maxBytes` of them; more throws a too_large DomainError (413 payload_too_large, with
 * maxBytes), from `Content-Length` before reading, or as soon as the running count passes the limit.
 */
export function readBody(req: Request, maxBytes: number): Promise<Uint8Array> {
  const declared = req.headers.get('content-length');
  return readCapped(req.body, maxBytes, declared !== null && /^\d+$/.test(declared.trim()) ? Number(declared) : null, () => payloadTooLarge(maxBytes));
}

/** The body as UTF-8 text (invalid sequences replaced), at most `maxBytes` bytes of it. */
export async function readBodyText(req: Request, maxBytes: number): Promise<string> {
  return new TextDecoder().decode(await readBody(req, maxBytes));
}
