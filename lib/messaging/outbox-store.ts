import { db, type Query } from '../db.js';
import { TRACKED_STATUSES, type DeliveryStatus } from '../whatsapp/inbound-payload.js';

/**
 * The store of outbound_messages (tests/architecture-tables.test.ts): every statement of the table and the
 * statement parts other stores fuse into their own statements: the claim (one, for sends and answers), the
 * send outcomes (./outbox.ts), the rows a state change records (`outboxCte`, ./record.ts), the answer's
 * reservation (./reply.ts, fused into the inbound recording statement), the retry run (./retry.ts), Meta's
 * delivery statuses (./delivery-status.ts) and the console's order view.
 */

/** How long a claim (or a reservation) holds a row before another sender may retake it. */
export const CLAIM_SECONDS = 120;

/**
 * The claimed rows with their customer's current address. The customer counts as unreachable if
 * Meta said so after their last message to us. Rows written before customer_id existed keep to_wa_id.
 */
export const ADDRESSED_SQL = (claimed: string) => `
  SELECT ${claimed}.*, COALESCE(c.wa_id, CASE WHEN c.id IS NULL THEN ${claimed}.to_wa_id END) AS address_wa_id, c.bsuid AS address_user_id,
         CASE WHEN c.unreachable_at IS NOT NULL AND (c.last_inbound_at IS NULL OR c.last_inbound_at < date_trunc('second', c.unreachable_at)) THEN c.unreachable_at END AS unreachable_at
  FROM ${claimed} LEFT JOIN customers c ON c.id = ${claimed}.customer_id`;

/** The payload of a reservation nobody filled yet (./reply.ts: the answer is not known when the row is reserved). */
export const RESERVED_PAYLOAD = '{"type": "reserved"}';
/** SQL: the row `alias` is a reservation nobody filled (no answer to send). */
export const isReserved = (alias: string) => `${alias}.payload = '${RESERVED_PAYLOAD}'::jsonb`;

/** The columns a claim returns (read by ./outbox.ts's claimedOf, with ADDRESSED_SQL's address). */
export const CLAIMED_COLUMNS = 'id, idempotency_key, customer_id, to_wa_id, kind, order_id, payload, fallback_payload, attempts';

/** A message to claim, as its row's values (payload and fallback already JSON). */
export type ClaimRow = {
  key: string;
  kind: string;
  orderId: string | null;
  customerId: string;
  template: string | null;
  payload: string;
  fallback: string | null;
  sentBy?: string | null;
};

/**
 * THE claim (insert-or-retake, one statement): the row is recorded `sending` under its key, or retaken when it is
 * due (pending) or its lock lapsed; nothing is returned when someone else holds it or it is done. `fillReserved`
 * (an answer, ./reply.ts): a retaken reservation gets the answer's payload. Returns the claimed row with its address.
 */
export function claimStatement(r: ClaimRow, opts: { fillReserved?: boolean } = {}): Query {
  const sentBy = opts.fillReserved ? { column: '', value: '' } : { column: ', sent_by', value: ', $9' };
  const fill = opts.fillReserved
    ? `,
               payload = CASE WHEN ${isReserved('outbound_messages')} THEN excluded.payload ELSE outbound_messages.payload END,
               fallback_payload = CASE WHEN ${isReserved('outbound_messages')} THEN excluded.fallback_payload ELSE outbound_messages.fallback_payload END`
    : '';
  const params: unknown[] = [r.key, r.kind, r.orderId, r.customerId, r.template, r.payload, r.fallback, CLAIM_SECONDS];
  if (!opts.fillReserved) params.push(r.sentBy ?? null);
  return db().query(
    `WITH claimed AS (
       INSERT INTO outbound_messages (idempotency_key, kind, order_id, customer_id, template, payload, fallback_payload, status, attempts, locked_until${sentBy.column})
       VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, 'sending', 1, now() + make_interval(secs => $8)${sentBy.value})
       ON CONFLICT (idempotency_key) DO UPDATE
         SET status = 'sending', attempts = outbound_messages.attempts + 1,
             locked_until = now() + make_interval(secs => $8), updated_at = now()${fill}
         WHERE (outbound_messages.status = 'pending' AND outbound_messages.next_attempt_at <= now())
            OR (outbound_messages.status = 'sending' AND outbound_messages.locked_until < now())
       RETURNING ${CLAIMED_COLUMNS}
     )
     ${ADDRESSED_SQL('claimed')}`,
    params,
  ) as unknown as Query;
}

