import { forMessage, isSafeText, UNSAFE_TEXT_MESSAGE, unsafeTextPath } from '../safe-text.js';
import { readBodyText } from './body.js';
import { DomainError, fieldPath, invalidRequest } from './errors.js';

/**
 * Reading a request's input at the edge, refusing what Postgres couldn't store (422, naming the
 * field) before any parsing with zod.
 */

/** The path's segments, percent-decoded; a malformed encoding (e.g. %ED%A0%80) is the client's 404. */
export function pathSegments(url: URL): string[] {
  return url.pathname.replace(/\/+$/, '').split('/').filter(Boolean).map(decodePathSegment);
}

function decodePathSegment(segment: string): string {
  let decoded: string;
  try {
    decoded = decodeURIComponent(segment);
  } catch {
    throw new DomainError('not_found', 'not_found', 'no such route (malformed percent-encoding in the path)');
  }
  if (!isSafeText(decoded)) throw new DomainError('not_found', 'not_found', 'no such route');
  return decoded;
}

/** Query parameters as an object; empty values count as absent (a form's blank field). */
export function queryObject(url: URL): Record<string, string> {
  const params = [...url.searchParams].filter(([, v]) => v !== '');
  const unsafe = params.filter(([k, v]) => !isSafeText(k) || !isSafeText(v)).map(([k]) => ({ path: forMessage(k), message: UNSAFE_TEXT_MESSAGE }));
  if (unsafe.length) throw invalidRequest(unsafe);
  return Object.fromEntries(params);
}

export async function readText(req: Request, maxBytes: number): Promise<string> {
  const text = await readBodyText(req, maxBytes);
  if (!isSafeText(text)) throw invalidRequest([{ path: '(body)', message: UNSAFE_TEXT_MESSAGE }]);
  return text;
}

/** The JSON body; an empty body reads as `{}`. */
export async function readJson(req: Request, maxBytes: number): Promise<unknown> {
  const text = await readText(req, maxBytes);
  if (text.trim() === '') return {};
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw invalidRequest([{ path: '(body)', message: 'must be JSON' }], 'the body is not valid JSON');
  }
  const unsafe = unsafeTextPath(body);
  if (unsafe) throw invalidRequest([{ path: fieldPath(unsafe), message: UNSAFE_TEXT_MESSAGE }]);
  return body;
}
