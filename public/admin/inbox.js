// The team inbox: conversations (newest first, unread badges, filters, search), a thread with the
// customer's messages and the shop's (bot, notices, staff) with delivery ticks, a reply box inside the
// 24-hour window and a template form outside it, the bot/staff mode toggle. Polls while open; a browser
// notification for a new customer message when allowed. Everything from the API is set as text.
import { describeError, request } from './api.js';
import { byTestId, clear, h, pill, when } from './dom.js';
import { openOrder } from './order.js';

const POLL_MS = 4000;
const state = { filter: '', q: '', list: [], open: null, thread: null, draftKey: null, templates: null, lastTyping: 0, seenActivity: null, mediaUrls: new Map(), sending: false };

const isVisible = () => !document.getElementById('inbox').hidden;

export async function loadInbox({ quiet = false } = {}) {
  const list = byTestId('conversation-list');
  try {
    const { data } = await request('GET', '/conversations', { query: { filter: state.filter || undefined, q: state.q || undefined, limit: 50 } });
    notifyNew(data.conversations);
    state.list = data.conversations;
    badge(data.conversations);
    if (!isVisible() && quiet) return;
    clear(list, data.conversations.length ? data.conversations.map(row) : h('p', { class: 'empty', testid: 'no-conversations' }, 'No conversations match.'));
  } catch (e) {
    if (e.status !== 401 && !quiet) clear(list, h('p', { class: 'error' }, describeError(e)));
  }
}

/** The tab's badge: conversations with unread customer messages (first page). */
function badge(conversations) {
  const n = conversations.filter((c) => c.unread > 0).length;
  const el = byTestId('inbox-count');
  el.textContent = String(n);
  el.hidden = n === 0;
}

/** A browser notification for a customer message newer than what this tab has seen (only when allowed, and not for the first load). */
function notifyNew(conversations) {
  const newest = conversations.reduce((m, c) => (c.lastActivityAt && c.lastActivityAt > m ? c.lastActivityAt : m), '');
  if (state.seenActivity !== null && newest > state.seenActivity && 'Notification' in window && Notification.permission === 'granted') {
    const c = conversations.find((x) => x.lastActivityAt === newest);
    try { new Notification(`New message from ${c?.name ?? 'a customer'}`, { body: c?.lastMessage?.body ?? c?.lastMessage?.kind ?? '', tag: `conversation-${c?.id}` }); } catch { /* not allowed here */ }
  }
  if (newest) state.seenActivity = state.seenActivity && state.seenActivity > newest ? state.seenActivity : newest;
}

const orderLabel = (o) => `${o.reference}${o.how === 'invited' ? ' (invited contact)' : ''}`;

function row(c) {
  return h('button', { type: 'button', class: `conversation${state.open === c.id ? ' open' : ''}`, testid: 'conversation-row', dataset: { conversationId: c.id, mode: c.mode, unread: c.unread }, onclick: () => openConversation(c.id) },
    h('div', { class: 'row' },
      h('strong', { testid: 'conversation-name' }, c.name ?? c.phone ?? c.userId ?? 'Customer'),
      c.unread ? h('span', { class: 'badge', testid: 'conversation-unread' }, String(c.unread)) : null,
      c.needsReply ? h('span', { class: 'pill pending', testid: 'needs-reply' }, 'needs reply') : null,
      c.mode === 'staff' ? h('span', { class: 'pill staff' }, 'staff') : null),
    h('div', { class: 'detail' }, c.phone ?? c.userId ?? ''),
    h('div', { class: 'detail last' }, c.lastMessage ? (c.lastMessage.body ?? `[${c.lastMessage.kind}]`) : ''),
    c.orders.length ? h('div', { class: 'orders' }, c.orders.map((o) => h('span', { class: 'pill', testid: 'conversation-order', dataset: { reference: o.reference, how: o.how } }, orderLabel(o)))) : null,
    h('time', { class: 'detail' }, when(c.lastActivityAt)));
}

export async function openConversation(id) {
  if (state.open !== id) {
    state.open = id;
    state.draftKey = null;
  }
  for (const r of document.querySelectorAll('[data-testid="conversation-row"]')) r.classList.toggle('open', r.dataset.conversationId === id);
  await refreshThread({ markRead: true });
}

