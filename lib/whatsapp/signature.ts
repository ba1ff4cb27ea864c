import { createHmac, timingSafeEqual } from 'node:crypto';

/** Meta signs the exact request bytes: X-Hub-Signature-256: sha256=<hex HMAC under the app secret>. */
export function verifyMetaSignature(rawBody: Uint8Array, header: string | null, appSecret: string): boolean {
  if (!header || !header.startsWith('sha256=')) return false;
  const given = Buffer.from(header.slice('sha256='.length), 'hex');
  const expected = createHmac('sha256', appSecret).update(rawBody).digest();
  return given.length === expected.length && timingSafeEqual(given, expected);
}
