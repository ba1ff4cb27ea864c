// Alerts: what failed (ops alerts, undeliverable WhatsApp messages), for which order, and what to do.
import { describeError, request } from './api.js';
import { byTestId, clear, h, pill, when } from './dom.js';
import { openOrder } from './order.js';

let cursor = null;

export async function loadAlerts({ append = false, badgeOnly = false } = {}) {
  const list = byTestId('alert-list');
  const more = byTestId('alerts-more');
  try {
    const { data } = await request('GET', '/alerts', { query: { limit: 50, cursor: append ? cursor : undefined } });
    if (!append) badge(data.alerts);
    if (badgeOnly) return;
    cursor = data.nextCursor;
    const cards = data.alerts.map(card);
    if (append) list.append(...cards);
    else clear(list, cards.length ? cards : h('p', { class: 'empty card', testid: 'no-alerts' }, 'No alerts. Everything was delivered.'));
    more.hidden = !cursor;
  } catch (e) {
    if (e.status !== 401 && !badgeOnly) clear(list, h('p', { class: 'result error' }, describeError(e)));
  }
}

/** The tab's badge: alerts of the last 24 hours (on the first page). */
function badge(alerts) {
  const recent = alerts.filter((a) => Date.now() - new Date(a.at).getTime() < 24 * 3600 * 1000).length;
  const el = byTestId('alert-count');
  el.textContent = recent >= 50 ? '50+' : String(recent);
  el.hidden = recent === 0;
}

const TITLES = {
  message_failed: 'WhatsApp message not delivered',
  message_skipped: 'WhatsApp message not sent',
  payment_mismatch: 'Payment did not match the order',
  payment_unknown_order: 'Payment for an unknown order',
  payment_unfulfillable: 'Paid, but out of stock',
  late_payment_refunded: 'Late payment refunded',
  duplicate_payment_refunded: 'Second payment refunded',
  offline_payment_unapplied: 'Offline payment on an order paid by card',
  shipping_problem: 'Paid, but cannot ship (address)',
};

function card(a) {
  const shown = Object.entries(a.details).filter(([k]) => !(k === 'error' && a.message?.error));
  const details = shown.map(([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v) : v}`).join(' · ');
  return h('article', { class: 'card alert', testid: 'alert', dataset: { kind: a.kind, key: a.key } },
    h('div', { class: 'row' }, h('strong', {}, TITLES[a.kind] ?? a.kind.replace(/_/g, ' ')), h('time', { class: 'detail' }, when(a.at))),
    a.order ? h('div', {}, 'Order ', h('button', { type: 'button', class: 'link', testid: 'alert-order', onclick: () => openOrder(a.order.id) }, a.order.reference), ' ',
      pill(a.order.paymentStatus), ' ', pill(a.order.fulfillmentStatus)) : null,
    a.message ? h('div', { class: 'detail' }, `${a.message.template ?? a.message.kind} to ${a.message.to}`,
      a.message.error ? h('span', { class: 'error', testid: 'alert-error' }, a.message.error.code === null ? ` — ${a.message.error.title ?? 'not sent'}` : ` — Meta error ${a.message.error.code}: ${a.message.error.title ?? ''}`) : null) : null,
    details ? h('div', { class: 'detail' }, details) : null,
    h('div', { class: 'advice', testid: 'alert-advice' }, a.advice),
    a.delivery ? h('div', { class: 'detail' }, a.delivery.deliveredAt ? `Alert webhook notified ${when(a.delivery.deliveredAt)}` : a.delivery.lastError ? `Alert webhook not reached yet (${a.delivery.lastError}); retried by the cleanup run` : 'Recorded here (no alert webhook configured or not yet sent)') : null);
}

export function setUpAlerts() {
  byTestId('alerts-more').addEventListener('click', () => loadAlerts({ append: true }));
}
