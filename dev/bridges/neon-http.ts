/**
 * Local stand-in for Neon's HTTP SQL endpoint (`POST /sql`), so the unmodified
 * `@neondatabase/serverless` `neon()` driver can run against a local Postgres or PGlite.
 *
 * Written by hand because the production client only speaks HTTP+JSON while Postgres speaks
 * its own wire protocol; this file translates between the two. Wire format: see
 * docs/local-wire-formats.md ("Neon HTTP").
 *
 * Point the driver here with `neonConfig.fetchEndpoint = bridge.url`. The host in the
 * `Neon-Connection-String` header is ignored: the backend decides where queries go.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { faults } from '../faults.js';

/** One column description, as Neon returns it (the client reads `name` and `dataTypeID`). */
export interface SqlField {
  name: string;
  dataTypeID: number;
  tableID: number;
  columnID: number;
  dataTypeSize: number;
  dataTypeModifier: number;
  format: 'text';
}

/** One statement's result: every value is Postgres's text form (or null); the client parses it. */
export interface SqlResult {
  fields: SqlField[];
  rows: (string | null)[][];
  rowCount: number | null;
  command: string;
}

export interface SqlQuery {
  query: string;
  params: unknown[];
}

export type IsolationLevel = 'Serializable' | 'ReadUncommitted' | 'ReadCommitted' | 'RepeatableRead';

export interface BatchOptions {
  isolationLevel?: IsolationLevel;
  readOnly?: boolean;
  deferrable?: boolean;
}

/** Where the bridge sends SQL: a real Postgres (pg-backend.ts) or PGlite (pglite-backend.ts). */
export interface SqlBackend {
  query(text: string, params: unknown[]): Promise<SqlResult>;
  /** All queries in one transaction; rolled back (and the error rethrown) on the first failure. */
  batch(queries: SqlQuery[], opts: BatchOptions): Promise<SqlResult[]>;
  close(): Promise<void>;
}

export interface NeonHttpBridge {
  /** e.g. http://127.0.0.1:PORT/sql, for `neonConfig.fetchEndpoint`. */
  url: string;
  port: number;
  /** `requests`: HTTP round trips (one per POST); `queries`: SQL statements executed. */
  stats: { requests: number; queries: number };
  resetStats(): void;
  close(): Promise<void>;
}

const ISOLATION_SQL: Record<IsolationLevel, string> = {
  Serializable: 'SERIALIZABLE',
  RepeatableRead: 'REPEATABLE READ',
  ReadCommitted: 'READ COMMITTED',
  ReadUncommitted: 'READ UNCOMMITTED',
};

/** Transaction modes for a batch ("ISOLATION LEVEL ..., READ ONLY"), or '' for the defaults. */
export function transactionModes(opts: BatchOptions): string {
  const parts: string[] = [];
  if (opts.isolationLevel) parts.push(`ISOLATION LEVEL ${ISOLATION_SQL[opts.isolationLevel]}`);
  if (opts.readOnly !== undefined) parts.push(opts.readOnly ? 'READ ONLY' : 'READ WRITE');
  if (opts.deferrable !== undefined) parts.push(opts.deferrable ? 'DEFERRABLE' : 'NOT DEFERRABLE');
  return parts.join(', ');
}

/** Error fields the Neon client copies onto `NeonDbError` (same names as pg's DatabaseError). */
const ERROR_FIELDS = [
  'severity', 'code', 'detail', 'hint', 'position', 'internalPosition', 'internalQuery', 'where',
  'schema', 'table', 'column', 'dataType', 'constraint', 'file', 'line', 'routine',
] as const;

class BadRequest extends Error {}

