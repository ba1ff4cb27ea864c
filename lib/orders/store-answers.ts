import { db } from '../db.js';
import { orderColumns } from './store-order.js';

/**
 * The orders store's staff-action answers (part of lib/orders/store.ts; table admin_requests): an answer is about an
 * order, bound to the order's state it reported, and stored by the statement that makes the order's change
 * (answerCte). The rules of replay are lib/admin/idempotency.ts's; these are its statements.
 */

const CURRENT_STATE = `(SELECT o.payment_status || '/' || o.fulfillment_status FROM orders o WHERE o.id = r.order_id)`;

const ANSWER_COLUMNS = `r.request_hash, r.status, r.response, r.order_state, ${CURRENT_STATE} AS current_state`;

/** A scalar subquery: the stored answer under the key (bound as `key`) as one jsonb row, for answerOf. */
export const storedAnswerSql = (key: string) => `(SELECT to_jsonb(a) FROM (SELECT ${ANSWER_COLUMNS} FROM admin_requests r WHERE r.idempotency_key = ${key}) a)`;

/** The order $2 as one jsonb value (orderColumns), read with an answer. */
const ORDER_OF_PARAM2 = `(SELECT to_jsonb(x) FROM (SELECT ${orderColumns()} FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.id = $2::uuid) x)`;

/** The stored answer's row under `key` (storedAnswerSql's columns), if any. */
export async function answerRow(key: string): Promise<Record<string, unknown> | undefined> {
  const [row] = await db().query(`SELECT ${ANSWER_COLUMNS} FROM admin_requests r WHERE r.idempotency_key = $1`, [key]);
  return row;
}

/** The stored answer's row and the order's (orderColumns) in ONE statement: { answer, order }. */
export async function answerAndOrderRow(key: string, orderId: string): Promise<Record<string, unknown> | undefined> {
  const [row] = await db().query(
    `SELECT ${storedAnswerSql('$1')} AS answer,
            ${ORDER_OF_PARAM2} AS "order"`,
    [key, orderId],
  );
  return row;
}

/** A write a staff action makes in its first round trip (a cancel's refund decision): CTEs, the select list reporting them. */
export type FirstWrite<T> = {
  /** The CTEs, with `unless` (an SQL condition) keeping the write from happening, parameters bound from $`first`. */
  cte: (p: { orderId: string; unless: string; first: number }) => { sql: string; params: unknown[] };
  columns: string;
  parse: (row: Record<string, unknown> | undefined) => T;
};

/** answerAndOrderRow, with `write`'s CTEs made only unless an answer under the key stands (see lib/admin/idempotency.ts). */
export async function answerOrderAndWriteRow(key: string, hash: string, orderId: string, write: Pick<FirstWrite<unknown>, 'cte' | 'columns'>): Promise<Record<string, unknown> | undefined> {
  const current = `EXISTS (SELECT 1 FROM admin_requests r WHERE r.idempotency_key = $1
       AND (r.request_hash <> $3 OR r.order_state IS NULL OR r.order_state IS NOT DISTINCT FROM ${CURRENT_STATE}))`;
  const w = write.cte({ orderId: '$2', unless: current, first: 4 });
  const [row] = await db().query(
    `WITH ${w.sql}
     SELECT ${storedAnswerSql('$1')} AS answer,
            ${ORDER_OF_PARAM2} AS "order",
            ${write.columns}`,
    [key, orderId, hash, ...w.params],
  );
  return row;
}

/** Stores an answer unless a current one is stored already (a stale bound one is replaced): its key if stored. */
export async function insertAnswer(key: string, hash: string, status: number, body: unknown, bound: { orderId: string; state: string } | null): Promise<Record<string, unknown> | undefined> {
  const [row] = await db().query(
    `INSERT INTO admin_requests AS r (idempotency_key, request_hash, status, response, order_id, order_state)
     VALUES ($1, $2, $3, $4, $5::uuid, $6)
     ON CONFLICT (idempotency_key) DO UPDATE SET status = excluded.status, response = excluded.response, order_id = excluded.order_id,
       order_state = excluded.order_state, created_at = now()
     WHERE r.request_hash = excluded.request_hash AND r.order_state IS NOT NULL AND r.order_state IS DISTINCT FROM ${CURRENT_STATE}
     RETURNING idempotency_key`,
    [key, hash, status, JSON.stringify(body), bound?.orderId ?? null, bound?.state ?? null],
  );
  return row;
}

/** The CTE body storing an ActionAnswer (answerParams bound from $first: key, hash, body, state) for the row in `updated`, if any. */
export const answerCte = (first: number) => {
  const [key, hash, body, state] = [0, 1, 2, 3].map((i) => `$${first + i}::text`);
  return `INSERT INTO admin_requests AS r (idempotency_key, request_hash, status, response, order_id, order_state)
       SELECT ${key}, ${hash}, 200, ${body}, id, ${state} FROM updated WHERE ${key} IS NOT NULL
       ON CONFLICT (idempotency_key) DO UPDATE SET status = excluded.status, response = excluded.response, order_id = excluded.order_id,
         order_state = excluded.order_state, created_at = now()
       WHERE r.request_hash = excluded.request_hash AND excluded.order_state IS NOT NULL`;
};
