-- Stripe beyond Checkout (issue 11 part 6): refunds made outside the shop (the Stripe dashboard,
-- another tool) and disputes, as Stripe reports them in charge.refunded / refund.* / charge.dispute.*.

-- What has been refunded on the order so far (integer minor units, in the order's currency).
-- payment_status moves paid → refunded once this reaches total_minor; a partial refund leaves
-- the order paid with refunded_minor > 0.
ALTER TABLE orders ADD COLUMN refunded_minor integer NOT NULL DEFAULT 0 CHECK (refunded_minor >= 0);

-- Refund and dispute events name the payment intent, not the order.
CREATE INDEX orders_stripe_payment_intent ON orders (stripe_payment_intent) WHERE stripe_payment_intent IS NOT NULL;

-- Every refund Stripe told us about, by its id: refund.created, refund.updated and charge.refunded
-- all report the same refund; its status may change (pending → succeeded, or failed/canceled).
CREATE TABLE stripe_refunds (
  refund_id      text PRIMARY KEY,
  order_id       uuid NOT NULL REFERENCES orders(id),
  amount_minor   integer NOT NULL CHECK (amount_minor >= 0),
  currency       char(3) NOT NULL,
  status         text NOT NULL,
  reason         text,
  ours           boolean NOT NULL,          -- created by this shop (late payment, admin cancel)
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX stripe_refunds_order ON stripe_refunds (order_id);

-- An order event caused by a Stripe object is recorded once per business key (data.stripeKey,
-- e.g. "refund:re_…", "dispute:dp_…:created"), whichever event or redelivery reports it.
CREATE UNIQUE INDEX order_events_stripe_key ON order_events ((data->>'stripeKey')) WHERE data ? 'stripeKey';
