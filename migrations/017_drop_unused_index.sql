-- invite_contacts is looked up by invite and by customer (004); nothing reads it by wa_id since a
-- contact may have only a BSUID, so its (wa_id, last_seen_at) index only costs writes.
DROP INDEX IF EXISTS invite_contacts_wa;