async function refreshThread({ markRead = false } = {}) {
  const id = state.open;
  if (!id) return;
  const pane = byTestId('thread');
  try {
    const { data } = await request('GET', `/conversations/${id}`);
    if (state.open !== id) return;
    const changed = JSON.stringify(data) !== JSON.stringify(state.thread);
    state.thread = data;
    if (changed) renderThread(pane, data);
    if (markRead && data.unread > 0) {
      await request('POST', `/conversations/${id}/read`).catch(() => {});
      loadInbox({ quiet: true });
    }
  } catch (e) {
    if (e.status !== 401) clear(pane, h('p', { class: 'error' }, describeError(e)));
  }
}

function renderThread(pane, c) {
  let body = pane.querySelector('.thread-body');
  let slot = pane.querySelector('.composer-slot');
  if (!body || !slot) {
    body = h('div', { class: 'thread-body' });
    slot = h('div', { class: 'composer-slot' });
    clear(pane, body, slot);
  }
  const messages = h('div', { class: 'messages', testid: 'messages' }, c.messages.map(message));
  clear(body,
    h('div', { class: 'thread-head' },
      h('div', {},
        h('h2', { testid: 'thread-title' }, c.name ?? c.phone ?? c.userId ?? 'Customer'),
        h('div', { class: 'detail' }, [c.phone, c.userId, c.username ? `@${c.username}` : null].filter(Boolean).join(' · '))),
      h('div', { class: 'row' },
        h('span', { class: `pill ${c.mode}`, testid: 'thread-mode' }, c.mode === 'staff' ? 'Staff is answering' : 'Bot is answering'),
        h('button', { type: 'button', class: 'secondary', testid: 'mode-toggle', onclick: () => setMode(c.mode === 'staff' ? 'bot' : 'staff') }, c.mode === 'staff' ? 'Hand back to the bot' : 'Take over from the bot'))),
    c.orders.length ? h('div', { class: 'orders' }, 'Orders: ', c.orders.map((o) =>
      h('button', { type: 'button', class: 'link', testid: 'thread-order', dataset: { reference: o.reference, how: o.how }, onclick: () => openOrder(o.id) }, orderLabel(o), ' ', pill(o.paymentStatus)))) : null,
    messages);
  messages.scrollTop = messages.scrollHeight;
  // The reply box is kept while staff type (polling re-renders only the messages), rebuilt when the window opens or closes.
  const composerFor = `${c.id}:${c.insideWindow}`;
  if (slot.dataset.for !== composerFor) {
    slot.dataset.for = composerFor;
    clear(slot, composer(c, ''));
  } else {
    const left = slot.querySelector('[data-testid="window-remaining"]');
    if (left && c.windowEndsAt) left.textContent = `${remaining(c.windowEndsAt)} left to answer freely (24-hour window)`;
  }
}

const TICKS = { sent: '✓', delivered: '✓✓', read: '✓✓', failed: '!', played: '✓✓' };

function message(m) {
  const who = m.direction === 'in' ? null : m.from === 'staff' ? (m.staff ?? 'staff') : m.from === 'bot' ? 'bot' : 'notice';
  return h('div', { class: `msg ${m.direction} ${m.from ?? ''}`, testid: 'message', dataset: { direction: m.direction, kind: m.kind, from: m.from ?? 'customer', wamid: m.wamid ?? '' } },
    who ? h('div', { class: 'who', testid: 'message-from' }, who) : null,
    content(m),
    m.edits?.length ? h('div', { class: 'detail', testid: 'message-edited' }, `edited: ${m.edits[m.edits.length - 1].body ?? ''}`) : null,
    m.revokedAt ? h('div', { class: 'detail revoked', testid: 'message-revoked' }, 'deleted by the customer') : null,
    m.reactions?.length ? h('span', { class: 'reaction', testid: 'message-reaction' }, m.reactions.map((r) => r.emoji).join(' ')) : null,
    h('div', { class: 'meta' }, h('time', {}, when(m.at)),
      m.direction === 'out' ? h('span', { class: `ticks ${m.delivery ?? m.status}`, testid: 'ticks', dataset: { status: m.status === 'failed' ? 'failed' : (m.delivery ?? m.status) }, title: m.error ?? m.delivery ?? m.status }, m.status === 'failed' ? '! not delivered' : TICKS[m.delivery] ?? '…') : null,
      m.error ? h('span', { class: 'error', testid: 'message-error' }, m.error) : null));
}

