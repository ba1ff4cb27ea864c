import { cachedSellableVariants, type Variant } from '../catalog/index.js';
import { getConfig } from '../config.js';
import { LIMITS, type OutgoingMessage } from '../messaging/messages.js';
import { formatMoney } from '../money.js';
import { availableStock } from '../stock/index.js';
import { normalizeText } from './intents.js';
import * as reply from './replies.js';
import type { Work } from '../work.js';
import { withWaitlistOffer } from './second-chances.js';

/**
 * The shop's storefront in the chat (docs/storefront.md): what "menu", "show <product>", a search
 * and a list choice answer.
 *
 * Only products that are active (the sellable catalog) and available (Redis counter above zero)
 * are offered; sold-out ones are left out. Two modes:
 *  - a Meta catalog (WHATSAPP_CATALOG_ID with WHATSAPP_CATALOG_MESSAGES=on): the message that fits
 *    the size — one product: a single-product message; up to 30: a multi-product message in
 *    sections by category; more: a catalog message (thumbnail: the first offered product with an
 *    image). Search results: one → single product, 2–10 → a product carousel, more → multi-product.
 *  - otherwise (the default): the interactive list, categories as sections, paged within Meta's
 *    10 rows (9 products and a "More" row), every product reachable.
 *
 * Every answer costs what the old menu cost: the cached catalog (no round trip while current),
 * one Redis read of the counters (carrying the inbound Work's pending Redis writes), one send.
 */

type Send = (message: OutgoingMessage) => Promise<unknown>;

const OTHER = 'Other';
/** Products per list page when there is more than one page (the tenth row is "More"). */
export const LIST_PAGE_PRODUCTS = LIMITS.listRows - 1;
const MAX_ROW_ID = 200;

export const rowIdForSearchPage = (page: number, query: string) => `find:${page}:${[...query].slice(0, MAX_ROW_ID - 12).join('')}`;

/** The catalog mode's id, or null for the interactive list. */
export function catalogMode(): string | null {
  const c = getConfig();
  return c.WHATSAPP_CATALOG_ID && c.WHATSAPP_CATALOG_MESSAGES === 'on' ? c.WHATSAPP_CATALOG_ID : null;
}

/** The products offered: available ones, grouped by category (categories in name order, no category last), catalog order within. */
export function offered(variants: Variant[], available: Map<string, number>): Variant[] {
  const inStock = variants.filter((v) => (available.get(v.sku) ?? 0) > 0);
  return sortByCategory(inStock);
}

function sortByCategory(variants: Variant[]): Variant[] {
  const rank = (c: string) => (c ? 0 : 1);
  return variants
    .map((v, i) => ({ v, i }))
    .sort((a, b) => rank(a.v.category) - rank(b.v.category) || a.v.category.localeCompare(b.v.category) || a.i - b.i)
    .map((x) => x.v);
}

/** Consecutive runs of one category → sections (at most `max`: the rest merged into the last one). */
function sectionsOf<T>(variants: Variant[], max: number, item: (v: Variant) => T): { title: string; items: T[] }[] {
  const sections: { title: string; items: T[] }[] = [];
  for (const v of variants) {
    const title = v.category || OTHER;
    const last = sections[sections.length - 1];
    if (last && (last.title === title || sections.length >= max)) {
      if (last.title !== title && !last.title.endsWith('& more')) last.title = `${[...last.title].slice(0, LIMITS.sectionTitle - 7).join('')} & more`;
      last.items.push(item(v));
    } else sections.push({ title, items: [item(v)] });
  }
  // One section only: a plain title when the catalog has no categories.
  if (sections.length === 1 && sections[0]!.title === OTHER) sections[0]!.title = 'Products';
  return sections;
}

const rowDescription = (v: Variant, available: number | undefined) =>
  `${formatMoney(v.priceMinor, v.currency)}${available !== undefined ? ` · ${available} left` : ''}`;

/**
 * The interactive list of `products` (already offered), page `page`: all of them when they fit in
 * 10 rows, else 9 per page and a tenth row to the next page (the last page's goes back to the start).
 */
