/**
 * What a customer's free text asks for. Case- and accent-insensitive, tolerant of extra words.
 */
export type Intent =
  | { type: 'invite'; token: string }
  | { type: 'buy'; query: string; quantity: number }
  | { type: 'menu' }
  /** "show green tea": one product (a single-product message with a catalog, else its quantity question). */
  | { type: 'show'; query: string }
  /** "search tea", "find honey 500": the best matches by name and SKU. */
  | { type: 'search'; query: string }
  | { type: 'status' }
  | { type: 'cancel' }
  | { type: 'help' }
  /** Second chances (./second-chances.ts): no proactive messages, off every waitlist; the latest lapsed order again. */
  | { type: 'stop' }
  | { type: 'order_again' }
  | { type: 'unknown' };

export function normalizeText(text: string): string {
  return text
    .normalize('NFD')
    .replace(/\p{Diacritic}/gu, '')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s-]/gu, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

const GREETINGS = new Set(['hi', 'hello', 'hey', 'hola', 'ola', 'oi', 'bonjour', 'salut', 'hallo', 'ciao', 'namaste', 'salaam', 'start', 'good morning', 'good evening']);
const MENU_WORDS = new Set(['menu', 'catalog', 'catalogue', 'products', 'shop', 'list', 'browse', 'carta', 'katalog']);
const FILLER = new Set(['please', 'pls', 'plz', 'thanks', 'thank', 'you', 'i', 'want', 'to', 'would', 'like', 'id', 'some', 'of', 'the', 'a', 'an', 'me', 'can', 'get', 'order', 'units', 'unit', 'pcs', 'pieces', 'x']);
const NUMBER_WORDS: Record<string, number> = { one: 1, two: 2, three: 3, four: 4, five: 5, six: 6, seven: 7, eight: 8, nine: 9, ten: 10 };
export const TOKEN_PATTERN = /Token:\s*([A-Za-z0-9_-]{16,64})/;

export function parseIntent(raw: string): Intent {
  const token = TOKEN_PATTERN.exec(raw);
  if (token) return { type: 'invite', token: token[1]! };
  const text = normalizeText(raw);
  const words = text.split(' ').filter(Boolean);
  if (words.length === 0) return { type: 'unknown' };

  const buyAt = words.findIndex((w) => w === 'buy' || w === 'purchase' || w === 'comprar' || w === 'acheter');
  if (buyAt >= 0) return buyIntent(words.slice(buyAt + 1));
  // "<qty> x <name>" and "<qty>x <name>"
  const times = /^(\d{1,3})\s*x\s+(.+)$/.exec(text);
  if (times) return buyIntent([times[1]!, ...times[2]!.split(' ')]);

  // "show <product>" / "search <words>" (a menu word after them still means the menu: "show menu").
  const rest = words.slice(1).filter((w) => !FILLER.has(w) && w !== 'me');
  if ((words[0] === 'show' || words[0] === 'see' || words[0] === 'view') && rest.length && !rest.some((w) => MENU_WORDS.has(w))) return { type: 'show', query: rest.join(' ') };
  if ((words[0] === 'search' || words[0] === 'find') && rest.length && !rest.some((w) => MENU_WORDS.has(w))) return { type: 'search', query: rest.join(' ') };

  if (/^(stop|unsubscribe|stop messages|stop reminders)$/.test(text)) return { type: 'stop' };
  if (/^(order again|reorder|re order|try again)$/.test(text)) return { type: 'order_again' };
  const has = (set: Set<string>) => words.some((w) => set.has(w)) || set.has(text);
  if (words.includes('cancel') || words.includes('cancelar') || words.includes('annuler')) return { type: 'cancel' };
  if (words.includes('status') || words.includes('track') || /\bwhere is my order\b/.test(text)) return { type: 'status' };
  if (words.includes('help') || words.includes('ajuda') || words.includes('ayuda') || words.includes('aide')) return { type: 'help' };
  if (has(MENU_WORDS) || has(GREETINGS)) return { type: 'menu' };
  return { type: 'unknown' };
}

function buyIntent(rest: string[]): Intent {
  let quantity = 1;
  const quantityAt = rest.findIndex((w) => /^\d{1,3}$/.test(w) || w in NUMBER_WORDS);
  if (quantityAt >= 0) {
    const w = rest[quantityAt]!;
    quantity = NUMBER_WORDS[w] ?? Number(w);
    rest = rest.filter((_, i) => i !== quantityAt);
  }
  const query = rest.filter((w) => !FILLER.has(w)).join(' ');
  return query ? { type: 'buy', query, quantity } : { type: 'menu' };
}
