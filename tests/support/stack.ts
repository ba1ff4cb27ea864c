/**
 * Test support: every test file starts its own shop (real postgres + redis-server, the bridges,
 * the stand-ins and the functions) in its own worker process, so files never share a database or
 * environment, and files run in parallel. Tests drive it over HTTP like Meta, Stripe and a shop would.
 *
 * Functions run in process by default (dev/invoke.ts: Netlify's routing by config.path, the v2
 * context, waitUntil), a few milliseconds per request. Files about Netlify's runtime itself, and at
 * least one file per function end to end (log-scan: every function; sandbox: payments, invites, the
 * cleanup), pass `functions: 'netlify'`: Netlify's local runtime, each function bundled by its bundler
 * and every invocation in a fresh worker (~0.5–1 s a request).
 */
import Stripe from 'stripe';
import { afterAll, beforeAll, expect } from 'vitest';
import { startLocalStack, type LocalStack, type StackOptions } from '../../dev/stack.js';
import type { RecordedMessage } from '../../dev/standins/graph.js';

export type TestStack = LocalStack & {
  graph: NonNullable<LocalStack['graph']>;
  stripe: NonNullable<LocalStack['stripe']>;
};

export function useStack(options: Partial<StackOptions> = {}): () => TestStack {
  let stack: TestStack | undefined;
  beforeAll(async () => {
    stack = (await startLocalStack({ data: 'real', seedDemoCatalog: false, functions: 'in-process', ...options, env: { LOG_LEVEL: 'warn', ...options.env } })) as TestStack;
  }, options.functions === 'netlify' ? 300_000 : 120_000); // Netlify's runtime first bundles every function
  afterAll(async () => {
    await stack?.stop();
  }, 60_000);
  return () => {
    if (!stack) throw new Error('stack not started');
    return stack;
  };
}

/** Polls until `check` returns a truthy value (or throws the last assertion error after the timeout). */
export async function eventually<T>(check: () => T | Promise<T>, timeoutMs = 15_000, intervalMs = 50): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value as NonNullable<T>;
      lastError = new Error('condition not met');
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) throw lastError;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Messages the Graph stand-in accepted for this WhatsApp id. */
export function sentTo(stack: TestStack, waId: string): RecordedMessage[] {
  return stack.graph.messages({ to: waId, status: 'accepted' });
}

/** Waits until `count` messages were sent to waId, then a short quiet period to catch any extra (a duplicate). */
export async function waitForMessages(stack: TestStack, waId: string, count: number, quietMs = 400): Promise<RecordedMessage[]> {
  await eventually(() => sentTo(stack, waId).length >= count);
  await new Promise((r) => setTimeout(r, quietMs));
  return sentTo(stack, waId);
}

let phoneCounter = 0;
/** A fresh customer wa_id (digits of an E.164 number) per call, unique within a test file. */
export function newCustomer(prefix = '4915'): string {
  phoneCounter++;
  return `${prefix}${String(process.pid % 10000).padStart(4, '0')}${String(phoneCounter).padStart(4, '0')}`;
}

export type Body = Record<string, unknown>;
export const bodyOf = (m: RecordedMessage) => m.body as Body & { interactive?: Body & { action?: Body }; text?: { body: string }; template?: Body };

/**
 * The customer pays a Checkout Session on the Stripe stand-in (whose own webhook delivery the test switched off) and
 * the test posts the resulting `checkout.session.completed`, signed as Stripe signs it, with `post` (fetch by default).
 */
export async function payCheckoutSession(stack: TestStack, sessionId: string, post: (url: string, init: RequestInit) => Promise<{ status: number }> = fetch): Promise<void> {
  const { eventId } = (await (await fetch(`${stack.stripe.url}/_standin/sessions/${sessionId}/complete`, { method: 'POST', body: '{}' })).json()) as { eventId: string };
  const events = (await (await fetch(`${stack.stripe.url}/_standin/events`)).json()) as { id: string; payload: string }[];
  const payload = events.find((e) => e.id === eventId)!.payload;
  const signature = new Stripe('sk_test_x').webhooks.generateTestHeaderString({ payload, secret: stack.env.STRIPE_WEBHOOK_SECRET! });
  const r = await post(`${stack.url}/.netlify/functions/payment-callback`, { method: 'POST', headers: { 'stripe-signature': signature }, body: payload });
  expect(r.status).toBe(200);
}