export function productList(
  products: Variant[],
  available: Map<string, number>,
  page: number,
  opts: { intro?: string; nextId?: (page: number) => string; header?: string } = {},
): OutgoingMessage {
  const shop = getConfig().SHOP_NAME;
  const pages = products.length <= LIMITS.listRows ? 1 : Math.ceil(products.length / LIST_PAGE_PRODUCTS);
  const current = Math.min(Math.max(page, 1), pages);
  const perPage = pages === 1 ? LIMITS.listRows : LIST_PAGE_PRODUCTS;
  const slice = products.slice((current - 1) * perPage, current * perPage);
  const sections = sectionsOf(slice, LIMITS.listRows, (v) => ({ id: reply.rowIdForVariant(v.sku), title: v.displayName, description: rowDescription(v, available.get(v.sku)) })).map(
    (s) => ({ title: s.title, rows: s.items }),
  );
  if (pages > 1) {
    const next = current < pages ? current + 1 : 1;
    const nextId = opts.nextId ?? reply.rowIdForPage;
    sections.push({ title: 'More', rows: [{ id: nextId(next), title: current < pages ? 'More products ›' : '‹ Back to start', description: `Page ${next} of ${pages}` }] });
  }
  return {
    type: 'list',
    header: opts.header ?? shop,
    body: `${opts.intro ?? `Welcome to ${shop}!`} Tap "View products" to pick something, type a name to search, or e.g. "buy ${products[0]!.sku} 2".`,
    footer: pages > 1 ? `Page ${current} of ${pages} · ${products.length} products` : 'Type "help" for all commands',
    button: 'View products',
    sections,
  };
}

/** "menu" with a Meta catalog: the message that fits the number of products offered. */
export function catalogMenu(catalogId: string, products: Variant[], intro?: string): OutgoingMessage {
  const shop = getConfig().SHOP_NAME;
  const body = `${intro ?? `Welcome to ${shop}!`} Add what you like to your cart and send it: we hold the stock and send you a payment link. Type a name to search.`;
  if (products.length === 1) return { type: 'product', catalogId, sku: products[0]!.sku, body, footer: 'Type "help" for all commands' };
  if (products.length <= LIMITS.productListItems) return multiProduct(catalogId, products, shop, body);
  const thumbnail = products.find((v) => v.imageUrl) ?? products[0]!;
  return { type: 'catalog', body, footer: `${products.length} products · type "help" for all commands`, thumbnailSku: thumbnail.sku };
}

function multiProduct(catalogId: string, products: Variant[], header: string, body: string): OutgoingMessage {
  const sections = sectionsOf(products.slice(0, LIMITS.productListItems), LIMITS.productListSections, (v) => v.sku);
  return { type: 'product_list', catalogId, header, body, footer: 'Type "help" for all commands', sections: sections.map((s) => ({ title: s.title, skus: s.items })) };
}

const emptyCatalog = (): OutgoingMessage => ({ type: 'text', body: `Welcome to ${getConfig().SHOP_NAME}! Nothing is in stock right now, please check back soon.` });

/** The menu: with a catalog, catalogMenu; else the list, page `page`. */
export function menuMessage(products: Variant[], available: Map<string, number>, page: number, intro?: string): OutgoingMessage {
  if (products.length === 0) return emptyCatalog();
  const catalogId = catalogMode();
  return catalogId ? catalogMenu(catalogId, products, intro) : productList(products, available, page, { intro });
}

// ---- search ------------------------------------------------------------------------------------

/**
 * The best matches for a customer's words, by name and SKU: every word must match (in the name,
 * the category or the SKU; "teas" matches "tea", "500" matches "500g"). Ranked: the exact SKU
 * first, then whole-word name matches, then category matches, then the shortest name (the least
 * specific match).
 */
export function searchProducts(products: Variant[], query: string): Variant[] {
  const q = normalizeText(query);
  const words = q.split(' ').filter(Boolean);
  if (words.length === 0) return [];
  const scored: { v: Variant; score: number; length: number }[] = [];
  for (const v of products) {
    const sku = v.sku.toLowerCase();
    const nsku = normalizeText(v.sku);
    if (sku === query.trim().toLowerCase() || nsku === q) {
      scored.push({ v, score: 1000, length: 0 });
      continue;
    }
    const name = normalizeText(v.displayName);
    const nameWords = new Set(name.split(' '));
    const category = new Set(normalizeText(v.category).split(' '));
    let score = 0;
    let all = true;
    for (const w of words) {
      const stem = w.length > 3 ? w.replace(/e?s$/, '') : w;
      if (nameWords.has(w) || nameWords.has(stem)) score += 10;
      else if (category.has(w) || category.has(stem)) score += 6;
      else if (w.length >= 3 && (name.includes(w) || name.includes(stem))) score += 5;
      else if (w.length >= 3 && (nsku.includes(w) || sku.includes(w))) score += 4;
      else {
        all = false;
        break;
      }
    }
    if (all) scored.push({ v, score, length: v.displayName.length });
  }
  scored.sort((a, b) => b.score - a.score || a.length - b.length);
  return scored.map((s) => s.v);
}

