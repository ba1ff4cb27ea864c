// The admin API, with the key from this tab's sessionStorage (never a URL, never a log line).
const KEY = 'shopConsole.adminKey';

export const session = {
  get key() { return sessionStorage.getItem(KEY); },
  set(key) { sessionStorage.setItem(KEY, key); },
  clear() { sessionStorage.removeItem(KEY); },
};

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message ?? `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

let onUnauthorized = () => {};
export const whenUnauthorized = (fn) => { onUnauthorized = fn; };

export async function request(method, path, { query, json, text, contentType, key = session.key, raw = false } = {}) {
  const params = new URLSearchParams(Object.entries(query ?? {}).filter(([, v]) => v !== undefined && v !== null && v !== ''));
  const headers = { authorization: `Bearer ${key ?? ''}` };
  let body;
  if (json !== undefined) { headers['content-type'] = 'application/json'; body = JSON.stringify(json); }
  if (text !== undefined) { headers['content-type'] = contentType ?? 'text/plain'; body = text; }
  const r = await fetch(`/api${path}${params.size ? `?${params}` : ''}`, { method, headers, body, cache: 'no-store', credentials: 'omit' });
  if (raw && r.ok) return r;
  const isJson = (r.headers.get('content-type') ?? '').includes('json');
  const data = isJson ? await r.json().catch(() => null) : await r.text();
  if (r.status === 401 && key === session.key) onUnauthorized();
  if (!r.ok) throw new ApiError(r.status, isJson ? data : { message: String(data).slice(0, 200) });
  return { status: r.status, data, replayed: r.headers.get('idempotent-replayed') === 'true' };
}

/** One line for people: the API's message plus its field errors. */
export function describeError(error) {
  if (!(error instanceof ApiError)) return `Could not reach the shop (${error.message}). Check the connection and try again.`;
  const fields = (error.body?.fields ?? []).map((f) => `${f.path} ${f.message}`).join('; ');
  return `${error.body?.message ?? error.message}${fields ? `: ${fields}` : ''} (HTTP ${error.status})`;
}
