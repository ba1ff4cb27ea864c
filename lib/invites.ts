import { sendOnce } from './outbox.js';
import type { InboundWhatsAppMessage } from './whatsapp/inbound-payload.js';

/** A contact who opened an order's invite link and sent its prefilled text. */
export async function handleInviteMessage(msg: InboundWhatsAppMessage, _token: string): Promise<void> {
  await sendOnce({
    eventKey: `reply:${msg.wamid}`,
    kind: 'reply',
    toWaId: msg.waId,
    message: { type: 'text', body: 'Thanks for reaching out! We could not find that order link. Type "menu" to see our products.' },
  });
}
