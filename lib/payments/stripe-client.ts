import type Stripe from 'stripe';
import { getConfig } from '../config.js';

/**
 * The real stripe client, loaded on first use: the package is the heaviest module of the
 * bundle (~200 ms to import), and most requests (a "menu" message, an invite click, a
 * handshake) never touch Stripe. STRIPE_API_BASE points it at a local stand-in in development.
 */
let stripeModule: Promise<typeof import('stripe')> | undefined;
export const loadStripe = () => (stripeModule ??= import('stripe'));

let current: { key: string; base: string | undefined; client: Promise<Stripe> } | undefined;

async function client(): Promise<Stripe> {
  const { STRIPE_SECRET_KEY: key, STRIPE_API_BASE: base } = getConfig();
  if (current && current.key === key && current.base === base) return current.client;
  // telemetry off: the client would otherwise keep each request's latency to send with the next, and under a burst
  // warn (a process warning per request) once that buffer is full.
  const options: Stripe.StripeConfig = { maxNetworkRetries: 2, timeout: 15_000, telemetry: false };
  if (base) {
    const u = new URL(base);
    Object.assign(options, { host: u.hostname, port: Number(u.port || (u.protocol === 'https:' ? 443 : 80)), protocol: u.protocol.replace(':', '') as 'http' | 'https' });
  }
  const promise = loadStripe().then(({ default: StripeClient }) => new StripeClient(key, options));
  current = { key, base, client: promise };
  return promise;
}

/**
 * `stripe().checkout.sessions.create(...)` as with the client itself: every API call is async
 * anyway, so the returned stand-in resolves the path on the loaded client at call time. Only
 * API resources go through it; for the synchronous webhook helpers use `stripeWebhooks()`.
 */
export function stripe(): Stripe {
  return apiPath([]) as Stripe;
}

function apiPath(path: string[]): unknown {
  return new Proxy(() => {}, {
    get: (_t, prop) => (typeof prop === 'string' && prop !== 'then' ? apiPath([...path, prop]) : undefined),
    apply: async (_t, _this, args: unknown[]) => {
      let owner: Record<string, unknown> = (await client()) as unknown as Record<string, unknown>;
      for (const p of path.slice(0, -1)) owner = owner[p] as Record<string, unknown>;
      const method = owner[path.at(-1)!];
      if (typeof method !== 'function') throw new TypeError(`stripe.${path.join('.')} is not a function`);
      return method.apply(owner, args);
    },
  });
}

/** Stripe's webhook helpers (signature verification); need no key. */
export async function stripeWebhooks(): Promise<Stripe['webhooks']> {
  return (await loadStripe()).default.webhooks;
}
