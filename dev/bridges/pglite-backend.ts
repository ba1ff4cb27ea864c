/**
 * SqlBackend over PGlite (Postgres compiled to WASM, in-process), for the Neon HTTP bridge when
 * no system Postgres is installed.
 *
 * Written by hand: PGlite is a single connection with its own JS parsers/serialisers, while the
 * bridge must pass Postgres's text values through untouched. So every type OID gets an identity
 * parser and a pass-through serialiser (the Neon client already serialised params to text, e.g.
 * bytea as `\x..` which PGlite's own bytea serialiser would reject), and access is serialised:
 * one query or batch at a time.
 */
import { PGlite, type Results, type Transaction } from '@electric-sql/pglite';
import { transactionModes, type BatchOptions, type SqlBackend, type SqlQuery, type SqlResult } from './neon-http.js';

type Runner = Pick<Transaction, 'query'>;

export function pgliteBackend(dataDir?: string): SqlBackend {
  const ready = (async () => {
    const db = dataDir ? new PGlite(dataDir) : new PGlite();
    await db.waitReady;
    const oids = (await db.query<[number]>('select oid::int from pg_type', [], { rowMode: 'array' })).rows.map((r) => r[0]);
    const parsers = Object.fromEntries(oids.map((oid) => [oid, (value: string) => value]));
    const serializers = Object.fromEntries(oids.map((oid) => [oid, (value: unknown) => String(value)]));
    return { db, options: { rowMode: 'array' as const, parsers, serializers } };
  })();
  ready.catch(() => {}); // surfaced on first use, not as an unhandled rejection

  // One query or batch at a time: PGlite is a single session.
  let tail: Promise<unknown> = Promise.resolve();
  function exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = tail.then(fn, fn);
    tail = run.catch(() => {});
    return run;
  }

  async function run(runner: Runner, q: SqlQuery): Promise<SqlResult> {
    const { options } = await ready;
    return toResult(await runner.query<unknown[]>(q.query, q.params, options));
  }

  return {
    query: (text, params) => exclusive(async () => run((await ready).db, { query: text, params })),

    batch: (queries: SqlQuery[], opts: BatchOptions) =>
      exclusive(async () => {
        const { db } = await ready;
        // db.transaction() issues BEGIN, and ROLLBACK if the callback throws.
        return db.transaction(async (tx) => {
          const modes = transactionModes(opts);
          if (modes) await tx.query(`SET TRANSACTION ${modes}`);
          const results: SqlResult[] = [];
          for (const q of queries) results.push(await run(tx, q));
          return results;
        });
      }),

    close: () => exclusive(async () => (await ready).db.close()),
  };
}

function toResult(r: Results<unknown[]>): SqlResult {
  return {
    fields: r.fields.map((f) => ({
      name: f.name,
      dataTypeID: f.dataTypeID,
      tableID: 0,
      columnID: 0,
      dataTypeSize: -1,
      dataTypeModifier: -1,
      format: 'text' as const,
    })),
    rows: r.rows.map((row) => row.map(asText)),
    rowCount: r.rowCount ?? null,
    command: r.command ?? '',
  };
}

/** Guard from the reference: should a parser still slip through (older PGlite parsed json), re-serialise. */
function asText(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return value;
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}
