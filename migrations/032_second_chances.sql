-- Second chances (docs/second-chances.md): a reminder before a hold lapses, one extension, and a
-- back-in-stock waitlist whose offers are real held orders.

-- An order's reminder was decided (sent or skipped: never reconsidered); its hold extended once.
ALTER TABLE orders
  ADD COLUMN reminded_at      timestamptz,
  ADD COLUMN hold_extended_at timestamptz;

-- Due reminders, found by the cleanup in O(due): pending orders not reminded yet, by hold expiry.
CREATE INDEX orders_reminder_due ON orders (hold_expires_at) WHERE payment_status = 'pending' AND reminded_at IS NULL;

-- "stop": nothing proactive (reminders, back-in-stock offers) until the customer opts in again.
ALTER TABLE customers ADD COLUMN proactive_stopped_at timestamptz;

-- Back-in-stock waitlist, per SKU, first come first served (id order). waiting → offering (an order
-- is being placed for the entry, order_id known in advance) → offered (held, the customer told);
-- removed ("stop"). The offered order's own status tells what came of it.
CREATE TABLE waitlist_entries (
  id          bigserial PRIMARY KEY,
  sku         text NOT NULL,
  customer_id uuid NOT NULL REFERENCES customers(id) ON DELETE CASCADE, -- a merged-away customer's entries go with it
  quantity    integer NOT NULL DEFAULT 1 CHECK (quantity > 0),
  status      text NOT NULL DEFAULT 'waiting' CHECK (status IN ('waiting', 'offering', 'offered', 'removed')),
  order_id    uuid,
  created_at  timestamptz NOT NULL DEFAULT now(),
  offered_at  timestamptz,
  updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX waitlist_one_per_sku ON waitlist_entries (sku, customer_id) WHERE status IN ('waiting', 'offering');
CREATE INDEX waitlist_queue ON waitlist_entries (sku, id) WHERE status IN ('waiting', 'offering');
CREATE INDEX waitlist_customer ON waitlist_entries (customer_id) WHERE status IN ('waiting', 'offering');
CREATE INDEX waitlist_offered ON waitlist_entries (offered_at) WHERE offered_at IS NOT NULL;

-- Proactive messages per customer and day (the daily cap).
CREATE INDEX outbound_messages_proactive ON outbound_messages (customer_id, created_at) WHERE kind IN ('hold_reminder', 'back_in_stock');

-- The console's per-day figures (lib/admin/second-chances.ts) without scanning every event or order.
CREATE INDEX order_events_second_chances ON order_events (created_at) WHERE type IN ('reminder_sent', 'hold_extended');
CREATE INDEX orders_recovered_paid ON orders (paid_at) WHERE reminded_at IS NOT NULL OR source_key LIKE 'waitlist:%';
