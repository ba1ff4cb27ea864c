import { db, type Query } from '../db.js';
import { isOrderId } from '../orders/order.js';
import { maskBsuid, maskPhone } from '../log.js';
import { SERVICE_WINDOW_MS } from '../messaging/window.js';
import { invalidRequest, notFound } from '../errors.js';
import type { ConversationListQuery } from './requests.js';
import { EFFECTIVE_MODE_SQL, INBOX_STATE_SQL, inboxStateOf, type InboxState } from './handover-state.js';
import { foldThread } from './thread.js';
import { INVITED_ORDER_SQL } from '../invites/store.js';

/**
 * The team inbox's reads and the staff's writes on a conversation (tables conversation_messages and
 * conversations, migration 028). A conversation is a customer row that wrote to us (customers.last_inbound_at
 * set, maintained by link_customer; merged with the customer), its id is the customer id.
 *  - the list: newest customer message first, keyset (last_inbound_at, id) over the partial index
 *    customers_last_inbound, filters and search in the same statement: one round trip per page;
 *  - the thread: the stored inbound content and the outbox rows to that customer, merged in time order.
 * Phones are masked as everywhere else.
 */

const OPEN_ORDER = `(o.payment_status IN ('pending', 'awaiting_payment') OR (o.payment_status = 'paid' AND o.fulfillment_status = 'unfulfilled'))`;

/** The orders a conversation is linked to, and how: the customer's own, and those they joined as an invited contact (alias cu). */
const LINKED_ORDERS_SQL = (limit: number) => `(
  SELECT COALESCE(jsonb_agg(x ORDER BY x."createdAt" DESC), '[]'::jsonb) FROM (
    (SELECT o.id, o.reference, o.payment_status AS "paymentStatus", o.fulfillment_status AS "fulfillmentStatus", o.created_at AS "createdAt", 'customer' AS how, ${OPEN_ORDER} AS open
     FROM orders o WHERE o.customer_id = cu.id ORDER BY o.created_at DESC LIMIT ${limit})
    UNION ALL
    (SELECT o.id, o.reference, o.payment_status, o.fulfillment_status, o.created_at, 'invited', ${OPEN_ORDER}
     FROM invite_contacts ic JOIN invite_tokens t ON t.id = ic.invite_id JOIN orders o ON o.id = t.order_id
     WHERE ic.customer_id = cu.id AND o.customer_id <> cu.id ORDER BY o.created_at DESC LIMIT ${limit})
  ) x)`;

const UNREAD_SQL = `(SELECT count(*)::int FROM conversation_messages m WHERE m.customer_id = cu.id AND m.recorded_at > COALESCE(cv.read_at, '-infinity') AND m.kind NOT IN ('system'))`;
const NEEDS_REPLY_SQL = `(${EFFECTIVE_MODE_SQL('cv')} = 'staff' AND cu.last_inbound_at > COALESCE(cv.replied_at, '-infinity'))`;

function encodeCursor(t: string, id: string): string {
  return Buffer.from(JSON.stringify({ t, id })).toString('base64url');
}

function decodeCursor(cursor: string): { t: string; id: string } {
  try {
    const c = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { t?: unknown; id?: unknown };
    if (typeof c.t === 'string' && !Number.isNaN(Date.parse(c.t)) && isOrderId(c.id)) return { t: c.t, id: c.id };
  } catch {
    // falls through
  }
  throw invalidRequest([{ path: 'cursor', message: 'is not a cursor this list gave out' }]);
}

