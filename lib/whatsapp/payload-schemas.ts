import { z } from '../zod.js';

/**
 * The zod schemas of Meta's webhook payload as it arrives (the envelope, a contact, a message, a status):
 * lenient where Meta may omit or change a field (a malformed optional part is dropped, never the message).
 * lib/whatsapp/inbound-payload.ts parses through them and maps the result to our types.
 */

export const bsuidLike = z.string().regex(/^\S{3,200}$/);
const optionalText = z.string().optional().catch(undefined);

export const contactSchema = z.object({
  wa_id: optionalText,
  user_id: optionalText,
  parent_user_id: optionalText,
  profile: z.object({ name: optionalText, username: optionalText }).partial().optional().catch(undefined),
});

const mediaSchema = z
  .object({ id: optionalText, mime_type: optionalText, sha256: optionalText, caption: optionalText, filename: optionalText, voice: z.boolean().optional().catch(undefined), animated: z.boolean().optional().catch(undefined) })
  .optional()
  .catch(undefined);

export const messageSchema = z.object({
  id: z.string().min(1),
  from: z.string().optional(),
  from_user_id: z.string().optional(),
  from_parent_user_id: z.string().optional(),
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
  reaction: z.object({ message_id: z.string().optional(), emoji: z.string().optional() }).optional(),
  // Media, location and contacts content, kept for the team inbox (lib/inbox); anything malformed is dropped, never the message.
  image: mediaSchema,
  video: mediaSchema,
  audio: mediaSchema,
  document: mediaSchema,
  sticker: mediaSchema,
  location: z
    .object({ latitude: z.coerce.number().optional(), longitude: z.coerce.number().optional(), name: optionalText, address: optionalText, url: optionalText })
    .optional()
    .catch(undefined),
  contacts: z.array(z.record(z.string(), z.unknown())).optional().catch(undefined),
  revoke: z.object({ original_message_id: z.string().optional() }).optional(),
  edit: z.object({ original_message_id: z.string().optional(), message: z.object({ type: z.string().optional() }).passthrough().optional() }).optional(),
  system: z
    .object({
      type: z.string().optional(),
      body: z.string().optional(),
      wa_id: z.string().optional(),
      new_wa_id: z.string().optional(),
      user_id: z.string().optional(),
      previous_user_id: z.string().optional(),
      parent_user_id: z.string().optional(),
    })
    .optional(),
});

export const statusSchema = z.object({
  id: z.string().min(1),
  status: z.string().min(1),
  timestamp: z.string().optional(),
  recipient_id: z.string().optional(),
  recipient_user_id: z.string().optional(),
  recipient_parent_user_id: z.string().optional(),
  biz_opaque_callback_data: z.string().optional(),
  errors: z
    .array(z.object({ code: z.coerce.number(), title: z.string().optional(), message: z.string().optional() }).passthrough())
    .optional(),
});

export const envelopeSchema = z.object({
  object: z.string(),
  entry: z.array(
    z.object({
      id: z.string().optional(),
      changes: z.array(z.object({ field: z.string(), value: z.record(z.string(), z.unknown()) })),
    }),
  ),
});

export type Contact = z.infer<typeof contactSchema>;
export type RawMessage = z.infer<typeof messageSchema>;
