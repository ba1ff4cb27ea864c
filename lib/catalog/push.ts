import { createHash } from 'node:crypto';
import { getConfig } from '../config.js';
import type { Query } from '../db.js';
import { log } from '../log.js';
import { currencyDigits } from '../money.js';
import { availabilityVersion, availableStockIfKnown, markAvailabilityPushed, withLock } from '../stock/index.js';
import { catalogChangedQuery as changedQuery, markPushChecked, recordPushState, variantsWithPushState } from './store.js';

/**
 * Pushes each variant's price and availability to the shop's Meta catalog (WHATSAPP_CATALOG_ID)
 * through the Graph API's catalog batch endpoint, POST /{catalog-id}/items_batch, with
 * retailer id = our SKU, so customers can't order from the WhatsApp catalog what is sold out.
 *
 * Only rows that changed since the last push are sent: catalog_push_state keeps, per SKU, a
 * fingerprint of what Meta was last told (price, currency, availability — `in stock` when the
 * Redis available counter is above zero, `out of stock` otherwise or when the variant is
 * inactive). By default requests are UPDATEs of price and availability only: the items themselves
 * (title, image, link) live in the Meta catalog under the same retailer ids (Commerce Manager or a
 * feed). With CATALOG_PUSH_ITEMS=on the push owns the items: a SKU never pushed is a CREATE, a
 * pushed one an UPDATE, both with title, description, image_link, link (a wa.me chat with the shop
 * prefilled "show <sku>"), brand (SHOP_NAME), product_type (our category) and condition, and the
 * fingerprint covers those fields too (docs/storefront.md).
 * Batches hold at most BATCH_SIZE requests (Meta's limit is 5 000 per call, 3 000
 * recommended); a batch's fingerprints are stored only after Meta accepted it, so a failed
 * batch is simply sent again by the next push. A Redis lock keeps two pushes (admin + cleanup)
 * from overlapping. Callers: POST /api/catalog/sync and the cleanup run (pushCatalogChanges()).
 */

export const BATCH_SIZE = 3000;
const LOCK_MS = 120_000;

export type Availability = 'in stock' | 'out of stock';
export type PushItem = {
  sku: string;
  price: string;
  priceMinor: number;
  currency: string;
  availability: Availability;
  fingerprint: string;
  /** CATALOG_PUSH_ITEMS=on: the item's own fields, and whether Meta has it already (UPDATE) or not (CREATE). */
  item?: { method: 'CREATE' | 'UPDATE'; fields: ItemFields };
};
export type ItemFields = { title: string; description: string; image_link?: string; link: string; brand: string; product_type?: string; condition: 'new' };
export type PushResult =
  | { status: 'pushed'; pushed: number; batches: number; unchanged: number; handles: string[] }
  | { status: 'skipped'; reason: 'no_catalog_configured' | 'push_in_progress' }
  | { status: 'failed'; pushed: number; batches: number; error: string };

/** "12.99 EUR": the price format of Meta's catalog fields. */
export function metaPrice(minor: number, currency: string): string {
  const digits = currencyDigits(currency);
  return `${(minor / 10 ** digits).toFixed(digits)} ${currency}`;
}

const fingerprintOf = (priceMinor: number, currency: string, availability: Availability, item?: ItemFields) =>
  createHash('sha256')
    .update(`${priceMinor}|${currency}|${availability}${item ? `|${JSON.stringify(item)}` : ''}`)
    .digest('hex')
    .slice(0, 32);

/** The item's own fields as Meta's catalog takes them (CATALOG_PUSH_ITEMS=on). */
function itemFields(r: Record<string, unknown>): ItemFields {
  const config = getConfig();
  const productName = String(r.product_name);
  const variantName = String(r.variant_name);
  const title = variantName === productName ? productName : `${productName} (${variantName})`;
  const description = String(r.description ?? '').trim() || title;
  const text = encodeURIComponent(`show ${String(r.sku)}`);
  return {
    title,
    description,
    ...(r.image_url ? { image_link: String(r.image_url) } : {}),
    link: `https://wa.me/${config.WHATSAPP_BUSINESS_NUMBER_E164.replace(/^\+/, '')}?text=${text}`,
    brand: config.SHOP_NAME,
    ...(r.category ? { product_type: String(r.category) } : {}),
    condition: 'new',
  };
}

/**
 * Whether a push may have something to send, as a statement not run yet (the cleanup run sends it with its other
 * reads, one round trip; null: no catalog configured). Availability moved by stock holds is told by Redis
 * (lib/stock lapsedHoldsAndFlips).
 */
export function catalogChangedQuery(): Query | null {
  if (!getConfig().WHATSAPP_CATALOG_ID) return null;
  return changedQuery();
}

/**
 * The variants whose price/currency/availability differ from what Meta was last told; `seen`: per SKU, the version
 * (latest updated_at of the variant and its product) the read saw, recorded as pushed_at once told.
 */
