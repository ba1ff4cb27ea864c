import { z } from '../zod.js';

/**
 * Dates the admin API accepts: real calendar dates (zod's ISO checks) inside a range Postgres and every
 * report can hold, 2000-01-01..2100-01-01 (UTC). Outside it an input is a typo or a probe, answered 422
 * naming the field, never a 500 from Postgres ("date/time field value out of range") or an empty export.
 */
export const EARLIEST = '2000-01-01';
export const LATEST = '2100-01-01';
const MIN_MS = Date.parse(`${EARLIEST}T00:00:00Z`);
const MAX_MS = Date.parse(`${LATEST}T00:00:00Z`);
export const OUT_OF_RANGE = `must be between ${EARLIEST} and ${LATEST}`;

const isDay = (s: string) => /^\d{4}-\d{2}-\d{2}$/.test(s);
/** A bare date is that day's start (UTC). */
export const instantOf = (s: string) => new Date(isDay(s) ? `${s}T00:00:00Z` : s);
export const inRange = (d: Date) => Number.isFinite(d.getTime()) && d.getTime() >= MIN_MS && d.getTime() <= MAX_MS;

/** An ISO date or date-time (with offset) in the range. */
export const adminDate = () =>
  z
    .union([z.iso.datetime({ offset: true }), z.iso.date()], { error: 'must be an ISO date or date-time, e.g. 2026-11-25' })
    .refine((s) => inRange(instantOf(s)), OUT_OF_RANGE);

/** A cursor's time ("2026-11-25T10:00:00.123456Z", as Postgres printed it): a real instant in the range. */
export function isCursorTime(t: unknown): t is string {
  if (typeof t !== 'string' || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/.test(t)) return false;
  const d = new Date(`${t.slice(0, 23)}Z`);
  // Date rolls 2026-02-30 over to March: only a time it prints back unchanged is a real one.
  return inRange(d) && d.toISOString().slice(0, 23) === t.slice(0, 23);
}
