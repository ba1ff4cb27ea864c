// The WhatsApp shop sandbox (local-only). Plain browser JavaScript, no dependencies: the page only
// talks to /sandbox/api/* on the shop's own server, which relays to the Meta and Stripe stand-ins
// and to the admin API (see dev/sandbox/routes.ts).
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const el = (tag, attrs = {}, ...children) => {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') node.className = v;
      else if (k === 'text') node.textContent = v;
      else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return node;
  };
  const api = async (path, options = {}) => {
    const r = await fetch(`/sandbox/api/${path}`, {
      ...options,
      headers: { ...(options.body ? { 'content-type': 'application/json' } : {}), ...(options.headers || {}) },
    });
    const text = await r.text();
    let body;
    try { body = text ? JSON.parse(text) : {}; } catch { body = { raw: text }; }
    return { ok: r.ok, status: r.status, body };
  };
  const digits = (s) => String(s || '').replace(/\D/g, '');
  const time = (ms) => new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  const money = (minor, currency) => {
    try {
      const f = new Intl.NumberFormat('en', { style: 'currency', currency });
      const d = f.resolvedOptions().maximumFractionDigits;
      return f.format(minor / 10 ** d);
    } catch { return `${(minor / 100).toFixed(2)} ${currency}`; }
  };

  const state = {
    config: null,
    items: new Map(), // key -> item
    nodes: new Map(), // key -> element (current chat only)
    identities: [], // {name, phone, wa}
    current: null,
    catalog: [],
    cart: new Map(), // sku -> qty
    seen: new Map(), // wa -> count of shop messages seen
  };

  // ---- identities --------------------------------------------------------------------------

  const saveIdentities = () => {
    try { localStorage.setItem('sandbox.identities', JSON.stringify(state.identities)); } catch { /* private mode */ }
  };
  const loadIdentities = () => {
    try { return JSON.parse(localStorage.getItem('sandbox.identities') || '[]').filter((i) => i && i.wa); } catch { return []; }
  };
  const normalisePhone = (input) => {
    const d = digits(input);
    if (!/^[1-9]\d{7,14}$/.test(d)) return null;
    return `+${d}`;
  };
  /** A sandbox customer's business-scoped user ID (Meta's user_id), derived from their number. */
  const bsuidFor = (phoneDigits) => `US.8${phoneDigits}`;
  const isBsuid = (s) => /^[A-Z]{2}\.[A-Za-z0-9.]+$/.test(s);
  /** A customer by phone, or (usernameOnly, or a BSUID seen in the chat) known to the shop only by their BSUID. */
  const identity = (name, phone, usernameOnly = false) => {
    const userId = isBsuid(phone) ? phone : usernameOnly ? bsuidFor(digits(phone)) : null;
    const wa = userId || digits(phone);
    let found = state.identities.find((i) => i.wa === wa);
    if (!found) {
      found = userId
        ? { name: name || `@${userId}`, phone: `+${digits(phone)}`, wa, userId, usernameOnly: true, created: Date.now() }
        : { name: name || `+${wa}`, phone: `+${wa}`, wa, created: Date.now() };
      state.identities.push(found);
    } else if (name) found.name = name;
    saveIdentities();
    return found;
  };
  const select = (who, prefill) => {
    state.current = who;
    $('me-name').textContent = who.name;
    $('me-phone').textContent = who.usernameOnly ? `username only · ${who.userId}` : who.phone;
    document.title = `${who.name} · WhatsApp shop sandbox`;
    const input = $('composer-input');
    input.value = prefill || '';
    renderChatList();
    renderChat();
    input.focus();
  };

  // ---- chat rendering ----------------------------------------------------------------------

  const linkKind = (url) => {
    try {
      const u = new URL(url);
      if (u.hostname === 'wa.me' || u.hostname === 'api.whatsapp.com') return 'wa.me';
      if (/^\/w\/invite\//.test(u.pathname)) return 'invite';
      return 'external';
    } catch { return 'external'; }
  };
  /** Text with its URLs as links; invite and wa.me links open through /sandbox/open, like a phone would. */
  const richText = (text) => {
    const out = [];
    const re = /https?:\/\/[^\s<>"]+/g;
    let last = 0;
    let m;
    while ((m = re.exec(text))) {
      let url = m[0];
      const trail = /[.,;:!?)\]]+$/.exec(url);
      if (trail) url = url.slice(0, -trail[0].length);
      out.push(text.slice(last, m.index));
      const kind = linkKind(url);
      const href = kind === 'external' ? url : `/sandbox/open?url=${encodeURIComponent(url)}`;
      out.push(el('a', { href, target: '_blank', rel: 'noopener', 'data-testid': 'message-link', 'data-kind': kind, title: url }, url));
      last = m.index + url.length;
    }
    out.push(text.slice(last));
    return out;
  };
  const fill = (text, params) => String(text || '').replace(/\{\{(\d+)\}\}/g, (_, n) => (params[Number(n) - 1] !== undefined ? params[Number(n) - 1] : `{{${n}}}`));
  const paramsOf = (components, type) => {
    const c = (components || []).find((x) => x.type === type);
    return (c && c.parameters ? c.parameters : []).map((p) => (p.type === 'text' ? p.text : p.currency ? p.currency.fallback_value : p.date_time ? p.date_time.fallback_value : `[${p.type}]`));
  };

  const ticksFor = (item) => {
    if (item.dir === 'in') {
      if (item.webhookStatus === undefined) return { status: 'pending', text: '◷', title: 'posting to the webhook…' };
      if (item.webhookStatus !== 200) return { status: 'webhook-error', text: '!', title: `webhook answered ${item.webhookStatus || 'nothing'}${item.webhookError ? `: ${item.webhookError}` : ''}` };
      return item.read ? { status: 'read', text: '✓✓', title: 'read by the shop' } : { status: 'delivered', text: '✓✓', title: 'the webhook answered 200' };
    }
    if (!item.accepted) return { status: 'rejected', text: '!', title: 'Meta refused the send' };
    const s = new Set(item.statuses.map((x) => x.status));
    if (s.has('failed')) return { status: 'failed', text: '!', title: 'Meta reported: failed' };
    if (s.has('read')) return { status: 'read', text: '✓✓', title: 'read' };
    if (s.has('delivered')) return { status: 'delivered', text: '✓✓', title: 'delivered' };
    if (s.has('sent')) return { status: 'sent', text: '✓', title: 'sent' };
    return { status: 'accepted', text: '◷', title: 'accepted by Meta, no status yet' };
  };
  const meta = (item) => {
    const t = ticksFor(item);
    return el('div', { class: 'meta' }, el('span', { text: time(item.at) }), el('span', { class: 'ticks', 'data-testid': 'ticks', 'data-status': t.status, title: t.title, text: t.text }));
  };
  const errorBox = (item) => {
    const e = item.error || {};
    const details = e.error_data && e.error_data.details ? `\n${e.error_data.details}` : '';
    return el('div', { class: 'send-error', 'data-testid': 'send-error' }, `${e.message || 'Send failed'} (code ${e.code ?? '?'}${e.error_subcode ? `/${e.error_subcode}` : ''})${details}`);
  };

  const catalogName = (sku) => {
    const v = state.catalog.find((x) => x.sku === sku);
    return v ? v.name : sku;
  };

  // ---- storefront: catalog, multi-product, single-product and carousel messages (docs/storefront.md)
  const productOf = (sku) => state.catalog.find((x) => x.sku === sku);
  /** The product's image (imageUrl), or a tile with its initials when it has none or it does not load. */
  const thumb = (v, cls = 'thumb') => {
    const initials = ((v && v.name) || '?').split(/\s+/).filter(Boolean).map((w) => w[0]).join('').slice(0, 2).toUpperCase();
    const tile = el('div', { class: `${cls} tile`, text: initials, 'aria-hidden': 'true' });
    if (!v || !v.imageUrl) return tile;
    const img = el('img', { class: cls, src: v.imageUrl, alt: v.name });
    img.addEventListener('error', () => img.replaceWith(tile));
    return img;
  };
  const productCard = (sku, item) => {
    const v = productOf(sku);
    return el('div', { class: 'product-card', 'data-testid': 'product-card', 'data-sku': sku },
      thumb(v, 'card-image'),
      el('div', { class: 't', text: v ? v.name : sku }),
      el('div', { class: 'price', text: v ? money(v.priceMinor, v.currency) : 'not in the catalog' }),
      el('button', { type: 'button', 'data-testid': 'product-view', disabled: !item.accepted, onclick: () => openCatalog({ title: v ? v.name : sku, sections: [{ title: '', skus: [sku] }] }) }, 'View'));
  };
  /** Catalog-message types: the visual part above the text, and the button below. */
  const renderStorefront = (i, item, bubble, actions) => {
    const a = i.action || {};
    if (i.type === 'catalog_message') {
      bubble.prepend(thumb(productOf(a.parameters && a.parameters.thumbnail_product_retailer_id), 'hero'), el('div', { class: 'header', text: `${state.config.shopName} catalog` }));
      actions.append(el('button', { type: 'button', 'data-testid': 'catalog-open', disabled: !item.accepted, onclick: () => openCatalog() }, '🛍 View catalog'));
    } else if (i.type === 'product') {
      bubble.prepend(productCard(a.product_retailer_id, item));
    } else if (i.type === 'product_list') {
      const sections = (a.sections || []).map((sec) => ({ title: sec.title || '', skus: (sec.product_items || []).map((p) => p.product_retailer_id) }));
      const skus = sections.flatMap((sec) => sec.skus);
      bubble.prepend(el('div', { class: 'strip' }, skus.slice(0, 4).map((sku) => thumb(productOf(sku), 'thumb'))));
      actions.append(el('button', { type: 'button', 'data-testid': 'product-list-open', disabled: !item.accepted, onclick: () => openCatalog({ title: (i.header && i.header.text) || 'Items', sections }) }, `🛍 View items (${skus.length})`));
    } else if (i.type === 'carousel') {
      bubble.append(el('div', { class: 'carousel', 'data-testid': 'carousel' }, (a.cards || []).map((c) => productCard(c.action.product_retailer_id, item))));
    }
  };

  /** The customer's own message, as WhatsApp shows it on their phone. */
  const renderMine = (item) => {
    const m = item.message || {};
    const bubble = el('div', { class: 'bubble' });
    if (m.type === 'text') bubble.append(...richText((m.text && m.text.body) || ''));
    else if (m.type === 'interactive') {
      const r = (m.interactive && (m.interactive.list_reply || m.interactive.button_reply)) || {};
      bubble.append(el('div', { class: 'caption', text: m.interactive && m.interactive.type === 'list_reply' ? 'List reply' : 'Button reply' }), el('div', { text: r.title || r.id || '' }));
      if (r.description) bubble.append(el('div', { class: 'footer', text: r.description }));
    } else if (m.type === 'button') bubble.append(el('div', { text: (m.button && m.button.text) || '' }));
    else if (m.type === 'order') {
      const o = m.order || { product_items: [] };
      const currency = (o.product_items[0] && o.product_items[0].currency) || 'EUR';
      const d = new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits;
      const total = o.product_items.reduce((a, p) => a + Math.round(p.item_price * 10 ** d) * p.quantity, 0);
      bubble.append(
        el('div', { class: 'caption', text: `Cart · ${o.product_items.reduce((a, p) => a + p.quantity, 0)} items` }),
        el('ul', { class: 'order-lines' }, o.product_items.map((p) => el('li', {}, el('span', { text: `${p.quantity} × ${catalogName(p.product_retailer_id)}` }), el('span', { text: money(Math.round(p.item_price * 10 ** d) * p.quantity, p.currency) })))),
        el('div', { class: 'order-total' }, el('span', { text: 'Estimated total' }), el('span', { text: money(total, currency) })),
      );
      if (o.text) bubble.append(el('div', { class: 'footer', text: o.text }));
    } else if (m.type === 'image') {
      bubble.append(el('div', { class: 'caption', text: '📷 Photo' }));
      if (m.image && m.image.caption) bubble.append(el('div', { text: m.image.caption }));
    } else bubble.append(el('code', { text: JSON.stringify(m) }));
    bubble.append(meta(item));
    const wrap = el('div', { class: 'msg me', 'data-testid': 'msg', 'data-dir': 'in', 'data-key': item.key, 'data-type': m.type || '' }, bubble);
    if (item.webhookStatus !== undefined && item.webhookStatus !== 200) wrap.append(el('div', { class: 'send-error', 'data-testid': 'webhook-error', text: `Webhook answered ${item.webhookStatus || 'nothing'}${item.webhookError ? `: ${item.webhookError}` : ''}` }));
    return wrap;
  };

  /** A message from the shop, rendered like WhatsApp renders it. */
  const renderShop = (item) => {
    const m = item.message || {};
    const bubble = el('div', { class: 'bubble' });
    const actions = el('div', { class: 'actions' });
    const type = m.type === 'interactive' ? `interactive:${m.interactive && m.interactive.type}` : m.type;
    if (m.type === 'text') bubble.append(...richText((m.text && m.text.body) || ''));
    else if (m.type === 'interactive') {
      const i = m.interactive || {};
      if (i.header && i.header.text) bubble.append(el('div', { class: 'header', text: i.header.text }));
      bubble.append(el('div', { class: 'body' }, ...richText((i.body && i.body.text) || '')));
      if (i.footer && i.footer.text) bubble.append(el('div', { class: 'footer', text: i.footer.text }));
      renderStorefront(i, item, bubble, actions);
      if (i.type === 'list') {
        bubble.append(meta(item));
        bubble.append(el('button', { type: 'button', class: 'list-open', 'data-testid': 'list-open', disabled: !item.accepted, onclick: () => openList(item) }, `☰ ${i.action.button}`));
        return wrapShop(item, type, bubble);
      }
      if (i.type === 'button') {
        for (const b of i.action.buttons || []) {
          actions.append(el('button', { type: 'button', 'data-testid': 'reply-button', 'data-button-id': b.reply.id, disabled: !item.accepted, onclick: () => sendMessage({ interactive: { type: 'button_reply', id: b.reply.id, title: b.reply.title }, context: { id: item.key } }) }, b.reply.title));
        }
      }
      if (i.type === 'cta_url') {
        const p = i.action.parameters;
        actions.append(el('a', { href: linkKind(p.url) === 'external' ? p.url : `/sandbox/open?url=${encodeURIComponent(p.url)}`, target: '_blank', rel: 'noopener', 'data-testid': 'cta-button', title: p.url }, `↗ ${p.display_text}`));
      }
    } else if (m.type === 'template') {
      const t = m.template || {};
      const view = (state.config.templates || {})[t.name];
      bubble.append(el('div', { class: 'caption', text: `Template · ${t.name} (${t.language && t.language.code})` }));
      if (view) {
        if (view.header) bubble.append(el('div', { class: 'header', text: fill(view.header, paramsOf(t.components, 'header')) }));
        bubble.append(el('div', { class: 'body' }, ...richText(fill(view.body, paramsOf(t.components, 'body')))));
        if (view.button) {
          const params = paramsOf(t.components, 'button');
          const target = view.button.url ? fill(view.button.url, params) : '';
          actions.append(el('button', { type: 'button', 'data-testid': 'template-button', disabled: true, title: target ? `URL button → ${target}` : 'static URL button' }, `↗ ${view.button.text}`));
        }
      } else bubble.append(el('div', { class: 'body', text: `${paramsOf(t.components, 'header').concat(paramsOf(t.components, 'body')).join(' · ')}` }));
      bubble.setAttribute('data-testid', 'template');
      bubble.setAttribute('data-template', t.name || '');
    } else bubble.append(el('code', { text: JSON.stringify(m) }));
    bubble.append(meta(item));
    const wrap = wrapShop(item, type, bubble);
    if (actions.childNodes.length) wrap.append(actions);
    return wrap;
  };
  const wrapShop = (item, type, bubble) => {
    const failed = !item.accepted || item.statuses.some((s) => s.status === 'failed');
    const wrap = el('div', { class: `msg shop${failed ? ' failed' : ''}`, 'data-testid': 'msg', 'data-dir': 'out', 'data-key': item.key, 'data-type': type || '' }, bubble);
    if (!item.accepted) wrap.append(errorBox(item));
    else if (item.statuses.some((s) => s.status === 'failed')) wrap.append(el('div', { class: 'send-error', 'data-testid': 'send-error', text: 'Meta reported this message as failed (status webhook)' }));
    return wrap;
  };

  const renderItem = (item) => (item.dir === 'in' ? renderMine(item) : renderShop(item));

  const chatItems = (wa) => [...state.items.values()].filter((i) => i.wa === wa).sort((a, b) => a.at - b.at);

  const renderChat = () => {
    const box = $('messages');
    box.textContent = '';
    state.nodes.clear();
    if (!state.current) {
      box.append(el('div', { class: 'day', text: 'Pick or type a customer on the left' }));
      return;
    }
    const items = chatItems(state.current.wa);
    if (!items.length) box.append(el('div', { class: 'day', 'data-testid': 'empty-chat', text: 'Say "menu" to start' }));
    for (const item of items) {
      const node = renderItem(item);
      state.nodes.set(item.key, node);
      box.append(node);
    }
    state.seen.set(state.current.wa, items.filter((i) => i.dir === 'out').length);
    box.scrollTop = box.scrollHeight;
  };

  const upsertNode = (item) => {
    if (!state.current || item.wa !== state.current.wa) return;
    const box = $('messages');
    const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
    const node = renderItem(item);
    const old = state.nodes.get(item.key);
    if (old) old.replaceWith(node);
    else {
      const empty = box.querySelector('[data-testid="empty-chat"]');
      if (empty) empty.remove();
      const later = [...state.nodes.entries()].map(([k, n]) => ({ item: state.items.get(k), n })).filter((x) => x.item && x.item.at > item.at).sort((a, b) => a.item.at - b.item.at)[0];
      if (later) box.insertBefore(node, later.n);
      else box.append(node);
    }
    state.nodes.set(item.key, node);
    state.seen.set(item.wa, chatItems(item.wa).filter((i) => i.dir === 'out').length);
    if (atBottom || item.dir === 'in') box.scrollTop = box.scrollHeight;
  };

  const renderChatList = () => {
    const list = $('chat-list');
    list.textContent = '';
    const lastAt = (who) => {
      const items = chatItems(who.wa);
      return items.length ? items[items.length - 1].at : who.created || 0;
    };
    for (const who of [...state.identities].sort((a, b) => lastAt(b) - lastAt(a))) {
      const items = chatItems(who.wa);
      const last = items[items.length - 1];
      const unread = Math.max(0, items.filter((i) => i.dir === 'out').length - (state.seen.get(who.wa) || 0));
      const preview = last ? (last.dir === 'in' ? 'You: ' : '') + previewText(last) : 'No messages yet';
      list.append(
        el('li', { class: state.current && state.current.wa === who.wa ? 'active' : '', 'data-testid': 'chat-entry', 'data-wa': who.wa, onclick: () => select(who) },
          unread && !(state.current && state.current.wa === who.wa) ? el('span', { class: 'badge', text: unread }) : null,
          el('div', { class: 'who', text: who.name }),
          el('div', { class: 'muted', text: who.phone }),
          el('div', { class: 'last', text: preview })),
      );
    }
  };
  const previewText = (item) => {
    const m = item.message || {};
    if (m.type === 'text') return m.text.body;
    if (m.type === 'template') return `Template ${m.template.name}`;
    if (m.type === 'order') return 'Cart order';
    if (m.type === 'interactive') {
      const i = m.interactive || {};
      if (i.body && i.body.text) return i.body.text;
      const r = i.list_reply || i.button_reply;
      return r ? r.title : 'interactive';
    }
    if (m.type === 'button') return m.button.text;
    return m.type || '';
  };

  // ---- sending -----------------------------------------------------------------------------

  const sendMessage = async (content) => {
    if (!state.current) {
      $('customer-error').textContent = 'Pick or type a customer first.';
      return;
    }
    const who = state.current;
    const address = who.usernameOnly ? { userId: who.userId, username: who.name.toLowerCase().replace(/[^a-z0-9._]/g, '') || 'user' } : { from: who.phone };
    const r = await api('send', { method: 'POST', body: JSON.stringify({ ...address, name: who.name, ...content }) });
    if (!r.ok && r.status === 400) $('customer-error').textContent = r.body.error || 'could not send';
  };

  // ---- sheets ------------------------------------------------------------------------------

  const openSheet = (title, content, testid) => {
    $('sheet-title').textContent = title;
    const box = $('sheet-content');
    box.textContent = '';
    box.append(content);
    $('sheet').setAttribute('data-kind', testid);
    $('sheet').classList.remove('hidden');
  };
  const closeSheet = () => $('sheet').classList.add('hidden');

  const openList = (item) => {
    const i = item.message.interactive;
    const content = el('div', { 'data-testid': 'list-sheet' });
    for (const section of i.action.sections) {
      if (section.title) content.append(el('div', { class: 'section-title', text: section.title }));
      for (const row of section.rows) {
        content.append(
          el('button', {
            type: 'button', class: 'list-row', 'data-testid': 'list-row', 'data-row-id': row.id,
            onclick: () => {
              closeSheet();
              sendMessage({ interactive: { type: 'list_reply', id: row.id, title: row.title, ...(row.description ? { description: row.description } : {}) }, context: { id: item.key } });
            },
          }, el('span', { class: 't', text: row.title }), row.description ? el('span', { class: 'd', text: row.description }) : null),
        );
      }
    }
    openSheet(i.action.button, content, 'list');
  };

  /** The catalog (or a message's products, `view`), in sections, with a cart sent as Meta's `order` message. */
  const openCatalog = async (view) => {
    await loadCatalog();
    const content = el('div', { 'data-testid': 'catalog-sheet' });
    const active = state.catalog.filter((v) => v.active);
    const byCategory = () => {
      const cats = [...new Set(active.map((v) => v.category || ''))].sort((x, y) => (!x) - (!y) || x.localeCompare(y));
      return cats.map((c) => ({ title: c || (cats.length > 1 ? 'Other' : ''), skus: active.filter((v) => (v.category || '') === c).map((v) => v.sku) }));
    };
    const sections = view ? view.sections : byCategory();
    const sectionOf = new Map();
    for (const sec of sections) for (const sku of sec.skus) if (!sectionOf.has(sku)) sectionOf.set(sku, sec.title);
    const sellable = sections.flatMap((sec) => sec.skus).map(productOf).filter((v) => v && v.active);
    const totalEl = el('span', { 'data-testid': 'cart-total' });
    const sendBtn = el('button', { type: 'button', 'data-testid': 'cart-send' }, 'Send order');
    const note = el('input', { placeholder: 'Note for the shop (optional)', 'data-testid': 'cart-note', maxlength: 200 });
    const update = () => {
      let total = 0;
      let currency = 'EUR';
      let count = 0;
      for (const [sku, q] of state.cart) {
        const v = state.catalog.find((x) => x.sku === sku);
        if (!v || q <= 0) continue;
        total += v.priceMinor * q;
        currency = v.currency;
        count += q;
      }
      totalEl.textContent = count ? `${count} item${count === 1 ? '' : 's'} · ${money(total, currency)}` : 'Cart is empty';
      sendBtn.disabled = count === 0;
      for (const q of content.querySelectorAll('[data-qty-for]')) q.textContent = String(state.cart.get(q.getAttribute('data-qty-for')) || 0);
    };
    if (!sellable.length) content.append(el('p', { class: 'muted', style: 'padding: 10px 16px', text: 'The catalog is empty.' }));
    let lastSection = null;
    for (const v of sellable) {
      const title = sectionOf.get(v.sku);
      if (title && title !== lastSection) content.append(el('div', { class: 'section-title', 'data-testid': 'catalog-section', text: title }));
      lastSection = title;
      const change = (d) => () => {
        const next = Math.max(0, (state.cart.get(v.sku) || 0) + d);
        if (next) state.cart.set(v.sku, next);
        else state.cart.delete(v.sku);
        update();
      };
      content.append(
        el('div', { class: 'catalog-item', 'data-testid': 'catalog-item', 'data-sku': v.sku },
          thumb(v),
          el('div', {}, el('div', { class: 't', text: v.name }), el('div', { class: 'muted', text: `${money(v.priceMinor, v.currency)} · ${v.available ?? '?'} available · ${v.sku}` })),
          el('div', { class: 'qty' },
            el('button', { type: 'button', 'data-testid': 'catalog-minus', 'aria-label': `fewer ${v.name}`, onclick: change(-1) }, '−'),
            el('span', { 'data-qty-for': v.sku, 'data-testid': 'catalog-qty' }, '0'),
            el('button', { type: 'button', 'data-testid': 'catalog-plus', 'aria-label': `more ${v.name}`, onclick: change(1) }, '+'))),
      );
    }
    sendBtn.addEventListener('click', async () => {
      const items = [...state.cart].filter(([, q]) => q > 0).map(([sku, quantity]) => {
        const v = state.catalog.find((x) => x.sku === sku);
        const d = new Intl.NumberFormat('en', { style: 'currency', currency: v.currency }).resolvedOptions().maximumFractionDigits;
        // Meta sends item_price in major units, as the catalog shows it.
        return { product_retailer_id: sku, quantity, item_price: v.priceMinor / 10 ** d, currency: v.currency };
      });
      if (!items.length) return;
      closeSheet();
      state.cart.clear();
      await sendMessage({ order: { catalog_id: state.config.catalogId, ...(note.value.trim() ? { text: note.value.trim() } : {}), product_items: items } });
    });
    const wrap = el('div', {}, content, el('div', { class: 'cart-bar' }, totalEl, note, sendBtn));
    openSheet(view ? view.title : `${state.config.shopName} catalog`, wrap, 'catalog');
    update();
  };

  // ---- shop panel --------------------------------------------------------------------------

  const loadCatalog = async () => {
    const r = await api('catalog');
    if (r.ok) state.catalog = r.body.variants || [];
    return r.ok;
  };

  const renderStock = () => {
    const body = $('stock-body');
    body.textContent = '';
    for (const v of state.catalog) {
      body.append(el('tr', { 'data-testid': 'stock-row', 'data-sku': v.sku, class: v.available !== null && v.available <= 2 ? 'low' : '' },
        el('td', { text: v.sku }), el('td', { text: v.name }), el('td', { class: 'n', 'data-testid': 'stock-onhand', text: v.stock }), el('td', { class: 'n avail', 'data-testid': 'stock-available', text: v.available ?? '—' })));
    }
  };

  const holdText = (o) => {
    if (!o.hold) return o.holdExpiresAt && (o.paymentStatus === 'pending' || o.paymentStatus === 'awaiting_payment') ? `hold until ${time(Date.parse(o.holdExpiresAt))} (not in Redis)` : 'no hold';
    const lines = o.hold.lines.map((l) => `${l.quantity}×${l.sku}`).join(', ');
    const until = o.hold.expiresAt ? ` until ${new Date(o.hold.expiresAt).toLocaleTimeString()}` : '';
    return `${o.hold.state} ${lines}${o.hold.state === 'held' ? until : ''}`;
  };

  const orderResult = new Map(); // order id -> text
  const openDetails = new Set();

  const renderOrders = (orders) => {
    const box = $('orders');
    box.textContent = '';
    if (!orders.length) {
      box.append(el('p', { class: 'muted', text: 'No orders yet.' }));
      return;
    }
    for (const o of orders) {
      const buttons = el('div', { class: 'buttons' });
      if (o.paymentStatus === 'paid' && o.fulfillmentStatus === 'unfulfilled') {
        buttons.append(el('button', { type: 'button', 'data-testid': 'order-ship', onclick: () => markShipped(o) }, 'Mark shipped'));
      }
      if (['pending', 'awaiting_payment'].includes(o.paymentStatus)) {
        buttons.append(el('button', { type: 'button', 'data-testid': 'order-offline-pay', onclick: () => offlinePayment(o) }, 'Record offline payment'));
      }
      buttons.append(el('button', { type: 'button', class: 'secondary', 'data-testid': 'order-details', onclick: () => toggleDetails(o) }, openDetails.has(o.id) ? 'Hide details' : 'Details'));
      const node = el('div', { class: 'order', 'data-testid': 'order-row', 'data-order-id': o.id, 'data-reference': o.reference, 'data-payment-status': o.paymentStatus, 'data-fulfillment-status': o.fulfillmentStatus },
        el('div', { class: 'top' }, el('span', { text: `${o.reference}` }), el('span', { text: o.total })),
        el('div', { class: 'muted', text: `${o.customer.name || ''} ${o.customer.phone} · ${o.source} · ${time(Date.parse(o.createdAt))}` }),
        el('div', { text: o.items.map((i) => `${i.quantity} × ${i.name}`).join(', ') }),
        el('div', {}, el('span', { class: `pill ${o.paymentStatus}`, 'data-testid': 'order-status', text: o.paymentStatus }), ' ', el('span', { class: `pill ${o.fulfillmentStatus}`, 'data-testid': 'order-fulfillment', text: o.fulfillmentStatus }), ' ', el('span', { class: `pill ${o.hold ? o.hold.state : ''}`, 'data-testid': 'order-hold', text: holdText(o) })),
        buttons,
        orderResult.has(o.id) ? el('pre', { class: 'result', 'data-testid': 'order-result', text: orderResult.get(o.id) }) : null,
        openDetails.has(o.id) ? el('pre', { 'data-testid': 'order-detail', id: `detail-${o.id}`, text: 'loading…' }) : null);
      box.append(node);
      if (openDetails.has(o.id)) loadDetails(o.id);
    }
  };
  const loadDetails = async (id) => {
    const r = await api(`orders/${id}`);
    const pre = $(`detail-${id}`);
    if (pre) pre.textContent = JSON.stringify(r.body, null, 2);
  };
  const toggleDetails = (o) => {
    if (openDetails.has(o.id)) openDetails.delete(o.id);
    else openDetails.add(o.id);
    refreshPanel();
  };
  const markShipped = async (o) => {
    const r = await api(`orders/${o.id}/shipped`, { method: 'POST', body: JSON.stringify({ trackingSlug: `TRACK-${o.reference}`, carrier: 'Sandbox Post' }) });
    orderResult.set(o.id, `shipped → HTTP ${r.status}${r.ok ? '' : `: ${r.body.message || r.body.error || ''}`}`);
    refreshPanel();
  };
  const offlinePayment = async (o) => {
    const r = await api('offline-payments', {
      method: 'POST',
      body: JSON.stringify({ orderId: o.id, amountMinor: o.totalMinor, currency: o.currency, paidAt: new Date().toISOString(), reference: `CASH-${o.reference}` }),
    });
    orderResult.set(o.id, `offline payment → HTTP ${r.status}${r.ok ? ` (${(r.body.order && r.body.order.outcome) || 'recorded'})` : `: ${r.body.message || r.body.error || ''}`}`);
    refreshPanel();
  };

  let refreshing = null;
  let refreshAgain = false;
  const refreshPanel = async () => {
    if (refreshing) {
      refreshAgain = true;
      return refreshing;
    }
    refreshing = (async () => {
      try {
        const [orders, , fail] = await Promise.all([api('orders'), loadCatalog(), api('fail')]);
        if (orders.ok) renderOrders(orders.body.orders);
        renderStock();
        const queued = Array.isArray(fail.body) ? fail.body : [];
        $('fail-switch').checked = queued.length > 0;
        $('fail-state').textContent = queued.length ? `armed: the next send answers ${queued[0].status} (code ${queued[0].code})` : 'off: sends go through';
      } finally {
        refreshing = null;
        if (refreshAgain) {
          refreshAgain = false;
          setTimeout(refreshPanel, 0);
        }
      }
    })();
    return refreshing;
  };
  let refreshTimer = null;
  const refreshSoon = () => {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(refreshPanel, 300);
  };

  // ---- events ------------------------------------------------------------------------------

  /** Every number seen in the stand-in is a chat; its name is the WhatsApp profile name it wrote with. */
  const learnIdentity = (item) => {
    const known = state.identities.find((i) => i.wa === item.wa);
    if (!known) identity(item.dir === 'in' ? item.name || '' : '', isBsuid(item.wa) ? item.wa : `+${item.wa}`);
    else if (item.dir === 'in' && item.name && known.name === known.phone) {
      known.name = item.name;
      saveIdentities();
      if (state.current && state.current.wa === known.wa) $('me-name').textContent = known.name;
    }
  };

  const onItem = (item) => {
    state.items.set(item.key, item);
    learnIdentity(item);
    upsertNode(item);
    renderChatList();
    refreshSoon();
  };

  const connect = (after) => {
    const source = new EventSource(`/sandbox/api/events?after=${after}`);
    source.addEventListener('item', (e) => onItem(JSON.parse(e.data)));
    source.addEventListener('open', () => document.body.removeAttribute('data-offline'));
    source.addEventListener('error', () => document.body.setAttribute('data-offline', '1'));
  };

  // ---- start -------------------------------------------------------------------------------

  const start = async () => {
    const [config, snapshot] = await Promise.all([api('config'), api('state')]);
    state.config = config.body;
    $('shop-name').textContent = state.config.shopName;
    $('shop-number').textContent = `${state.config.businessNumber} · business account`;
    state.identities = loadIdentities();
    for (const item of snapshot.body.items || []) {
      state.items.set(item.key, item);
      learnIdentity(item);
    }
    await loadCatalog();

    const params = new URLSearchParams(location.search);
    const as = params.get('as');
    const text = params.get('text') || '';
    let who = null;
    if (as === 'elder') who = identity(params.get('name') || state.config.defaults.elder.name, params.get('phone') || state.config.defaults.elder.phone);
    else if (as && normalisePhone(as)) who = identity(params.get('name') || '', normalisePhone(as));
    else if (state.identities.length) who = state.identities[0];
    if (who) select(who, text);
    else renderChat();
    renderChatList();
    connect(snapshot.body.lastEventId || 0);
    refreshPanel();
    setInterval(refreshPanel, 3000);
    document.body.setAttribute('data-ready', '1');
  };

  $('customer-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const phone = normalisePhone($('customer-phone').value);
    if (!phone) {
      $('customer-error').textContent = 'Type a number in E.164, e.g. +4915112345678';
      return;
    }
    $('customer-error').textContent = '';
    select(identity($('customer-name').value.trim(), phone, $('customer-username-only').checked));
  });
  $('composer').addEventListener('submit', (e) => {
    e.preventDefault();
    const input = $('composer-input');
    const text = input.value.trim();
    if (!text) return;
    input.value = '';
    sendMessage({ text });
  });
  $('open-catalog').addEventListener('click', () => openCatalog());
  // Team inbox: a photo from the phone (the text typed, if any, is its caption), and the shop's inbox side by side.
  $('send-photo').addEventListener('click', () => {
    const input = $('composer-input');
    const caption = input.value.trim();
    input.value = '';
    sendMessage({ photo: caption ? { caption } : {} });
  });
  $('open-inbox').addEventListener('click', () => {
    const width = Math.max(480, Math.floor(window.screen.availWidth / 2));
    window.open('/admin#inbox', 'shop-inbox', `width=${width},height=${window.screen.availHeight},left=${window.screen.availWidth - width},top=0`);
  });
  $('sheet').addEventListener('click', (e) => { if (e.target.getAttribute('data-close')) closeSheet(); });
  document.addEventListener('keydown', (e) => { if (e.key === 'Escape') closeSheet(); });
  $('run-cleanup').addEventListener('click', async () => {
    $('cleanup-result').textContent = 'running…';
    const r = await api('cleanup', { method: 'POST' });
    $('cleanup-result').textContent = `HTTP ${r.status}\n${JSON.stringify(r.body, null, 1)}`;
    refreshPanel();
  });
  $('fail-switch').addEventListener('change', async (e) => {
    if (e.target.checked) {
      const kind = $('fail-kind').value;
      const body = kind === '131026' ? { status: 400, code: 131026 } : { status: Number(kind) };
      const r = await api('fail', { method: 'POST', body: JSON.stringify(body) });
      $('fail-state').textContent = r.ok ? `armed: the next send answers ${body.status}${body.code ? ` (code ${body.code})` : ''}` : `could not arm: HTTP ${r.status}`;
    } else {
      await api('fail', { method: 'DELETE' });
      $('fail-state').textContent = 'off: sends go through';
    }
    refreshSoon();
  });

  start().catch((error) => {
    document.body.prepend(el('div', { class: 'send-error', 'data-testid': 'page-error', text: `The sandbox could not start: ${error.message}` }));
  });
})();
