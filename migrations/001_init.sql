-- First schema. UUID keys; money as integer minor units + ISO currency; phones E.164.

CREATE TABLE products (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  sku         text NOT NULL UNIQUE,
  name        text NOT NULL,
  description text NOT NULL DEFAULT '',
  image_url   text,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Every sellable unit is a variant with its own SKU (= Meta's product_retailer_id).
-- stock is the source of truth for units on hand; Redis holds available-to-sell and the holds.
CREATE TABLE variants (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  product_id  uuid NOT NULL REFERENCES products(id) ON DELETE CASCADE,
  sku         text NOT NULL UNIQUE,
  name        text NOT NULL,
  price_minor integer NOT NULL CHECK (price_minor >= 0),
  currency    char(3) NOT NULL CHECK (currency = upper(currency)),
  stock       integer NOT NULL CHECK (stock >= 0),
  active      boolean NOT NULL DEFAULT true,
  position    integer NOT NULL DEFAULT 0,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX variants_product ON variants (product_id);

CREATE TABLE customers (
  id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  wa_id           text NOT NULL UNIQUE,
  phone_e164      text NOT NULL CHECK (phone_e164 ~ '^\+[1-9][0-9]{7,14}$'),
  profile_name    text,
  last_inbound_at timestamptz,            -- start of the 24-hour customer-service window
  unreachable_at  timestamptz,            -- Meta said: not on WhatsApp / invalid number
  created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE orders (
  id                        uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  reference                 text NOT NULL UNIQUE,          -- short, human-readable
  customer_id               uuid NOT NULL REFERENCES customers(id),
  source                    text NOT NULL CHECK (source IN ('whatsapp', 'api')),
  source_key                text UNIQUE,                   -- wamid or API idempotency key: a replay finds the same order
  items                     jsonb NOT NULL,                -- [{sku, name, quantity, unitPriceMinor, lineTotalMinor}]
  total_minor               integer NOT NULL CHECK (total_minor >= 0),
  currency                  char(3) NOT NULL,
  payment_status            text NOT NULL DEFAULT 'pending'
    CHECK (payment_status IN ('pending', 'awaiting_payment', 'paid', 'expired', 'cancelled', 'payment_failed', 'refunded')),
  fulfillment_status        text NOT NULL DEFAULT 'unfulfilled' CHECK (fulfillment_status IN ('unfulfilled', 'shipped')),
  stripe_session_id         text UNIQUE,
  checkout_url              text,
  stripe_payment_intent     text,
  hold_expires_at           timestamptz,
  paid_at                   timestamptz,
  last_confirmation_sent_at timestamptz,
  created_at                timestamptz NOT NULL DEFAULT now(),
  updated_at                timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX orders_customer_status ON orders (customer_id, payment_status, created_at DESC);
CREATE INDEX orders_open_by_expiry ON orders (hold_expires_at) WHERE payment_status IN ('pending', 'awaiting_payment');

CREATE TABLE order_events (
  id         bigserial PRIMARY KEY,
  order_id   uuid NOT NULL REFERENCES orders(id),
  type       text NOT NULL,
  data       jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX order_events_order ON order_events (order_id, id);

-- Every inbound Meta message / Stripe event, recorded before it is acknowledged.
CREATE TABLE inbound_events (
  id           bigserial PRIMARY KEY,
  source       text NOT NULL CHECK (source IN ('meta', 'stripe')),
  external_id  text NOT NULL,               -- wamid or Stripe event id
  kind         text NOT NULL,
  payload      jsonb NOT NULL,
  received_at  timestamptz NOT NULL DEFAULT now(),
  processed_at timestamptz,
  attempts     integer NOT NULL DEFAULT 0,
  last_error   text,
  UNIQUE (source, external_id)
);
CREATE INDEX inbound_events_unprocessed ON inbound_events (received_at) WHERE processed_at IS NULL;

-- The outbox: every WhatsApp send, keyed by its business event.
CREATE TABLE outbound_messages (
  id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  idempotency_key   text NOT NULL UNIQUE,
  kind              text NOT NULL,
  order_id          uuid REFERENCES orders(id),
  to_wa_id          text NOT NULL,
  template          text,
  payload           jsonb NOT NULL,
  status            text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sending', 'sent', 'failed')),
  attempts          integer NOT NULL DEFAULT 0,
  next_attempt_at   timestamptz NOT NULL DEFAULT now(),
  locked_until      timestamptz,
  wamid             text UNIQUE,
  delivery_status   text CHECK (delivery_status IN ('sent', 'delivered', 'read', 'failed')),
  delivery_statuses jsonb NOT NULL DEFAULT '[]',
  sent_at           timestamptz,
  error_code        integer,
  error_title       text,
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outbound_messages_due ON outbound_messages (next_attempt_at) WHERE status IN ('pending', 'sending');
CREATE INDEX outbound_messages_order ON outbound_messages (order_id);

CREATE TABLE invite_tokens (
  id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  order_id        uuid NOT NULL UNIQUE REFERENCES orders(id),   -- one invite per order
  token           text NOT NULL UNIQUE,
  expires_at      timestamptz NOT NULL,
  consumed_at     timestamptz,
  clicks          integer NOT NULL DEFAULT 0,
  last_clicked_at timestamptz,
  created_at      timestamptz NOT NULL DEFAULT now()
);

-- Contacts (an elder, a colleague) who joined an order's chat through its invite.
CREATE TABLE invite_contacts (
  invite_id     uuid NOT NULL REFERENCES invite_tokens(id),
  wa_id         text NOT NULL,
  profile_name  text,
  first_seen_at timestamptz NOT NULL DEFAULT now(),
  last_seen_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (invite_id, wa_id)
);
CREATE INDEX invite_contacts_wa ON invite_contacts (wa_id, last_seen_at DESC);