/** What a search answers: nothing found → null (the caller decides); else the matches in the mode's best message. */
export function searchMessage(matches: Variant[], available: Map<string, number>, query: string, page: number): OutgoingMessage {
  const catalogId = catalogMode();
  const header = `Results for "${[...query].slice(0, 40).join('')}"`;
  const intro = `${matches.length} match${matches.length === 1 ? '' : 'es'} for "${query}".`;
  if (catalogId) {
    if (matches.length === 1) return { type: 'product', catalogId, sku: matches[0]!.sku, body: intro };
    if (matches.length <= LIMITS.carouselMaxCards) return { type: 'carousel', catalogId, body: `${intro} Swipe to see them all and add them to your cart.`, skus: matches.map((v) => v.sku) };
    return multiProduct(catalogId, matches, header, `${intro} Here are the best ${Math.min(matches.length, LIMITS.productListItems)}.`);
  }
  return productList(matches, available, page, { intro, header, nextId: (p) => rowIdForSearchPage(p, query) });
}

// ---- the answers ---------------------------------------------------------------------------------

/** "menu" (and greetings): page `page` of the list, or the catalog's message. */
export async function showMenu(work: Work, page: number, send: Send, intro?: string): Promise<void> {
  const variants = await cachedSellableVariants();
  const available = await availableStock(variants.map((v) => v.sku), work);
  await send(menuMessage(offered(variants, available), available, page, intro));
}

/**
 * Free text that is no command: a search of the catalog. Matches → the results; none → the menu
 * with `fallbackIntro` (or, for an explicit search, "nothing found" above the menu).
 */
export async function showSearch(work: Work, query: string, page: number, send: Send, fallbackIntro?: string): Promise<void> {
  const variants = await cachedSellableVariants();
  const available = await availableStock(variants.map((v) => v.sku), work);
  const products = offered(variants, available);
  const matches = searchProducts(products, query);
  if (matches.length === 0) {
    return void (await send(menuMessage(products, available, 1, fallbackIntro ?? `Sorry, nothing in stock matches "${query}". Here is our menu.`)));
  }
  // Without a catalog, one match is answered like its list choice.
  if (matches.length === 1 && !catalogMode()) return answerProduct(matches[0]!, available.get(matches[0]!.sku) ?? 0, send);
  await send(searchMessage(matches, available, query, page));
}

/** "show <product>": the best match as a single-product message (or its quantity question). */
export async function showProduct(work: Work, query: string, send: Send): Promise<void> {
  const variants = await cachedSellableVariants();
  const available = await availableStock(variants.map((v) => v.sku), work);
  const best = searchProducts(variants, query)[0];
  if (!best) return void (await send(reply.notFound(query)));
  await answerProduct(best, available.get(best.sku) ?? 0, send);
}

async function answerProduct(v: Variant, available: number, send: Send): Promise<void> {
  const catalogId = catalogMode();
  if (catalogId && available > 0) {
    await send({ type: 'product', catalogId, sku: v.sku, body: `${v.displayName}: ${formatMoney(v.priceMinor, v.currency)}. Add it to your cart and send it, or type "buy ${v.sku} <quantity>".` });
    return;
  }
  // Sold out since the list was sent: the answer offers the back-in-stock waitlist (./second-chances.ts).
  await send(withWaitlistOffer(reply.quantityQuestion(v, available), available > 0 ? [] : [{ sku: v.sku, name: v.displayName, quantity: 1 }]));
}

/** A tapped list row: a product (its quantity question, or a single-product message with a catalog), or a page. */
export async function handleListReply(work: Work, id: string, send: Send): Promise<void> {
  const page = /^page:(\d+)$/.exec(id);
  if (page) return showMenu(work, Number(page[1]), send);
  const find = /^find:(\d+):(.+)$/s.exec(id);
  if (find) return showSearch(work, find[2]!, Number(find[1]), send);
  const sku = /^variant:(.+)$/.exec(id)?.[1];
  const variant = sku ? (await cachedSellableVariants()).find((v) => v.sku === sku) : undefined;
  if (!variant) return void (await send(reply.choiceExpired()));
  const available = await availableStock([variant.sku], work);
  await answerProduct(variant, available.get(variant.sku) ?? 0, send);
}
