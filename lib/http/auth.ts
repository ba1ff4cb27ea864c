import type { ConfigName } from '../config.js';
import { log } from '../log.js';
import { errorResponse, secretsEqual } from './respond.js';

/**
 * `Authorization: Bearer <key>`, compared in constant time, the same everywhere: the key not
 * configured → 503 not_configured (the server isn't set up; nothing the caller sends would help,
 * so never a 401 that blames the caller), a missing or wrong bearer → 401 with WWW-Authenticate.
 * Answers the refusal, or null when the caller may go on.
 */
export function requireBearer(req: Request, key: string | undefined, keyName: ConfigName, edge: string): Response | null {
  if (!key) {
    log.error('config.invalid', { function: edge, variables: [`${keyName} is not set`] });
    return errorResponse(503, 'not_configured', `${keyName} is not set`);
  }
  const token = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.get('authorization') ?? '')?.[1];
  if (secretsEqual(token, key)) return null;
  log.warn('http.unauthorized', { function: edge, hasAuthorization: req.headers.has('authorization') });
  return errorResponse(401, 'unauthorized', `Authorization: Bearer <${keyName}> required`, undefined, { 'www-authenticate': 'Bearer' });
}
