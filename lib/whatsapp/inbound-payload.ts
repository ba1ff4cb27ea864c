import { dateFromUnixSeconds } from '../safe-text.js';
import { WA_ID_PATTERN } from '../identity.js';
import { bsuidLike, contactSchema, envelopeSchema, messageSchema, statusSchema, type Contact, type RawMessage } from './payload-schemas.js';

/**
 * Meta's webhook payload, parsed once at the edge. One POST may carry several entries,
 * changes, messages and statuses: every one of them is returned. A malformed item is
 * reported in `rejected` instead of failing the whole batch.
 *
 * Identity (Meta's business-scoped user IDs, 2026): a message carries `from` (phone), `from_user_id`
 * (BSUID) and `from_parent_user_id`, any of which may be missing; `contacts[]` carry `wa_id`,
 * `user_id`, `parent_user_id` and `profile.username`; statuses carry `recipient_id` and/or
 * `recipient_user_id`. Every one of these is optional here; a message with neither a phone nor a
 * BSUID is rejected. Changes for another `metadata.phone_number_id` are returned in `foreign`.
 * The zod schemas of the raw items: ./payload-schemas.ts; here, their mapping to our types.
 */

/** Media and other content the shop cannot act on but should answer once, helpfully. */
export const MEDIA_KINDS = new Set(['image', 'audio', 'video', 'document', 'sticker', 'location', 'contacts']);

export type InboundContent =
  | { type: 'text'; body: string }
  | { type: 'list_reply'; id: string; title: string }
  | { type: 'button_reply'; id: string; title: string }
  | { type: 'order'; catalogId: string | null; note: string | null; items: { sku: string; quantity: number; itemPrice: number | null; currency: string | null }[] }
  | { type: 'media'; kind: string; detail?: MediaDetail }
  /** An emoji reaction to one of our messages; an empty emoji is a removed reaction. */
  | { type: 'reaction'; emoji: string; messageId: string | null }
  | { type: 'revoke'; originalMessageId: string | null }
  | { type: 'edit'; originalMessageId: string | null; editedType: string | null; text?: string | null }
  | { type: 'system'; kind: string; newWaId: string | null; newUserId: string | null; previousUserId: string | null }
  | { type: 'unsupported'; kind: string };

/** What a media, location or contacts message carried (the team inbox shows it; the media itself stays at Meta until asked for). */
export type MediaDetail = {
  mediaId?: string | null;
  mimeType?: string | null;
  sha256?: string | null;
  caption?: string | null;
  filename?: string | null;
  voice?: boolean;
  location?: { latitude: number | null; longitude: number | null; name: string | null; address: string | null };
  contacts?: { name: string | null; phones: string[] }[];
};

export type InboundWhatsAppMessage = {
  wamid: string;
  /** The sender's phone (wa_id digits), when Meta shared it. */
  waId: string | null;
  /** The sender's BSUID (`from_user_id`), when given. */
  userId: string | null;
  parentUserId: string | null;
  username: string | null;
  profileName: string | null;
  sentAt: Date;
  content: InboundContent;
};

/** Statuses the shop acts on; any other (`played`, `deleted`, future ones) is recorded and kept. */
export const TRACKED_STATUSES = ['sent', 'delivered', 'read', 'failed'] as const;
export type TrackedStatus = (typeof TRACKED_STATUSES)[number];

export type DeliveryStatus = {
  wamid: string;
  status: string;
  at: Date;
  callbackKey: string | null;
  recipientWaId: string | null;
  recipientUserId: string | null;
  errors: { code: number; title: string }[];
};

/** A message or status addressed to another of the app's phone numbers: recorded, never processed. */
export type ForeignItem = { kind: 'message' | 'status'; id: string; phoneNumberId: string; type: string };

export type ParsedWebhook = { messages: InboundWhatsAppMessage[]; statuses: DeliveryStatus[]; foreign: ForeignItem[]; rejected: string[] };

