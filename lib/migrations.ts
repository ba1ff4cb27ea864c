import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { db, pgErrorCode } from './db.js';

/** migrations/NNN_name.sql, in order. */
export async function migrationFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((f) => /^\d+_.+\.sql$/.test(f)).sort();
}

/**
 * The files already applied: by this runner (schema_migrations, the file name) or by Netlify
 * Database's deploy-time runner (netlify.migrations, the name without `.sql`: it applies the same
 * files, read through netlify/database/migrations, a link to migrations/). Read-only; either table
 * may be absent.
 */
export async function appliedMigrations(): Promise<Set<string>> {
  const sql = db();
  const [tables] = await sql`SELECT to_regclass('public.schema_migrations') IS NOT NULL AS ours, to_regclass('netlify.migrations') IS NOT NULL AS netlify`;
  const reads = [
    ...(tables?.ours ? [sql`SELECT name FROM public.schema_migrations`] : []),
    ...(tables?.netlify ? [sql`SELECT name || '.sql' AS name FROM netlify.migrations`] : []),
  ];
  const results = reads.length ? await sql.transaction(reads, { readOnly: true }) : [];
  return new Set(results.flat().map((r) => (r as { name: string }).name));
}

/** Migration files not applied yet (`npm run doctor`). */
export async function pendingMigrations(dir: string): Promise<{ files: string[]; pending: string[] }> {
  const [files, done] = await Promise.all([migrationFiles(dir), appliedMigrations()]);
  return { files, pending: files.filter((f) => !done.has(f)) };
}

/**
 * Applies migrations/NNN_name.sql in order, each in one transaction together with its
 * schema_migrations row. Safe to run twice and concurrently: a file applied meanwhile by
 * another runner makes this batch fail on the row's primary key and roll back. A file Netlify
 * Database's deploy already applied (netlify.migrations) counts as applied.
 */
export async function migrate(dir: string): Promise<{ applied: string[]; skipped: string[] }> {
  const sql = db();
  // Two runners creating the table at once would race inside Postgres (CREATE TABLE IF NOT EXISTS is not
  // atomic: the loser fails on pg_type's unique index), so the creation is serialised by an advisory lock.
  await sql.transaction([
    sql`SELECT pg_advisory_xact_lock(hashtext('schema_migrations'))`,
    sql`CREATE TABLE IF NOT EXISTS schema_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`,
  ]);
  const done = await appliedMigrations();
  const files = await migrationFiles(dir);
  const applied: string[] = [];
  const skipped: string[] = [];
  for (const file of files) {
    if (done.has(file)) {
      skipped.push(file);
      continue;
    }
    const statements = splitSqlStatements(await readFile(path.join(dir, file), 'utf8'));
    try {
      await sql.transaction([
        sql`INSERT INTO schema_migrations (name) VALUES (${file})`,
        ...statements.map((s) => sql.query(s)),
      ]);
      applied.push(file);
    } catch (error) {
      if (pgErrorCode(error) === '23505') {
        skipped.push(file);
        continue;
      }
      throw new Error(`migration ${file} failed: ${(error as Error).message}`);
    }
  }
  return { applied, skipped };
}

/**
 * Splits a SQL file into statements (Neon's HTTP endpoint runs one statement per query).
 * Knows quotes, identifiers, dollar-quoted bodies and comments, so `;` inside them is safe.
 */
export function splitSqlStatements(text: string): string[] {
  const out: string[] = [];
  let current = '';
  let i = 0;
  while (i < text.length) {
    const ch = text[i]!;
    const rest = text.slice(i);
    if (rest.startsWith('--')) {
      const end = text.indexOf('\n', i);
      i = end === -1 ? text.length : end + 1;
      current += '\n';
      continue;
    }
    if (rest.startsWith('/*')) {
      const end = text.indexOf('*/', i + 2);
      i = end === -1 ? text.length : end + 2;
      current += ' ';
      continue;
    }
    const dollar = /^\$[A-Za-z_]*\$/.exec(rest);
    if (dollar) {
      const end = text.indexOf(dollar[0], i + dollar[0].length);
      const stop = end === -1 ? text.length : end + dollar[0].length;
      current += text.slice(i, stop);
      i = stop;
      continue;
    }
    if (ch === "'" || ch === '"') {
      let j = i + 1;
      while (j < text.length && !(text[j] === ch && text[j + 1] !== ch)) j += text[j] === ch ? 2 : 1;
      current += text.slice(i, j + 1);
      i = j + 1;
      continue;
    }
    if (ch === ';') {
      if (current.trim()) out.push(current.trim());
      current = '';
      i++;
      continue;
    }
    current += ch;
    i++;
  }
  if (current.trim()) out.push(current.trim());
  return out;
}