/** Whether the row under this key is a live reservation (read with an answer's claim: held elsewhere). */
export const reservedQuery = (key: string): Query =>
  db().query(`SELECT 1 AS reserved FROM outbound_messages o WHERE o.idempotency_key = $1 AND o.status = 'sending' AND ${isReserved('o')}`, [key]) as unknown as Query;

/** The outcome of one send attempt, recorded on its claimed row. */
export const markSent = (id: string, wamid: string, to: string | null, recipient: string | null): Query => db()`
        UPDATE outbound_messages
        SET status = 'sent', wamid = ${wamid}, sent_at = now(), locked_until = NULL, error_code = NULL, error_title = NULL,
            to_wa_id = ${to}, to_user_id = ${recipient},
            delivery_status = COALESCE(delivery_status, 'sent'), updated_at = now()
        WHERE id = ${id}`;

export const markFailed = (id: string, code: number | null, title: string | null): Query => db()`
        UPDATE outbound_messages SET status = 'failed', locked_until = NULL, error_code = ${code}, error_title = ${title}, updated_at = now()
        WHERE id = ${id}`;

export const markDeferred = (id: string, waitSeconds: number, code: number | null, title: string | null): Query => db()`
      UPDATE outbound_messages
      SET status = 'pending', locked_until = NULL, next_attempt_at = now() + make_interval(secs => ${waitSeconds}),
          error_code = ${code}, error_title = ${title}, updated_at = now()
      WHERE id = ${id}`;

/** The status of the row under this (hashed) key, if any. */
export async function statusOf(key: string): Promise<string | undefined> {
  const rows = await db()`SELECT status FROM outbound_messages WHERE idempotency_key = ${key}`;
  return rows[0]?.status as string | undefined;
}

/** The rows under these (hashed) keys not sent yet (pending or sending). */
export const unsentRows = (keys: string[]) => db()`
    SELECT idempotency_key, kind, customer_id, order_id, payload, fallback_payload FROM outbound_messages
    WHERE idempotency_key = ANY(${keys}::text[]) AND status IN ('pending', 'sending')`;

/** A staff message's row by its (hashed) key, as the inbox answers it. */
export const staffMessageByKey = (key: string) => db()`SELECT id, status, wamid, error_title, payload, sent_by FROM outbound_messages WHERE idempotency_key = ${key}`;

/**
 * The CTE body that records outbox rows (./record.ts's outboxRows, bound as `param`) for each row of the statement's
 * `source` CTE (`updated` by default), the order id read from `orderId` (the customer from `customerId`, else
 * each row's own); `where` filters further.
 */
export function outboxCte(param: string, opts: { where?: string; source?: string; orderId?: string; customerId?: string; claim?: boolean } = {}): string {
  const source = opts.source ?? 'updated';
  // `claim`: the rows are recorded already claimed by this caller (as the claim statement would), so it sends them
  // without a claim round trip (deliverClaimed); the CTE returns them for claimedSendsSql.
  const claim = opts.claim
    ? { columns: ', status, attempts, locked_until', values: `, 'sending', 1, now() + make_interval(secs => ${CLAIM_SECONDS})`, returning: `RETURNING ${CLAIMED_COLUMNS}` }
    : { columns: '', values: '', returning: '' };
  return `INSERT INTO outbound_messages (idempotency_key, kind, order_id, customer_id, template, payload, fallback_payload${claim.columns})
       SELECT m.key, m.kind, ${opts.orderId ?? `${source}.id`}, ${opts.customerId ?? 'm.customer_id'}, m.template, m.payload, m.fallback_payload${claim.values}
       FROM ${source}, jsonb_to_recordset(${param}::jsonb) AS m(key text, kind text, customer_id uuid, template text, payload jsonb, fallback_payload jsonb, order_id uuid)
       ${opts.where ?? ''}
       ON CONFLICT (idempotency_key) DO NOTHING ${claim.returning}`;
}

/** A scalar subquery: the rows an `outboxCte(…, { claim: true })` named `cte` recorded, with their address, as one jsonb array. */
export const claimedSendsSql = (cte: string) => `(SELECT COALESCE(jsonb_agg(s), '[]'::jsonb) FROM (${ADDRESSED_SQL(cte)}) s)`;

/**
 * The CTE body that reserves the answer's row (./reply.ts) for each row of `messages` with a `reply_key`,
 * addressed to the customer of `linked` (key → customer_id).
 */
