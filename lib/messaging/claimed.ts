import type { Query } from '../db.js';
import type { WaIdentity } from '../identity.js';
import type { OutgoingMessage } from './messages.js';
import { outboxKey } from './keys.js';
import type { ClaimRow } from './outbox-store.js';

/**
 * What the outbox (./outbox.ts) sends and what a send did: a message to send, its claimed row (as the claim
 * statement of ./outbox-store.ts returns it, with the customer's current address), one attempt's outcome.
 */

export type OutboxMessage = {
  eventKey: string;
  kind: string;
  customerId: string;
  message: OutgoingMessage;
  orderId?: string | null;
  /** The approved-template version of a free-form message, sent if Meta answers 131047 (outside the 24-hour window). */
  fallback?: OutgoingMessage | null;
  /** The staff member who wrote it (team inbox, lib/inbox). */
  sentBy?: string | null;
};

export type SendOutcome = 'sent' | 'duplicate' | 'retry_later' | 'failed' | 'skipped';

/** The message as the row the claim statement records (./outbox-store.ts). */
export function claimRow(m: OutboxMessage): ClaimRow {
  return {
    key: outboxKey(m.eventKey),
    kind: m.kind,
    orderId: m.orderId ?? null,
    customerId: m.customerId,
    template: templateOf(m.message),
    payload: JSON.stringify(m.message),
    fallback: m.fallback ? JSON.stringify(m.fallback) : null,
    sentBy: m.sentBy ?? null,
  };
}

/** A claimed row (with its ADDRESSED_SQL address) as the send step takes it. */
export function claimedOf(r: Record<string, unknown>): Claimed {
  return {
    id: r.id as string,
    key: r.idempotency_key as string,
    customerId: (r.customer_id as string | null) ?? null,
    to: addressOf(r),
    kind: r.kind as string,
    orderId: (r.order_id as string | null) ?? null,
    message: r.payload as OutgoingMessage,
    fallback: (r.fallback_payload as OutgoingMessage | null) ?? null,
    attempts: r.attempts as number,
    unreachableAt: r.unreachable_at ? new Date(r.unreachable_at as string) : null,
  };
}

function addressOf(r: Record<string, unknown>): WaIdentity {
  return { waId: (r.address_wa_id as string | null) ?? null, userId: (r.address_user_id as string | null) ?? null };
}

export type Claimed = {
  id: string;
  key: string;
  customerId: string | null;
  to: WaIdentity;
  kind: string;
  orderId: string | null;
  message: OutgoingMessage;
  fallback: OutgoingMessage | null;
  attempts: number;
  unreachableAt: Date | null;
};

export function templateOf(message: OutgoingMessage): string | null {
  return message.type === 'template' ? message.name : null;
}

/**
 * One send attempt and the statement that records its outcome, built but not run: the caller runs it
 * (recordAttempts), alone or in the same round trip as its own statements (the inbound event marked
 * processed, a second notice's outcome). `afterRecord` is the follow-up once it is recorded (the
 * template fallback, the ops alert).
 */
export type Attempt = { outcome: SendOutcome; record: Query; afterRecord?: () => Promise<unknown> };
