import Stripe from 'stripe';
import { getConfig } from '../config.js';

/** The real stripe client; STRIPE_API_BASE points it at a local stand-in in development and tests. */
let current: { key: string; base: string | undefined; stripe: Stripe } | undefined;

export function stripe(): Stripe {
  const { STRIPE_SECRET_KEY: key, STRIPE_API_BASE: base } = getConfig();
  if (current && current.key === key && current.base === base) return current.stripe;
  const options: Stripe.StripeConfig = { maxNetworkRetries: 2, timeout: 15_000 };
  if (base) {
    const u = new URL(base);
    Object.assign(options, { host: u.hostname, port: Number(u.port || (u.protocol === 'https:' ? 443 : 80)), protocol: u.protocol.replace(':', '') as 'http' | 'https' });
  }
  current = { key, base, stripe: new Stripe(key, options) };
  return current.stripe;
}
