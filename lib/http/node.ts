import type http from 'node:http';
import type { Socket } from 'node:net';

/**
 * node:http ⇄ fetch Request/Response, for the long-lived servers (the dedicated backend, and the
 * local stack in front of Netlify's runtime). The request body stays the exact bytes received,
 * because webhook signatures are computed over them.
 *
 * The body is not read here: the Request's body is a stream pulled from the socket only as far as
 * the handler reads it (lib/http/body.ts stops at the route's limit), so a route that reads nothing
 * (`/healthz`, an unknown path) and a refused oversized body cost no memory. A body left unread
 * (refused, or never asked for) is not drained either: the answer goes out with
 * `Connection: close` and the connection is dropped (sendWebResponse).
 */
export async function toWebRequest(req: http.IncomingMessage, fallbackHost = 'localhost'): Promise<Request> {
  const headers = new Headers();
  for (const [k, v] of Object.entries(req.headers)) {
    if (Array.isArray(v)) v.forEach((x) => headers.append(k, x));
    else if (v !== undefined) headers.set(k, v);
  }
  const method = req.method ?? 'GET';
  const hasBody = method !== 'GET' && method !== 'HEAD' && (req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0);
  return new Request(`http://${req.headers.host ?? fallbackHost}${req.url ?? '/'}`, {
    method,
    headers,
    body: hasBody ? bodyStream(req) : undefined,
    redirect: 'manual',
    ...(hasBody ? { duplex: 'half' } : {}),
  } as RequestInit);
}

/** The request's body as a web stream with backpressure: one chunk off the socket per read. */
function bodyStream(req: http.IncomingMessage): ReadableStream<Uint8Array> {
  let ended = false;
  return new ReadableStream<Uint8Array>(
    {
      start(controller) {
        req.on('data', (chunk: Buffer) => {
          controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
          if ((controller.desiredSize ?? 0) <= 0) req.pause();
        });
        req.once('end', () => {
          ended = true;
          try {
            controller.close();
          } catch {
            // cancelled already
          }
        });
        req.once('error', (error) => {
          if (!ended) controller.error(error);
        });
        req.pause();
      },
      pull() {
        req.resume();
      },
      cancel() {
        // Stop reading: what is left stays in the kernel's buffers until the connection is dropped.
        req.pause();
        req.removeAllListeners('data');
      },
    },
    { highWaterMark: 1 },
  );
}

/** How long a connection whose body was left unread stays open (not read) after the answer. */
const LINGER_MS = 2_000;

/**
 * After the answer (Connection: close), node ends the socket and destroys it at once; closing a
 * socket with unread input makes the kernel send a reset, which can reach the client before it has
 * read the answer (it sees ECONNRESET instead of the 413). So the write side is ended (the answer,
 * then FIN), the socket stays paused (nothing more is read), and it is destroyed a little later.
 */
function lingerThenClose(socket: Socket): void {
  socket.destroySoon = function (this: Socket) {
    if (this.writable) this.end();
    setTimeout(() => this.destroy(), LINGER_MS).unref();
  };
}

export async function sendWebResponse(res: http.ServerResponse, response: Response, method = 'GET'): Promise<void> {
  const out: Record<string, string | string[]> = {};
  response.headers.forEach((value, key) => {
    if (key === 'set-cookie') out[key] = [...((out[key] as string[]) ?? []), value];
    else if (key !== 'content-encoding' && key !== 'transfer-encoding' && key !== 'content-length') out[key] = value;
  });
  // A body not read to its end (refused at its limit, or never read) is not drained: close the connection.
  if (!res.req.complete) {
    out.connection = 'close';
    res.req.pause();
    lingerThenClose(res.req.socket);
  }
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
