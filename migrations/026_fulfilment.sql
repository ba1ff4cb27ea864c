-- Fulfilment (issue 26): what an order ships to and what was paid for it; `delivered` as a fulfilment state.

-- Products that need no shipping (digital goods, services) skip address collection; a variant's weight, when the
-- catalog knows it, goes to the courier CSV.
ALTER TABLE products ADD COLUMN requires_shipping boolean NOT NULL DEFAULT true;
ALTER TABLE variants ADD COLUMN weight_grams integer CHECK (weight_grams IS NULL OR weight_grams >= 0);

ALTER TABLE orders DROP CONSTRAINT IF EXISTS orders_fulfillment_status_check;
ALTER TABLE orders ADD CONSTRAINT orders_fulfillment_status_check CHECK (fulfillment_status IN ('unfulfilled', 'shipped', 'delivered'));

ALTER TABLE orders
  -- none: nothing to ship; delivery: to an address; pickup: collected at the shop (decided when the order is placed,
  -- delivery may turn into pickup when the payer chooses the pickup rate at Checkout).
  ADD COLUMN shipping_mode     text NOT NULL DEFAULT 'none' CHECK (shipping_mode IN ('none', 'delivery', 'pickup')),
  -- The order API's own choice (a rate id and/or an address given up front), sent to Checkout as is.
  ADD COLUMN shipping_choice   jsonb,
  -- What was paid for (from the completed Checkout Session, or the order API's address): minor units, order currency.
  ADD COLUMN items_minor       integer CHECK (items_minor IS NULL OR items_minor >= 0),
  ADD COLUMN shipping_minor    integer NOT NULL DEFAULT 0 CHECK (shipping_minor >= 0),
  ADD COLUMN tax_minor         integer NOT NULL DEFAULT 0 CHECK (tax_minor >= 0),
  ADD COLUMN shipping_name     text,
  ADD COLUMN shipping_address  jsonb,   -- {line1, line2, postalCode, city, state, country}
  ADD COLUMN shipping_rate     jsonb,   -- {id, name, amountMinor, minDays, maxDays, kind}
  -- Why the order cannot ship as it is (no address for a shipped product, ...): the console flags it.
  ADD COLUMN shipping_problem  text,
  ADD COLUMN delivered_at      timestamptz;

