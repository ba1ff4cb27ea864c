// The shop console: sign-in, the views, the order list with its filters and totals.
import { describeError, request, session, whenUnauthorized } from './api.js';
import { byTestId, clear, h, money, pill, when } from './dom.js';
import { openOrder, onOrderChanged } from './order.js';
import { loadCatalog, setUpCatalog } from './catalog.js';
import { loadAlerts, setUpAlerts } from './alerts.js';
import { loadInbox, setUpInbox } from './inbox.js';
import { loadSecondChances } from './second-chances.js';

const views = ['orders', 'inbox', 'catalog', 'alerts', 'second-chances'];
const state = { cursor: null, query: {}, loading: false, seq: 0 };

function show(signedIn) {
  byTestId('signin').hidden = signedIn;
  byTestId('tabs').hidden = !signedIn;
  byTestId('sign-out').hidden = !signedIn;
  if (!signedIn) {
    for (const v of views) document.getElementById(v).hidden = true;
    byTestId('order-drawer').hidden = true;
    clear(byTestId('order-list'));
    clear(byTestId('totals'));
  }
}

function switchView(name) {
  for (const v of views) document.getElementById(v).hidden = v !== name;
  for (const b of byTestId('tabs').querySelectorAll('button')) b.toggleAttribute('aria-current', b.dataset.view === name);
  if (name === 'orders') loadOrders();
  if (name === 'catalog') loadCatalog();
  if (name === 'alerts') loadAlerts();
  if (name === 'inbox') loadInbox();
  if (name === 'second-chances') loadSecondChances();
}

async function signIn(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const key = form.key.value.trim();
  const error = byTestId('signin-error');
  const button = byTestId('signin-submit');
  error.hidden = true;
  button.disabled = true;
  try {
    await request('GET', '/orders', { query: { limit: 1 }, key });
    session.set(key);
    form.reset();
    show(true);
    switchView(location.hash === '#inbox' ? 'inbox' : 'orders');
    loadAlerts({ badgeOnly: true });
    loadInbox({ quiet: true });
  } catch (e) {
    error.textContent = e.status === 401 ? 'That key was refused. Check the ADMIN_API_KEY of this shop.' : describeError(e);
    error.hidden = false;
  } finally {
    button.disabled = false;
  }
}

function signOut() {
  session.clear();
  show(false);
}

// ---- Orders ------------------------------------------------------------------------------

function filterQuery() {
  const f = byTestId('filters');
  const q = {};
  for (const name of ['paymentStatus', 'fulfillmentStatus', 'createdFrom', 'createdTo', 'customer', 'reference']) {
    const v = f.elements[name].value.trim();
    if (v) q[name] = v;
  }
  return q;
}

/** Loads the first page of the current filters (or the next page); an answer overtaken by a newer load is dropped. */
export async function loadOrders({ append = false } = {}) {
  if (append && state.loading) return;
  const seq = ++state.seq;
  state.loading = true;
  const list = byTestId('order-list');
  const error = byTestId('filter-error');
  const more = byTestId('load-more');
  more.disabled = true;
  if (!append) state.query = filterQuery();
  try {
    const { data } = await request('GET', '/orders', { query: { ...state.query, limit: 50, cursor: append ? state.cursor : undefined } });
    if (seq !== state.seq) return;
    error.hidden = true;
    state.cursor = data.nextCursor;
    renderTotals(data.totals);
    const rows = data.orders.map(orderRow);
    if (append) list.querySelector('tbody')?.append(...rows);
    else clear(list, data.orders.length ? table(rows) : h('p', { class: 'empty card', testid: 'no-orders' }, 'No orders match these filters.'));
    more.hidden = !state.cursor;
  } catch (e) {
    if (e.status === 401 || seq !== state.seq) return;
    error.textContent = describeError(e);
    error.hidden = false;
    if (!append) { clear(list); clear(byTestId('totals')); }
  } finally {
    if (seq === state.seq) {
      state.loading = false;
      more.disabled = false;
    }
  }
}

function table(rows) {
  return h('table', {},
    h('thead', {}, h('tr', {}, ['Reference', 'Created', 'Customer', 'Items', 'Total', 'Payment', 'Fulfilment'].map((t) => h('th', { class: t === 'Total' ? 'num' : null }, t)))),
    h('tbody', {}, rows));
}