export async function startNeonHttpBridge(opts: {
  backend: SqlBackend;
  port?: number;
  host?: string;
}): Promise<NeonHttpBridge> {
  const { backend } = opts;
  const host = opts.host ?? '127.0.0.1';
  const stats = { requests: 0, queries: 0 };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => sendError(res, err));
  });
  // The driver (undici's fetch) drops idle connections itself (after 4 s); were the bridge to close them too (Node's
  // default: after 5 s idle, announced to the client), one could close just as the driver reused it: ECONNRESET, a
  // 500 to the caller. 0: the bridge never closes an idle connection (stop() closes them all).
  server.keepAliveTimeout = 0;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'POST' || path !== '/sql') {
      return sendJson(res, 404, { message: `not found: ${req.method} ${path} (POST /sql only)` });
    }
    if (!faults.intercept('postgres', req, res)) return;
    stats.requests++;
    const body = parseBody(await readBody(req));
    faults.label(req, isObject(body) && Array.isArray(body.queries) ? `transaction: ${body.queries.map((q) => (isObject(q) ? String(q.query) : '')).join('; ')}` : isObject(body) ? String(body.query) : '');
    if (!(await faults.gate(req, res))) return;
    const arrayMode = header(req, 'neon-array-mode') !== 'false';

    if (isObject(body) && Array.isArray(body.queries)) {
      const queries = body.queries.map(toQuery);
      const batchOpts = batchOptions(req);
      stats.queries += queries.length;
      const results = await backend.batch(queries, batchOpts);
      return sendJson(res, 200, { results: results.map((r) => shape(r, arrayMode)) });
    }
    const q = toQuery(body);
    stats.queries++;
    return sendJson(res, 200, shape(await backend.query(q.query, q.params), arrayMode));
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://${host}:${port}/sql`,
    port,
    stats,
    resetStats() {
      stats.requests = 0;
      stats.queries = 0;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}

function shape(r: SqlResult, arrayMode: boolean) {
  const rows = arrayMode ? r.rows : r.rows.map((row) => Object.fromEntries(r.fields.map((f, i) => [f.name, row[i]])));
  return { fields: r.fields, rows, rowCount: r.rowCount, command: r.command, rowAsArray: arrayMode };
}

function batchOptions(req: IncomingMessage): BatchOptions {
  const opts: BatchOptions = {};
  const iso = header(req, 'neon-batch-isolation-level');
  if (iso !== undefined) {
    if (!Object.hasOwn(ISOLATION_SQL, iso)) throw new BadRequest(`invalid Neon-Batch-Isolation-Level: ${iso}`);
    opts.isolationLevel = iso as IsolationLevel;
  }
  const readOnly = bool(header(req, 'neon-batch-read-only'), 'Neon-Batch-Read-Only');
  if (readOnly !== undefined) opts.readOnly = readOnly;
  const deferrable = bool(header(req, 'neon-batch-deferrable'), 'Neon-Batch-Deferrable');
  if (deferrable !== undefined) opts.deferrable = deferrable;
  return opts;
}

function bool(value: string | undefined, name: string): boolean | undefined {
  if (value === undefined) return undefined;
  if (value === 'true' || value === 'false') return value === 'true';
  throw new BadRequest(`invalid ${name}: ${value}`);
}

function toQuery(q: unknown): SqlQuery {
  if (!isObject(q) || typeof q.query !== 'string') throw new BadRequest('expected {"query": string, "params": [...]}');
  const params = q.params ?? [];
  if (!Array.isArray(params)) throw new BadRequest('"params" must be an array');
  return { query: q.query, params };
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function parseBody(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new BadRequest('request body is not valid JSON');
  }
}

/** Postgres errors (they carry a SQLSTATE `code`) and bad requests → 400 like Neon; anything else → 500. */
function sendError(res: ServerResponse, err: unknown): void {
  const e = (err ?? {}) as Record<string, unknown>;
  const message = err instanceof Error ? err.message : String(err);
  const isDbError = typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code);
  if (!isDbError && !(err instanceof BadRequest)) return sendJson(res, 500, { message });
  const body: Record<string, unknown> = { message };
  for (const field of ERROR_FIELDS) if (e[field] !== undefined) body[field] = e[field];
  sendJson(res, 400, body);
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return void res.end();
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
