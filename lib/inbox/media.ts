import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { getConfig } from '../config.js';
import { DomainError, notFound } from '../errors.js';
import { log } from '../log.js';
import { downloadMedia, mediaInfo } from './graph.js';
import { mediaMessageQuery } from './store.js';

/**
 * GET /api/media/:id, the media proxy: only media a customer sent us (a conversation_messages row whose content
 * is still kept), fetched from Meta on demand (GET /{media-id} → short-lived URL → download with the bearer
 * token), refused above INBOX_MEDIA_MAX_BYTES or outside the content-type allowlist, and served only to the
 * authenticated admin API (never a public URL). With INBOX_MEDIA_CACHE_DIR a copy is kept on disk (locally
 * under .data/), so it outlives Meta's retention.
 */

export const MEDIA_TYPES = new Set([
  'image/jpeg', 'image/png', 'image/webp',
  'video/mp4', 'video/3gpp',
  'audio/aac', 'audio/amr', 'audio/mpeg', 'audio/mp4', 'audio/ogg',
  'application/pdf', 'text/plain',
  'application/msword', 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  'application/vnd.ms-excel', 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  'application/vnd.ms-powerpoint', 'application/vnd.openxmlformats-officedocument.presentationml.presentation',
]);
/** Types the console shows inline (the rest are downloads). */
const INLINE = /^(image\/(jpeg|png|webp)|video\/mp4|audio\/(aac|mpeg|mp4|ogg))$/;

const baseType = (t: string) => t.split(';')[0]!.trim().toLowerCase();

/** A media file to serve: its bytes, type, a safe file name, and whether the console shows it inline. */
export type MediaFile = { bytes: Uint8Array; type: string; filename: string; inline: boolean };

export async function customerMedia(mediaId: string): Promise<MediaFile> {
  if (!/^[A-Za-z0-9_.-]{1,128}$/.test(mediaId)) throw notFound('media');
  const [row] = await mediaMessageQuery(mediaId);
  if (!row) throw notFound('media');
  const max = getConfig().INBOX_MEDIA_MAX_BYTES;
  const cacheDir = getConfig().INBOX_MEDIA_CACHE_DIR;
  const cached = cacheDir ? await readCache(cacheDir, mediaId) : null;
  let bytes: Uint8Array;
  let type: string;
  if (cached) {
    ({ bytes, type } = cached);
  } else {
    const info = await mediaInfo(mediaId);
    type = baseType(info.mimeType);
    if (!MEDIA_TYPES.has(type)) throw new DomainError('unsupported', 'media_type_refused', `${type} is not served by the console`);
    if (info.fileSize !== null && info.fileSize > max) throw new DomainError('too_large', 'media_too_large', `the file is larger than ${max} bytes`);
    bytes = await downloadMedia(info.url, max);
    if (cacheDir) await writeCache(cacheDir, mediaId, bytes, type);
  }
  const filename = String(row.filename ?? `${row.kind}-${mediaId}`).replace(/[^\w.\- ]/g, '_').slice(0, 100);
  return { bytes, type, filename, inline: INLINE.test(type) };
}

const cachePath = (dir: string, id: string) => path.join(dir, createHash('sha256').update(id).digest('hex'));

async function readCache(dir: string, id: string): Promise<{ bytes: Uint8Array; type: string } | null> {
  try {
    const [bytes, type] = await Promise.all([readFile(cachePath(dir, id)), readFile(`${cachePath(dir, id)}.type`, 'utf8')]);
    return MEDIA_TYPES.has(type) ? { bytes, type } : null;
  } catch {
    return null;
  }
}

async function writeCache(dir: string, id: string, bytes: Uint8Array, type: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
    await writeFile(cachePath(dir, id), bytes);
    await writeFile(`${cachePath(dir, id)}.type`, type);
  } catch (error) {
    log.warn('inbox.media_cache_failed', { error });
  }
}