export function reservationCte(messages: string, linked: string): string {
  return `INSERT INTO outbound_messages (idempotency_key, kind, customer_id, payload, status, attempts, locked_until)
       SELECT m.reply_key, 'reply', l.customer_id, '${RESERVED_PAYLOAD}'::jsonb, 'sending', 1, now() + make_interval(secs => ${CLAIM_SECONDS})
       FROM ${messages} m JOIN ${linked} l ON l.key = m.key
       WHERE m.reply_key IS NOT NULL
       ON CONFLICT (idempotency_key) DO NOTHING
       RETURNING id, idempotency_key, customer_id, locked_until`;
}

/** The select list (after FROM `reserved` r JOIN `messages` m ON m.reply_key = r.idempotency_key LEFT JOIN customers c) of one reservation. */
export const RESERVATION_JSON = `jsonb_build_object('id', r.id, 'key', r.idempotency_key, 'customerId', r.customer_id, 'lockedUntil', r.locked_until,
    'waId', c.wa_id, 'bsuid', c.bsuid,
    'unreachableAt', CASE WHEN c.unreachable_at IS NOT NULL AND (GREATEST(c.last_inbound_at, m.at) IS NULL OR GREATEST(c.last_inbound_at, m.at) < date_trunc('second', c.unreachable_at)) THEN c.unreachable_at END)`;

/**
 * A SELECT (what, id, key, jsonb) of each row of the CTE `reserved` (reservationCte) for the message of `messages` it
 * answers, with its customer's address (the inbound recording statement's 'reply' rows).
 */
export const RESERVED_REPLIES_SQL = (reserved: string, messages: string) => `SELECT 'reply', r.id::text, m.wamid, ${RESERVATION_JSON}
    FROM ${reserved} r JOIN ${messages} m ON m.reply_key = r.idempotency_key LEFT JOIN customers c ON c.id = r.customer_id`;

/** Deletes a holder's unused reservation (it sends no answer), by its lock. */
export const releaseReservationQuery = (id: string, lockedUntil: string): Query =>
  db()`DELETE FROM outbound_messages WHERE id = ${id} AND status = 'sending' AND payload = ${RESERVED_PAYLOAD}::jsonb AND locked_until = ${lockedUntil}::timestamptz`;

/** Deletes a lapsed reservation under this (hashed) key left by a request that died. */
export const releaseLapsedReservationQuery = (key: string): Query =>
  db()`DELETE FROM outbound_messages WHERE idempotency_key = ${key} AND status = 'sending' AND payload = ${RESERVED_PAYLOAD}::jsonb AND locked_until < now()`;

/** The answer written into the reservation its holder sends through. */
export const fillReservation = (id: string, r: Pick<ClaimRow, 'payload' | 'fallback' | 'template' | 'kind'>): Query =>
  db()`UPDATE outbound_messages SET payload = ${r.payload}::jsonb, fallback_payload = ${r.fallback}::jsonb,
         template = ${r.template}, kind = ${r.kind}
       WHERE id = ${id} AND payload = ${RESERVED_PAYLOAD}::jsonb`;

/** The holder, past its trust window, retakes its reservation by its lock (nobody else could have), filling the answer. */
export const reclaimReservation = (id: string, lockedUntil: string, r: Pick<ClaimRow, 'payload' | 'fallback' | 'template' | 'kind'>) =>
  db().query(
    `WITH claimed AS (
       UPDATE outbound_messages SET payload = $2::jsonb, fallback_payload = $3::jsonb, template = $4, kind = $5, attempts = attempts + 1,
              locked_until = now() + make_interval(secs => $6), updated_at = now()
       WHERE id = $1 AND status = 'sending' AND ${isReserved('outbound_messages')} AND locked_until = $7::timestamptz
       RETURNING ${CLAIMED_COLUMNS}
     )
     ${ADDRESSED_SQL('claimed')}`,
    [id, r.payload, r.fallback, r.template, r.kind, CLAIM_SECONDS, lockedUntil],
  );

/** The claim of retryDueMessages as a statement not run yet (the cleanup run sends it with its other reads, one round trip). */
export function claimDueMessages(limit: number): Query {
  return db().query(
    `WITH due AS (
       UPDATE outbound_messages SET status = 'sending', attempts = attempts + 1,
              locked_until = now() + make_interval(secs => $1), updated_at = now()
       WHERE id IN (
         SELECT m.id FROM outbound_messages m
         WHERE ((m.status = 'pending' AND m.next_attempt_at <= now()) OR (m.status = 'sending' AND m.locked_until < now()))
           AND NOT ${isReserved('m')}
           AND NOT EXISTS (
             SELECT 1 FROM outbound_messages e
             WHERE e.customer_id = m.customer_id AND e.seq < m.seq AND e.status IN ('pending', 'sending') AND NOT ${isReserved('e')}
               AND ((e.status = 'pending' AND e.next_attempt_at > now()) OR (e.status = 'sending' AND e.locked_until >= now())))
         ORDER BY m.seq LIMIT $2 FOR UPDATE SKIP LOCKED)
       RETURNING id, idempotency_key, customer_id, to_wa_id, kind, order_id, payload, fallback_payload, attempts, seq
     )
     ${ADDRESSED_SQL('due')}`,
    [CLAIM_SECONDS, limit],
  ) as unknown as Query;
}

