import type { OutgoingMessage } from './messages.js';

/**
 * Meta's customer-service window: free-form messages only within 24 hours of the customer's last
 * message to us; outside it only approved templates. The one place that rule is written.
 */
export const SERVICE_WINDOW_MS = 24 * 3600 * 1000;

export function insideWindow(lastInboundAt: Date | string | null | undefined, now = Date.now()): boolean {
  if (!lastInboundAt) return false;
  return now - new Date(lastInboundAt).getTime() < SERVICE_WINDOW_MS;
}

/** A message older than the window (Meta retries for 7 days) may get no free-form reply. */
export const outsideWindowSince = (sentAt: Date, now = Date.now()) => now - sentAt.getTime() >= SERVICE_WINDOW_MS;

/**
 * What to send for a notice that has a free-form text and an approved template: the text inside the
 * window (the template kept as `fallback`, sent by the outbox if Meta still answers 131047 because the
 * window closed meanwhile), the template outside it. Without a template (`null`) nothing may go out
 * outside the window.
 */
export function windowed(inside: boolean, text: OutgoingMessage, template: OutgoingMessage | null): { message: OutgoingMessage; fallback: OutgoingMessage | null } | null {
  if (inside) return { message: text, fallback: template };
  return template ? { message: template, fallback: null } : null;
}