/** The page statement (one round trip): also used by the bench to EXPLAIN which index serves it. */
export function conversationPageSql(query: ConversationListQuery): { text: string; params: unknown[] } {
  const params: unknown[] = [];
  const p = (v: unknown) => `$${params.push(v)}`;
  const where = ['cu.last_inbound_at IS NOT NULL'];
  if (query.filter === 'needsReply') where.push(NEEDS_REPLY_SQL);
  if (query.filter === 'openOrder')
    where.push(`(EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = cu.id AND ${OPEN_ORDER})
      OR EXISTS (SELECT 1 FROM invite_contacts ic JOIN invite_tokens t ON t.id = ic.invite_id JOIN orders o ON o.id = t.order_id WHERE ic.customer_id = cu.id AND ${OPEN_ORDER}))`);
  if (query.filter === 'invited') where.push(`EXISTS (SELECT 1 FROM invite_contacts ic WHERE ic.customer_id = cu.id)`);
  if (query.q) {
    const digits = query.q.replace(/[\s\-().+]/g, '').replace(/^00/, '');
    const matchers = [`cu.profile_name ILIKE ${p(`%${query.q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`)}`, `cu.username ILIKE ${p(query.q)}`];
    if (/^\d{4,15}$/.test(digits)) matchers.push(`cu.wa_id LIKE ${p(`%${digits}`)}`);
    if (/^[A-Za-z0-9]{4,32}$/.test(query.q))
      matchers.push(`EXISTS (SELECT 1 FROM orders o WHERE o.reference = ${p(query.q.toUpperCase())} AND (o.customer_id = cu.id
        OR EXISTS (SELECT 1 FROM invite_tokens t JOIN invite_contacts ic ON ic.invite_id = t.id WHERE t.order_id = o.id AND ic.customer_id = cu.id)))`);
    where.push(`(${matchers.join(' OR ')})`);
  }
  if (query.cursor) {
    const c = decodeCursor(query.cursor);
    where.push(`(cu.last_inbound_at, cu.id) < (${p(c.t)}::timestamptz, ${p(c.id)}::uuid)`);
  }
  const text = `SELECT cu.id, cu.profile_name, cu.wa_id, cu.bsuid, cu.last_inbound_at,
            to_char(cu.last_inbound_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS cursor_at,
            ${EFFECTIVE_MODE_SQL('cv')} AS mode, cv.replied_at, ${UNREAD_SQL} AS unread, ${NEEDS_REPLY_SQL} AS needs_reply,
            (SELECT jsonb_build_object('kind', m.kind, 'body', left(m.body, 120), 'at', m.at) FROM conversation_messages m
             WHERE m.customer_id = cu.id AND m.kind NOT IN ('reaction', 'system') ORDER BY m.at DESC, m.id DESC LIMIT 1) AS last_message,
            ${LINKED_ORDERS_SQL(3)} AS orders
     FROM customers cu LEFT JOIN conversations cv ON cv.customer_id = cu.id
     WHERE ${where.join(' AND ')}
     ORDER BY cu.last_inbound_at DESC, cu.id DESC
     LIMIT ${query.limit + 1}`;
  return { text, params };
}

export async function listConversations(query: ConversationListQuery) {
  const limit = query.limit;
  const { text, params } = conversationPageSql(query);
  const rows = await db().query(text, params);
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return {
    conversations: page.map((r) => ({
      id: r.id as string,
      name: (r.profile_name as string | null) ?? null,
      phone: r.wa_id ? maskPhone(r.wa_id as string) : null,
      userId: r.bsuid ? maskBsuid(r.bsuid as string) : null,
      lastActivityAt: iso(r.last_inbound_at),
      lastMessage: r.last_message ?? null,
      unread: Number(r.unread),
      needsReply: r.needs_reply === true,
      mode: r.mode as 'bot' | 'staff',
      orders: r.orders,
      windowEndsAt: windowEnd(r.last_inbound_at),
    })),
    nextCursor: rows.length > limit && last ? encodeCursor(last.cursor_at as string, last.id as string) : null,
  };
}

const iso = (v: unknown): string | null => (v ? new Date(v as string).toISOString() : null);
const windowEnd = (lastInbound: unknown): string | null => (lastInbound ? new Date(new Date(lastInbound as string).getTime() + SERVICE_WINDOW_MS).toISOString() : null);

const THREAD_LIMIT = 300;

/** GET /api/conversations/:id: the thread (newest last), the linked orders, the window's end, the mode. One round trip. */
export async function getConversation(id: string) {
  if (!isOrderId(id)) throw notFound('conversation');
  const [row] = await db().query(
    `SELECT cu.id, cu.profile_name, cu.wa_id, cu.bsuid, cu.username, cu.last_inbound_at,
            ${EFFECTIVE_MODE_SQL('cv')} AS mode, cv.mode_changed_at, cv.mode_changed_by, cv.read_at, cv.read_by, cv.replied_at, cv.replied_by, cv.invited_order_id,
            ${UNREAD_SQL} AS unread, ${LINKED_ORDERS_SQL(20)} AS orders,
            -- In the order they happened here: an inbound message when it was recorded (Meta's time has whole seconds
            -- only), an outbound one when it was sent (a reply's row is reserved when its question is recorded).
            (SELECT COALESCE(jsonb_agg(t ORDER BY t.sort_at, t.dir, t.seq), '[]'::jsonb) FROM (
              (SELECT 'in' AS dir, m.id::text AS id, m.wamid, m.kind, m.at, m.recorded_at AS sort_at, m.body, m.data, m.ref_wamid, m.content_deleted_at, m.id AS seq,
                      NULL::text AS status, NULL::text AS delivery, NULL::text AS error, NULL::text AS sent_by, NULL::text AS out_kind
               FROM conversation_messages m WHERE m.customer_id = cu.id ORDER BY m.recorded_at DESC, m.id DESC LIMIT ${THREAD_LIMIT})
              UNION ALL
              (SELECT 'out', o.id::text, o.wamid, o.payload->>'type', COALESCE(o.sent_at, o.created_at), COALESCE(o.sent_at, o.created_at), NULL, o.payload, NULL, NULL, o.seq,
                      o.status, o.delivery_status, o.error_title, o.sent_by, o.kind
               FROM outbound_messages o WHERE o.customer_id = cu.id AND o.payload <> '{"type": "reserved"}'::jsonb
               ORDER BY o.created_at DESC LIMIT ${THREAD_LIMIT})
            ) t) AS thread
     FROM customers cu LEFT JOIN conversations cv ON cv.customer_id = cu.id
     WHERE cu.id = $1`,
    [id],
  );
  if (!row) throw notFound('conversation');
  return {
    id: row.id as string,
    name: (row.profile_name as string | null) ?? null,
    username: (row.username as string | null) ?? null,
    phone: row.wa_id ? maskPhone(row.wa_id as string) : null,
    userId: row.bsuid ? maskBsuid(row.bsuid as string) : null,
    mode: row.mode as 'bot' | 'staff',
    modeChangedAt: iso(row.mode_changed_at),
    modeChangedBy: (row.mode_changed_by as string | null) ?? null,
    readAt: iso(row.read_at),
    readBy: (row.read_by as string | null) ?? null,
    repliedAt: iso(row.replied_at),
    repliedBy: (row.replied_by as string | null) ?? null,
    unread: Number(row.unread),
    lastInboundAt: iso(row.last_inbound_at),
    windowEndsAt: windowEnd(row.last_inbound_at),
    insideWindow: row.last_inbound_at ? Date.now() - new Date(row.last_inbound_at as string).getTime() < SERVICE_WINDOW_MS : false,
    orders: row.orders,
    messages: foldThread(row.thread as Record<string, unknown>[]),
  };
}


/** PUT /api/conversations/:id/mode: one statement (the customer must exist and have written). */
export async function setMode(id: string, mode: 'bot' | 'staff', staff: string) {
  if (!isOrderId(id)) throw notFound('conversation');
  const [row] = await db()`
    INSERT INTO conversations (customer_id, mode, mode_changed_at, mode_changed_by, misunderstood)
    SELECT id, ${mode}, now(), ${staff}, 0 FROM customers WHERE id = ${id} AND last_inbound_at IS NOT NULL
    ON CONFLICT (customer_id) DO UPDATE SET mode = excluded.mode, mode_changed_at = now(), mode_changed_by = excluded.mode_changed_by, misunderstood = 0
    RETURNING mode, mode_changed_at, mode_changed_by`;
  if (!row) throw notFound('conversation');
  return { mode: row.mode as string, modeChangedAt: iso(row.mode_changed_at), modeChangedBy: row.mode_changed_by as string };
}

// Statements of the inbox tables other modules run (built, not run: each caller runs it alone or in its own batch).

/** The customer asks for a person: their conversation goes to staff mode (lib/conversation/handover.ts). */
export const toStaffQuery = (customerId: string): Query => db()`
  INSERT INTO conversations (customer_id, mode, mode_changed_at, mode_changed_by, misunderstood)
  VALUES (${customerId}, 'staff', now(), 'customer', 0)
  ON CONFLICT (customer_id) DO UPDATE SET mode = 'staff', mode_changed_at = now(), mode_changed_by = 'customer', misunderstood = 0`;

/** One more text in a row the bot did not understand. */
export const countMisunderstoodQuery = (customerId: string): Query => db()`
  INSERT INTO conversations (customer_id, misunderstood) VALUES (${customerId}, 1)
  ON CONFLICT (customer_id) DO UPDATE SET misunderstood = conversations.misunderstood + 1`;

export const resetMisunderstoodQuery = (customerId: string): Query => db()`UPDATE conversations SET misunderstood = 0 WHERE customer_id = ${customerId}`;

/**
 * An invited contact starts with a person, for the order they came for: a CTE body over `from` (a FROM item
 * with its condition) where `customer` and `orderId` are SQL expressions (lib/invites/store.ts joinInviteQuery).
 */
export const INVITE_HANDOVER_SQL = (p: { customer: string; orderId: string; from: string }) =>
  `INSERT INTO conversations (customer_id, mode, mode_changed_at, mode_changed_by, invited_order_id)
   SELECT ${p.customer}, 'staff', now(), 'invite', ${p.orderId} FROM ${p.from}
   ON CONFLICT (customer_id) DO UPDATE SET mode = 'staff', mode_changed_at = now(), mode_changed_by = 'invite', invited_order_id = excluded.invited_order_id`;

/** A conversation's handover state read on its own, for a message processed without the recording statement's read (the re-drive). */
export const inboxStateQuery = (customerId: string): Query =>
  db().query(`SELECT ${INBOX_STATE_SQL('cv')} AS state FROM conversations cv WHERE cv.customer_id = $1`, [customerId]);
export async function readInboxState(customerId: string): Promise<InboxState | null> {
  const [row] = await inboxStateQuery(customerId);
  return row ? inboxStateOf(row.state as Record<string, unknown>) : null;
}

/** The stored message a media id belongs to, unless its content was deleted (lib/inbox/media.ts). */
export const mediaMessageQuery = (mediaId: string): Query => db()`
  SELECT kind, data->>'mimeType' AS mime, data->>'filename' AS filename FROM conversation_messages
  WHERE data->>'mediaId' = ${mediaId} AND data ? 'mediaId' AND content_deleted_at IS NULL LIMIT 1`;

/** Staff answered the conversation. */
export const repliedQuery = (customerId: string, staff: string): Query => db()`
  INSERT INTO conversations (customer_id, replied_at, replied_by) VALUES (${customerId}, now(), ${staff})
  ON CONFLICT (customer_id) DO UPDATE SET replied_at = now(), replied_by = ${staff}`;

const LAST_CUSTOMER_MESSAGE = (customer: string) =>
  `SELECT wamid, at FROM conversation_messages WHERE customer_id = ${customer} AND kind NOT IN ('system', 'reaction', 'revoke', 'edit') ORDER BY at DESC, id DESC LIMIT 1`;

/** The customer's newest message (wamid, at) and the customer's id; no row when there is no such customer. */
export const lastMessageQuery = (customerId: string): Query =>
  db().query(`SELECT m.wamid, m.at, c.id FROM customers c LEFT JOIN LATERAL (${LAST_CUSTOMER_MESSAGE('c.id')}) m ON true WHERE c.id = $1`, [customerId]);

/** Staff read the conversation: RETURNING read_at. */
export const readQuery = (customerId: string, staff: string): Query => db()`
  INSERT INTO conversations (customer_id, read_at, read_by) VALUES (${customerId}, now(), ${staff})
  ON CONFLICT (customer_id) DO UPDATE SET read_at = now(), read_by = ${staff}
  RETURNING read_at`;

/** The typing indicator's conditional write (at most once per `intervalSeconds`): the newest message's wamid and whether this call claimed it. */
export const typingQuery = (customerId: string, intervalSeconds: number): Query =>
  db().query(
    `WITH last AS (${LAST_CUSTOMER_MESSAGE('$1')}),
     claimed AS (
       INSERT INTO conversations (customer_id, typing_at) SELECT $1, now() WHERE EXISTS (SELECT 1 FROM last)
       ON CONFLICT (customer_id) DO UPDATE SET typing_at = now()
         WHERE conversations.typing_at IS NULL OR conversations.typing_at < now() - make_interval(secs => $2)
       RETURNING customer_id)
     SELECT (SELECT wamid FROM last) AS wamid, EXISTS (SELECT 1 FROM claimed) AS claimed`,
    [customerId, intervalSeconds],
  );

/**
 * A staff message's target (lib/inbox/send.ts): the customer, the message already sent under its key (hashed), and
 * the order it is about (the invited order, else the customer's newest open one).
 */
export const staffMessageTargetQuery = (id: string, key: string) => db()`
    SELECT c.id, c.wa_id, c.bsuid, c.last_inbound_at,
           (SELECT to_jsonb(x) FROM (SELECT id, status, wamid, error_title, payload, sent_by FROM outbound_messages WHERE idempotency_key = ${key}) x) AS existing,
           (SELECT o.id FROM orders o WHERE o.customer_id = c.id ORDER BY (o.payment_status IN ('pending', 'awaiting_payment', 'paid')) DESC, o.created_at DESC LIMIT 1) AS own_order,
           ${db().unsafe(INVITED_ORDER_SQL('c.id'))} AS invited_order
    FROM customers c WHERE c.id = ${id}`;

/**
 * Statement part (a CTE body): the team inbox's copy of each new message's content (./content.ts), kept once, from
 * the contents bound as `param`, for the messages of `messages` whose sender `linked` (key → customer) links (the
 * inbound recording statement, lib/inbound/store.ts).
 */
export const STORE_CONTENTS_SQL = (param: string, messages: string, linked: string) => `
      -- The team inbox's copy of each new message's content (lib/inbox), kept once, here.
      INSERT INTO conversation_messages (customer_id, wamid, kind, at, body, data, ref_wamid)
      SELECT l.customer_id, c.wamid, c.kind, c.at, c.body, c.data, c.ref_wamid
      FROM jsonb_to_recordset(${param}::jsonb) AS c(wamid text, key text, kind text, at timestamptz, body text, data jsonb, ref_wamid text)
      JOIN ${messages} m ON m.wamid = c.wamid
      JOIN ${linked} l ON l.key = c.key
      ON CONFLICT (wamid) DO NOTHING`;

/** A SELECT ('inbox', customer id, key, jsonb) of the conversation state of each sender of `linked` (key → customer) that has one. */
export const INBOX_STATES_SQL = (linked: string) => `SELECT 'inbox', l.customer_id::text, l.key, ${INBOX_STATE_SQL('cv')}
    FROM ${linked} l JOIN conversations cv ON cv.customer_id = l.customer_id`;