/** Gives claimed rows back unsent (due now, their attempt not counted), for rows that must wait behind a deferred one. */
export const unclaim = (ids: string[]): Query => db()`
  UPDATE outbound_messages SET status = 'pending', attempts = attempts - 1, locked_until = NULL, next_attempt_at = now(), updated_at = now()
  WHERE id = ANY(${ids}::uuid[]) AND status = 'sending'`;

/** Records one of Meta's delivery statuses on its row (see ./delivery-status.ts), with the row's customer as it is now. */
export async function recordDeliveryStatus(s: DeliveryStatus): Promise<Record<string, unknown>[]> {
  const entry = JSON.stringify([{ status: s.status, at: s.at.toISOString(), errors: s.errors }]);
  const error = s.errors[0];
  const tracked = (TRACKED_STATUSES as readonly string[]).includes(s.status);
  const rows = await db()`
    WITH target AS (
      SELECT id, delivery_status AS previous FROM outbound_messages
      WHERE wamid = ${s.wamid} OR (wamid IS NULL AND ${s.callbackKey}::text IS NOT NULL AND idempotency_key = ${s.callbackKey})
      LIMIT 1 FOR UPDATE
    ), updated AS (
    UPDATE outbound_messages m SET
      wamid = COALESCE(m.wamid, ${s.wamid}),
      status = CASE WHEN m.status IN ('pending', 'sending') THEN 'sent' ELSE m.status END,
      sent_at = COALESCE(m.sent_at, ${s.at.toISOString()}::timestamptz),
      locked_until = NULL,
      -- A redriven event (processing failed after this update) is not recorded twice.
      delivery_statuses = CASE WHEN m.delivery_statuses @> ${entry}::jsonb THEN m.delivery_statuses ELSE m.delivery_statuses || ${entry}::jsonb END,
      delivery_status = CASE
        WHEN NOT ${tracked}::boolean THEN m.delivery_status
        WHEN ${s.status} = 'failed' THEN CASE WHEN m.delivery_status IN ('delivered', 'read') THEN m.delivery_status ELSE 'failed' END
        WHEN m.delivery_status IS NULL OR m.delivery_status = 'failed' THEN ${s.status}
        WHEN array_position(ARRAY['sent', 'delivered', 'read'], ${s.status}::text) > array_position(ARRAY['sent', 'delivered', 'read'], m.delivery_status)
          THEN ${s.status}
        ELSE m.delivery_status END,
      error_code = CASE WHEN ${s.status} = 'failed' THEN ${error?.code ?? null}::int ELSE m.error_code END,
      error_title = CASE WHEN ${s.status} = 'failed' THEN ${error?.title ?? null}::text ELSE m.error_title END,
      updated_at = now()
    FROM target WHERE m.id = target.id
    RETURNING m.id, m.idempotency_key, m.kind, m.order_id, m.customer_id, m.to_wa_id, m.to_user_id, m.template, m.fallback_payload, target.previous
  )
  SELECT u.*, c.wa_id AS customer_wa_id, c.bsuid AS customer_bsuid FROM updated u LEFT JOIN customers c ON c.id = u.customer_id`;
  return rows;
}

/** The customer a message is for now (a link may have merged its customer into another row). */
export async function customerOfMessage(id: string): Promise<string | null> {
  const [m] = await db()`SELECT customer_id FROM outbound_messages WHERE id = ${id}`;
  return (m?.customer_id as string | null) ?? null;
}

/** Every message of an order (the console's order view); an unsent row shows the address it will be sent to. */
export const messagesOfOrderQuery = (orderId: string): Query => db()`SELECT m.id, m.kind, m.template, m.status, m.attempts, m.delivery_status, m.delivery_statuses, m.error_code, m.error_title, m.sent_at, m.created_at,
                   COALESCE(m.to_wa_id, CASE WHEN m.to_user_id IS NULL THEN mc.wa_id END) AS to_wa_id, COALESCE(m.to_user_id, mc.bsuid) AS to_user_id
            FROM outbound_messages m LEFT JOIN customers mc ON mc.id = m.customer_id WHERE m.order_id = ${orderId} ORDER BY m.created_at, m.id`;
