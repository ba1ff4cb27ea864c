// One order: its facts, the actions (each confirmed, each through the idempotent admin API) and its timeline.
import { describeError, request } from './api.js';
import { byTestId, clear, h, money, pill, plainAmount, toMinor, when } from './dom.js';

let current = null; // { id, view, full }
let changed = () => {};
export const onOrderChanged = (fn) => { changed = fn; };

const drawer = () => byTestId('order-drawer');

export async function openOrder(id, { full = false, result = null } = {}) {
  current = { id, view: current?.id === id ? current.view : null, full };
  drawer().hidden = false;
  const body = byTestId('drawer-body');
  if (!current.view) clear(body, h('p', { class: 'empty' }, 'Loading…'));
  try {
    const { data } = await request('GET', `/orders/${encodeURIComponent(id)}`, { query: { full: full ? 1 : undefined } });
    if (current?.id !== id) return;
    current.view = data;
    render(data, result);
  } catch (e) {
    if (e.status === 401) return;
    clear(body, h('p', { class: 'result error', testid: 'drawer-error' }, describeError(e)));
  }
}

function close() {
  current = null;
  drawer().hidden = true;
  clear(byTestId('drawer-body'));
}

function render(v, result) {
  const o = v.order;
  byTestId('drawer-title').textContent = `Order ${o.reference}`;
  const body = byTestId('drawer-body');
  clear(body,
    result ? h('p', { class: `result ${result.ok ? 'ok' : 'error'}`, testid: 'action-result', role: 'status' }, result.text) : null,
    facts(v),
    h('h3', {}, 'Actions'),
    actions(v),
    h('div', { testid: 'action-panel' }),
    h('h3', {}, 'Timeline'),
    timeline(v));
}

function facts(v) {
  const o = v.order;
  const dl = h('dl', { class: 'facts', testid: 'order-facts' });
  const row = (label, ...value) => dl.append(h('dt', {}, label), h('dd', {}, ...value));
  row('Status', pill(o.paymentStatus, 'drawer-payment'), ' ', pill(o.fulfillmentStatus, 'drawer-fulfillment'));
  row('Total', h('span', { testid: 'drawer-total' }, o.total));
  if (o.stockShortfall) row('Stock', h('span', { class: 'error', testid: 'drawer-shortfall' }, `short at payment: ${o.stockShortfall.map((l) => `${l.sku} ${l.ordered} ordered, ${l.onHand} on hand`).join('; ')}`));
  row('Items', h('span', {}, v.items.map((i) => `${i.quantity} × ${i.name} (${i.sku})`).join(', ')));
  row('Customer', v.customer.name ?? '—', ' · ', h('span', { testid: 'customer-phone' }, v.customer.phone ?? v.customer.userId ?? '—'), ' ',
    current.full ? null : h('button', { type: 'button', class: 'link', testid: 'reveal-phone', onclick: () => openOrder(o.id, { full: true }) }, 'Reveal number'));
  if (v.customer.unreachableAt) row('WhatsApp', h('span', { class: 'error' }, `unreachable since ${when(v.customer.unreachableAt)}`));
  row('Created', when(o.createdAt), ` · via ${o.source}`);
  if (o.paidAt) row('Paid', when(o.paidAt));
  row('Stock hold', v.holds ? `${v.holds.state}${v.holds.expiresAt ? ` until ${when(v.holds.expiresAt)}` : ''} — ${v.holds.lines.map((l) => `${l.quantity} × ${l.sku}`).join(', ')}` : 'none');
  if (o.stripeSessionId) row('Stripe', h('code', {}, o.stripeSessionId));
  if (o.shipping) row('Shipping', [o.shipping.carrier, o.shipping.trackingUrl ?? o.shipping.trackingSlug].filter(Boolean).join(' · ') || 'shipped', ` (${when(o.shipping.shippedAt)})`);
  fulfilmentFacts(o.fulfilment, o.currency, row);
  return dl;
}

