-- Shop console (issue 16): the order list, its totals and the alerts list, each served by an index.

-- GET /api/orders: newest first with keyset pagination over (created_at, id); the INCLUDE columns
-- let the totals of a created range (count and sum per status and currency) come from the index alone.
CREATE INDEX orders_created ON orders (created_at DESC, id DESC)
  INCLUDE (payment_status, fulfillment_status, total_minor, currency);

-- The same, filtered by payment status (the console's most common filter: paid and waiting to ship, pending, ...).
CREATE INDEX orders_payment_created ON orders (payment_status, created_at DESC, id DESC)
  INCLUDE (fulfillment_status, total_minor, currency);

-- GET /api/alerts: ops alerts newest first, and permanently failed messages newest first.
CREATE INDEX ops_alerts_created ON ops_alerts (created_at DESC, id DESC);
CREATE INDEX ops_alerts_message ON ops_alerts (message_id) WHERE message_id IS NOT NULL;
CREATE INDEX outbound_messages_failed ON outbound_messages (updated_at DESC, id DESC) WHERE status = 'failed';
