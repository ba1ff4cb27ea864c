import { db } from '../db.js';
import type { WaIdentity } from '../identity.js';

/**
 * The customer of a Meta-signed identity (a webhook message or status), created, linked or merged
 * as needed: one statement. Never for caller-supplied identities (see findOrCreateCustomer).
 */
export async function customerIdOf(
  identity: WaIdentity & { parentUserId?: string | null; username?: string | null; profileName?: string | null },
): Promise<string> {
  const [row] = await db()`
    SELECT link_customer(${identity.waId}, ${identity.userId}, ${identity.parentUserId ?? null}, ${identity.username ?? null},
                         ${identity.profileName ?? null}, NULL) AS id`;
  return row!.id as string;
}

export type ResolvedCustomer = { ok: true; id: string } | { ok: false; field: 'customerPhone' | 'customerUserId'; message: string };

/**
 * The customer an API caller names (order API, offline payments), found or created but never linked
 * or merged: caller input is no proof that a phone and a BSUID are one person (only Meta's signed
 * webhooks link them). By phone when given, else by BSUID; identities that belong to different
 * customers are refused (`ok: false`, naming the field that does not fit). One statement.
 */
export async function findOrCreateCustomer(identity: WaIdentity & { profileName?: string | null }): Promise<ResolvedCustomer> {
  const [row] = await db().query(`SELECT id, conflict FROM ${FIND_OR_CREATE_CUSTOMER_SQL('$1', '$2', '$3')}`, [identity.waId, identity.userId, identity.profileName ?? null]);
  return resolvedCustomerOf(row);
}

/**
 * findOrCreateCustomer as a FROM item (columns `id`, `conflict`) for a statement that does more in the
 * same round trip (lib/orders/place.ts), the three parameters given as placeholders: wa_id, BSUID, name.
 */
export const FIND_OR_CREATE_CUSTOMER_SQL = (waId: string, userId: string, profileName: string) =>
  `find_or_create_customer(${waId}::text, ${userId}::text, ${profileName}::text)`;

/**
 * Statement part (a SELECT of customers rows): the customer of id `id` (an SQL uuid expression), or, when a link merged
 * it into another row meanwhile, the survivor (whose 'merged' identity event names this id).
 */
export const CUSTOMER_OR_SURVIVOR_SQL = (id: string) => `
         SELECT * FROM customers WHERE id = ${id}::uuid
         UNION ALL
         SELECT c.* FROM customers c
         WHERE NOT EXISTS (SELECT 1 FROM customers WHERE id = ${id}::uuid)
           AND c.id = (SELECT e.customer_id FROM customer_identity_events e
                       WHERE e.type = 'merged' AND e.data->>'from' = ${id}::text ORDER BY e.id DESC LIMIT 1)`;

/** The (id, conflict) row of FIND_OR_CREATE_CUSTOMER_SQL as findOrCreateCustomer answers it. */
export function resolvedCustomerOf(row: Record<string, unknown> | undefined): ResolvedCustomer {
  if (row?.id) return { ok: true, id: row.id as string };
  const field = (row?.conflict as 'customerPhone' | 'customerUserId' | undefined) ?? 'customerUserId';
  return {
    ok: false,
    field,
    message: field === 'customerUserId' ? "belongs to a different customer than customerPhone" : "belongs to a different customer than customerUserId",
  };
}

/** A customer's identity change (Meta's user_changed_number / user_changed_user_id): one statement. */
export async function changeCustomerIdentity(customerId: string, change: { newWaId: string | null; newUserId: string | null; type: string }): Promise<boolean> {
  const [row] = await db()`SELECT change_customer_identity(${customerId}, ${change.newWaId}, ${change.newUserId}, ${change.type}) AS id`;
  return !!row?.id;
}

/**
 * The customer's "stop" (no proactive message any more, lib/waitlist/) and its undo when they join a waitlist
 * again, as statement parts (CTE bodies) for the waitlist's own statements; `customer` is an SQL expression.
 */
/** Meta said this customer cannot receive WhatsApp messages (until they write to us again: see the outbox's address). */
export const markUnreachableQuery = (customerId: string) => db()`UPDATE customers SET unreachable_at = now() WHERE id = ${customerId}`;

export const PROACTIVE_STOP_SQL = (customer: string) => `UPDATE customers SET proactive_stopped_at = now() WHERE id = ${customer}`;
export const PROACTIVE_OPT_IN_SQL = (customer: string) =>
  `UPDATE customers SET proactive_stopped_at = NULL WHERE id = ${customer} AND proactive_stopped_at IS NOT NULL`;

/** Links a Meta-signed BSUID to a phone (a delivery status naming both): the customer id it resolves to. */
export async function linkRecipient(phone: string, userId: string): Promise<string | null> {
  const [linked] = await db()`SELECT link_customer(${phone}, ${userId}, NULL, NULL, NULL, NULL) AS id`;
  return linked ? (linked.id as string) : null;
}

/** The customer's WhatsApp profile name, if known. */
export async function profileName(customerId: string): Promise<string | null> {
  const [c] = await db()`SELECT profile_name FROM customers WHERE id = ${customerId}`;
  return (c?.profile_name as string | null) ?? null;
}