export function parseWebhookPayload(body: unknown, ownPhoneNumberId?: string): ParsedWebhook | { error: string } {
  const envelope = envelopeSchema.safeParse(body);
  if (!envelope.success) return { error: 'not a WhatsApp webhook envelope' };
  const out: ParsedWebhook = { messages: [], statuses: [], foreign: [], rejected: [] };
  for (const entry of envelope.data.entry) {
    for (const change of entry.changes) {
      if (change.field !== 'messages') continue;
      const value = change.value;
      const phoneNumberId = phoneNumberIdOf(value.metadata);
      if (ownPhoneNumberId && phoneNumberId && phoneNumberId !== ownPhoneNumberId) {
        for (const raw of asArray(value.messages)) out.foreign.push({ kind: 'message', id: idOf(raw), phoneNumberId, type: typeOf(raw, 'type') });
        for (const raw of asArray(value.statuses)) out.foreign.push({ kind: 'status', id: idOf(raw), phoneNumberId, type: typeOf(raw, 'status') });
        continue;
      }
      const contacts = asArray(value.contacts).flatMap((c) => {
        const parsed = contactSchema.safeParse(c);
        return parsed.success ? [parsed.data] : [];
      });
      const rawMessages = asArray(value.messages);
      for (const raw of rawMessages) {
        const m = messageSchema.safeParse(raw);
        if (!m.success) {
          out.rejected.push(`message: ${m.error.issues[0]?.path.join('.') ?? ''} ${m.error.issues[0]?.message ?? ''}`.trim());
          continue;
        }
        const message = toMessage(m.data, contacts, rawMessages.length === 1);
        if (!message) {
          out.rejected.push('message: neither a phone (from) nor a business-scoped user ID (from_user_id)');
          continue;
        }
        out.messages.push(message);
      }
      for (const raw of asArray(value.statuses)) {
        const s = statusSchema.safeParse(raw);
        if (!s.success) {
          out.rejected.push(`status: ${s.error.issues[0]?.path.join('.') ?? ''} ${s.error.issues[0]?.message ?? 'invalid'}`.trim());
          continue;
        }
        out.statuses.push({
          wamid: s.data.id,
          status: s.data.status,
          at: unixSeconds(s.data.timestamp),
          callbackKey: s.data.biz_opaque_callback_data ?? null,
          recipientWaId: phoneOrNull(s.data.recipient_id),
          recipientUserId: bsuidOrNull(s.data.recipient_user_id),
          errors: (s.data.errors ?? []).map((e) => ({ code: e.code, title: e.title ?? e.message ?? '' })),
        });
      }
    }
  }
  return out;
}


function toMessage(m: RawMessage, contacts: Contact[], onlyMessage: boolean): InboundWhatsAppMessage | null {
  let waId = phoneOrNull(m.from);
  let userId = bsuidOrNull(m.from_user_id);
  // Meta's user_changed_user_id notice names the user only by their previous BSUID.
  if (!waId && !userId && m.type === 'system') userId = bsuidOrNull(m.system?.previous_user_id);
  const contact =
    contacts.find((c) => (waId && c.wa_id === waId) || (userId && c.user_id === userId)) ??
    (onlyMessage && contacts.length === 1 && !waId && !userId ? contacts[0] : undefined);
  waId ??= phoneOrNull(contact?.wa_id);
  userId ??= bsuidOrNull(contact?.user_id);
  if (!waId && !userId) return null;
  return {
    wamid: m.id,
    waId,
    userId,
    parentUserId: bsuidOrNull(m.from_parent_user_id) ?? bsuidOrNull(contact?.parent_user_id),
    username: contact?.profile?.username ?? null,
    profileName: contact?.profile?.name ?? null,
    sentAt: unixSeconds(m.timestamp),
    content: contentOf(m),
  };
}

