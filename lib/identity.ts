/**
 * Who a WhatsApp user is. Meta identifies a user by their phone (wa_id: E.164 digits without +),
 * by a business-scoped user ID (BSUID, `user_id`, e.g. US.13491208655302741918; parent BSUIDs look
 * like US.ENT.…), or both. Users with a username may be known only by their BSUID.
 */
export type WaIdentity = { waId: string | null; userId: string | null };

/** Two letters, a dot, then up to 128 alphanumerics (a parent BSUID has `ENT.` in between). */
export const BSUID_PATTERN = /^[A-Z]{2}\.(ENT\.)?[A-Za-z0-9]{1,128}$/;
export const WA_ID_PATTERN = /^[1-9]\d{7,14}$/;

export const isBsuid = (s: string): boolean => BSUID_PATTERN.test(s);

/** Where a send goes: Meta's `to` for a phone (preferred whenever known), else `recipient` (a BSUID). */
export type SendAddress = { to: string } | { recipient: string };

export function sendAddressOf(identity: WaIdentity): SendAddress | null {
  if (identity.waId) return { to: identity.waId };
  if (identity.userId) return { recipient: identity.userId };
  return null;
}