function content(m) {
  if (m.contentDeleted) return h('div', { class: 'detail' }, `[${m.kind}: content deleted after the retention period]`);
  const d = m.data ?? {};
  if (['image', 'sticker'].includes(m.kind) && d.mediaId) {
    const img = h('img', { class: 'media', alt: m.body ?? m.kind, testid: 'message-image', dataset: { mediaId: d.mediaId } });
    loadMedia(d.mediaId).then((url) => { if (url) img.src = url; });
    return h('div', {}, img, m.body ? h('div', { testid: 'message-caption' }, m.body) : null);
  }
  if (['video', 'audio', 'document'].includes(m.kind) && d.mediaId) {
    const label = d.filename ?? (m.kind === 'audio' ? (d.voice ? 'voice message' : 'audio') : m.kind);
    return h('div', {}, h('button', { type: 'button', class: 'secondary', testid: 'message-download', onclick: () => download(d.mediaId, label) }, `⬇ ${label}`), m.body ? h('div', {}, m.body) : null);
  }
  if (m.kind === 'location') return h('div', {}, `📍 ${m.body ?? ''} ${d.location ? `${d.location.latitude}, ${d.location.longitude}` : ''} ${d.location?.address ?? ''}`);
  if (m.kind === 'contacts') return h('div', {}, `👤 ${(d.contacts ?? []).map((x) => `${x.name ?? ''} ${x.phones.join(', ')}`).join('; ')}`);
  if (m.kind === 'order') return h('div', {}, `🛒 catalog order: ${(d.items ?? []).map((i) => `${i.quantity} × ${i.sku}`).join(', ')}${m.body ? ` — ${m.body}` : ''}`);
  if (m.kind === 'list_reply' || m.kind === 'button_reply') return h('div', {}, `↪ ${m.body ?? ''}`);
  if (m.kind === 'reaction') return h('div', { class: 'detail' }, `reacted ${m.body ?? '(removed)'}`);
  if (m.kind === 'revoke') return h('div', { class: 'detail' }, 'deleted a message');
  if (m.kind === 'edit') return h('div', { class: 'detail' }, `edited a message: ${m.body ?? ''}`);
  if (m.direction === 'out' && m.kind === 'list') return h('div', { testid: 'message-text' }, m.body ?? '[list]');
  return h('div', { class: 'text', testid: 'message-text' }, m.body ?? `[${m.kind}]`);
}

async function loadMedia(id) {
  if (state.mediaUrls.has(id)) return state.mediaUrls.get(id);
  try {
    const r = await request('GET', `/media/${encodeURIComponent(id)}`, { raw: true });
    const url = URL.createObjectURL(await r.blob());
    state.mediaUrls.set(id, url);
    return url;
  } catch { return null; }
}

async function download(id, name) {
  const url = await loadMedia(id);
  if (!url) return;
  const a = h('a', { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
}

function remaining(endsAt) {
  const ms = new Date(endsAt).getTime() - Date.now();
  const hours = Math.floor(ms / 3600_000);
  const minutes = Math.floor((ms % 3600_000) / 60_000);
  return hours > 0 ? `${hours} h ${minutes} min` : `${minutes} min`;
}

function composer(c, draft) {
  const error = h('p', { class: 'error', testid: 'reply-error', role: 'alert', hidden: true });
  if (c.insideWindow) {
    const text = h('textarea', { rows: 3, testid: 'reply-text', placeholder: 'Write a reply…', oninput: typing });
    text.value = draft;
    return h('form', { class: 'composer', testid: 'composer', onsubmit: (e) => { e.preventDefault(); send({ text: text.value.trim() }, error); } },
      text,
      h('div', { class: 'row' },
        h('button', { type: 'submit', testid: 'reply-send' }, 'Send'),
        h('span', { class: 'detail', testid: 'window-remaining' }, `${remaining(c.windowEndsAt)} left to answer freely (24-hour window)`)),
      error);
  }
  const form = h('form', { class: 'composer', testid: 'template-form' },
    h('p', { class: 'detail', testid: 'window-closed' }, c.windowEndsAt ? `The 24-hour window closed ${when(c.windowEndsAt)}: only approved templates can be sent.` : 'Only approved templates can be sent.'));
  const params = h('div', { class: 'params' });
  const select = h('select', { testid: 'template-select', onchange: () => fillParams() });
  const fillParams = () => {
    const t = state.templates?.find((x) => `${x.name}/${x.language}` === select.value);
    clear(params, t ? Array.from({ length: t.header + t.body + t.urlButton }, (_, i) =>
      h('label', {}, i < t.header ? `Header {{${i + 1}}}` : i < t.header + t.body ? `Body {{${i - t.header + 1}}}` : 'Button URL {{1}}',
        h('input', { testid: 'template-param', required: true }))) : []);
    preview.textContent = t?.text ?? '';
  };
  const preview = h('div', { class: 'detail', testid: 'template-preview' });
  form.append(h('label', {}, 'Template', select), preview, params, h('button', { type: 'submit', testid: 'template-send' }, 'Send template'), error);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const [name, language] = select.value.split('/');
    send({ template: name, language, parameters: [...params.querySelectorAll('input')].map((i) => i.value) }, error);
  });
  (async () => {
    if (!state.templates) {
      try { state.templates = (await request('GET', '/templates')).data.templates; } catch (e) { error.textContent = describeError(e); error.hidden = false; return; }
    }
    clear(select, state.templates.map((t) => h('option', { value: `${t.name}/${t.language}` }, `${t.name} (${t.language})`)));
    fillParams();
  })();
  return form;
}

