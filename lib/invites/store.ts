import { nanoid } from 'nanoid';
import { getConfig } from '../config.js';
import { db, type Query } from '../db.js';
import { log } from '../log.js';
import { inviteChatUrl } from './links.js';

/**
 * Order invites: when an order is paid, its customer gets a link to forward (to an elder, a
 * colleague) that opens a WhatsApp chat with the shop, prefilled with the order reference and
 * the invite token. The token row is created with the paid transition (lib/orders/store.ts storePaid);
 * this module owns the two tables and counts the redirect's clicks (the links and the redirect's pages:
 * ./links.ts); lib/conversation/invite-contact.ts links the contact who writes in.
 *
 *   invite_tokens    one per order: token (nanoid(32), 192 bits), expires_at, clicks, consumed_at
 *   invite_contacts  (invite, customer) of everyone who wrote in with the token (phone and/or BSUID)
 *
 * Tokens never appear in logs; phones only masked.
 */

/** nanoid's alphabet (A-Za-z0-9_-), 6 bits a character: 32 characters carry 192 bits. */
export const INVITE_TOKEN_LENGTH = 32;
export const TOKEN_SHAPE = /^[A-Za-z0-9_-]{16,64}$/;

export function newInviteToken(): string {
  return nanoid(INVITE_TOKEN_LENGTH);
}

export function inviteExpiry(now = new Date()): Date {
  return new Date(now.getTime() + getConfig().INVITE_TTL_DAYS * 24 * 3600 * 1000);
}

export type InviteFollow = { status: 'valid'; location: string; orderId: string } | { status: 'expired' } | { status: 'unknown' };

/** GET /w/invite/:token — counts the click (one statement) and says where to send the browser. */
export async function followInvite(token: string): Promise<InviteFollow> {
  if (!TOKEN_SHAPE.test(token)) return { status: 'unknown' };
  const rows = await db()`
    WITH hit AS (
      UPDATE invite_tokens t SET clicks = t.clicks + 1, last_clicked_at = now()
      FROM orders o
      WHERE t.token = ${token} AND t.expires_at > now() AND o.id = t.order_id
      RETURNING t.order_id, o.reference, t.clicks
    )
    SELECT 'valid'::text AS state, order_id, reference, clicks FROM hit
    UNION ALL
    SELECT 'expired'::text, order_id, NULL::text, clicks FROM invite_tokens
    WHERE token = ${token} AND NOT EXISTS (SELECT 1 FROM hit)`;
  const row = rows[0];
  if (!row) {
    log.info('invite.unknown');
    return { status: 'unknown' };
  }
  if (row.state === 'expired') {
    log.info('invite.expired', { orderId: row.order_id });
    return { status: 'expired' };
  }
  const location = inviteChatUrl(row.reference as string, token);
  if (new URL(location).hostname !== 'wa.me') throw new Error('invite redirect must point at wa.me');
  log.info('invite.clicked', { orderId: row.order_id, clicks: row.clicks });
  return { status: 'valid', location, orderId: row.order_id as string };
}

/**
 * A contact writes in with an order's token (lib/conversation/invite-contact.ts), one statement: the token is
 * consumed, the contact recorded (`first_time` when new), and the parts the flow adds run with it (the order's
 * event, the team inbox's handover: each given `t` (id, order_id) and the condition "a first-time contact", and
 * the flow's answer row over `t`). One row while the token is valid, none otherwise. The invites own only their
 * two tables; what the flow fuses in is the flow's, written by its owners (lib/orders, lib/inbox).
 */
export type JoinInviteParts = {
  /** CTE bodies keyed by name; `from` is the FROM clause (with WHERE) of a first-time contact of the order `t.order_id`. */
  also: (p: { orderId: string; customer: string; firstTimeFrom: string }) => Record<string, string>;
  /** The final SELECT, given the order id expression, the FROM and a column list to add. */
  answer: (p: { orderId: string; from: string; extra: string }) => string;
};

export function joinInviteQuery(token: string, customerId: string, profileName: string | null | undefined, waId: string | null | undefined, parts: JoinInviteParts): Query {
  const also = parts.also({ orderId: 't.order_id', customer: '$2', firstTimeFrom: 't, contact WHERE contact.first_time' });
  return db().query(
    `WITH t AS (
       UPDATE invite_tokens SET consumed_at = COALESCE(consumed_at, now())
       WHERE token = $1 AND expires_at > now()
       RETURNING id, order_id
     ), contact AS (
       INSERT INTO invite_contacts (invite_id, customer_id, wa_id, profile_name)
       SELECT id, $2, $4, $3 FROM t
       ON CONFLICT (invite_id, customer_id) DO UPDATE
         SET last_seen_at = now(), profile_name = COALESCE(excluded.profile_name, invite_contacts.profile_name)
       RETURNING (xmax = 0) AS first_time
     )${Object.entries(also).map(([name, body]) => `, ${name} AS (
       ${body}
     )`).join('')}
     ${parts.answer({ orderId: 't.order_id', from: 't', extra: '(SELECT first_time FROM contact) AS first_time' })}`,
    [token, customerId, profileName ?? null, waId ?? null],
  );
}

/** The order a customer (SQL expression) last came for as an invited contact, as a scalar subquery (NULL if none). */
export const INVITED_ORDER_SQL = (customer: string) =>
  `(SELECT t.order_id FROM invite_contacts ic JOIN invite_tokens t ON t.id = ic.invite_id WHERE ic.customer_id = ${customer} ORDER BY ic.last_seen_at DESC NULLS LAST LIMIT 1)`;

/** Whether a token exists at all (expired rather than unknown). */
export const inviteKnownQuery = (token: string): Query => db()`SELECT 1 AS known FROM invite_tokens WHERE token = ${token}`;

/** An order's invite (none before it is paid) with the contacts who joined through it, for the console's order view. */
export const inviteOfOrderQuery = (orderId: string): Query => db()`
  SELECT t.id, t.expires_at, t.consumed_at, t.clicks, t.last_clicked_at, t.created_at,
         COALESCE((SELECT jsonb_agg(jsonb_build_object('waId', cc.wa_id, 'userId', cc.bsuid, 'name', COALESCE(ic.profile_name, cc.profile_name),
                   'firstSeenAt', ic.first_seen_at, 'lastSeenAt', ic.last_seen_at) ORDER BY ic.first_seen_at)
                   FROM invite_contacts ic JOIN customers cc ON cc.id = ic.customer_id WHERE ic.invite_id = t.id), '[]'::jsonb) AS contacts
  FROM invite_tokens t WHERE t.order_id = ${orderId}`;

/** A statement part of the paid transition (lib/orders/store.ts storePaid): the order's invite token, made once, for each row of `from`. */
export const INVITE_TOKEN_INSERT_SQL = (token: string, expiresAt: string, from: string) => `INSERT INTO invite_tokens (order_id, token, expires_at)
       SELECT id, ${token}, ${expiresAt} FROM ${from}
       ON CONFLICT (order_id) DO NOTHING
       RETURNING id`;