export async function pendingCatalogChanges(): Promise<{ changed: PushItem[]; total: number; seen: Map<string, string>; stale: string[] }> {
  const rows = await variantsWithPushState();
  const items = getConfig().CATALOG_PUSH_ITEMS === 'on';
  const counters = await availableStockIfKnown(rows.map((r) => r.sku as string));
  const changed: PushItem[] = [];
  for (const r of rows) {
    const sku = r.sku as string;
    const currency = String(r.currency).trim();
    const priceMinor = Number(r.price_minor);
    // A missing counter (Redis lost, not yet rebuilt) falls back to the stock on hand.
    const available = counters.get(sku) ?? Number(r.stock);
    const availability: Availability = r.active && available > 0 ? 'in stock' : 'out of stock';
    const fields = items ? itemFields(r) : undefined;
    const fingerprint = fingerprintOf(priceMinor, currency, availability, fields);
    if (fingerprint !== r.pushed) {
      const item = fields ? { item: { method: r.pushed ? ('UPDATE' as const) : ('CREATE' as const), fields } } : {};
      changed.push({ sku, price: metaPrice(priceMinor, currency), priceMinor, currency, availability, fingerprint, ...item });
    }
  }
  const iso = (v: unknown) => (v instanceof Date ? v.toISOString() : String(v));
  return { changed, total: rows.length, seen: new Map(rows.map((r) => [r.sku as string, iso(r.seen_at)])), stale: rows.filter((r) => r.stale === true).map((r) => r.sku as string) };
}

/** Pushes the changed rows to Meta's catalog in batches; see the header. */
export async function pushCatalogChanges(opts: { batchSize?: number } = {}): Promise<PushResult> {
  const catalogId = getConfig().WHATSAPP_CATALOG_ID;
  if (!catalogId) return { status: 'skipped', reason: 'no_catalog_configured' };
  const outcome = await withLock('catalog-push', LOCK_MS, async (): Promise<PushResult> => {
    // Read before the counters: a flip after this read stays due for the next push.
    const version = await availabilityVersion();
    const { changed, total, seen, stale } = await pendingCatalogChanges();
    const size = Math.min(Math.max(1, opts.batchSize ?? BATCH_SIZE), 5000);
    const handles: string[] = [];
    const refused = new Set<string>();
    let pushed = 0;
    let batches = 0;
    for (let i = 0; i < changed.length; i += size) {
      const batch = changed.slice(i, i + size);
      let answer;
      try {
        answer = await postItemsBatch(catalogId, batch);
      } catch (error) {
        log.error('catalog.push_failed', { batch: batches + 1, items: batch.length, error });
        return { status: 'failed', pushed, batches, error: (error as Error).message };
      }
      handles.push(...answer.handles);
      // Items Meta refused at once are not recorded: the next push sends them again.
      const invalid = new Set(answer.invalid);
      if (invalid.size) log.warn('catalog.push_items_refused', { skus: [...invalid].slice(0, 50), count: invalid.size });
      for (const sku of invalid) refused.add(sku);
      await recordPushed(batch.filter((b) => !invalid.has(b.sku)), seen);
      pushed += batch.length - invalid.size;
      batches++;
    }
    // Everything read is now told (refused items excepted: the next push sends them again): no longer due.
    const pushedNow = new Set(changed.map((c) => c.sku));
    await markChecked(stale.filter((sku) => !refused.has(sku) && !pushedNow.has(sku)), seen);
    await markAvailabilityPushed(version);
    log.info('catalog.pushed', { pushed, batches, unchanged: total - changed.length });
    return { status: 'pushed', pushed, batches, unchanged: total - changed.length, handles };
  });
  return outcome === 'locked' ? { status: 'skipped', reason: 'push_in_progress' } : outcome;
}

async function postItemsBatch(catalogId: string, items: PushItem[]): Promise<{ handles: string[]; invalid: string[] }> {
  const config = getConfig();
  const response = await fetch(`${config.WHATSAPP_API_BASE}/${catalogId}/items_batch`, {
    method: 'POST',
    headers: { authorization: `Bearer ${config.WHATSAPP_ACCESS_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      item_type: 'PRODUCT_ITEM',
      requests: items.map((it) => ({
        method: it.item?.method ?? 'UPDATE',
        data: { id: it.sku, ...(it.item?.fields ?? {}), price: it.price, availability: it.availability },
      })),
    }),
    signal: AbortSignal.timeout(30_000),
  });
  const json = (await response.json().catch(() => null)) as {
    handles?: string[];
    validation_status?: { retailer_id?: string; errors?: unknown[] }[];
    error?: { code?: number; message?: string };
  } | null;
  if (!response.ok) throw new Error(`items_batch HTTP ${response.status}${json?.error?.code ? ` code ${json.error.code}` : ''}: ${json?.error?.message ?? response.statusText}`);
  const invalid = (json?.validation_status ?? []).filter((v) => v.retailer_id && v.errors?.length).map((v) => v.retailer_id!);
  return { handles: json?.handles ?? [], invalid };
}

/** `seen`: the version of each SKU the push read (a change after it stays due: catalogChangedQuery). */
async function recordPushed(items: PushItem[], seen: Map<string, string>): Promise<void> {
  if (items.length === 0) return;
  await recordPushState(items.map((i) => ({ sku: i.sku, fingerprint: i.fingerprint, availability: i.availability, seen_at: seen.get(i.sku) ?? null })));
}

/** Rows read unchanged: checked at the version the read saw (catalogChangedQuery no longer finds them due). */
async function markChecked(skus: string[], seen: Map<string, string>): Promise<void> {
  if (skus.length === 0) return;
  await markPushChecked(skus.map((sku) => ({ sku, seen_at: seen.get(sku)! })));
}
