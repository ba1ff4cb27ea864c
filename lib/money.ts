/** Money is integer minor units plus an ISO 4217 currency; this turns it into text for people. */

// Building an Intl.NumberFormat costs far more than formatting with one (a menu prices every product): one per
// locale and currency per process. Keyed by what the shop sells in, so a handful at most.
const formats = new Map<string, Intl.NumberFormat>();
const digitsOf = new Map<string, number>();

export function currencyDigits(currency: string): number {
  let digits = digitsOf.get(currency);
  if (digits === undefined) {
    digits = new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits ?? 2;
    digitsOf.set(currency, digits);
  }
  return digits;
}

export function formatMoney(minor: number, currency: string, locale = 'en'): string {
  const digits = currencyDigits(currency);
  const key = `${locale}\u0000${currency}`;
  let format = formats.get(key);
  if (!format) {
    format = new Intl.NumberFormat(locale, { style: 'currency', currency, minimumFractionDigits: digits });
    formats.set(key, format);
  }
  return format.format(minor / 10 ** digits);
}
