import { describe, expect, it } from 'vitest';
import type { Variant } from '../lib/catalog/index.js';
import { findVariant } from '../lib/conversation/find-variant.js';
import { parseIntent } from '../lib/conversation/intents.js';

describe('parseIntent', () => {
  it.each([
    ['hi', { type: 'menu' }],
    ['Hello there!', { type: 'menu' }],
    ['MENÚ', { type: 'menu' }],
    ['show me the catalog please', { type: 'menu' }],
    ['help', { type: 'help' }],
    ['Status?', { type: 'status' }],
    ['where is my order', { type: 'status' }],
    ['please CANCEL it', { type: 'cancel' }],
    ['buy TEA-1', { type: 'buy', query: 'tea-1', quantity: 1 }],
    ['Buy green tea 3', { type: 'buy', query: 'green tea', quantity: 3 }],
    ['I want to buy 2 green teas please', { type: 'buy', query: 'green teas', quantity: 2 }],
    ['buy two mugs', { type: 'buy', query: 'mugs', quantity: 2 }],
    ['2 x Mug', { type: 'buy', query: 'mug', quantity: 2 }],
    ['3x chá verde', { type: 'buy', query: 'cha verde', quantity: 3 }],
    ['comprar té verde 2', { type: 'buy', query: 'te verde', quantity: 2 }],
    ["Hi, I'm contacting on behalf of order ABCD2345. Token: AbCdEfGhIjKlMnOpQrStUvWxYz012345", { type: 'invite', token: 'AbCdEfGhIjKlMnOpQrStUvWxYz012345' }],
    ['what is the meaning of life', { type: 'unknown' }],
    ['   ', { type: 'unknown' }],
  ])('%s', (text, expected) => {
    expect(parseIntent(text)).toEqual(expected);
  });
});

const v = (sku: string, productName: string, variantName = productName): Variant => ({
  id: sku, sku, productName, variantName, displayName: variantName === productName ? productName : `${productName} (${variantName})`,
  description: '', priceMinor: 100, currency: 'EUR', stock: 1, category: '', imageUrl: null,
});

describe('findVariant', () => {
  const catalog = [v('TEA-1', 'Green tea'), v('TEA-1-L', 'Green tea', 'Large'), v('CHA-1', 'Chá verde'), v('MUG-1', 'Mug')];
  it('matches an exact SKU, case-insensitively', () => expect(findVariant(catalog, 'tea-1-l')?.sku).toBe('TEA-1-L'));
  it('prefers the least specific name match', () => expect(findVariant(catalog, 'green tea')?.sku).toBe('TEA-1'));
  it('needs every word and ignores accents and plurals', () => {
    expect(findVariant(catalog, 'large green tea')?.sku).toBe('TEA-1-L');
    expect(findVariant(catalog, 'cha verde')?.sku).toBe('CHA-1');
    expect(findVariant(catalog, 'mugs')?.sku).toBe('MUG-1');
    expect(findVariant(catalog, 'black tea')).toBeNull();
  });
});