/** One key per message being composed: a double click or a retry of the same message sends it once. */
async function send(body, error) {
  if (state.sending) return;
  if ('text' in body && !body.text) return;
  state.sending = true;
  state.draftKey ??= crypto.randomUUID();
  const buttons = document.querySelectorAll('[data-testid="reply-send"], [data-testid="template-send"]');
  for (const b of buttons) b.disabled = true;
  error.hidden = true;
  try {
    await requestWithKey(`/conversations/${state.open}/messages`, body, state.draftKey);
    state.draftKey = null;
    const text = byTestId('reply-text');
    if (text) text.value = '';
    state.thread = null;
    await refreshThread();
    loadInbox({ quiet: true });
  } catch (e) {
    error.textContent = describeError(e);
    error.hidden = false;
    // A refusal (4xx but a network failure or 5xx) will not change on retry with the same key: compose anew.
    if (e.status && e.status < 500) state.draftKey = null;
  } finally {
    state.sending = false;
    for (const b of document.querySelectorAll('[data-testid="reply-send"], [data-testid="template-send"]')) b.disabled = false;
  }
}

async function requestWithKey(path, json, key) {
  const { session, ApiError } = await import('./api.js');
  const r = await fetch(`/api${path}`, { method: 'POST', headers: { authorization: `Bearer ${session.key ?? ''}`, 'content-type': 'application/json', 'idempotency-key': key }, body: JSON.stringify(json), cache: 'no-store', credentials: 'omit' });
  const data = await r.json().catch(() => null);
  if (!r.ok) throw new ApiError(r.status, data);
  return data;
}

/** Meta's typing indicator while staff type, at most once per 25 s (the API enforces it too). */
function typing() {
  state.draftKey ??= crypto.randomUUID();
  if (Date.now() - state.lastTyping < 25_000 || !state.open) return;
  state.lastTyping = Date.now();
  request('POST', `/conversations/${state.open}/typing`).catch(() => {});
}

async function setMode(mode) {
  try {
    await request('PUT', `/conversations/${state.open}/mode`, { json: { mode } });
    state.thread = null;
    await refreshThread();
    loadInbox({ quiet: true });
  } catch (e) {
    const error = byTestId('reply-error');
    if (error) { error.textContent = describeError(e); error.hidden = false; }
  }
}

export function setUpInbox() {
  const filters = byTestId('inbox-filters');
  filters.addEventListener('submit', (e) => { e.preventDefault(); state.q = filters.elements.q.value.trim(); loadInbox(); });
  filters.elements.filter.addEventListener('change', () => { state.filter = filters.elements.filter.value; loadInbox(); });
  byTestId('notify-enable').addEventListener('click', async (e) => {
    if (!('Notification' in window)) return;
    const p = await Notification.requestPermission();
    e.currentTarget.textContent = p === 'granted' ? 'Notifications on' : 'Notifications blocked';
  });
  setInterval(() => {
    if (document.hidden || !byTestId('tabs') || byTestId('tabs').hidden) return;
    loadInbox({ quiet: true });
    if (isVisible() && state.open && !state.sending) refreshThread();
  }, POLL_MS);
}
