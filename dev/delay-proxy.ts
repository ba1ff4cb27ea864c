/**
 * A loopback TCP proxy that delays every chunk by `delayMs` in each direction, so a round trip
 * through it costs about 2 × delayMs: used by the benchmarks to show what each round trip to
 * Postgres, Redis, Meta or Stripe costs over a real network.
 */
import net from 'node:net';

export async function startDelayProxy(target: { host: string; port: number }, delayMs: number): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(target.port, target.host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    const relay = (from: net.Socket, to: net.Socket) => {
      from.on('data', (chunk) => setTimeout(() => to.destroyed || to.write(chunk), delayMs));
      from.on('end', () => setTimeout(() => to.end(), delayMs));
    };
    relay(client, upstream);
    relay(upstream, client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** The same URL with its host:port replaced by the proxy's. */
export async function delayedUrl(url: string, delayMs: number, stops: (() => Promise<void>)[]): Promise<string> {
  const u = new URL(url);
  const proxy = await startDelayProxy({ host: u.hostname, port: Number(u.port) }, delayMs);
  stops.push(proxy.close);
  u.host = `127.0.0.1:${proxy.port}`;
  return u.toString().replace(/\/$/, url.endsWith('/') ? '/' : '');
}
