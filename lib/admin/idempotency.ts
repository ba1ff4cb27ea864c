import { createHash } from 'node:crypto';
import { db } from '../db.js';
import { conflict } from '../http/errors.js';
import type { AdminResult } from './result.js';

/**
 * Stored answers of idempotent admin requests. The key is sha256 of the business event
 * ("shipped:<orderId>", "offline-payment:<reference>", "cancel:<orderId>"); the request hash
 * tells a true replay (same answer, `replayed`) from a different request reusing the event (409).
 */
export const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

export function requestHash(input: unknown): string {
  return sha256(JSON.stringify(input ?? null));
}

export async function storedAnswer(key: string, hash: string): Promise<AdminResult | null> {
  const [row] = await db()`SELECT request_hash, status, response FROM admin_requests WHERE idempotency_key = ${key}`;
  if (!row) return null;
  if (row.request_hash !== hash)
    throw conflict('idempotency_conflict', 'this was already done with different details; the first request stands');
  return { status: Number(row.status), body: JSON.parse(row.response as string), replayed: true };
}

/** Stores the answer unless one is stored already; returns the answer that stands. */
export async function storeAnswer(key: string, hash: string, status: number, body: unknown): Promise<AdminResult> {
  const [row] = await db()`
    INSERT INTO admin_requests (idempotency_key, request_hash, status, response)
    VALUES (${key}, ${hash}, ${status}, ${JSON.stringify(body)})
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING idempotency_key`;
  if (row) return { status, body, replayed: false };
  return (await storedAnswer(key, hash))!;
}
