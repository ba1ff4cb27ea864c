-- Stored admin answers are bound to the order state they answered (issue 23): a replay whose order has
-- changed since (e.g. a cancelled order paid late) runs the action anew instead of answering a stale body.
-- order_state is "<payment_status>/<fulfillment_status>" as the answer reported it; NULL: not bound.
ALTER TABLE admin_requests
  ADD COLUMN order_id    uuid,
  ADD COLUMN order_state text;
