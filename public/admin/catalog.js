// Catalog: every variant with stock on hand (Postgres) and available to sell (Redis), import, push to Meta.
import { describeError, request } from './api.js';
import { byTestId, clear, h, money, pill } from './dom.js';

export async function loadCatalog() {
  const list = byTestId('catalog-list');
  try {
    const { data } = await request('GET', '/catalog');
    clear(list, data.variants.length ? h('table', {},
      h('thead', {}, h('tr', {}, ['SKU', 'Name', 'Category', 'Price', 'On hand', 'Available', 'Selling'].map((t) => h('th', { class: ['Price', 'On hand', 'Available'].includes(t) ? 'num' : null }, t)))),
      h('tbody', {}, data.variants.map((v) => h('tr', { testid: 'catalog-row', dataset: { sku: v.sku } },
        h('td', { 'data-label': 'SKU' }, h('code', {}, v.sku)),
        h('td', { 'data-label': 'Name' }, v.imageUrl ? h('a', { href: v.imageUrl, target: '_blank', rel: 'noopener', title: 'picture' }, v.name) : v.name),
        h('td', { 'data-label': 'Category', testid: 'catalog-category' }, v.category || '—'),
        h('td', { 'data-label': 'Price', class: 'num' }, money(v.priceMinor, v.currency)),
        h('td', { 'data-label': 'On hand', class: 'num', testid: 'catalog-stock' }, v.stock),
        h('td', { 'data-label': 'Available', class: 'num', testid: 'catalog-available' }, v.available ?? 'unknown (run stock:sync)'),
        h('td', { 'data-label': 'Selling' }, pill(!v.active ? 'inactive' : v.available === 0 ? 'sold out' : 'in stock')))))) : h('p', { class: 'empty card' }, 'No products yet: import a catalog above.'));
  } catch (e) {
    if (e.status !== 401) clear(list, h('p', { class: 'result error' }, describeError(e)));
  }
}

async function importFile(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const file = form.file.files[0];
  const out = byTestId('import-result');
  const button = byTestId('import-submit');
  if (!file) return;
  button.disabled = true;
  clear(out, h('p', { class: 'hint' }, `Importing ${file.name}…`));
  try {
    const text = await file.text();
    const csv = /\.csv$/i.test(file.name) || !/^\s*[{[]/.test(text);
    const r = csv ? await request('PUT', '/catalog', { text, contentType: 'text/csv' }) : await request('PUT', '/catalog', { text, contentType: 'application/json' });
    const d = r.data;
    clear(out,
      h('p', { class: d.rejected.length ? 'result error' : 'result ok', testid: 'import-summary' },
        `${d.created} products created, ${d.updated} updated, ${d.variants} variants; ${d.rejected.length} rows rejected.`),
      d.rejected.length ? h('div', { class: 'list' }, h('table', { testid: 'import-rejected' },
        h('thead', {}, h('tr', {}, h('th', {}, csv ? 'Line' : 'Product #'), h('th', {}, 'SKU'), h('th', {}, 'Why'))),
        h('tbody', {}, d.rejected.map((x) => h('tr', { testid: 'rejected-row' },
          h('td', { 'data-label': csv ? 'Line' : 'Product #' }, csv ? x.line ?? x.index : x.index),
          h('td', { 'data-label': 'SKU' }, x.sku ?? '—'),
          h('td', { 'data-label': 'Why' }, x.reason)))))) : null);
    form.reset();
    loadCatalog();
  } catch (e) {
    clear(out, h('p', { class: 'result error', testid: 'import-summary' }, describeError(e)));
  } finally {
    button.disabled = false;
  }
}

async function pushToMeta(event) {
  const button = event.currentTarget;
  const out = byTestId('sync-result');
  button.disabled = true;
  try {
    const { data } = await request('POST', '/catalog/sync');
    const text = data.status === 'pushed'
      ? `Pushed to Meta: ${data.pushed} changed, ${data.unchanged} unchanged.`
      : data.reason === 'no_catalog_configured' ? 'Not pushed: set WHATSAPP_CATALOG_ID to connect the Meta catalog.' : `Not pushed: ${data.reason ?? data.status}.`;
    clear(out, h('p', { class: `result ${data.status === 'pushed' ? 'ok' : 'error'}`, testid: 'sync-summary' }, text));
  } catch (e) {
    const busy = e.status === 409 ? 'Another push is running; try again in a minute.' : null;
    clear(out, h('p', { class: 'result error', testid: 'sync-summary' }, busy ?? `Push failed: ${describeError(e)}`));
  } finally {
    button.disabled = false;
  }
}

export function setUpCatalog() {
  byTestId('import-form').addEventListener('submit', importFile);
  byTestId('catalog-sync').addEventListener('click', pushToMeta);
}