function contentOf(m: RawMessage): InboundContent {
  if (m.type === 'text' && m.text) return { type: 'text', body: m.text.body };
  if (m.type === 'interactive' && m.interactive?.list_reply)
    return { type: 'list_reply', id: m.interactive.list_reply.id, title: m.interactive.list_reply.title ?? '' };
  if (m.type === 'interactive' && m.interactive?.button_reply)
    return { type: 'button_reply', id: m.interactive.button_reply.id, title: m.interactive.button_reply.title ?? '' };
  if (m.type === 'button' && m.button) return { type: 'text', body: m.button.text ?? m.button.payload ?? '' };
  if (m.type === 'order' && m.order)
    return {
      type: 'order',
      catalogId: m.order.catalog_id ?? null,
      note: m.order.text ?? null,
      items: m.order.product_items.map((i) => ({
        sku: i.product_retailer_id,
        quantity: i.quantity,
        itemPrice: i.item_price ?? null,
        currency: i.currency ?? null,
      })),
    };
  if (m.type === 'reaction') return { type: 'reaction', emoji: m.reaction?.emoji ?? '', messageId: m.reaction?.message_id ?? null };
  if (m.type === 'revoke') return { type: 'revoke', originalMessageId: m.revoke?.original_message_id ?? null };
  if (m.type === 'edit')
    return { type: 'edit', originalMessageId: m.edit?.original_message_id ?? null, editedType: m.edit?.message?.type ?? null, text: editedTextOf(m.edit?.message) };
  if (m.type === 'system')
    return {
      type: 'system',
      kind: m.system?.type ?? 'unknown',
      newWaId: phoneOrNull(m.system?.new_wa_id ?? (m.system?.type === 'user_changed_number' ? m.system?.wa_id : undefined)),
      newUserId: bsuidOrNull(m.system?.type === 'user_changed_user_id' ? m.system?.user_id : undefined),
      previousUserId: bsuidOrNull(m.system?.previous_user_id),
    };
  if (MEDIA_KINDS.has(m.type)) return { type: 'media', kind: m.type, detail: mediaDetailOf(m) };
  return { type: 'unsupported', kind: m.type };
}

function mediaDetailOf(m: RawMessage): MediaDetail {
  if (m.type === 'location') {
    const l = m.location;
    return { location: { latitude: l?.latitude ?? null, longitude: l?.longitude ?? null, name: l?.name ?? null, address: l?.address ?? null } };
  }
  if (m.type === 'contacts') {
    return {
      contacts: (m.contacts ?? []).slice(0, 20).map((c) => {
        const name = (c.name as { formatted_name?: unknown } | undefined)?.formatted_name;
        const phones = Array.isArray(c.phones) ? c.phones.map((p) => (p as { phone?: unknown })?.phone).filter((p): p is string => typeof p === 'string') : [];
        return { name: typeof name === 'string' ? name : null, phones: phones.slice(0, 5) };
      }),
    };
  }
  const media = m[m.type as 'image' | 'video' | 'audio' | 'document' | 'sticker'];
  return {
    mediaId: media?.id ?? null,
    mimeType: media?.mime_type ?? null,
    sha256: media?.sha256 ?? null,
    caption: media?.caption ?? null,
    filename: media?.filename ?? null,
    ...(media?.voice ? { voice: true } : {}),
  };
}

function editedTextOf(message: Record<string, unknown> | undefined): string | null {
  const text = (message?.text as { body?: unknown } | undefined)?.body;
  if (typeof text === 'string') return text;
  const type = message?.type;
  const caption = typeof type === 'string' ? (message?.[type] as { caption?: unknown } | undefined)?.caption : undefined;
  return typeof caption === 'string' ? caption : null;
}

function phoneOrNull(v: string | undefined | null): string | null {
  const digits = v?.replace(/^\+/, '');
  return digits && WA_ID_PATTERN.test(digits) ? digits : null;
}

function bsuidOrNull(v: string | undefined | null): string | null {
  return v && bsuidLike.safeParse(v).success ? v : null;
}

function phoneNumberIdOf(metadata: unknown): string | null {
  const id = (metadata as { phone_number_id?: unknown } | undefined)?.phone_number_id;
  return typeof id === 'string' || typeof id === 'number' ? String(id) : null;
}

function idOf(raw: unknown): string {
  const id = (raw as { id?: unknown } | null)?.id;
  return typeof id === 'string' && id ? id : 'unknown';
}

function typeOf(raw: unknown, field: 'type' | 'status'): string {
  const v = (raw as Record<string, unknown> | null)?.[field];
  return typeof v === 'string' ? v : 'unknown';
}

function asArray(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

function unixSeconds(ts: string | undefined): Date {
  return dateFromUnixSeconds(ts) ?? new Date();
}
