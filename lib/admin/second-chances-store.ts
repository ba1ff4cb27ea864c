import { db } from '../db.js';
import { EVENT_EXISTS_SQL, SECOND_CHANCE_EVENTS_PER_DAY_SQL } from '../orders/events.js';
import { OFFERS_PER_DAY_SQL } from '../waitlist/store.js';

/**
 * The console's second-chances panel as a read model (tests/architecture-tables.test.ts READ_MODELS: a store of
 * its own that owns no table and only reads): per UTC day, the order events' and the waitlist's counts (their
 * owners' parts) and the recoveries read from orders. One statement, each part served by a partial index
 * (migrations/032).
 */
export async function secondChancesRows(q: { days: number }): Promise<Record<string, unknown>[]> {
  const rows = await db().query(
    `WITH d AS (
       SELECT generate_series(date_trunc('day', now() AT TIME ZONE 'UTC') - make_interval(days => $1 - 1), date_trunc('day', now() AT TIME ZONE 'UTC'), interval '1 day') AS day
     ), since AS (SELECT (min(day) AT TIME ZONE 'UTC') AS t FROM d),
     ev AS (
       ${SECOND_CHANCE_EVENTS_PER_DAY_SQL('(SELECT t FROM since)')}
     ), wl AS (
       ${OFFERS_PER_DAY_SQL('(SELECT t FROM since)')}
     ), rec AS (
       SELECT date_trunc('day', o.paid_at AT TIME ZONE 'UTC') AS day, o.currency,
              count(*) FILTER (WHERE o.source_key LIKE 'waitlist:%') AS from_waitlist,
              count(*) FILTER (WHERE o.source_key NOT LIKE 'waitlist:%' OR o.source_key IS NULL) AS after_reminder,
              sum(o.total_minor) AS revenue
       FROM orders o
       WHERE (o.reminded_at IS NOT NULL OR o.source_key LIKE 'waitlist:%') AND o.paid_at >= (SELECT t FROM since) AND o.payment_status = 'paid'
         AND (o.source_key LIKE 'waitlist:%' OR (o.paid_at > o.reminded_at AND ${EVENT_EXISTS_SQL('o.id', `e.type = 'reminder_sent'`)}))
       GROUP BY 1, 2
     )
     SELECT to_char(d.day, 'YYYY-MM-DD') AS day, COALESCE(ev.reminders, 0)::int AS reminders, COALESCE(ev.extensions, 0)::int AS extensions,
            COALESCE(wl.offers, 0)::int AS offers,
            COALESCE((SELECT sum(after_reminder) FROM rec WHERE rec.day = d.day), 0)::int AS after_reminder,
            COALESCE((SELECT sum(from_waitlist) FROM rec WHERE rec.day = d.day), 0)::int AS from_waitlist,
            COALESCE((SELECT jsonb_agg(jsonb_build_object('currency', trim(rec.currency), 'amountMinor', rec.revenue) ORDER BY rec.currency) FROM rec WHERE rec.day = d.day), '[]'::jsonb) AS revenue
     FROM d LEFT JOIN ev ON ev.day = d.day LEFT JOIN wl ON wl.day = d.day
     ORDER BY d.day DESC`,
    [q.days],
  );
  return rows;
}
