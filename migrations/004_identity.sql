-- Identity (issue 11): a customer is a phone (wa_id), a business-scoped user ID (BSUID), or both.
-- Meta identifies username users by a BSUID (e.g. US.13491208655302741918, parent US.ENT.…) and may
-- leave the phone number out of webhooks. Everything that belonged to "a phone" now belongs to a
-- customer row: orders, the 24-hour window, outbox sends (addressed at send time from the row) and
-- the contacts who joined an order through its invite.

ALTER TABLE customers
  ALTER COLUMN wa_id DROP NOT NULL,
  ALTER COLUMN phone_e164 DROP NOT NULL,
  ADD COLUMN bsuid        text UNIQUE,   -- Meta's user_id, stored exactly as received
  ADD COLUMN parent_bsuid text,          -- parent_user_id, where Meta enabled it
  ADD COLUMN username     text,          -- profile.username: a display handle, never an identifier
  ADD CONSTRAINT customers_identity CHECK (wa_id IS NOT NULL OR bsuid IS NOT NULL);

-- Identity changes of a customer: links, merges, number / BSUID changes.
CREATE TABLE customer_identity_events (
  id          bigserial PRIMARY KEY,
  customer_id uuid NOT NULL REFERENCES customers(id),
  type        text NOT NULL,   -- merged | number_changed | user_id_changed
  data        jsonb NOT NULL DEFAULT '{}',
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX customer_identity_events_customer ON customer_identity_events (customer_id, id);

-- The outbox addresses the customer, not a number: the address (phone, else BSUID) is read from the
-- customer row when the message is claimed, so a number change re-addresses pending and retried sends.
-- to_wa_id / to_user_id keep what the last attempt was addressed to.
ALTER TABLE outbound_messages
  ADD COLUMN customer_id uuid REFERENCES customers(id),
  ADD COLUMN to_user_id  text,
  ALTER COLUMN to_wa_id DROP NOT NULL;
UPDATE outbound_messages m SET customer_id = c.id FROM customers c WHERE c.wa_id = m.to_wa_id;
CREATE INDEX outbound_messages_customer ON outbound_messages (customer_id);

-- Invite contacts per customer.
INSERT INTO customers (wa_id, phone_e164)
  SELECT DISTINCT ic.wa_id, '+' || ic.wa_id FROM invite_contacts ic
  WHERE NOT EXISTS (SELECT 1 FROM customers c WHERE c.wa_id = ic.wa_id);
ALTER TABLE invite_contacts ADD COLUMN customer_id uuid REFERENCES customers(id);
UPDATE invite_contacts ic SET customer_id = c.id FROM customers c WHERE c.wa_id = ic.wa_id;
ALTER TABLE invite_contacts
  DROP CONSTRAINT invite_contacts_pkey,
  ALTER COLUMN customer_id SET NOT NULL,
  ALTER COLUMN wa_id DROP NOT NULL,
  ADD PRIMARY KEY (invite_id, customer_id);
CREATE INDEX invite_contacts_customer ON invite_contacts (customer_id);

-- Moves everything of `loser` to `survivor` and deletes `loser` (one person seen as two rows).
CREATE FUNCTION merge_customers(loser uuid, survivor uuid) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  IF loser = survivor THEN RETURN; END IF;
  UPDATE orders SET customer_id = survivor, updated_at = now() WHERE customer_id = loser;
  UPDATE outbound_messages SET customer_id = survivor WHERE customer_id = loser;
  DELETE FROM invite_contacts l WHERE l.customer_id = loser
    AND EXISTS (SELECT 1 FROM invite_contacts s WHERE s.invite_id = l.invite_id AND s.customer_id = survivor);
  UPDATE invite_contacts SET customer_id = survivor WHERE customer_id = loser;
  UPDATE customer_identity_events SET customer_id = survivor WHERE customer_id = loser;
  UPDATE customers s SET
    last_inbound_at = GREATEST(s.last_inbound_at, l.last_inbound_at),
    profile_name = COALESCE(s.profile_name, l.profile_name),
    username = COALESCE(s.username, l.username),
    parent_bsuid = COALESCE(s.parent_bsuid, l.parent_bsuid)
  FROM customers l WHERE s.id = survivor AND l.id = loser;
  INSERT INTO customer_identity_events (customer_id, type, data)
    SELECT survivor, 'merged', jsonb_build_object('from', loser, 'hadPhone', l.wa_id IS NOT NULL, 'hadBsuid', l.bsuid IS NOT NULL)
    FROM customers l WHERE l.id = loser;
  DELETE FROM customers WHERE id = loser;
END
$$;

-- The customer of an identity (phone digits, BSUID, or both), created or linked: phone only → by
-- wa_id; BSUID only → by bsuid; both → the row found by either gets the other, and two rows (one
-- per identity) are merged into the phone's. `at` (the message time) moves the 24-hour window.
CREATE FUNCTION link_customer(p_wa_id text, p_bsuid text, p_parent text, p_username text, p_profile_name text, p_at timestamptz)
RETURNS uuid LANGUAGE plpgsql AS $$
DECLARE
  by_phone uuid;
  by_bsuid uuid;
  survivor uuid;
BEGIN
  IF p_wa_id IS NULL AND p_bsuid IS NULL THEN RAISE EXCEPTION 'a customer needs a wa_id or a BSUID'; END IF;
  -- Concurrent links of the same person wait for each other (phone first, then BSUID: no lock cycle).
  IF p_wa_id IS NOT NULL THEN PERFORM pg_advisory_xact_lock(hashtextextended('customer:' || p_wa_id, 0)); END IF;
  IF p_bsuid IS NOT NULL THEN PERFORM pg_advisory_xact_lock(hashtextextended('customer:' || p_bsuid, 0)); END IF;
  IF p_wa_id IS NOT NULL THEN SELECT id INTO by_phone FROM customers WHERE wa_id = p_wa_id; END IF;
  IF p_bsuid IS NOT NULL THEN SELECT id INTO by_bsuid FROM customers WHERE bsuid = p_bsuid; END IF;
  IF by_phone IS NULL AND by_bsuid IS NULL THEN
    INSERT INTO customers (wa_id, phone_e164, bsuid, parent_bsuid, username, profile_name, last_inbound_at)
    VALUES (p_wa_id, '+' || p_wa_id, p_bsuid, p_parent, p_username, p_profile_name, p_at)
    RETURNING id INTO survivor;
    RETURN survivor;
  END IF;
  survivor := COALESCE(by_phone, by_bsuid);
  IF by_phone IS NOT NULL AND by_bsuid IS NOT NULL AND by_phone <> by_bsuid THEN
    PERFORM merge_customers(by_bsuid, by_phone);
  END IF;
  UPDATE customers SET
    wa_id = COALESCE(p_wa_id, wa_id),
    phone_e164 = COALESCE('+' || p_wa_id, phone_e164),
    bsuid = COALESCE(p_bsuid, bsuid),
    parent_bsuid = COALESCE(p_parent, parent_bsuid),
    username = COALESCE(p_username, username),
    profile_name = COALESCE(p_profile_name, profile_name),
    last_inbound_at = GREATEST(last_inbound_at, p_at)
  WHERE id = survivor;
  RETURN survivor;
END
$$;

-- A customer's phone and/or BSUID changed (Meta's system messages user_changed_number /
-- user_changed_user_id): the customer keeps their row (orders, holds, window, invite links, pending
-- sends) under the new identity. A row already holding the new identity is merged into it.
CREATE FUNCTION change_customer_identity(p_customer uuid, p_new_wa_id text, p_new_bsuid text, p_type text)
RETURNS uuid LANGUAGE plpgsql AS $$
DECLARE
  other uuid;
  before customers%ROWTYPE;
