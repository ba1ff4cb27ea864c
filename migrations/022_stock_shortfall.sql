-- Issue 23: a payment that finds fewer units on hand than it takes (stock was set below what open orders
-- held) is flagged on the order for the console: [{ sku, ordered, onHand }] as the paying statement saw it.
ALTER TABLE orders ADD COLUMN IF NOT EXISTS stock_shortfall jsonb;
