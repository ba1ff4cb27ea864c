/**
 * One owner per table (issue 24): a store module per table family is the only place with SQL for it; the
 * other modules call its typed statements or fuse its statement parts (`…_SQL`). The tables are read from
 * migrations/ (every CREATE TABLE, plus lib/migrations.ts's own schema_migrations), so a new table is covered at
 * once: it fails here until it is given an owner. SQL is found in the literal text of lib/, netlify/ and
 * backend/ (tagged templates db()`…`, strings passed to db().query or db().unsafe, fragments), comments
 * excluded: a table is named when it follows FROM, JOIN, INTO, UPDATE, TABLE, TRUNCATE, LOCK, COPY,
 * REFERENCES or USING (any case, schema-qualified or quoted); a literal is SQL when it holds a statement
 * keyword (SELECT, INSERT INTO, UPDATE … SET, DELETE FROM, RETURNING, ON CONFLICT) or a cast (::jsonb, ::uuid…).
 *
 * The rule:
 *   (a) SQL of any kind only in a store: a table's OWNER, a part of it (STORE_PARTS), or a READ_MODEL (a console
 *       list or view over several families, a store of its own that owns no table and only reads);
 *   (b) a WRITE of table T (INSERT INTO / UPDATE / DELETE FROM / TRUNCATE / LOCK / COPY / ALTER, CREATE, DROP TABLE)
 *       only in T's owner (or its parts);
 *   (c) a READ of T (FROM / JOIN) in its owner, or in another store that joins it into its own read (READS);
 *   anything else would be an exception of NEXT_WAVE, named with its reason: none is left (the stock rebuild's two
 *   reads are a read model of their own, lib/stock/rebuild-store.ts).
 * Every entry of READS and NEXT_WAVE must still be true (a stale one fails), so the lists only shrink.
 * The map is documented in docs/architecture.md ("Who owns each table and key").
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** table → the one store module with its SQL (its writes, and its reads but for READS). */
const OWNER: Record<string, string> = {
  products: 'lib/catalog/store.ts',
  variants: 'lib/catalog/store.ts',
  catalog_push_state: 'lib/catalog/store.ts',
  customers: 'lib/customers/store.ts',
  customer_identity_events: 'lib/customers/store.ts',
  invite_tokens: 'lib/invites/store.ts',
  invite_contacts: 'lib/invites/store.ts',
  order_events: 'lib/orders/store.ts', // events.ts: an order's history, written with its transitions
  conversations: 'lib/inbox/store.ts',
  conversation_messages: 'lib/inbox/store.ts',
  waitlist_entries: 'lib/waitlist/store.ts',
  admin_requests: 'lib/orders/store.ts', // store-answers.ts: a staff action's answer, stored with the order's change
  ops_alerts: 'lib/alerts/ops-alerts.ts',
  payments: 'lib/admin/payments-store.ts',
  stripe_refunds: 'lib/orders/store.ts', // store-refunds.ts: a refund is recorded with the order's transition
  schema_migrations: 'lib/migrations.ts',
  orders: 'lib/orders/store.ts',
  outbound_messages: 'lib/messaging/outbox-store.ts',
  inbound_events: 'lib/inbound/store.ts', // Meta's and Stripe's events: recorded, processed, re-driven
};

/**
 * A store split into files by concern (no file over 300 lines): each part counts as the store it belongs to,
 * here and in READS / NEXT_WAVE.
 */
const STORE_PARTS: Record<string, string> = {
  'lib/orders/events.ts': 'lib/orders/store.ts', // order_events: the history, its parts fused into the transitions
  'lib/orders/store-answers.ts': 'lib/orders/store.ts', // admin_requests: staff answers bound to the order's state
  'lib/orders/store-order.ts': 'lib/orders/store.ts', // the Order row: type, columns, mapping, plain reads
  'lib/orders/store-close.ts': 'lib/orders/store.ts',
  'lib/orders/store-fulfilment.ts': 'lib/orders/store.ts',
  'lib/orders/store-refunds.ts': 'lib/orders/store.ts',
  'lib/orders/store-reminders.ts': 'lib/orders/store.ts', // due reminders, the reminder decision, the hold extension
  'lib/orders/store-console.ts': 'lib/orders/store.ts', // the console's order view and order list (the orders read model)
  'lib/orders/store-place.ts': 'lib/orders/store.ts', // placing an order: step 1's read (fused by the inbound recording statement), step 4's write
  'lib/orders/store-jobs.ts': 'lib/orders/store.ts', // the cleanup's due work, the offline payment's order lookup, the stock rebuild's holds
  'lib/inbox/store-maintenance.ts': 'lib/inbox/store.ts', // retention and unanswered conversations (the cleanup run)
};

