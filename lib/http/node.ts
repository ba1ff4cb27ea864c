import type http from 'node:http';

/**
 * node:http ⇄ fetch Request/Response, for the long-lived servers (the dedicated backend, and the
 * local stack in front of Netlify's runtime). The request body stays the exact bytes received,
 * because webhook signatures are computed over them.
 */
export async function toWebRequest(req: http.IncomingMessage, fallbackHost = 'localhost'): Promise<Request> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const headers = new Headers();
  for (const [k, v] of Object.entries(req.headers)) {
    if (Array.isArray(v)) v.forEach((x) => headers.append(k, x));
    else if (v !== undefined) headers.set(k, v);
  }
  const method = req.method ?? 'GET';
  return new Request(`http://${req.headers.host ?? fallbackHost}${req.url ?? '/'}`, {
    method,
    headers,
    body: method === 'GET' || method === 'HEAD' || chunks.length === 0 ? undefined : Buffer.concat(chunks),
    redirect: 'manual',
  });
}

export async function sendWebResponse(res: http.ServerResponse, response: Response, method = 'GET'): Promise<void> {
  const out: Record<string, string | string[]> = {};
  response.headers.forEach((value, key) => {
    if (key === 'set-cookie') out[key] = [...((out[key] as string[]) ?? []), value];
    else if (key !== 'content-encoding' && key !== 'transfer-encoding' && key !== 'content-length') out[key] = value;
  });
  res.writeHead(response.status, out);
  if (response.body && method !== 'HEAD') {
    const reader = response.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      res.write(value);
    }
  }
  res.end();
}