/** Fulfilment (docs/fulfilment.md): where it goes and how, what was paid for it; a problem flagged. */
function fulfilmentFacts(f, currency, row) {
  if (!f) return;
  if (f.problem) row('Cannot ship', h('span', { class: 'error', testid: 'drawer-ship-problem' }, f.problem.replace(/_/g, ' '), ' — correct the address below'));
  if (f.mode === 'pickup') row('Delivery', h('span', { testid: 'drawer-ship-method' }, 'Pickup at the shop'));
  if (f.mode === 'delivery') {
    row('Ship to', h('span', { testid: 'drawer-ship-address' }, [f.name, f.addressText].filter(Boolean).join(', ') || '—'));
    row('Method', h('span', { testid: 'drawer-ship-method' }, f.rate ? `${f.rate.name}${f.rate.estimate ? ` (${f.rate.estimate})` : ''}` : '—'));
  }
  if (f.shippingMinor || f.taxMinor) row('Paid for', `items ${f.totals.items} · shipping ${f.totals.shipping} · tax ${f.totals.tax} · total ${f.totals.total}`);
  if (f.deliveredAt) row(f.mode === 'pickup' ? 'Picked up' : 'Delivered', when(f.deliveredAt));
}

// ---- Actions ------------------------------------------------------------------------------

function actions(v) {
  const o = v.order;
  const open = o.paymentStatus === 'pending' || o.paymentStatus === 'awaiting_payment';
  const box = h('div', { class: 'actions' });
  const button = (label, testid, form, cls = 'secondary') => box.append(h('button', { type: 'button', class: cls, testid, onclick: () => showForm(form(v)) }, label));
  const pickup = o.fulfilment?.mode === 'pickup';
  if (o.paymentStatus === 'paid' && o.fulfillmentStatus === 'unfulfilled') button(pickup ? 'Ready for pickup' : 'Mark shipped', 'action-ship', pickup ? readyForm : shipForm, '');
  if (o.paymentStatus === 'paid' && o.fulfillmentStatus === 'shipped') button(pickup ? 'Mark picked up' : 'Mark delivered', 'action-deliver', deliverForm, '');
  if (o.fulfilment?.mode !== 'none' && o.fulfillmentStatus === 'unfulfilled' && ['pending', 'awaiting_payment', 'paid'].includes(o.paymentStatus))
    button('Correct address', 'action-address', addressForm);
  // The payment path also takes a late payment for a closed order (re-holding its stock, or refunding if it sold out).
  if (open || ['expired', 'cancelled', 'payment_failed'].includes(o.paymentStatus)) button('Record offline payment', 'action-offline-pay', offlinePaymentForm);
  if (o.fulfillmentStatus === 'unfulfilled' && (open || o.paymentStatus === 'paid')) button(o.paymentStatus === 'paid' ? 'Cancel and refund' : 'Cancel order', 'action-cancel', cancelForm);
  button('Re-run cleanup', 'action-cleanup', cleanupForm);
  return box;
}

function showForm(form) {
  clear(byTestId('action-panel'), form);
  form.querySelector('input, button')?.focus();
}

/** A confirmation form; submitting runs `run` once (the button stays disabled while it is in flight). */
function actionForm({ testid, title, fields = [], confirm, danger = false, run }) {
  const error = h('p', { class: 'error', role: 'alert', hidden: true });
  const submit = h('button', { type: 'submit', class: danger ? 'danger' : '', testid: `${testid}-confirm` }, confirm);
  const form = h('form', { class: 'action-form', testid },
    h('strong', {}, title), fields, error,
    h('div', { class: 'row' }, submit, h('button', { type: 'button', class: 'secondary', onclick: () => clear(byTestId('action-panel')) }, 'Back')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (submit.disabled) return;
    let call;
    try {
      call = run(form.elements);
    } catch (invalid) {
      error.textContent = invalid.message;
      error.hidden = false;
      return;
    }
    submit.disabled = true;
    const id = current.id;
    try {
      const r = await call;
      await openOrder(id, { full: current?.full, result: { ok: true, text: r.text + (r.replayed ? ' (this was already done: same answer as the first time)' : '') } });
      changed();
    } catch (err) {
      if (err.status === 401) return;
      await openOrder(id, { full: current?.full, result: { ok: false, text: describeError(err) } });
    }
  });
  return form;
}

const field = (label, attrs) => h('label', {}, label, h('input', attrs));

function shipForm(v) {
  return actionForm({
    testid: 'ship-form', title: `Mark ${v.order.reference} shipped and tell the customer on WhatsApp`, confirm: 'Confirm: mark shipped',
    fields: [
      field('Tracking link or code', { name: 'tracking', required: true, testid: 'ship-tracking', placeholder: 'https://track.example/… or a code' }),
      field('Carrier (optional)', { name: 'carrier', testid: 'ship-carrier' }),
    ],
    run: async (f) => {
      const tracking = f.tracking.value.trim();
      const carrier = f.carrier.value.trim() || undefined;
      const json = /^https?:\/\//i.test(tracking) ? { trackingUrl: tracking, carrier } : { trackingSlug: tracking, carrier };
      const r = await request('POST', `/orders/${v.order.id}/shipped`, { json });
      return { text: `Marked shipped; the customer gets the "order shipped" message.`, replayed: r.replayed };
    },
  });
}