function orderRow(o) {
  return h('tr', { testid: 'order-row', dataset: { orderId: o.id, reference: o.reference }, tabindex: 0, onclick: () => openOrder(o.id), onkeydown: (e) => e.key === 'Enter' && openOrder(o.id) },
    h('td', { 'data-label': 'Reference' }, h('strong', { testid: 'order-reference' }, o.reference)),
    h('td', { 'data-label': 'Created' }, when(o.createdAt)),
    h('td', { 'data-label': 'Customer' }, o.customer.name ?? '', h('div', { class: 'detail' }, o.customer.phone ?? o.customer.userId ?? '')),
    h('td', { 'data-label': 'Items', class: 'detail' }, o.items, shipTo(o.shipping)),
    h('td', { 'data-label': 'Total', class: 'num' }, o.total),
    h('td', { 'data-label': 'Payment' }, pill(o.paymentStatus, 'order-payment'),
      o.stockShortfall ? h('span', { class: 'pill failed', testid: 'order-shortfall', title: 'Paid with fewer units on hand than ordered' }, 'stock short') : null),
    h('td', { 'data-label': 'Fulfilment' }, pill(o.fulfillmentStatus, 'order-fulfillment')));
}

/** What the courier needs, under the items (docs/fulfilment.md); a problem flagged. */
function shipTo(s) {
  if (!s || s.mode === 'none') return null;
  if (s.problem) return h('div', { class: 'error', testid: 'order-ship-problem' }, `cannot ship: ${s.problem.replace(/_/g, ' ')}`);
  const where = s.mode === 'pickup' ? 'pickup' : [s.name, s.addressText].filter(Boolean).join(', ');
  return h('div', { testid: 'order-ship-to' }, `${where}${s.method && s.mode !== 'pickup' ? ` · ${s.method}` : ''}`);
}

function renderTotals(totals) {
  const box = byTestId('totals');
  const chip = (label, t, testid, cls = '') =>
    h('div', { class: `total ${cls}`, testid, dataset: { status: t.status ?? 'all', currency: t.currency, count: t.count } },
      h('span', {}, label), h('b', {}, t.count === 1 ? '1 order' : `${t.count} orders`), h('span', {}, money(t.sumMinor, t.currency)));
  clear(box,
    totals.byCurrency.map((t) => chip(`All (${t.currency})`, t, 'total-all', 'all')),
    totals.paymentStatus.map((t) => chip(t.status.replace(/_/g, ' '), t, 'total-payment')),
    totals.fulfillmentStatus.map((t) => chip(t.status === 'unfulfilled' ? 'not shipped' : t.status, t, 'total-fulfillment')));
}

/** Live totals: every 30 s while the orders view is visible, the totals of the current filters. */
async function refreshTotals() {
  if (document.hidden || !session.key || document.getElementById('orders').hidden || state.loading) return;
  try {
    const { data } = await request('GET', '/orders', { query: { ...state.query, limit: 1 } });
    renderTotals(data.totals);
  } catch { /* the next tick tries again */ }
}

async function downloadCsv(event) {
  const button = event.currentTarget;
  button.disabled = true;
  try {
    const r = await request('GET', '/orders.csv', { query: filterQuery(), raw: true });
    const blob = await r.blob();
    const a = h('a', { href: URL.createObjectURL(blob), download: /filename="([^"]+)"/.exec(r.headers.get('content-disposition') ?? '')?.[1] ?? 'orders.csv' });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
  } catch (e) {
    const error = byTestId('filter-error');
    error.textContent = describeError(e);
    error.hidden = false;
  } finally {
    button.disabled = false;
  }
}

// ---- Wiring --------------------------------------------------------------------------------

byTestId('signin-form').addEventListener('submit', signIn);
byTestId('sign-out').addEventListener('click', signOut);
for (const b of byTestId('tabs').querySelectorAll('button')) b.addEventListener('click', () => switchView(b.dataset.view));
byTestId('filters').addEventListener('submit', (e) => { e.preventDefault(); loadOrders(); });
for (const name of ['paymentStatus', 'fulfillmentStatus']) byTestId('filters').elements[name].addEventListener('change', () => loadOrders());
byTestId('filter-to-ship').addEventListener('click', () => {
  const f = byTestId('filters');
  f.elements.paymentStatus.value = 'paid';
  f.elements.fulfillmentStatus.value = 'unfulfilled';
  loadOrders();
});
byTestId('filter-reset').addEventListener('click', () => { byTestId('filters').reset(); loadOrders(); });
byTestId('csv-download').addEventListener('click', downloadCsv);
byTestId('load-more').addEventListener('click', () => loadOrders({ append: true }));
whenUnauthorized(() => {
  signOut();
  const error = byTestId('signin-error');
  error.textContent = 'Signed out: the key was refused (was it changed?). Sign in again.';
  error.hidden = false;
});
onOrderChanged(() => loadOrders());
setUpCatalog();
setUpAlerts();
setUpInbox();
setInterval(refreshTotals, 30_000);

show(Boolean(session.key));
if (session.key) {
  switchView(location.hash === '#inbox' ? 'inbox' : 'orders');
  loadAlerts({ badgeOnly: true });
  loadInbox({ quiet: true });
}
document.body.dataset.ready = '';
