// Second chances (docs/second-chances.md): reminders sent, holds extended, back-in-stock offers, and the
// orders they recovered with their revenue, per day (GET /api/second-chances).
import { describeError, request } from './api.js';
import { byTestId, clear, h, money } from './dom.js';

export async function loadSecondChances() {
  const box = byTestId('second-chances-table');
  try {
    const { data } = await request('GET', '/second-chances', { query: { days: 14 } });
    const total = (k) => data.days.reduce((s, d) => s + d[k], 0);
    const revenue = (d) => (d.revenue.length ? d.revenue.map((r) => money(r.amountMinor, r.currency)).join(' + ') : '—');
    clear(box, h('table', { class: 'card' },
      h('thead', {}, h('tr', {}, ...['Day', 'Reminders', 'Extensions', 'Back-in-stock offers', 'Recovered (reminder / waitlist)', 'Revenue'].map((t) => h('th', {}, t)))),
      h('tbody', {}, ...data.days.map((d) => h('tr', { testid: 'second-chances-day', dataset: { day: d.day } },
        h('td', {}, d.day), h('td', { class: 'num' }, String(d.remindersSent)), h('td', { class: 'num' }, String(d.extensions)),
        h('td', { class: 'num' }, String(d.waitlistOffers)), h('td', { class: 'num' }, `${d.recoveries} (${d.recoveredAfterReminder} / ${d.recoveredFromWaitlist})`),
        h('td', { class: 'num' }, revenue(d))))),
      h('tfoot', {}, h('tr', {}, h('th', {}, '14 days'), h('th', { class: 'num' }, String(total('remindersSent'))), h('th', { class: 'num' }, String(total('extensions'))),
        h('th', { class: 'num' }, String(total('waitlistOffers'))), h('th', { class: 'num' }, String(total('recoveries'))), h('th', {})))));
  } catch (e) {
    if (e.status !== 401) clear(box, h('p', { class: 'result error' }, describeError(e)));
  }
}
