-- The payment path (issue 5): refunds of late payments, what each Stripe event did, and the
-- confirmation's sent time kept by the database whichever path sends it.

-- Set once Stripe confirmed the refund of a paid-too-late order (payment_status = 'refunded').
-- A 'refunded' order with refunded_at NULL means the refund is decided but not yet confirmed:
-- the next delivery of the event resumes it (same Stripe idempotency key).
ALTER TABLE orders ADD COLUMN refunded_at timestamptz;

-- What processing an inbound event did ('paid', 'already_paid', 'ignored: amount_mismatch', ...).
ALTER TABLE inbound_events ADD COLUMN outcome text;

-- orders.last_confirmation_sent_at follows the outbox: whoever sends the order_confirmed
-- message (the payment callback, the cleanup retry, or a status webhook reconciling a send whose
-- reply was lost) moves the row to 'sent', and the order records when.
CREATE FUNCTION orders_record_confirmation_sent() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE orders SET last_confirmation_sent_at = COALESCE(NEW.sent_at, now()), updated_at = now() WHERE id = NEW.order_id;
  RETURN NULL;
END
$$;

CREATE TRIGGER outbound_messages_confirmation_sent
  AFTER UPDATE OF status ON outbound_messages
  FOR EACH ROW
  WHEN (NEW.status = 'sent' AND OLD.status IS DISTINCT FROM 'sent' AND NEW.kind = 'order_confirmed' AND NEW.order_id IS NOT NULL)
  EXECUTE FUNCTION orders_record_confirmation_sent();
