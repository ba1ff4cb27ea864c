import { configuredSecrets, logLevel, type LogLevel } from './config.js';

/**
 * Structured JSON logs, one line per event. Callers pass facts, never secrets: use maskPhone()
 * for numbers and never log tokens or raw payloads. As a last line of defence every line goes
 * through redact(): a third-party error that quotes a connection string, a token or a key
 * (the Neon driver, fetch, stripe) is logged without it.
 */
type Level = Exclude<LogLevel, 'silent'>;
const order: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

/** LOG_LEVEL through lib/config.ts (no zod, never throws: a log line must not wait for validation). */
const threshold = (): number => order[logLevel()];

function write(level: Level, event: string, fields: Record<string, unknown> = {}): void {
  if (order[level] < threshold()) return;
  const line = redact(JSON.stringify({ level, event, time: new Date().toISOString(), ...fields }, (_k, v) =>
    v instanceof Error ? { name: v.name, message: v.message, code: (v as { code?: unknown }).code, cause: causeOf(v) } : v,
  ));
  (level === 'error' || level === 'warn' ? console.error : console.log)(line);
}

/** The innermost cause's message (e.g. ECONNREFUSED behind "fetch failed"), without stack or data. */
function causeOf(error: Error): string | undefined {
  let cause = (error as { cause?: unknown; sourceError?: unknown }).cause ?? (error as { sourceError?: unknown }).sourceError;
  let last: string | undefined;
  for (let depth = 0; cause instanceof Error && depth < 5; depth++) {
    last = `${(cause as { code?: string }).code ?? cause.name}: ${cause.message}`;
    cause = (cause as { cause?: unknown }).cause;
  }
  return last;
}

/** Credentials in URLs, bearer/basic tokens, API keys of Stripe and Meta, secret query parameters. */
const patterns: [RegExp, string][] = [
  [/\b([a-z][a-z0-9+.-]*:\/\/)[^\s"'<>@]*@/gi, '$1[redacted]@'],
  [/\b(postgres(?:ql)?:\/\/)[^\s"'<>]*/gi, '$1[redacted]'],
  [/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/g, '$1 [redacted]'],
  [/\b(sk|rk|pk)_(live|test)_[A-Za-z0-9_]+/g, '$1_$2_[redacted]'],
  [/\b(sk|rk)_[A-Za-z0-9]{16,}/g, '$1_[redacted]'],
  [/\bwhsec_[A-Za-z0-9_]+/g, 'whsec_[redacted]'],
  [/\bEAA[A-Za-z0-9]{16,}/g, 'EAA[redacted]'],
  [/([?&](?:access_token|token|key|api_key|apikey|password|secret|signature|client_secret)=)[^&\s"'#]+/gi, '$1[redacted]'],
];

/**
 * Removes secrets from a text: the configured secret values (lib/config.ts `secretVariables`),
 * raw and as they appear inside JSON, then anything that looks like a credential.
 */
export function redact(text: string): string {
  let out = text;
  for (const { name, value } of configuredSecrets()) {
    if (value.length < 6) continue;
    for (const form of new Set([value, JSON.stringify(value).slice(1, -1)])) out = out.split(form).join(`[redacted ${name}]`);
  }
  for (const [pattern, replacement] of patterns) out = out.replace(pattern, replacement);
  return out;
}

export const log = {
  debug: (event: string, fields?: Record<string, unknown>) => write('debug', event, fields),
  info: (event: string, fields?: Record<string, unknown>) => write('info', event, fields),
  warn: (event: string, fields?: Record<string, unknown>) => write('warn', event, fields),
  error: (event: string, fields?: Record<string, unknown>) => write('error', event, fields),
};

/** +4915112345678 → +49******5678: enough to tell customers apart in logs, not enough to call them. A BSUID is masked too. */
export function maskPhone(phone: string | null | undefined): string {
  if (!phone) return '';
  if (/[A-Za-z]/.test(phone)) return maskBsuid(phone);
  const digits = phone.replace(/\D/g, '');
  if (digits.length <= 6) return '***';
  return `+${digits.slice(0, 2)}${'*'.repeat(digits.length - 6)}${digits.slice(-4)}`;
}

/** US.13491208655302741918 → US.****************1918 (a BSUID identifies a person like a phone does). */
export function maskBsuid(bsuid: string | null | undefined): string {
  if (!bsuid) return '';
  const dot = bsuid.lastIndexOf('.');
  const prefix = bsuid.slice(0, dot + 1);
  const id = bsuid.slice(dot + 1);
  return id.length <= 6 ? `${prefix}***` : `${prefix}${'*'.repeat(id.length - 4)}${id.slice(-4)}`;
}

/** The masked phone when known, else the masked BSUID. */
export function maskIdentity(identity: { waId?: string | null; userId?: string | null }): string {
  return identity.waId ? maskPhone(identity.waId) : maskBsuid(identity.userId);
}
