import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { LOCAL_RUNTIME_RACE, sandboxRoutes } from '../dev/sandbox/routes.js';
import { projectRoot } from '../dev/stack.js';
import { db } from '../lib/db.js';
import { useStack } from './support/stack.js';

/**
 * docs/postman_collection.json, run with newman's Node API against a shop started here exactly
 * like `npm start` serves it (demo catalog, the sandbox routes, automatic delivery statuses), so the
 * collection never rots. This stack's URL and secrets replace the collection's variables.
 */

type Execution = {
  item: { name: string };
  response?: { code: number; stream?: Buffer };
  assertions?: { assertion: string; error?: { message: string } }[];
  requestError?: { message: string };
};
type Summary = {
  run: {
    stats: Record<'requests' | 'assertions' | 'testScripts' | 'prerequestScripts', { total: number; failed: number }>;
    failures: { error: { message: string; test?: string }; source?: { name?: string } }[];
    executions: Execution[];
  };
};
type Newman = { run(options: Record<string, unknown>, callback: (error: Error | null, summary: Summary) => void): unknown };
const newman = createRequire(import.meta.url)('newman') as Newman;

const stack = useStack({ routes: sandboxRoutes, autoStatuses: true, seedDemoCatalog: true });
const collectionFile = path.join(projectRoot, 'docs', 'postman_collection.json');

function collectionForThisStack(): Record<string, unknown> {
  const collection = JSON.parse(readFileSync(collectionFile, 'utf8')) as { variable: { key: string; value: string }[] };
  const env = stack().env;
  const values: Record<string, string> = {
    baseUrl: stack().url,
    verifyToken: env.WHATSAPP_VERIFY_TOKEN!,
    appSecret: env.WHATSAPP_APP_SECRET!,
    stripeWebhookSecret: env.STRIPE_WEBHOOK_SECRET!,
    adminApiKey: env.ADMIN_API_KEY!,
    phoneNumberId: env.WHATSAPP_PHONE_NUMBER_ID!,
    businessNumber: env.WHATSAPP_BUSINESS_NUMBER_E164!.replace(/\D/g, ''),
    catalogId: env.WHATSAPP_CATALOG_ID!,
  };
  for (const [key, value] of Object.entries(values)) {
    const v = collection.variable.find((x) => x.key === key);
    expect(v, `collection variable ${key}`).toBeDefined();
    v!.value = value;
  }
  return collection;
}

const run = (collection: Record<string, unknown>) =>
  new Promise<Summary>((resolve, reject) =>
    newman.run({ collection, reporters: [], timeoutRequest: 120_000, timeoutScript: 30_000 }, (error, summary) => (error ? reject(error) : resolve(summary))),
  );

/** An answer of the local runtime while another test file's stack rebuilt the shared function builds (the function never ran). */
const hitRebuildRace = (s: Summary) => s.run.executions.some((e) => e.response?.code === 500 && LOCAL_RUNTIME_RACE.test(e.response.stream?.toString('utf8') ?? ''));

const report = (s: Summary) =>
  s.run.executions.map((e) => ({
    request: e.item.name,
    status: e.response?.code ?? e.requestError?.message,
    failed: (e.assertions ?? []).filter((a) => a.error).map((a) => `${a.assertion}: ${a.error!.message}`),
    ...((e.assertions ?? []).some((a) => a.error) ? { body: e.response?.stream?.toString('utf8').slice(0, 600) } : {}),
  }));

describe('docs/postman_collection.json', () => {
  it('runs against the started shop with every request’s tests passing', async () => {
    const collection = collectionForThisStack();
    const requests = (collection.item as { item: unknown[] }[]).reduce((n, folder) => n + folder.item.length, 0);
    let summary = await run(collection);
    for (let attempt = 2; attempt <= 3 && summary.run.failures.length > 0 && hitRebuildRace(summary); attempt++) summary = await run(collectionForThisStack());

    const { stats, executions } = summary.run;
    expect(summary.run.failures.map((f) => `${f.source?.name ?? '?'}: ${f.error.test ?? ''} ${f.error.message}`), JSON.stringify(report(summary), null, 1)).toEqual([]);
    expect(stats.requests).toMatchObject({ total: requests, failed: 0 });
    expect(stats.prerequestScripts.failed).toBe(0);
    expect(stats.testScripts.failed).toBe(0);
    expect(stats.assertions.failed).toBe(0);
    // Every request asserts something (a request without tests could not fail).
    expect(executions.filter((e) => !(e.assertions ?? []).length).map((e) => e.item.name)).toEqual([]);
    expect(stats.assertions.total).toBeGreaterThanOrEqual(30);

    // What the collection did, seen from Postgres (order ids from the lookups' answers).
    const orderIdFrom = (request: string) => {
      const e = executions.find((x) => x.item.name === request)!;
      return (JSON.parse(e.response!.stream!.toString('utf8')) as { orders: { id: string }[] }).orders[0]!.id;
    };
    const orderId = orderIdFrom('Text order placed (sandbox lookup)');
    const catalogOrderId = orderIdFrom('Catalog order placed (sandbox lookup)');
    const [text] = await db()`SELECT payment_status, fulfillment_status FROM orders WHERE id = ${orderId}`;
    expect(text).toEqual({ payment_status: 'paid', fulfillment_status: 'shipped' });
    const [catalog] = await db()`SELECT o.payment_status, p.method FROM orders o JOIN payments p ON p.order_id = o.id WHERE o.id = ${catalogOrderId}`;
    expect(catalog).toEqual({ payment_status: 'paid', method: 'offline' });
    const [invite] = await db()`SELECT t.clicks, (SELECT count(*)::int FROM invite_contacts c WHERE c.invite_id = t.id) AS contacts FROM invite_tokens t WHERE t.order_id = ${orderId}`;
    expect(invite).toEqual({ clicks: 1, contacts: 1 });
  }, 600_000);
});
