import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../dev/stack.js';
import { startGraphStandIn, type GraphStandIn } from '../dev/standins/graph.js';

/**
 * `npm start`'s configuration (dev/stack.ts): each variable a user sets replaces its local default together
 * with everything derived from it (issue 23). With WHATSAPP_API_BASE at a Graph API other than the local
 * stand-in (here: a second stand-in playing "Meta", with ids of its own) and no catalog id, the stand-in's
 * local catalog id is never used: nothing is pushed to a catalog.
 */
let meta: GraphStandIn;
let stack: LocalStack;
const account = { WHATSAPP_PHONE_NUMBER_ID: '300000000000003', WHATSAPP_ACCESS_TOKEN: 'their-token', WHATSAPP_APP_SECRET: 'their-app-secret', WHATSAPP_BUSINESS_NUMBER_E164: '+15550199999' };

beforeAll(async () => {
  meta = await startGraphStandIn({ accessToken: account.WHATSAPP_ACCESS_TOKEN, appSecret: account.WHATSAPP_APP_SECRET, phoneNumberId: account.WHATSAPP_PHONE_NUMBER_ID, businessNumber: account.WHATSAPP_BUSINESS_NUMBER_E164 });
  stack = await startLocalStack({ data: 'real', functions: 'in-process', seedDemoCatalog: true, external: { WHATSAPP_API_BASE: meta.baseUrl, ...account }, env: { LOG_LEVEL: 'warn' } });
}, 120_000);
afterAll(async () => {
  await stack?.stop();
  await meta?.close();
}, 60_000);

describe('local defaults never leak into a configuration the user set', () => {
  it('another Graph API without a catalog id: no local catalog id, nothing pushed by the cleanup run', async () => {
    expect(stack.graph).toBeUndefined();
    expect(stack.env.WHATSAPP_API_BASE).toBe(meta.baseUrl);
    expect(stack.env.WHATSAPP_PHONE_NUMBER_ID).toBe(account.WHATSAPP_PHONE_NUMBER_ID);
    expect(stack.env.WHATSAPP_CATALOG_ID).toBeUndefined();
    const r = await fetch(`${stack.url}/.netlify/functions/reservation-cleanup`, { method: 'POST' });
    expect(r.status).toBeLessThan(300);
    expect(await r.json()).toMatchObject({ catalogPushed: 0, failed: 0 });
    expect(meta.catalogBatches()).toHaveLength(0);
  });

  it("another Graph API without the account's own token: start-up fails naming the variable, before starting anything", async () => {
    const { WHATSAPP_ACCESS_TOKEN: _, ...rest } = account;
    await expect(startLocalStack({ data: 'real', functions: 'in-process', external: { WHATSAPP_API_BASE: meta.baseUrl, ...rest } })).rejects.toThrow(/WHATSAPP_ACCESS_TOKEN/);
  });
});
