/**
 * Shared by `npm run setup` and `npm run doctor`: the report lines, thin Graph and Stripe clients
 * over fetch (nothing logged but statuses and Meta's/Stripe's own error messages, which never
 * contain the token), and reading a variable through lib/config's validation without its value.
 */
import { ConfigError, parseConfig, type Config, type ConfigName } from '../../lib/config.js';
import { redact } from '../../lib/log.js';

export type Level = 'ok' | 'warn' | 'fail' | 'info';
export type Finding = { level: Level; area: string; message: string; fix?: string };

const LABEL: Record<Level, string> = { ok: 'ok  ', warn: 'warn', fail: 'FAIL', info: 'info' };

export class Report {
  readonly findings: Finding[] = [];
  constructor(private readonly out: (line: string) => void = (l) => console.log(l)) {}
  add(level: Level, area: string, message: string, fix?: string): void {
    const f = { level, area, message: redact(message), ...(fix ? { fix: redact(fix) } : {}) };
    this.findings.push(f);
    this.out(`${LABEL[level]}  ${area}: ${f.message}${f.fix ? `\n        → ${f.fix}` : ''}`);
  }
  ok = (area: string, message: string) => this.add('ok', area, message);
  info = (area: string, message: string) => this.add('info', area, message);
  warn = (area: string, message: string, fix?: string) => this.add('warn', area, message, fix);
  fail = (area: string, message: string, fix?: string) => this.add('fail', area, message, fix);
  get failed(): boolean {
    return this.findings.some((f) => f.level === 'fail');
  }
  summary(): string {
    const n = (l: Level) => this.findings.filter((f) => f.level === l).length;
    return `${n('ok')} ok, ${n('warn')} warning(s), ${n('fail')} failure(s)`;
  }
}

type Env = Record<string, string | undefined>;

/** A variable validated as the functions validate it: its value, or the problem (naming it, never its value). */
export function readVar<N extends ConfigName>(env: Env, name: N): { value?: Config[N]; problem?: string; set: boolean } {
  try {
    const value = parseConfig(env, [name])[name];
    return { value, set: value !== undefined };
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return { problem: error.variables.join('; '), set: !/is missing$/.test(error.variables[0] ?? '') };
  }
}

// ---- Graph --------------------------------------------------------------------------------

export type GraphError = { message: string; code?: number; error_subcode?: number; error_user_msg?: string };
export type GraphResult<T> = { ok: true; status: number; body: T } | { ok: false; status: number; error: GraphError };

export function graphClient(base: string, token: string) {
  async function call<T>(method: string, path: string, query: Record<string, string> = {}, body?: unknown, asToken = token): Promise<GraphResult<T>> {
    const u = new URL(`${base.replace(/\/+$/, '')}/${path.replace(/^\//, '')}`);
    for (const [k, v] of Object.entries(query)) u.searchParams.set(k, v);
    let r: Response;
    try {
      r = await fetch(u, {
        method,
        headers: { authorization: `Bearer ${asToken}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(20_000),
      });
    } catch (e) {
      return { ok: false, status: 0, error: { message: `Graph API unreachable: ${(e as Error & { cause?: Error }).cause?.message ?? (e as Error).message}` } };
    }
    const text = await r.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (r.ok) return { ok: true, status: r.status, body: json as T };
    const e = (json as { error?: GraphError } | undefined)?.error;
    return { ok: false, status: r.status, error: e ?? { message: `HTTP ${r.status}` } };
  }
  return {
    get: <T>(path: string, query?: Record<string, string>, asToken?: string) => call<T>('GET', path, query, undefined, asToken),
    post: <T>(path: string, body: unknown, asToken?: string) => call<T>('POST', path, {}, body, asToken),
    /** Every page of a list edge (follows paging.cursors.after while there is a next page). */
    async all<T>(path: string, query: Record<string, string> = {}): Promise<GraphResult<T[]>> {
      const out: T[] = [];
      let after: string | undefined;
      for (let page = 0; page < 50; page++) {
        const r = await call<{ data: T[]; paging?: { next?: string; cursors?: { after?: string } } }>('GET', path, { ...query, ...(after ? { after } : {}) });
        if (!r.ok) return r;
        out.push(...r.body.data);
        after = r.body.paging?.next ? r.body.paging.cursors?.after : undefined;
        if (!after) break;
      }
      return { ok: true, status: 200, body: out };
    },
  };
}

export const describeGraphError = (e: GraphError) => `${e.message}${e.error_user_msg ? ` (${e.error_user_msg})` : ''}`;

/** Meta's "this token is no good" family: 190 (invalid / expired), 102 (session), 463/467 (expired / invalid) subcodes. */
export const isTokenError = (r: { status: number; error: GraphError }) => r.error.code === 190 || r.error.code === 102 || r.status === 401;

// ---- Stripe -------------------------------------------------------------------------------

export type StripeMode = 'live' | 'test' | 'unknown';
export const stripeKeyMode = (key: string): StripeMode => (/^(sk|rk)_live_/.test(key) ? 'live' : /^(sk|rk)_test_/.test(key) ? 'test' : 'unknown');

export async function stripeClient(key: string, apiBase: string | undefined) {
  const { default: Stripe } = await import('stripe');
  const options: ConstructorParameters<typeof Stripe>[1] = { maxNetworkRetries: 1, timeout: 20_000 };
  if (apiBase) {
    const u = new URL(apiBase);
    Object.assign(options, { host: u.hostname, port: Number(u.port || (u.protocol === 'https:' ? 443 : 80)), protocol: u.protocol.replace(':', '') });
  }
  return new Stripe(key, options);
}

export type StripeEndpoint = { id: string; url: string; enabled_events: string[]; livemode: boolean; status: string; secret?: string };

export async function listStripeEndpoints(stripe: Awaited<ReturnType<typeof stripeClient>>): Promise<StripeEndpoint[]> {
  const out: StripeEndpoint[] = [];
  for await (const e of stripe.webhookEndpoints.list({ limit: 100 })) out.push(e as unknown as StripeEndpoint);
  return out;
}

/** The error of a Stripe call in one line (Stripe's messages mask keys). */
export const stripeMessage = (e: unknown) => {
  const err = e as { message?: string; type?: string; statusCode?: number };
  return `${err.message ?? String(e)}${err.statusCode ? ` (HTTP ${err.statusCode})` : ''}`;
};

// ---- The site -----------------------------------------------------------------------------

export const webhookUrl = (site: string) => `${site.replace(/\/+$/, '')}/.netlify/functions/webhook`;
export const paymentCallbackUrl = (site: string) => `${site.replace(/\/+$/, '')}/.netlify/functions/payment-callback`;
export const digits = (s: string) => s.replace(/\D/g, '');