/**
 * Console read models over several families that belong to no one table: stores of their own, named `*-store.ts`,
 * owning no table (never a write), each table they read listed in READS.
 */
const READ_MODELS = ['lib/admin/alerts-store.ts', 'lib/admin/second-chances-store.ts', 'lib/stock/rebuild-store.ts'];

/** Reads of a table joined into another store's own read (never a write): table → those stores. */
const READS: Record<string, string[]> = {
  customers: [
    'lib/inbox/store.ts', // a conversation is a customer
    'lib/invites/store.ts', // contacts
    'lib/waitlist/store.ts', // who is waiting
    'lib/orders/store.ts', // an order's customer (orderColumns)
    'lib/admin/payments-store.ts', // a payment with its order
    'lib/messaging/outbox-store.ts', // a message's recipient
    'lib/admin/alerts-store.ts',
  ],
  invite_tokens: ['lib/inbox/store.ts'], // the orders a conversation is linked to as an invited contact
  invite_contacts: ['lib/inbox/store.ts'],
  orders: [
    'lib/inbox/store.ts', // a conversation's linked orders; the unanswered alert's order
    'lib/invites/store.ts', // the order of an invite
    'lib/admin/payments-store.ts',
    'lib/alerts/ops-alerts.ts', // an alert's order reference
    'lib/admin/alerts-store.ts',
    'lib/admin/second-chances-store.ts', // recoveries
    'lib/stock/rebuild-store.ts', // a lost counter's live holds
  ],
  outbound_messages: [
    'lib/orders/store.ts', // the reminder cap, a refund's notice
    'lib/inbox/store.ts', // the thread's outbound side
    'lib/waitlist/store.ts', // the proactive-message cap
    'lib/admin/alerts-store.ts', // failed messages
  ],
  variants: [
    'lib/orders/store.ts', // the stock rebuild's on-hand units, read with the live holds
    'lib/stock/rebuild-store.ts', // a lost counter's units on hand
  ],
};

/** SQL not in its store yet, each with the file it is in and why it stays (`*`: SQL naming no table). */
const NEXT_WAVE: { table: string; file: string; why: string }[] = [];

// ---------------------------------------------------------------------------------------------------------

const CREATE_TABLE = /\bCREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(?:public\.)?"?(\w+)"?/gi;

/** Every table of migrations/ (and lib/migrations.ts's bookkeeping table). */
function tables(): string[] {
  const dir = path.join(root, 'migrations');
  const names = new Set<string>();
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.sql'))) {
    const sql = readFileSync(path.join(dir, f), 'utf8').replace(/--.*$/gm, '');
    for (const m of sql.matchAll(CREATE_TABLE)) names.add(m[1]!.toLowerCase());
  }
  for (const text of literals(readFileSync(path.join(root, 'lib/migrations.ts'), 'utf8'))) {
    for (const m of text.matchAll(CREATE_TABLE)) names.add(m[1]!.toLowerCase());
  }
  return [...names].sort();
}

/** Whether a `/` at `i` starts a regex literal (not a division): what precedes it is an operator, a bracket or a keyword. */
function regexMayStart(src: string, i: number): boolean {
  let j = i - 1;
  while (j >= 0 && /\s/.test(src[j]!)) j--;
  if (j < 0) return true;
  if ('(,=:[!&|?{};+-*%<>~^'.includes(src[j]!)) return true;
  return /\b(?:return|typeof|case|in|of|void|throw|yield|await)$/.test(src.slice(Math.max(0, j - 6), j + 1));
}

/**
 * The literal text of a TypeScript source: its quoted strings and template literals (an interpolation
 * `${…}` becomes ` $_ `, its own literals are collected too), without comments or code.
 */
