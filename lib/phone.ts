/** Phones are E.164 (+ and 8–15 digits). WhatsApp ids (wa_id) are the same digits without the +. */
const E164 = /^\+[1-9]\d{7,14}$/;

export function normalizePhone(input: string): string | null {
  const trimmed = input.trim().replace(/[\s\-().]/g, '');
  const candidate = trimmed.startsWith('00') ? `+${trimmed.slice(2)}` : trimmed.startsWith('+') ? trimmed : `+${trimmed}`;
  return E164.test(candidate) ? candidate : null;
}

export const waIdToE164 = (waId: string): string => `+${waId}`;
export const e164ToWaId = (phone: string): string => phone.replace(/^\+/, '');
