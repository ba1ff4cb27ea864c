-- Team inbox (issue 25): every inbound message's content kept once, at record time, per customer; the
-- staff's side of a conversation (mode bot|staff, read marks, last staff reply); who sent a staff message.

-- One row per inbound WhatsApp message, written by the webhook's recording statement (a CTE beside the
-- inbound_events insert). `body` and `data` hold the content (text, caption, media id/mime/filename,
-- location, contacts, order lines, the interactive reply); the retention run empties them after
-- INBOX_RETENTION_DAYS (content_deleted_at), keeping kind, time and links.
CREATE TABLE conversation_messages (
  id                 bigserial PRIMARY KEY,
  customer_id        uuid NOT NULL REFERENCES customers(id),
  wamid              text NOT NULL UNIQUE,
  kind               text NOT NULL,        -- text | image | video | audio | document | sticker | location | contacts | list_reply | button_reply | order | reaction | edit | revoke | unsupported | system
  at                 timestamptz NOT NULL, -- Meta's message time
  body               text,                 -- text, caption, reply title, emoji, edited text
  data               jsonb,                -- the rest of the content (media id, mime, filename, location, …)
  ref_wamid          text,                 -- reaction / edit / revoke: the message it is about
  recorded_at        timestamptz NOT NULL DEFAULT now(),
  content_deleted_at timestamptz
);
CREATE INDEX conversation_messages_customer ON conversation_messages (customer_id, at DESC, id DESC);
CREATE INDEX conversation_messages_retention ON conversation_messages (at) WHERE content_deleted_at IS NULL;

-- The staff's side of a conversation. No row = bot mode, nothing read. Written by the admin API, by the
-- conversation's handover (in the statements finishing an inbound event) and by an invite contact's
-- first message; never by the recording statement (which only reads it).
CREATE TABLE conversations (
  customer_id       uuid PRIMARY KEY REFERENCES customers(id),
  mode              text NOT NULL DEFAULT 'bot' CHECK (mode IN ('bot', 'staff')),
  mode_changed_at   timestamptz,
  mode_changed_by   text,                  -- a staff name, 'customer', 'invite', 'bot'
  invited_order_id  uuid REFERENCES orders(id),
  read_at           timestamptz,           -- staff read inbound messages up to here
  read_by           text,
  replied_at        timestamptz,           -- last staff message
  replied_by        text,
  misunderstood     int NOT NULL DEFAULT 0, -- texts in a row the bot did not understand
  typing_at         timestamptz,           -- last typing indicator sent (at most one per 25 s)
  alerted_at        timestamptz            -- last "unanswered" ops alert
);
CREATE INDEX conversations_staff ON conversations (mode_changed_at) WHERE mode = 'staff';

-- Who sent a staff message (the ADMIN_API_KEYS name; 'admin' for the single ADMIN_API_KEY).
ALTER TABLE outbound_messages ADD COLUMN sent_by text;

-- The inbox list: customers who wrote, newest first (keyset on last_inbound_at, id).
CREATE INDEX customers_last_inbound ON customers (last_inbound_at DESC, id DESC) WHERE last_inbound_at IS NOT NULL;

-- Merges (merge_customers, 004/009) record a `merged` identity event before deleting the row merged away:
-- its messages and its conversation follow it to the survivor here, so merge_customers itself is unchanged.
CREATE FUNCTION merge_conversations() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  loser uuid := (NEW.data->>'from')::uuid;
  survivor uuid := NEW.customer_id;
BEGIN
  IF loser IS NULL OR loser = survivor THEN RETURN NEW; END IF;
  UPDATE conversation_messages SET customer_id = survivor WHERE customer_id = loser;
  IF EXISTS (SELECT 1 FROM conversations WHERE customer_id = survivor) THEN
    UPDATE conversations s SET
      mode = CASE WHEN 'staff' IN (s.mode, l.mode) THEN 'staff' ELSE 'bot' END,
      mode_changed_at = GREATEST(s.mode_changed_at, l.mode_changed_at),
      mode_changed_by = COALESCE(s.mode_changed_by, l.mode_changed_by),
      invited_order_id = COALESCE(s.invited_order_id, l.invited_order_id),
      read_at = LEAST(s.read_at, l.read_at),
      replied_at = GREATEST(s.replied_at, l.replied_at),
      replied_by = COALESCE(s.replied_by, l.replied_by)
    FROM conversations l WHERE s.customer_id = survivor AND l.customer_id = loser;
    DELETE FROM conversations WHERE customer_id = loser;
  ELSE
    UPDATE conversations SET customer_id = survivor WHERE customer_id = loser;
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER customer_merged_conversations AFTER INSERT ON customer_identity_events
  FOR EACH ROW WHEN (NEW.type = 'merged') EXECUTE FUNCTION merge_conversations();

-- The media proxy serves only media a customer sent us (and whose content is still kept).
CREATE INDEX conversation_messages_media ON conversation_messages ((data->>'mediaId')) WHERE data ? 'mediaId';