function readyForm(v) {
  return actionForm({
    testid: 'ready-form', title: `${v.order.reference} is ready: tell the customer to pick it up`, confirm: 'Confirm: ready for pickup',
    run: async () => {
      const r = await request('POST', `/orders/${v.order.id}/ready-for-pickup`);
      return { text: 'Marked ready; the customer gets the "ready for pickup" message.', replayed: r.replayed };
    },
  });
}

function deliverForm(v) {
  return actionForm({
    testid: 'deliver-form', title: `${v.order.reference} reached the customer`, confirm: 'Confirm: delivered',
    run: async () => {
      const r = await request('POST', `/orders/${v.order.id}/delivered`);
      return { text: 'Marked delivered; the customer is told on WhatsApp.', replayed: r.replayed };
    },
  });
}

function addressForm(v) {
  const a = v.order.fulfilment?.address ?? {};
  return actionForm({
    testid: 'address-form', title: `Correct where ${v.order.reference} ships (before it ships)`, confirm: 'Confirm: save address',
    fields: [
      field('Name', { name: 'name', value: v.order.fulfilment?.name ?? '', testid: 'address-name' }),
      field('Address', { name: 'line1', required: true, value: a.line1 ?? '', testid: 'address-line1' }),
      field('Address line 2', { name: 'line2', value: a.line2 ?? '', testid: 'address-line2' }),
      field('Postcode', { name: 'postalCode', value: a.postalCode ?? '', testid: 'address-postcode' }),
      field('City', { name: 'city', required: true, value: a.city ?? '', testid: 'address-city' }),
      field('Country (ISO code)', { name: 'country', required: true, value: a.country ?? '', maxlength: 2, testid: 'address-country' }),
    ],
    run: async (f) => {
      const val = (k) => f[k].value.trim() || undefined;
      const json = { name: val('name'), address: { line1: val('line1'), line2: val('line2'), postalCode: val('postalCode'), city: val('city'), country: val('country') } };
      const r = await request('PUT', `/orders/${v.order.id}/shipping-address`, { json });
      return { text: 'Address saved (on the timeline).', replayed: r.replayed };
    },
  });
}

function offlinePaymentForm(v) {
  const o = v.order;
  const today = new Date().toISOString().slice(0, 10);
  return actionForm({
    testid: 'offline-form', title: `Record a payment you received for ${o.reference} (bank transfer, cash)`, confirm: 'Confirm: record payment',
    fields: [
      field(`Amount (${o.currency})`, { name: 'amount', required: true, inputmode: 'decimal', value: plainAmount(o.totalMinor, o.currency), testid: 'offline-amount' }),
      field('Paid on', { name: 'paidAt', type: 'date', required: true, value: today, max: today, testid: 'offline-date' }),
      field('Your reference (makes it count once)', { name: 'reference', required: true, testid: 'offline-reference', placeholder: 'e.g. bank statement line' }),
    ],
    run: (f) => {
      const amountMinor = toMinor(f.amount.value, o.currency);
      if (amountMinor === null || amountMinor <= 0) throw new Error(`Enter the amount in ${o.currency}, e.g. ${plainAmount(o.totalMinor, o.currency)}`);
      return request('POST', '/offline-payments', {
        json: { orderId: o.id, amountMinor, currency: o.currency, paidAt: f.paidAt.value, reference: f.reference.value.trim() },
      }).then((r) => ({ text: `Payment of ${money(amountMinor, o.currency)} recorded (order: ${r.data.order?.outcome ?? "not linked"}).`, replayed: r.replayed }));
    },
  });
}

function cancelForm(v) {
  const paid = v.order.paymentStatus === 'paid';
  return actionForm({
    testid: 'cancel-form', danger: true,
    title: paid ? `Cancel ${v.order.reference} and refund ${v.order.total} to the customer` : `Cancel ${v.order.reference}: the payment link stops working and the stock is released`,
    confirm: paid ? 'Confirm: cancel and refund' : 'Confirm: cancel order',
    run: async () => {
      const r = await request('POST', `/orders/${v.order.id}/cancel`);
      const refund = r.data.refund ? ` Refund: ${r.data.refund.status === 'manual' ? 'return the offline payment yourself' : 'sent to the card'}.` : '';
      return { text: `Order is ${r.data.paymentStatus}.${refund} The customer is told on WhatsApp.`, replayed: r.replayed };
    },
  });
}

