import { conflict, DomainError, invalidRequest, notFound } from '../errors.js';
import { log, maskIdentity } from '../log.js';
import { messageKeys, outboxKey } from '../messaging/keys.js';
import type { OutgoingMessage } from '../messaging/messages.js';
import { sendOnce } from '../messaging/outbox.js';
import { staffMessageByKey } from '../messaging/outbox-store.js';
import { insideWindow, SERVICE_WINDOW_MS } from '../messaging/window.js';
import { staffMessageEvent } from '../orders/events.js';
import { isOrderId } from '../orders/order.js';
import { z } from '../zod.js';
import { markReadOnWhatsApp } from './graph.js';
import { lastMessageQuery, readQuery, repliedQuery, staffMessageTargetQuery, typingQuery } from './store.js';
import { approvedTemplates, buildStaffTemplate } from './templates.js';
import { Work } from '../work.js';

/**
 * What staff do in a conversation: answer (through the outbox, keyed by the console's Idempotency-Key,
 * so a double click or a retry sends once), mark it read on WhatsApp, show the typing indicator.
 * Every answer is attributed: outbound_messages.sent_by, conversations.replied_by and an order_events row
 * (`staff_message`) on the order the conversation is about (the newest open one it is linked to).
 */

export const staffMessageRequest = z.union([
  z.object({ text: z.string().trim().min(1, 'must not be empty').max(4096, 'at most 4096 characters') }).strict(),
  z.object({ template: z.string().trim().min(1).max(512), language: z.string().trim().min(2).max(15).optional(), parameters: z.array(z.string().max(1024)).max(20).default([]) }).strict(),
], { error: 'give {text} or {template, language?, parameters}' });
export type StaffMessageRequest = z.infer<typeof staffMessageRequest>;

const KEY_SHAPE = /^[\x21-\x7e]{8,200}$/;
export const TYPING_INTERVAL_SECONDS = 25;

export async function sendStaffMessage(id: string, req: StaffMessageRequest, idempotencyKey: string | null, staff: string) {
  if (!idempotencyKey || !KEY_SHAPE.test(idempotencyKey))
    throw invalidRequest([{ path: 'Idempotency-Key', message: 'header required: 8 to 200 visible characters, one new key per message' }]);
  if (!isOrderId(id)) throw notFound('conversation');
  const eventKey = messageKeys.staff(id, idempotencyKey);
  const key = outboxKey(eventKey);
  const [row] = await staffMessageTargetQuery(id, key);
  if (!row) throw notFound('conversation');

  let message: OutgoingMessage;
  if ('text' in req) message = { type: 'text', body: req.text };
  else message = buildStaffTemplate(await approvedTemplates(), req.template, req.language, req.parameters);

  const existing = row.existing as Record<string, unknown> | null;
  if (existing) return replayOf(existing, message);
  if (message.type === 'text' && !insideWindow(row.last_inbound_at as string | null)) {
    const endsAt = row.last_inbound_at ? new Date(new Date(row.last_inbound_at as string).getTime() + SERVICE_WINDOW_MS).toISOString() : null;
    throw conflict('window_closed', 'free-form text only within 24 hours of the customer\'s last message; send an approved template', { windowEndsAt: endsAt });
  }
  const orderId = ((row.invited_order as string | null) ?? (row.own_order as string | null)) ?? null;
  // The conversation's reply mark and the order's event go in the round trip that records the send.
  const work = new Work('staff message');
  work.also(repliedQuery(id, staff));
  if (orderId) work.also(staffMessageEvent(orderId, { staff, conversationId: id, messageKey: key, kind: message.type }));
  const outcome = await sendOnce({ eventKey, kind: 'staff', customerId: id, orderId, message, sentBy: staff }, work);
  log.info('inbox.staff_message', { staff, outcome, type: message.type, to: maskIdentity({ waId: row.wa_id as string | null, userId: row.bsuid as string | null }) });
  const [after] = await staffMessageByKey(key);
  if (outcome === 'duplicate') return replayOf(after as Record<string, unknown>, message);
  const body = { message: outboundFacts(after as Record<string, unknown>) };
  if (outcome === 'failed' || outcome === 'skipped') throw new DomainError('upstream_failed', 'whatsapp_refused', `WhatsApp did not take the message: ${String(after?.error_title ?? outcome)}`, undefined, body);
  return { status: outcome === 'sent' ? 201 : 202, body, replayed: false };
}

function outboundFacts(r: Record<string, unknown>) {
  return { id: `out:${r.id}`, status: r.status, wamid: r.wamid ?? null, error: r.error_title ?? null, staff: r.sent_by ?? null };
}

/** The same key again: the same message answers what happened to it; another message under that key is a 409. */
function replayOf(existing: Record<string, unknown>, message: OutgoingMessage) {
  if (JSON.stringify(existing.payload) !== JSON.stringify(message) && !sameJson(existing.payload, message))
    throw conflict('idempotency_conflict', 'this Idempotency-Key was already used for another message; the first one stands', { message: outboundFacts(existing) });
  return { status: 200, body: { message: outboundFacts(existing) }, replayed: true };
}

function sameJson(a: unknown, b: unknown): boolean {
  const norm = (v: unknown): unknown => (Array.isArray(v) ? v.map(norm) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).sort(([x], [y]) => x.localeCompare(y)).map(([k, x]) => [k, norm(x)])) : v);
  return JSON.stringify(norm(a)) === JSON.stringify(norm(b));
}

/** POST /api/conversations/:id/read: the newest customer message marked read on WhatsApp (Meta marks the earlier ones too), then in the inbox. */
export async function markConversationRead(id: string, staff: string) {
  if (!isOrderId(id)) throw notFound('conversation');
  const [last] = await lastMessageQuery(id);
  if (!last) throw notFound('conversation');
  // Meta refuses read receipts for messages older than 30 days; those are only marked here.
  const recent = last.wamid && Date.now() - new Date(last.at as string).getTime() < 30 * 24 * 3600_000;
  if (recent) await markReadOnWhatsApp(last.wamid as string);
  const [row] = await readQuery(id, staff);
  return { readAt: new Date(row!.read_at as string).toISOString(), readBy: staff, markedOnWhatsApp: !!recent };
}

/**
 * POST /api/conversations/:id/typing: Meta's typing indicator (with a read receipt of the newest message), at
 * most once per 25 s per conversation (a conditional write decides; a caller inside the interval gets sent: false).
 */
export async function showTyping(id: string) {
  if (!isOrderId(id)) throw notFound('conversation');
  const [row] = await typingQuery(id, TYPING_INTERVAL_SECONDS);
  if (!row?.wamid) throw notFound('conversation');
  if (!row.claimed) return { sent: false };
  await markReadOnWhatsApp(row.wamid as string, true);
  return { sent: true };
}
