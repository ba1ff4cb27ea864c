import { z } from 'zod';

/**
 * Meta's webhook payload, parsed once at the edge. One POST may carry several entries,
 * changes, messages and statuses: every one of them is returned. A malformed item is
 * reported in `rejected` instead of failing the whole batch.
 */

const contactSchema = z.object({ wa_id: z.string(), profile: z.object({ name: z.string().optional() }).optional() });

const messageSchema = z.object({
  id: z.string().min(1),
  from: z.string().regex(/^[1-9]\d{7,14}$/, 'wa_id must be 8-15 digits'),
  timestamp: z.string().optional(),
  type: z.string(),
  text: z.object({ body: z.string() }).optional(),
  interactive: z
    .object({
      type: z.string(),
      list_reply: z.object({ id: z.string(), title: z.string().optional(), description: z.string().optional() }).optional(),
      button_reply: z.object({ id: z.string(), title: z.string().optional() }).optional(),
    })
    .optional(),
  button: z.object({ text: z.string().optional(), payload: z.string().optional() }).optional(),
  order: z
    .object({
      catalog_id: z.string().optional(),
      text: z.string().optional(),
      product_items: z.array(
        z.object({
          product_retailer_id: z.string(),
          quantity: z.coerce.number(),
          item_price: z.coerce.number().optional(),
          currency: z.string().optional(),
        }),
      ),
    })
    .optional(),
});

const statusSchema = z.object({
  id: z.string().min(1),
  status: z.enum(['sent', 'delivered', 'read', 'failed', 'deleted', 'warning']),
  timestamp: z.string().optional(),
  recipient_id: z.string().optional(),
  biz_opaque_callback_data: z.string().optional(),
  errors: z
    .array(z.object({ code: z.coerce.number(), title: z.string().optional(), message: z.string().optional() }).passthrough())
    .optional(),
});

const envelopeSchema = z.object({
  object: z.string(),
  entry: z.array(
    z.object({
      id: z.string().optional(),
      changes: z.array(z.object({ field: z.string(), value: z.record(z.string(), z.unknown()) })),
    }),
  ),
});

export type InboundWhatsAppMessage = {
  wamid: string;
  waId: string;
  profileName: string | null;
  sentAt: Date;
  content:
    | { type: 'text'; body: string }
    | { type: 'list_reply'; id: string; title: string }
    | { type: 'button_reply'; id: string; title: string }
    | { type: 'order'; catalogId: string | null; note: string | null; items: { sku: string; quantity: number; itemPrice: number | null; currency: string | null }[] }
    | { type: 'unsupported'; kind: string };
};

export type DeliveryStatus = {
  wamid: string;
  status: 'sent' | 'delivered' | 'read' | 'failed';
  at: Date;
  callbackKey: string | null;
  errors: { code: number; title: string }[];
};

export type ParsedWebhook = { messages: InboundWhatsAppMessage[]; statuses: DeliveryStatus[]; rejected: string[] };

export function parseWebhookPayload(body: unknown): ParsedWebhook | { error: string } {
  const envelope = envelopeSchema.safeParse(body);
  if (!envelope.success) return { error: 'not a WhatsApp webhook envelope' };
  const out: ParsedWebhook = { messages: [], statuses: [], rejected: [] };
  for (const entry of envelope.data.entry) {
    for (const change of entry.changes) {
      if (change.field !== 'messages') continue;
      const value = change.value;
      const contacts = z.array(contactSchema).safeParse(value.contacts ?? []);
      const names = new Map((contacts.success ? contacts.data : []).map((c) => [c.wa_id, c.profile?.name ?? null]));
      for (const raw of asArray(value.messages)) {
        const m = messageSchema.safeParse(raw);
        if (!m.success) {
          out.rejected.push(`message: ${m.error.issues[0]?.path.join('.') ?? ''} ${m.error.issues[0]?.message ?? ''}`.trim());
          continue;
        }
        out.messages.push({
          wamid: m.data.id,
          waId: m.data.from,
          profileName: names.get(m.data.from) ?? null,
          sentAt: unixSeconds(m.data.timestamp),
          content: contentOf(m.data),
        });
      }
      for (const raw of asArray(value.statuses)) {
        const s = statusSchema.safeParse(raw);
        if (!s.success) {
          out.rejected.push(`status: ${s.error.issues[0]?.message ?? 'invalid'}`);
          continue;
        }
        if (s.data.status === 'deleted' || s.data.status === 'warning') continue;
        out.statuses.push({
          wamid: s.data.id,
          status: s.data.status,
          at: unixSeconds(s.data.timestamp),
          callbackKey: s.data.biz_opaque_callback_data ?? null,
          errors: (s.data.errors ?? []).map((e) => ({ code: e.code, title: e.title ?? e.message ?? '' })),
        });
      }
    }
  }
  return out;
}

function contentOf(m: z.infer<typeof messageSchema>): InboundWhatsAppMessage['content'] {
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
  return { type: 'unsupported', kind: m.type };
}

function asArray(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

function unixSeconds(ts: string | undefined): Date {
  const n = Number(ts);
  return Number.isFinite(n) && n > 0 ? new Date(n * 1000) : new Date();
}