function cleanupForm(v) {
  return actionForm({
    testid: 'cleanup-form', title: `Run the cleanup for ${v.order.reference} now (what the scheduled run does for a lapsed hold)`, confirm: 'Confirm: run cleanup',
    run: async () => {
      const r = await request('POST', `/orders/${v.order.id}/cleanup`);
      const what = { expired: 'the unpaid order expired and its stock was released', released: 'its held stock was released', settled: 'Stripe reported it paid: it went down the payment path', nothing_to_do: 'nothing was left to do' };
      return { text: `Cleanup done: ${what[r.data.outcome] ?? r.data.outcome}.`, replayed: false };
    },
  });
}

// ---- Timeline -----------------------------------------------------------------------------

const TICKS = { sent: '✓', delivered: '✓✓', read: '✓✓', failed: '✗' };

function timeline(v) {
  const items = [];
  const add = (at, cls, testid, title, ...detail) => items.push({ at, node: h('li', { class: cls, testid }, h('time', {}, when(at)), h('div', {}, title), ...detail) });
  for (const e of v.statuses) {
    const data = Object.entries(e.data ?? {}).filter(([, x]) => x !== null && x !== '' && !(Array.isArray(x) && !x.length));
    add(e.at, `event${/failed|mismatch|refund/.test(e.type) ? ' bad' : ''}`, 'tl-event', h('strong', {}, e.type.replace(/_/g, ' ')),
      data.length ? h('div', { class: 'detail' }, data.map(([k, x]) => `${k}: ${typeof x === 'object' ? JSON.stringify(x) : x}`).join(' · ')) : null);
  }
  for (const m of v.messages) {
    const tick = m.deliveryStatus ?? (m.status === 'failed' ? 'failed' : null);
    add(m.createdAt, `message${m.status === 'failed' || m.deliveryStatus === 'failed' ? ' bad' : ''}`, 'tl-message',
      h('span', {}, 'WhatsApp ', h('strong', {}, m.template ?? m.kind.replace(/_/g, ' ')), ` → ${m.to}`),
      tick ? h('span', { class: `ticks ${tick}`, testid: 'ticks', dataset: { status: tick }, title: tick }, TICKS[tick] ?? tick) : h('span', { class: 'detail' }, ` (${m.status})`),
      h('div', { class: 'detail' }, [`${m.status}${m.attempts > 1 ? `, ${m.attempts} attempts` : ''}`, ...(m.deliveryStatuses ?? []).map((s) => `${s.status} ${when(s.at)}`)].join(' · ')),
      m.error ? h('div', { class: 'error', testid: 'message-error' }, m.error.code === null ? m.error.title : `Meta error ${m.error.code}: ${m.error.title ?? ''}`) : null);
  }
  for (const p of v.payments) add(p.paidAt, 'event', 'tl-payment', h('strong', {}, `${p.method} payment ${money(p.amountMinor, p.currency)}`), h('div', { class: 'detail' }, `reference ${p.reference} · recorded ${when(p.recordedAt)}`));
  if (v.invite) {
    const i = v.invite;
    if (i.lastClickedAt) add(i.lastClickedAt, 'event', 'tl-invite', h('strong', {}, `Invite link opened ${i.clicks}×`), h('div', { class: 'detail' }, `valid until ${when(i.expiresAt)}`));
    for (const c of i.contacts) add(c.firstSeenAt, 'event', 'tl-contact', h('strong', {}, `${c.name ?? 'Contact'} joined the order chat`), h('div', { class: 'detail' }, `${c.phone ?? c.userId ?? ''} · last seen ${when(c.lastSeenAt)}`));
  }
  items.sort((a, b) => new Date(a.at) - new Date(b.at));
  return items.length ? h('ol', { class: 'timeline', testid: 'timeline' }, items.map((i) => i.node)) : h('p', { class: 'empty' }, 'Nothing happened yet.');
}

byTestId('drawer-close').addEventListener('click', close);
document.addEventListener('keydown', (e) => { if (e.key === 'Escape' && !drawer().hidden) close(); });
