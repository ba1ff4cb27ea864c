import type { CatalogProductInput } from '../lib/catalog/index.js';

/** What `npm start` sells on a fresh database, so the shop can be tried at once. */
export const demoCatalog: CatalogProductInput[] = [
  { sku: 'TEA-GREEN', name: 'Green tea', description: 'Sencha, 100 g loose leaf', priceMinor: 1299, currency: 'EUR', category: 'Tea', stock: 25 },
  { sku: 'TEA-CHAI', name: 'Masala chai', description: 'Spiced black tea, 100 g', priceMinor: 1150, currency: 'EUR', category: 'Tea', stock: 12 },
  {
    sku: 'HONEY',
    name: 'Wildflower honey',
    description: 'Raw honey from the hills',
    priceMinor: 900,
    currency: 'EUR',
    category: 'Pantry',
    variants: [
      { sku: 'HONEY-250', name: '250 g jar', stock: 20 },
      { sku: 'HONEY-500', name: '500 g jar', priceDeltaMinor: 700, stock: 8 },
    ],
  },
  { sku: 'MUG', name: 'Stoneware mug', description: 'Hand-glazed, 350 ml', priceMinor: 1800, currency: 'EUR', category: 'Kitchen', stock: 5 },
];
