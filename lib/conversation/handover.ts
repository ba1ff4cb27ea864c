import { getConfig } from '../config.js';
import { countMisunderstoodQuery, resetMisunderstoodQuery, toStaffQuery } from '../inbox/store.js';
import { log, maskIdentity } from '../log.js';
import { messageKeys } from '../messaging/keys.js';
import type { InboundWhatsAppMessage } from '../whatsapp/inbound-payload.js';
import { normalizeText, type Intent } from './intents.js';
import { replyWithin } from '../messaging/reply.js';
import type { Work } from '../work.js';

/**
 * Handover between the bot and a person (team inbox, docs/inbox.md). Each conversation is in `bot` or
 * `staff` mode (table conversations; its mode in effect is read by the recording statement, `work.ahead('inbox')`):
 *  - the customer asks for a person (INBOX_HANDOVER_KEYWORDS, or the "Talk to a person" button the bot
 *    offers after two texts in a row it did not understand) → `staff`, told a person will answer (SHOP_HOURS);
 *  - in `staff` mode the bot stays silent on free text it would answer with the menu, help or "didn't
 *    understand"; buttons, lists, catalog orders, invite tokens, status, cancel and "buy" keep working;
 *  - staff hand back from the console; an idle conversation is back with the bot after INBOX_IDLE_RETURN_MINUTES.
 * The mode and counter writes ride with the statements finishing the event (`work.also`): no round trip of their own.
 */

export const HANDOVER_BUTTON_ID = 'handover:person';

export function wantsPerson(text: string): boolean {
  const t = ` ${normalizeText(text)} `;
  return getConfig()
    .INBOX_HANDOVER_KEYWORDS.split(',')
    .map((k) => normalizeText(k))
    .some((k) => k && t.includes(` ${k} `));
}

export function personWillAnswer(): string {
  const { SHOP_NAME, SHOP_HOURS } = getConfig();
  return `Thanks! A person from ${SHOP_NAME} will answer you here${SHOP_HOURS ? ` (we're available ${SHOP_HOURS})` : ' as soon as possible'}. You can keep writing; buttons and your order links still work.`;
}

async function handOver(msg: InboundWhatsAppMessage, customerId: string, work: Work): Promise<string> {
  if (work.ahead('inbox')?.mode === 'staff') return 'staff mode: asked for a person again (left for staff)';
  work.also(toStaffQuery(customerId));
  log.info('inbox.handover', { to: 'staff', by: 'customer', from: maskIdentity(msg) });
  await replyWithin(work, { eventKey: messageKeys.reply(msg.wamid), kind: 'reply', customerId, message: { type: 'text', body: personWillAnswer() } }, { flush: true });
  return 'handover: staff mode (the customer asked for a person)';
}

/** Before the request is handled: the "Talk to a person" button. Returns the outcome, or undefined to go on. */
export async function inboxButton(msg: InboundWhatsAppMessage, customerId: string, work: Work): Promise<string | null | undefined> {
  if (msg.content.type === 'button_reply' && msg.content.id === HANDOVER_BUTTON_ID) return handOver(msg, customerId, work);
  return undefined;
}

/** A free text, once its intent is known: handover, staff-mode silence, the "didn't understand" count. Undefined: the bot goes on. */
export async function inboxText(
  msg: InboundWhatsAppMessage,
  body: string,
  intent: Intent,
  customerId: string,
  work: Work,
  /** The text finds products (it is answered as a search): understood, though no command. */
  findsProducts = false,
): Promise<string | null | undefined> {
  if (intent.type !== 'invite' && wantsPerson(body)) return handOver(msg, customerId, work);
  const chatter = intent.type === 'menu' || intent.type === 'help' || intent.type === 'unknown';
  if (work.ahead('inbox')?.mode === 'staff') return chatter ? 'staff mode: left for staff' : undefined;
  const misunderstood = work.ahead('inbox')?.misunderstood ?? 0;
  if (intent.type !== 'unknown' || findsProducts) {
    if (misunderstood > 0) work.also(resetMisunderstoodQuery(customerId));
    return undefined;
  }
  work.also(countMisunderstoodQuery(customerId));
  if (misunderstood < 1) return undefined;
  // The second text in a row the bot did not understand: offer a person.
  await replyWithin(
    work,
    {
      eventKey: messageKeys.reply(msg.wamid),
      kind: 'reply',
      customerId,
      message: {
        type: 'buttons',
        body: `Sorry, I still didn't get that. Would you like to talk to a person from ${getConfig().SHOP_NAME}? Or type "menu" to see our products.`,
        buttons: [{ id: HANDOVER_BUTTON_ID, title: 'Talk to a person' }],
      },
    },
    { flush: true },
  );
  return 'not understood twice: offered a person';
}