BEGIN
  SELECT * INTO before FROM customers WHERE id = p_customer FOR UPDATE;
  IF NOT FOUND THEN RETURN NULL; END IF;
  IF p_new_wa_id IS NOT NULL THEN
    SELECT id INTO other FROM customers WHERE wa_id = p_new_wa_id AND id <> p_customer;
    IF other IS NOT NULL THEN PERFORM merge_customers(other, p_customer); END IF;
  END IF;
  IF p_new_bsuid IS NOT NULL THEN
    other := NULL;
    SELECT id INTO other FROM customers WHERE bsuid = p_new_bsuid AND id <> p_customer;
    IF other IS NOT NULL THEN PERFORM merge_customers(other, p_customer); END IF;
  END IF;
  UPDATE customers SET
    wa_id = COALESCE(p_new_wa_id, wa_id),
    phone_e164 = COALESCE('+' || p_new_wa_id, phone_e164),
    -- A new number comes with a new BSUID (Meta); the old one is kept until the new one arrives with
    -- the new number (link_customer then replaces it), so a late message under the old one still finds the row.
    bsuid = COALESCE(p_new_bsuid, bsuid),
    unreachable_at = NULL
  WHERE id = p_customer;
  INSERT INTO customer_identity_events (customer_id, type, data)
  VALUES (p_customer, p_type, jsonb_build_object('hadPhone', before.wa_id IS NOT NULL, 'hadBsuid', before.bsuid IS NOT NULL));
  RETURN p_customer;
END
$$;

-- Offline payments may name the customer by BSUID (admin API customerUserId).
ALTER TABLE payments ADD COLUMN customer_user_id text;