export function literals(src: string): string[] {
  const out: string[] = [];
  const open: { text: string; depth: number }[] = []; // template literals being read, innermost last
  let i = 0;
  const readTemplate = () => {
    const t = open[open.length - 1]!;
    while (i < src.length) {
      const c = src[i]!;
      if (c === '\\') {
        t.text += src[i + 1] ?? '';
        i += 2;
      } else if (c === '`') {
        out.push(open.pop()!.text);
        i++;
        return;
      } else if (c === '$' && src[i + 1] === '{') {
        i += 2;
        return;
      } else {
        t.text += c;
        i++;
      }
    }
  };
  while (i < src.length) {
    const c = src[i]!;
    const next = src[i + 1];
    if (c === '/' && next === '/') {
      while (i < src.length && src[i] !== '\n') i++;
    } else if (c === '/' && next === '*') {
      const end = src.indexOf('*/', i + 2);
      i = end < 0 ? src.length : end + 2;
    } else if (c === "'" || c === '"') {
      let s = '';
      i++;
      while (i < src.length && src[i] !== c && src[i] !== '\n') {
        if (src[i] === '\\') {
          s += src[i + 1] ?? '';
          i += 2;
        } else s += src[i++];
      }
      out.push(s);
      i++;
    } else if (c === '/' && regexMayStart(src, i)) {
      // A regex literal (its quotes and backticks are not strings): skipped to its closing slash.
      let inClass = false;
      i++;
      while (i < src.length && src[i] !== '\n' && (inClass || src[i] !== '/')) {
        if (src[i] === '\\') i++;
        else if (src[i] === '[') inClass = true;
        else if (src[i] === ']') inClass = false;
        i++;
      }
      i++;
    } else if (c === '`') {
      open.push({ text: '', depth: 0 });
      i++;
      readTemplate();
    } else if (open.length && c === '{') {
      open[open.length - 1]!.depth++;
      i++;
    } else if (open.length && c === '}') {
      i++;
      const t = open[open.length - 1]!;
      if (t.depth === 0) {
        t.text += ' $_ ';
        readTemplate();
      } else t.depth--;
    } else i++;
  }
  // A template left open means the scan lost track (a backtick in a regex literal, say): fail rather than miss SQL.
  if (open.length) throw new Error('unbalanced template literal: the SQL scan cannot read this file');
  return out;
}

type Use = { table: string; write: boolean };

const NAMED = /\b(INSERT\s+INTO|UPDATE|DELETE\s+FROM|TRUNCATE(?:\s+TABLE)?|LOCK(?:\s+TABLE)?|COPY|(?:ALTER|CREATE|DROP)\s+TABLE(?:\s+IF\s+(?:NOT\s+)?EXISTS)?|FROM|JOIN|REFERENCES|USING|INTO)\s+(?:ONLY\s+)?(?:public\.)?"?([A-Za-z_]\w*)"?/gi;

/** The tables a piece of source names in SQL, each with whether it writes them. */
export function tablesNamed(src: string, known: Set<string>): Use[] {
  const uses = new Map<string, boolean>();
  for (const text of literals(src)) {
    for (const m of text.matchAll(NAMED)) {
      const table = m[2]!.toLowerCase();
      if (!known.has(table)) continue;
      const write = !/^(FROM|JOIN|REFERENCES|USING)$/i.test(m[1]!);
      uses.set(table, (uses.get(table) ?? false) || write);
    }
  }
  return [...uses].map(([table, write]) => ({ table, write }));
}

/** The production source: lib/, and the functions and the backend (which must hold no SQL at all: no store is there). */
function sourceFiles(dir: string): string[] {
  return readdirSync(path.join(root, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory()) return e.name === 'node_modules' ? [] : sourceFiles(rel);
    return /\.(ts|mts|js|mjs)$/.test(e.name) ? [rel] : [];
  });
}
const SCANNED = ['lib', 'netlify', 'backend'];

/** A literal that is SQL (of any kind, naming a table or not): a statement keyword or a cast. */
const SQLISH = /\b(?:SELECT|INSERT\s+INTO|DELETE\s+FROM|RETURNING|ON\s+CONFLICT)\b|\bUPDATE\s+[\w.]+(?:\s+\w+)?\s+SET\b|::(?:jsonb|json|uuid|text|int|bigint|timestamptz)\b/;

/** Whether a piece of source holds SQL at all. */
export const holdsSql = (src: string) => literals(src).some((t) => SQLISH.test(t));

/** `table` `*`: SQL naming no known table (or any SQL: a file with SQL gets one). */
type Finding = { table: string; file: string; write: boolean };

const ALL_STORES = new Set([...Object.values(OWNER), ...Object.keys(STORE_PARTS), ...READ_MODELS]);
const isStore = (file: string) => ALL_STORES.has(file);

function findings(): Finding[] {
  const known = new Set(tables());
  return SCANNED.flatMap((dir) => sourceFiles(dir)).flatMap((file) => {
    try {
      const src = readFileSync(path.join(root, file), 'utf8');
      const store = STORE_PARTS[file] ?? file;
      const uses: Finding[] = tablesNamed(src, known).map((u) => ({ ...u, file: store }));
      return holdsSql(src) ? [...uses, { table: '*', file: store, write: false }] : uses;
    } catch (error) {
      throw new Error(`${file}: ${(error as Error).message}`);
    }
  });
}

/** Why a finding breaks the rule, or null: (a) SQL outside a store, (b) a write outside the owner, (c) a read not listed. */
function broken(f: Finding): string | null {
  if (!isStore(f.file)) return NEXT_WAVE.some((e) => e.file === f.file) ? null : 'SQL outside a store';
  if (f.table === '*' || OWNER[f.table] === f.file) return null;
  if (NEXT_WAVE.some((e) => e.table === f.table && e.file === f.file)) return null;
  if (f.write) return 'write outside its owner';
  return READS[f.table]?.includes(f.file) ? null : 'read not in READS';
}

