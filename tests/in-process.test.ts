import { describe, expect, it } from 'vitest';
import { buildEntry, buildInboundMessageValue, buildWebhookPayload, makeWamid, signMetaPayload } from '../dev/standins/graph.js';
import { upsertCatalogProduct } from '../lib/catalog/index.js';
import { bodyOf, newCustomer, useStack, waitForMessages } from './support/stack.js';

// The stack with functions invoked in this process (dev/invoke.ts): Netlify's routing by config.path,
// the v2 context (params, waitUntil), and the same answers as through the local runtime.
const stack = useStack({ functions: 'in-process' });

describe('functions invoked in process', () => {
  it('routes /.netlify/functions/<name> and answers the handshake', async () => {
    const r = await fetch(`${stack().url}/.netlify/functions/webhook?hub.mode=subscribe&hub.verify_token=${stack().env.WHATSAPP_VERIFY_TOKEN}&hub.challenge=7`);
    expect(r.status).toBe(200);
    expect(await r.text()).toBe('7');
    expect(stack().dev).toBeUndefined();
  });

  it('routes config.path with params, and not the default path of a function that has one', async () => {
    const r = await fetch(`${stack().url}/w/invite/unknown-token-123456`, { redirect: 'manual' });
    expect(r.status).toBe(404);
    expect(r.headers.get('content-type')).toContain('text/html');
    expect((await fetch(`${stack().url}/.netlify/functions/invite-redirect`)).status).toBe(404);
    expect((await fetch(`${stack().url}/api/orders`)).status).toBe(401);
  });

  it('runs the work handed to waitUntil after the answer (a "menu" gets its list)', async () => {
    await upsertCatalogProduct({ sku: 'INPROC-1', name: 'Tea', priceMinor: 500, currency: 'EUR', stock: 5 });
    const waId = newCustomer();
    const biz = { wabaId: '1', phoneNumberId: stack().env.WHATSAPP_PHONE_NUMBER_ID!, displayPhoneNumber: '15550100001' };
    const raw = JSON.stringify(buildWebhookPayload([buildEntry('1', [buildInboundMessageValue(biz, { from: waId, text: 'menu', wamid: makeWamid(waId) })])]));
    const r = await fetch(`${stack().url}/.netlify/functions/webhook`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-hub-signature-256': signMetaPayload(raw, stack().env.WHATSAPP_APP_SECRET!) },
      body: raw,
    });
    expect(r.status).toBe(200);
    const [reply] = await waitForMessages(stack(), waId, 1);
    expect(bodyOf(reply!).interactive?.type).toBe('list');
  });

  it('invokes the scheduled cleanup by name, settling its background work', async () => {
    const { response, background } = await stack().inProcess!.invoke('reservation-cleanup', new Request(`${stack().url}/.netlify/functions/reservation-cleanup`, { method: 'POST' }));
    await background;
    expect(response.status).toBeLessThan(300);
  });
});
