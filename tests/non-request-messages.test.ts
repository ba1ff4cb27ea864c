import { beforeAll, describe, expect, it } from 'vitest';
import { buildStatusPayload, makeWamid, serializeMetaPayload, signMetaPayload, type InboundInput, type RecordedMessage } from '../dev/standins/graph.js';
import { upsertCatalogProduct } from '../lib/catalog/index.js';
import { db } from '../lib/db.js';
import { bodyOf, eventually, newCustomer, sentTo, useStack, payCheckoutSession } from './support/stack.js';

/**
 * What is not a request gets no answer (reactions, removed reactions, deleted and edited messages,
 * system notices, Meta's `unsupported`); a number change moves the customer; messages for another
 * phone number and messages older than the 24-hour window change nothing; media get one helpful answer.
 * Payload shapes follow Meta's webhook reference and pywa's tests/data/updates fixtures.
 */
const stack = useStack();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const until = <T>(check: () => T | Promise<T>) => eventually(check, 60_000);

const inbound = async (input: InboundInput) => {
  const d = await stack().graph.sendInbound({ ...input, wamid: input.wamid ?? makeWamid(input.from ?? input.userId) });
  expect(d.status).toBe(200);
  return d;
};
async function waitFor(who: string, count: number, quietMs = 400): Promise<RecordedMessage[]> {
  await until(() => sentTo(stack(), who).length >= count);
  await sleep(quietMs);
  return sentTo(stack(), who);
}
/** The inbound event's outcome, once processed. */
const outcomeOf = (wamid: string) =>
  until(async () => {
    const [row] = await db()`SELECT outcome, processed_at FROM inbound_events WHERE external_id = ${wamid}`;
    return row?.processed_at ? (row.outcome as string | null) ?? 'none' : null;
  });

const pay = (sessionId: string) => payCheckoutSession(stack(), sessionId);

/** A customer with an open order (its payment link sent). */
async function customerWithOrder() {
  const waId = newCustomer();
  await inbound({ from: waId, name: 'Ada', text: 'buy TEA-1 1' });
  const [link] = await waitFor(waId, 1, 0);
  const [order] = await db()`SELECT o.id, o.stripe_session_id FROM orders o JOIN customers c ON c.id = o.customer_id WHERE c.wa_id = ${waId}`;
  return { waId, link: link!, orderId: order!.id as string, sessionId: order!.stripe_session_id as string };
}

beforeAll(async () => {
  await fetch(`${stack().stripe.url}/_standin/webhook-url`, { method: 'POST', body: JSON.stringify({ url: '' }) });
  await upsertCatalogProduct({ sku: 'TEA-1', name: 'Green tea', priceMinor: 1299, currency: 'EUR', stock: 500 });
});

