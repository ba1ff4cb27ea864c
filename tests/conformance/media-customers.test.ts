import { randomInt } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { makeWamid, signMetaPayload } from '../../dev/standins/graph.js';
import { db } from '../../lib/db.js';
import { invokeInProcess } from '../support/shop.js';
import { eventually, newCustomer, sentTo, useStack } from '../support/stack.js';
import { fixtureFile } from './manifest.js';
import { rewriteMeta } from './rewrite.js';

/**
 * The media answer reaches every customer who sends media: one per customer per 10-minute window (issue 23
 * bug 8). Real payloads (pywa's message fixtures: image, video, audio, voice, stickers, locations, contacts,
 * unsupported) are sent one customer after another, signed as Meta signs them, to the real webhook handler.
 */
const stack = useStack();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const FIXTURE = 'pywa/message.json';
const MEDIA = ['image', 'media_with_url', 'video', 'document', 'audio', 'voice', 'static_sticker', 'animated_sticker', 'current_location', 'chosen_location', 'contacts'];
const UNSUPPORTED = ['unsupported', 'unsupported_with_type'];
const examples = fixtureFile(FIXTURE).examples!;
const bsuid = () => `US.${Array.from({ length: 19 }, () => randomInt(10)).join('')}`;

/** The fixture from `customer`: their number, fresh wamids and timestamps; BSUIDs mapped by `bsuidOf`. */
async function send(example: string, customer: string, bsuidOf: (original: string) => string) {
  const body = rewriteMeta(examples[example], {
    phoneNumberId: stack().env.WHATSAPP_PHONE_NUMBER_ID!,
    displayNumber: stack().env.WHATSAPP_BUSINESS_NUMBER_E164!.replace(/\D/g, ''),
    customer,
    newNumber: newCustomer('4917'),
    bsuid: bsuidOf,
    target: null,
    wamid: () => makeWamid(customer),
    sku: (o) => o,
  });
  const raw = JSON.stringify(body);
  const r = await invokeInProcess('webhook', `${stack().url}/.netlify/functions/webhook`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-hub-signature-256': signMetaPayload(raw, stack().env.WHATSAPP_APP_SECRET!) },
    body: raw,
  });
  expect(r.status, r.text).toBe(200);
  const wamid = (body as { entry: { changes: { value: { messages: { id: string }[] } }[] }[] }).entry[0]!.changes[0]!.value.messages[0]!.id;
  // Processed (the answer, if any, sent) before the next customer writes.
  await eventually(async () => (await db()`SELECT processed_at FROM inbound_events WHERE external_id = ${wamid}`)[0]?.processed_at, 30_000);
}

/** Each customer's answers, after a quiet moment to catch a late or duplicate one. */
async function answersOf(customers: string[]) {
  await sleep(500);
  return customers.map((c) => sentTo(stack(), c).length);
}

describe('media answers across customers (issue 23)', () => {
  it('every media fixture, each from another customer in a row: each customer gets exactly one answer', async () => {
    const customers = MEDIA.map(() => newCustomer('4917'));
    for (const [i, example] of MEDIA.entries()) {
      const own = new Map<string, string>();
      await send(example, customers[i]!, (o) => own.get(o) ?? (own.set(o, bsuid()), own.get(o)!));
    }
    expect(await answersOf(customers)).toEqual(customers.map(() => 1));
  }, 120_000);

  it('the fixtures as the libraries send them (their BSUID kept), from one number after another: each number gets one answer', async () => {
    // pywa's fixtures all carry the same user_id: a new number with a known BSUID joins that customer (a
    // number change), and that sender is answered too, not silenced by the previous number's answer.
    const customers = MEDIA.slice(0, 6).map(() => newCustomer('4917'));
    for (const [i, example] of MEDIA.slice(0, 6).entries()) await send(example, customers[i]!, (o) => o);
    expect(await answersOf(customers)).toEqual(customers.map(() => 1));
  }, 120_000);

  it('one customer sending every kind gets one answer; unsupported messages get none', async () => {
    const one = newCustomer('4917');
    const own = new Map<string, string>();
    for (const example of MEDIA) await send(example, one, (o) => own.get(o) ?? (own.set(o, bsuid()), own.get(o)!));
    const silent = UNSUPPORTED.map(() => newCustomer('4917'));
    for (const [i, example] of UNSUPPORTED.entries()) await send(example, silent[i]!, () => bsuid());
    expect(await answersOf([one, ...silent])).toEqual([1, ...silent.map(() => 0)]);
    const outcomes = await db()`SELECT outcome FROM inbound_events WHERE outcome LIKE 'not answered:%'`;
    expect(outcomes).toHaveLength(MEDIA.length - 1);
  }, 120_000);
});
