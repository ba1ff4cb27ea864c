/**
 * SqlBackend over a real Postgres through `pg` (a connection pool), for the Neon HTTP bridge.
 *
 * Written by hand: the bridge must hand back Postgres's *text* values untouched (the Neon client
 * parses them itself by type OID), so every type parser here is the identity and rows come back
 * as arrays.
 */
import pg from 'pg';
import { transactionModes, type BatchOptions, type SqlBackend, type SqlField, type SqlQuery, type SqlResult } from './neon-http.js';

const identity = (value: string) => value;

export function pgBackend(connectionString: string): SqlBackend {
  const pool = new pg.Pool({
    connectionString,
    max: 10,
    types: { getTypeParser: (() => identity) as pg.CustomTypesConfig['getTypeParser'] },
  });
  // An idle client losing its connection (e.g. Postgres stopped) must not crash the process.
  pool.on('error', () => {});

  const run = async (client: pg.Pool | pg.PoolClient, q: SqlQuery): Promise<SqlResult> => {
    // 'extended' even without params, like Neon: one statement per query, never the simple protocol.
    const config = { text: q.query, values: q.params, rowMode: 'array' as const, queryMode: 'extended' };
    return toResult(await client.query<unknown[]>(config));
  };

  return {
    query: (text, params) => run(pool, { query: text, params }),

    async batch(queries: SqlQuery[], opts: BatchOptions): Promise<SqlResult[]> {
      const client = await pool.connect();
      let broken: Error | undefined;
      try {
        await client.query(`BEGIN ${transactionModes(opts)}`);
        try {
          const results: SqlResult[] = [];
          for (const q of queries) results.push(await run(client, q));
          await client.query('COMMIT');
          return results;
        } catch (err) {
          await client.query('ROLLBACK').catch((rollbackErr: Error) => (broken = rollbackErr));
          throw err;
        }
      } finally {
        client.release(broken);
      }
    },

    close: () => pool.end(),
  };
}

function toResult(r: pg.QueryResult<unknown[]>): SqlResult {
  const fields: SqlField[] = r.fields.map((f) => ({
    name: f.name,
    dataTypeID: f.dataTypeID,
    tableID: f.tableID,
    columnID: f.columnID,
    dataTypeSize: f.dataTypeSize,
    dataTypeModifier: f.dataTypeModifier,
    format: 'text',
  }));
  return { fields, rows: r.rows as (string | null)[][], rowCount: r.rowCount, command: r.command };
}