/** Findings the map does not allow (as `table file (write|read): why`). */
function violations(found: Finding[]): string[] {
  return found
    .flatMap((f) => {
      const why = broken(f);
      return why ? [`${f.table} ${f.file} (${f.write ? 'write' : 'read'}): ${why}`] : [];
    })
    .filter((v, i, all) => all.indexOf(v) === i)
    .sort();
}

describe('one owner per table', () => {
  const known = new Set(tables());

  it('finds table names in SQL, not in comments or longer identifiers', () => {
    const src = [
      '// SELECT * FROM orders (a comment)',
      "const a = db()`SELECT v.sku FROM variants v JOIN products p ON p.id = v.product_id WHERE v.sku = ${sku}`;",
      "const b = `WITH x AS (${db().unsafe(`INSERT INTO order_events (order_id) VALUES ($1)`)}) SELECT 1`;",
      "const c = db().query('update  customers SET unreachable_at = now() WHERE id = $1', [id]);",
      "const e = `DELETE FROM orders_archive WHERE id = 1`;",
      "const f = `INSERT INTO conversations AS cv (customer_id) VALUES (1) ON CONFLICT (customer_id) DO UPDATE SET read_at = now() FROM x`;",
    ].join('\n');
    expect(tablesNamed(src, known).sort((a, b) => a.table.localeCompare(b.table))).toEqual([
      { table: 'conversations', write: true },
      { table: 'customers', write: true },
      { table: 'order_events', write: true },
      { table: 'products', write: false },
      { table: 'variants', write: false },
    ]);
  });

  it('skips regex literals (their quotes are not strings) and refuses a file it cannot read rather than missing its SQL', () => {
    expect(literals("const r = /[`\"']/g.test(x) ? a / b : `SELECT 1 FROM orders`;")).toEqual(['SELECT 1 FROM orders']);
    expect(() => literals('const t = `SELECT 1 FROM orders')).toThrow(/unbalanced/);
  });

  it('every table of migrations/ has an owner, and every owner is a table', () => {
    expect(tables().filter((t) => !OWNER[t])).toEqual([]);
    expect(Object.keys(OWNER).filter((t) => !known.has(t))).toEqual([]);
  });

  it('a table is read into another store only (READS names stores; STORE_PARTS and READ_MODELS are store files)', () => {
    const stores = new Set([...Object.values(OWNER), ...READ_MODELS]);
    expect(Object.values(READS).flat().filter((f) => !stores.has(f))).toEqual([]);
    expect(Object.values(STORE_PARTS).filter((f) => !Object.values(OWNER).includes(f))).toEqual([]);
    expect(READ_MODELS.filter((f) => !f.endsWith('-store.ts'))).toEqual([]);
  });

  it('finds SQL of any kind, a table named or not', () => {
    expect(holdsSql("const a = `SELECT link_customer(${p}) AS id`;")).toBe(true);
    expect(holdsSql("const b = `o.payment_status = ANY(${p}::text[])`;")).toBe(true);
    expect(holdsSql("const c = 'Select a size from the list'; // SELECT 1")).toBe(false);
  });

  it('no exception is left: every table’s SQL is in its store (NEXT_WAVE is empty)', () => {
    expect(NEXT_WAVE).toEqual([]);
  });

  it('SQL only in stores, a write only in its owner, a read in its owner or READS (or where NEXT_WAVE says)', () => {
    expect(violations(findings())).toEqual([]);
  });

  it('the exceptions are all still true (a moved statement leaves the list)', () => {
    const found = findings();
    const stale = [
      ...Object.entries(READS).flatMap(([table, files]) =>
        files.filter((file) => !found.some((f) => f.table === table && f.file === file && !f.write)).map((file) => `READS ${table} ${file}`),
      ),
      ...NEXT_WAVE.filter((e) => !found.some((f) => f.table === e.table && f.file === e.file)).map((e) => `NEXT_WAVE ${e.table} ${e.file}`),
    ];
    expect(stale).toEqual([]);
  });
});

// DUMP_TABLE_MAP=1 npx vitest run tests/architecture-tables.test.ts prints the map as found (table → files, * = writes).
if (process.env.DUMP_TABLE_MAP) {
  const found = findings();
  for (const t of tables()) console.log(t.padEnd(26), found.filter((f) => f.table === t).map((f) => `${f.file}${f.write ? '*' : ''}`).join(' '));
  console.log(violations(found).join('\n'));
}
