import { db } from './db.js';

/** Free-form messages are allowed only within 24 hours of the customer's last inbound message. */
export const SERVICE_WINDOW_MS = 24 * 3600 * 1000;

export async function isInsideServiceWindow(waId: string, now = new Date()): Promise<boolean> {
  const [row] = await db()`SELECT last_inbound_at FROM customers WHERE wa_id = ${waId}`;
  const last = row?.last_inbound_at ? new Date(row.last_inbound_at as string) : null;
  return last !== null && now.getTime() - last.getTime() < SERVICE_WINDOW_MS;
}
