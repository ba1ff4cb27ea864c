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

/**
 * Named staff keys (ADMIN_API_KEYS: "alice:key1,bob:key2" or JSON {"alice": "key1"}): the staff member
 * whose key the bearer is (every key compared in constant time), or null. Names are attribution, not roles.
 */
export function staffOfBearer(req: Request, keys: string | undefined): string | null {
  if (!keys) return null;
  const token = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.get('authorization') ?? '')?.[1];
  let found: string | null = null;
  for (const [name, key] of parseStaffKeys(keys)) if (secretsEqual(token, key) && !found) found = name;
  return found;
}

export function parseStaffKeys(keys: string): [string, string][] {
  const trimmed = keys.trim();
  if (trimmed.startsWith('{')) {
    try {
      const parsed = JSON.parse(trimmed) as Record<string, unknown>;
      return Object.entries(parsed).flatMap(([name, key]) => (typeof key === 'string' && name.trim() && key ? [[name.trim(), key] as [string, string]] : []));
    } catch {
      return [];
    }
  }
  return trimmed.split(',').flatMap((pair) => {
    const i = pair.indexOf(':');
    const name = pair.slice(0, i).trim();
    const key = pair.slice(i + 1).trim();
    return i > 0 && name && key ? [[name, key] as [string, string]] : [];
  });
}
