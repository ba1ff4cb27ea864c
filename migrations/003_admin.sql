-- Admin API (issue 7): shipped orders, offline payments, catalog push state, ops alerts.

-- Shipping details of an order (fulfillment_status already exists in 001).
ALTER TABLE orders
  ADD COLUMN shipped_at     timestamptz,
  ADD COLUMN carrier        text,
  ADD COLUMN tracking_url   text,
  ADD COLUMN tracking_slug  text;

-- Payments the shop records itself (bank transfer, cash, …). The shop's reference makes a
-- recorded payment idempotent: the same reference twice is one payment.
CREATE TABLE payments (
  id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  reference     text NOT NULL UNIQUE,
  method        text NOT NULL DEFAULT 'offline' CHECK (method IN ('offline')),
  order_id      uuid REFERENCES orders(id),
  customer_wa_id text,
  customer_name text,
  amount_minor  integer NOT NULL CHECK (amount_minor > 0),
  currency      char(3) NOT NULL CHECK (currency = upper(currency)),
  paid_at       timestamptz NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payments_order ON payments (order_id);

-- Stored answers of idempotent admin requests (key = sha256 of the business event, e.g. "shipped:<orderId>"):
-- a replay answers the first response byte for byte (kept as text: jsonb would reorder its keys).
CREATE TABLE admin_requests (
  idempotency_key text PRIMARY KEY,
  request_hash    text NOT NULL,
  status          integer NOT NULL,
  response        text NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now()
);

-- The outbox may carry the approved-template version of a free-form message, sent instead
-- when Meta refuses the free-form one outside the 24-hour window (131047).
ALTER TABLE outbound_messages ADD COLUMN fallback_payload jsonb;

-- What the Meta catalog was last told about each SKU: sha of (price, currency, availability).
-- The push sends only SKUs whose current fingerprint differs.
CREATE TABLE catalog_push_state (
  sku          text PRIMARY KEY,
  fingerprint  text NOT NULL,
  availability text NOT NULL,
  pushed_at    timestamptz NOT NULL DEFAULT now()
);

-- Ops alerts, at most one per key (e.g. "failed:<outbound message id>"). Claimed by insert before
-- the POST; delivered_at is set once OPS_ALERT_WEBHOOK_URL accepted it (retried by cleanup otherwise).
CREATE TABLE ops_alerts (
  id            bigserial PRIMARY KEY,
  alert_key     text NOT NULL UNIQUE,
  kind          text NOT NULL,
  order_id      uuid,
  message_id    uuid,
  payload       jsonb NOT NULL,
  attempts      integer NOT NULL DEFAULT 0,
  delivered_at  timestamptz,
  last_error    text,
  created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ops_alerts_undelivered ON ops_alerts (created_at) WHERE delivered_at IS NULL;
