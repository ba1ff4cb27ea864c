import { getConfig } from '../config.js';
import { db, type Query } from '../db.js';
import { log } from '../log.js';

/**
 * Alerts for the shop's operators, POSTed as JSON to OPS_ALERT_WEBHOOK_URL (when set).
 * Each alert has a business key (e.g. "failed:<outbound message id>") and is raised at most
 * once per key: the ops_alerts row is claimed by its insert before the POST, so replays,
 * concurrent webhooks and repeated statuses never alert twice. A POST that fails stays
 * undelivered and is retried by `retryUndeliveredAlerts` (the cleanup run); the receiver can
 * dedupe those rare retries by `key`.
 */

export type OpsAlertInput = {
  key: string;
  kind: 'message_failed' | 'message_skipped' | string;
  orderId?: string | null;
  messageId?: string | null;
  /** Facts only: masked phones, codes, titles. Never tokens or full numbers. */
  details: Record<string, unknown>;
};

export type AlertOutcome = 'delivered' | 'recorded' | 'duplicate' | 'delivery_failed';

export async function raiseOpsAlert(a: OpsAlertInput): Promise<AlertOutcome> {
  const payload = {
    alert: a.kind,
    key: a.key,
    shop: getConfig().SHOP_NAME,
    orderId: a.orderId ?? null,
    ...a.details,
    at: new Date().toISOString(),
  };
  const [row] = await db()`
    INSERT INTO ops_alerts (alert_key, kind, order_id, message_id, payload)
    VALUES (${a.key}, ${a.kind}, ${a.orderId ?? null}, ${a.messageId ?? null},
            ${JSON.stringify(payload)}::jsonb || jsonb_build_object('orderReference', (SELECT reference FROM orders WHERE id = ${a.orderId ?? null}::uuid)))
    ON CONFLICT (alert_key) DO NOTHING
    RETURNING id, payload`;
  if (!row) return 'duplicate';
  log.warn('ops.alert', { kind: a.kind, key: a.key, orderId: a.orderId ?? undefined });
  return deliver(String(row.id), row.payload as Record<string, unknown>);
}

async function deliver(id: string, payload: Record<string, unknown>): Promise<AlertOutcome> {
  const url = getConfig().OPS_ALERT_WEBHOOK_URL;
  if (!url) return 'recorded';
  let error: string | null = null;
  try {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(payload),
      signal: AbortSignal.timeout(5_000),
    });
    if (!response.ok) error = `HTTP ${response.status}`;
    await response.body?.cancel().catch(() => {});
  } catch (e) {
    error = (e as Error).message;
  }
  if (error === null) {
    await db()`UPDATE ops_alerts SET delivered_at = now(), attempts = attempts + 1, last_error = NULL WHERE id = ${id}`;
    return 'delivered';
  }
  log.warn('ops.alert_delivery_failed', { id, error });
  await db()`UPDATE ops_alerts SET attempts = attempts + 1, last_error = ${error.slice(0, 300)} WHERE id = ${id}`;
  return 'delivery_failed';
}

/** Re-POSTs alerts whose delivery failed (or whose sender died), oldest first. For the cleanup run. */
export async function retryUndeliveredAlerts(limit = 50, olderThanSeconds = 30): Promise<number> {
  const query = undeliveredAlertsQuery(limit, olderThanSeconds);
  return query ? retryAlertRows(await query) : 0;
}

/** retryUndeliveredAlerts's read, not run yet (null: no OPS_ALERT_WEBHOOK_URL, nothing to re-post); the cleanup run batches it. */
export function undeliveredAlertsQuery(limit = 50, olderThanSeconds = 30): Query | null {
  if (!getConfig().OPS_ALERT_WEBHOOK_URL) return null;
  return db()`
    SELECT id, payload FROM ops_alerts
    WHERE delivered_at IS NULL AND attempts < 10 AND created_at < now() - make_interval(secs => ${olderThanSeconds})
    ORDER BY created_at LIMIT ${limit}`;
}

/** Re-POSTs the alerts undeliveredAlertsQuery found; returns how many. */
export async function retryAlertRows(rows: Record<string, unknown>[]): Promise<number> {
  for (const r of rows) await deliver(String(r.id), r.payload as Record<string, unknown>);
  return rows.length;
}

/**
 * The console's alert feed (lib/admin/alerts.ts), as statement parts: the newest alerts, `limit` of them (an SQL
 * expression) after the cursor condition `after` builds from the row's time and key expressions.
 */
export const ALERTS_NEWEST_SQL = (after: (at: string, key: string) => string, limit: string) => {
  const key = `'alert:' || lpad(a.id::text, 20, '0')`;
  return `SELECT ${key} AS key, a.kind, a.created_at AS at, a.order_id, a.message_id, a.payload,
                 a.delivered_at, a.attempts, a.last_error, true AS is_alert
          FROM ops_alerts a WHERE true ${after('a.created_at', key)}
          ORDER BY a.created_at DESC, a.id DESC LIMIT ${limit}`;
};

/** Whether an outbox row (SQL expression of its id) has an alert of its own, as an SQL boolean. */
export const MESSAGE_ALERTED_SQL = (messageId: string) => `EXISTS (SELECT 1 FROM ops_alerts a WHERE a.message_id = ${messageId})`;
