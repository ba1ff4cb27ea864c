import { secondChancesRows } from './second-chances-store.js';
import { z } from '../zod.js';

/**
 * The console's second-chances panel (docs/second-chances.md): per UTC day, reminders sent, holds
 * extended, back-in-stock offers made, and recoveries: orders paid after a reminder (paid after it
 * went out) or placed from a waitlist offer, with their revenue per currency. One statement, each part
 * served by a partial index (migrations/032).
 */

export const secondChancesQuery = z.object({ days: z.coerce.number().int().min(1).max(90).default(14) });

export type SecondChancesDay = {
  day: string;
  remindersSent: number;
  extensions: number;
  waitlistOffers: number;
  recoveries: number;
  recoveredAfterReminder: number;
  recoveredFromWaitlist: number;
  revenue: { currency: string; amountMinor: number }[];
};

export async function secondChancesReport(q: z.infer<typeof secondChancesQuery>): Promise<{ days: SecondChancesDay[] }> {
  const rows = await secondChancesRows(q);
  return {
    days: rows.map((r) => ({
      day: r.day as string,
      remindersSent: Number(r.reminders),
      extensions: Number(r.extensions),
      waitlistOffers: Number(r.offers),
      recoveries: Number(r.after_reminder) + Number(r.from_waitlist),
      recoveredAfterReminder: Number(r.after_reminder),
      recoveredFromWaitlist: Number(r.from_waitlist),
      revenue: (r.revenue as { currency: string; amountMinor: number | string }[]).map((x) => ({ currency: x.currency, amountMinor: Number(x.amountMinor) })),
    })),
  };
}