describe('messages that are not requests', () => {
  it('a reaction, a removed reaction, a revoke, an edit, unsupported and each system notice get no message', async () => {
    const { waId, link } = await customerWithOrder();
    const kinds: [InboundInput['raw'], string][] = [
      [{ type: 'reaction', reaction: { message_id: link.wamid, emoji: '\u{1F44D}' } }, 'recorded: reaction'],
      [{ type: 'reaction', reaction: { message_id: link.wamid } }, 'recorded: reaction removed'],
      [{ type: 'revoke', revoke: { original_message_id: makeWamid(waId) } }, 'recorded: message deleted by the customer'],
      [{ type: 'edit', edit: { original_message_id: makeWamid(waId), message: { type: 'text', text: { body: 'buy TEA-1 5' } } } }, 'recorded: message edited (not acted on)'],
      [{ type: 'unsupported', errors: [{ code: 131051, title: 'Message type unknown', message: 'Message type unknown', error_data: { details: 'Message type is currently not supported.' } }] }, 'recorded: unsupported message'],
      [{ type: 'system', identity: { acknowledged: true, created_timestamp: '1697044706', hash: 'xyzxyz' }, system: { body: 'User identity changed', type: 'customer_identity_changed' } }, 'recorded: system customer_identity_changed'],
    ];
    for (const [raw, outcome] of kinds) {
      const { wamid } = await inbound({ from: waId, raw });
      expect(await outcomeOf(wamid)).toBe(outcome);
    }
    await sleep(800);
    expect(sentTo(stack(), waId)).toHaveLength(1); // only the payment link
    const [order] = await db()`SELECT count(*)::int AS n FROM orders o JOIN customers c ON c.id = o.customer_id WHERE c.wa_id = ${waId}`;
    expect(order!.n).toBe(1); // the edited "buy" placed nothing
  }, 180_000);

  it('user_changed_number moves the open order to the new number; the confirmation goes there, nothing to the old one', async () => {
    const { waId: oldNumber, orderId, sessionId } = await customerWithOrder();
    const newNumber = newCustomer('4917');
    const [before] = await db()`SELECT id FROM customers WHERE wa_id = ${oldNumber}`;
    const { wamid } = await inbound({
      from: oldNumber,
      raw: { type: 'system', system: { body: `User Ada changed from ${oldNumber} to ${newNumber}`, wa_id: newNumber, type: 'user_changed_number' } },
    });
    expect(await outcomeOf(wamid)).toBe('recorded: user_changed_number (customer moved to the new number)');
    const [after] = await db()`SELECT id, wa_id, phone_e164 FROM customers WHERE id = ${before!.id}`;
    expect(after).toMatchObject({ wa_id: newNumber, phone_e164: `+${newNumber}` });
    expect(await db()`SELECT 1 FROM customers WHERE wa_id = ${oldNumber}`).toHaveLength(0);

    await pay(sessionId);
    const atNew = await waitFor(newNumber, 2);
    expect(bodyOf(atNew[0]!).template).toMatchObject({ name: 'order_confirmed' });
    expect(bodyOf(atNew[1]!).text!.body).toContain('Please forward this link');
    expect(sentTo(stack(), oldNumber)).toHaveLength(1); // the payment link, before the change
    const [order] = await db()`SELECT customer_id, payment_status FROM orders WHERE id = ${orderId}`;
    expect(order).toMatchObject({ customer_id: before!.id, payment_status: 'paid' });

    // The customer writes from the new number: same customer, same orders.
    await inbound({ from: newNumber, text: 'status' });
    const status = (await waitFor(newNumber, 3)).at(-1)!;
    expect(bodyOf(status).text!.body).toMatch(/: paid\./);
  }, 180_000);

  it('user_changed_user_id (no phone, previous BSUID only) moves a BSUID customer to the new BSUID', async () => {
    const previous = `CO.${Date.now()}1`;
    const next = `MX.${Date.now()}2`;
    await inbound({ userId: previous, text: 'menu' });
    await waitFor(previous, 1, 0);
    const [before] = await db()`SELECT id FROM customers WHERE bsuid = ${previous}`;
    const payload = {
      object: 'whatsapp_business_account',
      entry: [{ id: '1', changes: [{ field: 'messages', value: {
        messaging_product: 'whatsapp',
        metadata: { display_phone_number: '15550100001', phone_number_id: stack().env.WHATSAPP_PHONE_NUMBER_ID },
        messages: [{ id: makeWamid(), timestamp: String(Math.floor(Date.now() / 1000)), type: 'system',
          system: { body: `User changed from ${previous} to ${next}`, user_id: next, previous_user_id: previous, type: 'user_changed_user_id' } }],
      } }] }],
    };
    const raw = serializeMetaPayload(payload);
    const r = await fetch(`${stack().url}/.netlify/functions/webhook`, { method: 'POST', headers: { 'x-hub-signature-256': signMetaPayload(raw, stack().env.WHATSAPP_APP_SECRET!) }, body: raw });
    expect(r.status).toBe(200);
    expect(await outcomeOf(payload.entry[0]!.changes[0]!.value.messages[0]!.id)).toBe('recorded: user_changed_user_id (customer moved to the new BSUID)');
    const [after] = await db()`SELECT bsuid FROM customers WHERE id = ${before!.id}`;
    expect(after!.bsuid).toBe(next);
    await sleep(500);
    expect(sentTo(stack(), previous)).toHaveLength(1);
    expect(sentTo(stack(), next)).toHaveLength(0);
  }, 120_000);

  it('media get one short helpful answer (not "didn\'t understand"), once per burst', async () => {
    const waId = newCustomer();
    await inbound({ from: waId, raw: { type: 'image', image: { caption: 'this one', mime_type: 'image/jpeg', sha256: 'abc=', id: '1234' } } });
    const [answer] = await waitFor(waId, 1);
    const text = bodyOf(answer!).text!.body;
    expect(text).toContain("can't open photos");
    expect(text).toContain('"menu"');
    expect(text).toContain('"buy');
    expect(text).toContain('"status"');
    expect(text).not.toMatch(/didn't quite get/);
    await inbound({ from: waId, raw: { type: 'image', image: { mime_type: 'image/jpeg', sha256: 'def=', id: '1235' } } });
    await inbound({ from: waId, raw: { type: 'location', location: { latitude: 38.9, longitude: -77.0 } } });
    await sleep(1500);
    expect(sentTo(stack(), waId)).toHaveLength(1);
  }, 120_000);

  it('a status the shop does not act on (played) is kept without changing the delivery state', async () => {
    const { waId, link } = await customerWithOrder();
    const biz = { wabaId: '1', phoneNumberId: stack().env.WHATSAPP_PHONE_NUMBER_ID!, displayPhoneNumber: '15550100001' };
    const payload = buildStatusPayload(biz, { wamid: link.wamid!, status: 'played' as 'read', recipient_id: waId });
    const raw = serializeMetaPayload(payload);
    const r = await fetch(`${stack().url}/.netlify/functions/webhook`, { method: 'POST', headers: { 'x-hub-signature-256': signMetaPayload(raw, stack().env.WHATSAPP_APP_SECRET!) }, body: raw });
    expect(r.status).toBe(200);
    expect(await r.json()).toMatchObject({ new: 1 });
    const row = await until(async () => {
      const [m] = await db()`SELECT delivery_status, delivery_statuses FROM outbound_messages WHERE wamid = ${link.wamid}`;
      return (m?.delivery_statuses as { status: string }[]).some((s) => s.status === 'played') ? m : null;
    });
    expect(row.delivery_status).toBe('sent');
  }, 120_000);
});

describe('messages for another phone number and late deliveries', () => {
  it('a message for another phone_number_id is acknowledged, recorded and changes nothing', async () => {
    const waId = newCustomer();
    const { wamid } = await inbound({ from: waId, phoneNumberId: '999999999999999', text: 'buy TEA-1 1' });
    const [row] = await until(() => db()`SELECT kind, outcome, processed_at FROM inbound_events WHERE external_id LIKE ${`other-number:999999999999999:message:${wamid}%`}`);
    expect(row).toMatchObject({ kind: 'message', outcome: 'ignored: for phone_number_id 999999999999999' });
    expect(row!.processed_at).toBeInstanceOf(Date);
    await sleep(800);
    expect(sentTo(stack(), waId)).toHaveLength(0);
    expect(await db()`SELECT 1 FROM customers WHERE wa_id = ${waId}`).toHaveLength(0);
    expect(await db()`SELECT 1 FROM inbound_events WHERE external_id = ${wamid}`).toHaveLength(0);
  }, 60_000);

  it('a 3-day-old message gets no free-form reply and places no order', async () => {
    const waId = newCustomer();
    const threeDaysAgo = Math.floor(Date.now() / 1000) - 3 * 24 * 3600;
    const { wamid } = await inbound({ from: waId, text: 'buy TEA-1 2', timestamp: threeDaysAgo });
    expect(await outcomeOf(wamid)).toMatch(/^late: no reply \(72 h old/);
    await sleep(800);
    expect(sentTo(stack(), waId)).toHaveLength(0);
    expect(await db()`SELECT 1 FROM orders o JOIN customers c ON c.id = o.customer_id WHERE c.wa_id = ${waId}`).toHaveLength(0);
    // The old message did not open a 24-hour window.
    const [customer] = await db()`SELECT last_inbound_at FROM customers WHERE wa_id = ${waId}`;
    expect(new Date(customer!.last_inbound_at as string).getTime()).toBeLessThan(Date.now() - 2 * 24 * 3600 * 1000);
  }, 60_000);
});
