import type { InboundWhatsAppMessage } from '../whatsapp/inbound-payload.js';

/**
 * An inbound message's content as the team inbox keeps it (table conversation_messages, written by the
 * webhook's recording statement, lib/conversation/inbound-events.ts): the kind, a text (the body, a caption,
 * a reply's title, a reaction's emoji, an edit's new text), the rest as data, and for a reaction, an edit or
 * a revoke the message it is about. Pure: computed before the statement runs.
 */
export type StoredContent = { kind: string; body: string | null; data: Record<string, unknown> | null; refWamid: string | null };

export function storedContentOf(m: InboundWhatsAppMessage): StoredContent {
  const c = m.content;
  switch (c.type) {
    case 'text':
      return { kind: 'text', body: c.body, data: null, refWamid: null };
    case 'list_reply':
    case 'button_reply':
      return { kind: c.type, body: c.title, data: { id: c.id }, refWamid: null };
    case 'order':
      return { kind: 'order', body: c.note, data: { catalogId: c.catalogId, items: c.items }, refWamid: null };
    case 'media': {
      const d = c.detail ?? {};
      if (c.kind === 'location') return { kind: 'location', body: d.location?.name ?? null, data: { location: d.location ?? null }, refWamid: null };
      if (c.kind === 'contacts') return { kind: 'contacts', body: null, data: { contacts: d.contacts ?? [] }, refWamid: null };
      return {
        kind: c.kind,
        body: d.caption ?? null,
        data: { mediaId: d.mediaId ?? null, mimeType: d.mimeType ?? null, filename: d.filename ?? null, sha256: d.sha256 ?? null, ...(d.voice ? { voice: true } : {}) },
        refWamid: null,
      };
    }
    case 'reaction':
      return { kind: 'reaction', body: c.emoji || null, data: null, refWamid: c.messageId };
    case 'revoke':
      return { kind: 'revoke', body: null, data: null, refWamid: c.originalMessageId };
    case 'edit':
      return { kind: 'edit', body: c.text ?? null, data: { editedType: c.editedType }, refWamid: c.originalMessageId };
    case 'system':
      return { kind: 'system', body: c.kind, data: null, refWamid: null };
    case 'unsupported':
      return { kind: 'unsupported', body: c.kind, data: null, refWamid: null };
  }
}

/** Kinds that carry a file at Meta, fetched through the media proxy (GET /api/media/:id). */
export const MEDIA_FILE_KINDS = new Set(['image', 'video', 'audio', 'document', 'sticker']);
