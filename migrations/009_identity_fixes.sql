-- Identity fixes: only Meta-signed data links or merges customers; every advisory lock on a
-- customer identity is taken in one global order (sorted lock key), so concurrent webhook batches
-- naming the same people in different orders cannot deadlock.

-- Takes the transaction's advisory lock of every given identity (phone digits or BSUID), sorted
-- by lock key. A transaction that takes all its identity locks through here, before any other,
-- waits but never closes a lock cycle (re-taking a held lock is a no-op).
CREATE OR REPLACE FUNCTION lock_customer_identities(p_ids text[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  k bigint;
BEGIN
  FOR k IN SELECT DISTINCT hashtextextended('customer:' || i, 0) AS h FROM unnest(p_ids) AS i WHERE i IS NOT NULL ORDER BY h LOOP
    PERFORM pg_advisory_xact_lock(k);
  END LOOP;
END
$$;

-- As in 004, but both identity locks are taken in the global order (lock_customer_identities).
CREATE OR REPLACE FUNCTION link_customer(p_wa_id text, p_bsuid text, p_parent text, p_username text, p_profile_name text, p_at timestamptz)
RETURNS uuid LANGUAGE plpgsql AS $$
DECLARE
  by_phone uuid;
  by_bsuid uuid;
  survivor uuid;
BEGIN
  IF p_wa_id IS NULL AND p_bsuid IS NULL THEN RAISE EXCEPTION 'a customer needs a wa_id or a BSUID'; END IF;
  PERFORM lock_customer_identities(ARRAY[p_wa_id, p_bsuid]);
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

-- The senders of one webhook batch (a jsonb array of {key, wa_id, user_id, parent_user_id,
-- username, profile_name, at}), linked in the given order after every identity lock of the batch
-- was taken in the global order. Returns each sender's key with its customer.
CREATE OR REPLACE FUNCTION link_customers(p_senders jsonb) RETURNS TABLE (key text, customer_id uuid) LANGUAGE plpgsql AS $$
DECLARE
  s record;
BEGIN
  PERFORM lock_customer_identities(ARRAY(
    SELECT x.v FROM jsonb_array_elements(COALESCE(p_senders, '[]'::jsonb)) AS e, LATERAL (VALUES (e->>'wa_id'), (e->>'user_id')) AS x(v)));
  FOR s IN SELECT * FROM jsonb_to_recordset(COALESCE(p_senders, '[]'::jsonb))
             AS r(key text, wa_id text, user_id text, parent_user_id text, username text, profile_name text, at timestamptz) LOOP
    key := s.key;
    customer_id := link_customer(s.wa_id, s.user_id, s.parent_user_id, s.username, s.profile_name, s.at);
    RETURN NEXT;
  END LOOP;
END
$$;

-- The customer a caller (order API, offline-payment admin API) names, found or created but never
-- linked or merged: caller input is not proof that a phone and a BSUID are one person. By phone
-- when given, else by BSUID. Returns (id, NULL), or (NULL, field) when the identities contradict
-- each other: both name two different customers, or the row of one holds a different other one
-- (the field named is the one that does not fit). Two unknown identities create one row with both;
-- a row known by one of them and holding none of the other kind is used as it is.
CREATE OR REPLACE FUNCTION find_or_create_customer(p_wa_id text, p_bsuid text, p_profile_name text)
RETURNS TABLE (id uuid, conflict text) LANGUAGE plpgsql AS $$
DECLARE
  phone_row customers%ROWTYPE;
  bsuid_row customers%ROWTYPE;
BEGIN
  IF p_wa_id IS NULL AND p_bsuid IS NULL THEN RAISE EXCEPTION 'a customer needs a wa_id or a BSUID'; END IF;
  PERFORM lock_customer_identities(ARRAY[p_wa_id, p_bsuid]);
  IF p_wa_id IS NOT NULL THEN SELECT * INTO phone_row FROM customers c WHERE c.wa_id = p_wa_id; END IF;
  IF p_bsuid IS NOT NULL THEN SELECT * INTO bsuid_row FROM customers c WHERE c.bsuid = p_bsuid; END IF;
  IF phone_row.id IS NOT NULL AND bsuid_row.id IS NOT NULL AND phone_row.id <> bsuid_row.id THEN
    id := NULL; conflict := 'customerUserId'; RETURN NEXT; RETURN;
  END IF;
  IF phone_row.id IS NOT NULL AND p_bsuid IS NOT NULL AND phone_row.bsuid IS NOT NULL AND phone_row.bsuid <> p_bsuid THEN
    id := NULL; conflict := 'customerUserId'; RETURN NEXT; RETURN;
  END IF;
  IF bsuid_row.id IS NOT NULL AND p_wa_id IS NOT NULL AND bsuid_row.wa_id IS NOT NULL AND bsuid_row.wa_id <> p_wa_id THEN
    id := NULL; conflict := 'customerPhone'; RETURN NEXT; RETURN;
  END IF;
  id := COALESCE(phone_row.id, bsuid_row.id);
  conflict := NULL;
  IF id IS NULL THEN
    INSERT INTO customers (wa_id, phone_e164, bsuid, profile_name)
    VALUES (p_wa_id, '+' || p_wa_id, p_bsuid, p_profile_name)
    RETURNING customers.id INTO id;
  ELSIF p_profile_name IS NOT NULL THEN
    UPDATE customers c SET profile_name = p_profile_name WHERE c.id = find_or_create_customer.id;
  END IF;
  RETURN NEXT;
END
$$;
