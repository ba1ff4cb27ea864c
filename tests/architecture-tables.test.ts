/**
 * One owner per table (issue 24): SQL naming a table lives in that table's store module. The tables are read
 * from migrations/ (every CREATE TABLE, plus lib/migrations.ts's own schema_migrations), so a new table is
 * covered at once: it fails here until it is given an owner. SQL is found in the literal text of lib/, netlify/
 * and backend/ (tagged templates db()`…`, strings passed to db().query or db().unsafe, fragments), comments
 * excluded: a table is named when it follows FROM, JOIN, INTO, UPDATE, TABLE, TRUNCATE, LOCK, COPY,
 * REFERENCES or USING (any case, schema-qualified or quoted).
 *
 * The rule, per table:
 *   - WRITES (INSERT INTO / UPDATE / DELETE FROM / TRUNCATE / ALTER, CREATE, DROP TABLE) only in its store;
 *   - READS (FROM / JOIN) in its store, or in another table's store that joins it into its own read (READS);
 *   - anything else is an exception of NEXT_WAVE: SQL that stays where it is because another helper is
 *     rewriting that file in this wave, or because the statement is orders / outbound_messages /
 *     inbound_events SQL, which the next wave moves into their stores.
 * Every entry of READS and NEXT_WAVE must still be true (a stale one fails), so the lists only shrink.
 * The map is documented in docs/architecture.md ("Who owns each table and key").
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** table → the one store module with its SQL. */
const OWNER: Record<string, string> = {
  products: 'lib/catalog/store.ts',
  variants: 'lib/catalog/store.ts',
  catalog_push_state: 'lib/catalog/store.ts',
  customers: 'lib/customers/store.ts',
  customer_identity_events: 'lib/customers/store.ts',
  invite_tokens: 'lib/invites/store.ts',
  invite_contacts: 'lib/invites/store.ts',
  order_events: 'lib/orders/events.ts',
  conversations: 'lib/inbox/store.ts',
  conversation_messages: 'lib/inbox/store.ts',
  waitlist_entries: 'lib/waitlist/store.ts',
  admin_requests: 'lib/admin/idempotency.ts',
  ops_alerts: 'lib/alerts/ops-alerts.ts',
  payments: 'lib/admin/payments-store.ts',
  stripe_refunds: 'lib/orders/store-refunds.ts',
  schema_migrations: 'lib/migrations.ts',
  orders: 'lib/orders/store.ts',
  outbound_messages: 'lib/messaging/outbox.ts',
  inbound_events: 'lib/conversation/inbound-events.ts',
};

/**
 * A store split into files by concern (no file over 300 lines): each part counts as the store it belongs to,
 * here and in READS / NEXT_WAVE.
 */
const STORE_PARTS: Record<string, string> = {
  'lib/orders/store-close.ts': 'lib/orders/store.ts',
  'lib/orders/store-fulfilment.ts': 'lib/orders/store.ts',
};

/** Reads of a table joined into another store's own read (never a write): table → those stores. */
const READS: Record<string, string[]> = {
  customers: ['lib/inbox/store.ts', 'lib/invites/store.ts', 'lib/waitlist/store.ts'], // a conversation is a customer; contacts; who is waiting
  invite_tokens: ['lib/inbox/store.ts'], // the orders a conversation is linked to as an invited contact
  invite_contacts: ['lib/inbox/store.ts'],
};

/** Why an exception stays this wave (the files listed as REWRITTEN are being rewritten by other helpers now). */
const ORDERS_SQL = "orders SQL: moves into lib/orders/store.ts next wave";
const OUTBOX_SQL = "outbound_messages SQL: moves into lib/messaging/outbox.ts next wave";
const INBOUND_SQL = "inbound_events SQL: moves into lib/conversation/inbound-events.ts next wave";
const ORDER_CUSTOMER = "fused into an orders statement (the customer of the order read with it): moves with that statement";
const CONSOLE_READ = "a console read of orders with this table in one statement: moves with the orders read";
const REWRITTEN = "in a file rewritten by another helper this wave: its part for this table becomes a statement part of the owner";
const RETENTION = "the inbox's retention statement also scrubs inbound_events: moves to lib/inbox/store.ts with an inbound_events part";
const STOCK_REBUILD = "the stock rebuild reads on-hand units with the live holds' orders in one batch (lib/catalog/store.ts imports lib/stock: the read comes back as a parameter, not an import)";

/** SQL not in its store yet, each with the file it is in and why it stays this wave. */
const NEXT_WAVE: { table: string; file: string; why: string }[] = [
  { table: 'orders', file: 'lib/admin/alerts.ts', why: ORDERS_SQL },
  { table: 'orders', file: 'lib/admin/idempotency.ts', why: ORDERS_SQL },
  { table: 'orders', file: 'lib/admin/offline-payment.ts', why: ORDERS_SQL },
  { table: 'orders', file: 'lib/admin/order-list.ts', why: ORDERS_SQL },
  { table: 'orders', file: 'lib/admin/payments-store.ts', why: ORDERS_SQL },
  { table: 'orders', file: 'lib/admin/order-view.ts', why: ORDERS_SQL },
  { table: 'orders', file: 'lib/admin/second-chances.ts', why: ORDERS_SQL },
  { table: 'orders', file: 'lib/flows/cleanup.ts', why: ORDERS_SQL },
  { table: 'orders', file: 'lib/inbox/maintenance.ts', why: ORDERS_SQL },
  { table: 'orders', file: 'lib/inbox/send.ts', why: ORDERS_SQL },
  { table: 'orders', file: 'lib/inbox/store.ts', why: ORDERS_SQL },
  { table: 'orders', file: 'lib/invites/store.ts', why: ORDERS_SQL },
  { table: 'orders', file: 'lib/alerts/ops-alerts.ts', why: ORDERS_SQL },
  { table: 'orders', file: 'lib/orders/extend.ts', why: ORDERS_SQL },
  { table: 'orders', file: 'lib/orders/order.ts', why: ORDERS_SQL },
  { table: 'orders', file: 'lib/orders/place.ts', why: ORDERS_SQL },
  { table: 'orders', file: 'lib/orders/reminders.ts', why: ORDERS_SQL },
  { table: 'orders', file: 'lib/orders/store-refunds.ts', why: ORDERS_SQL },
  { table: 'orders', file: 'lib/flows/stripe-event.ts', why: ORDERS_SQL },
  { table: 'orders', file: 'lib/orders/stripe-refunds.ts', why: ORDERS_SQL },
  { table: 'orders', file: 'lib/stock/counters.ts', why: ORDERS_SQL },
  { table: 'orders', file: 'lib/stock/resync.ts', why: ORDERS_SQL },
  { table: 'outbound_messages', file: 'lib/admin/alerts.ts', why: OUTBOX_SQL },
  { table: 'outbound_messages', file: 'lib/admin/order-view.ts', why: OUTBOX_SQL },
  { table: 'outbound_messages', file: 'lib/inbox/send.ts', why: OUTBOX_SQL },
  { table: 'outbound_messages', file: 'lib/inbox/store.ts', why: OUTBOX_SQL },
  { table: 'outbound_messages', file: 'lib/messaging/delivery-status.ts', why: OUTBOX_SQL },
  { table: 'outbound_messages', file: 'lib/messaging/record.ts', why: OUTBOX_SQL },
  { table: 'outbound_messages', file: 'lib/messaging/reply.ts', why: OUTBOX_SQL },
  { table: 'outbound_messages', file: 'lib/messaging/retry.ts', why: OUTBOX_SQL },
  { table: 'outbound_messages', file: 'lib/orders/reminders.ts', why: OUTBOX_SQL },
  { table: 'outbound_messages', file: 'lib/orders/store-refunds.ts', why: OUTBOX_SQL },
  { table: 'outbound_messages', file: 'lib/waitlist/store.ts', why: OUTBOX_SQL },
  { table: 'inbound_events', file: 'lib/conversation/inbound-flow.ts', why: INBOUND_SQL },
  { table: 'inbound_events', file: 'lib/inbox/maintenance.ts', why: INBOUND_SQL },
  { table: 'inbound_events', file: 'lib/orders/store.ts', why: INBOUND_SQL },
  { table: 'inbound_events', file: 'lib/flows/stripe-event.ts', why: INBOUND_SQL },
  { table: 'customers', file: 'lib/admin/alerts.ts', why: ORDER_CUSTOMER },
  { table: 'customers', file: 'lib/admin/idempotency.ts', why: ORDER_CUSTOMER },
  { table: 'customers', file: 'lib/admin/order-list.ts', why: ORDER_CUSTOMER },
  { table: 'customers', file: 'lib/admin/order-view.ts', why: ORDER_CUSTOMER },
  { table: 'customers', file: 'lib/admin/payments-store.ts', why: ORDER_CUSTOMER },
  { table: 'customers', file: 'lib/orders/extend.ts', why: ORDER_CUSTOMER },
  { table: 'customers', file: 'lib/orders/order.ts', why: ORDER_CUSTOMER },
  { table: 'customers', file: 'lib/orders/reminders.ts', why: ORDER_CUSTOMER },
  { table: 'customers', file: 'lib/inbox/send.ts', why: ORDER_CUSTOMER },
  { table: 'customers', file: 'lib/messaging/delivery-status.ts', why: ORDER_CUSTOMER },
  { table: 'customers', file: 'lib/flows/stripe-event.ts', why: ORDER_CUSTOMER },
  { table: 'payments', file: 'lib/admin/order-view.ts', why: CONSOLE_READ },
  { table: 'customers', file: 'lib/admin/offline-payment.ts', why: REWRITTEN },
  { table: 'customers', file: 'lib/conversation/inbound-events.ts', why: REWRITTEN },
  { table: 'conversation_messages', file: 'lib/conversation/inbound-events.ts', why: REWRITTEN },
  { table: 'conversations', file: 'lib/conversation/inbound-events.ts', why: REWRITTEN },
  { table: 'customers', file: 'lib/messaging/outbox.ts', why: REWRITTEN },
  { table: 'customers', file: 'lib/orders/place.ts', why: REWRITTEN },
  { table: 'customer_identity_events', file: 'lib/orders/place.ts', why: REWRITTEN },
  { table: 'order_events', file: 'lib/orders/place.ts', why: REWRITTEN },
  { table: 'products', file: 'lib/orders/place.ts', why: REWRITTEN },
  { table: 'variants', file: 'lib/orders/place.ts', why: REWRITTEN },
  { table: 'admin_requests', file: 'lib/orders/store.ts', why: REWRITTEN },
  { table: 'invite_tokens', file: 'lib/orders/store.ts', why: REWRITTEN },
  { table: 'order_events', file: 'lib/orders/store.ts', why: REWRITTEN },
  { table: 'variants', file: 'lib/orders/store.ts', why: REWRITTEN },
  { table: 'conversation_messages', file: 'lib/inbox/maintenance.ts', why: RETENTION },
  { table: 'conversations', file: 'lib/inbox/maintenance.ts', why: RETENTION },
  { table: 'customers', file: 'lib/inbox/maintenance.ts', why: RETENTION },
  { table: 'variants', file: 'lib/stock/counters.ts', why: STOCK_REBUILD },
  { table: 'variants', file: 'lib/stock/resync.ts', why: STOCK_REBUILD },
];

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

type Finding = { table: string; file: string; write: boolean };

function findings(): Finding[] {
  const known = new Set(tables());
  return SCANNED.flatMap((dir) => sourceFiles(dir)).flatMap((file) => {
    try {
      return tablesNamed(readFileSync(path.join(root, file), 'utf8'), known).map((u) => ({ ...u, file: STORE_PARTS[file] ?? file }));
    } catch (error) {
      throw new Error(`${file}: ${(error as Error).message}`);
    }
  });
}

/** Findings the map does not allow (as `table file (write|read)`). */
function violations(found: Finding[]): string[] {
  return found
    .filter((f) => {
      if (OWNER[f.table] === f.file) return false;
      if (!f.write && READS[f.table]?.includes(f.file)) return false;
      return !NEXT_WAVE.some((e) => e.table === f.table && e.file === f.file);
    })
    .map((f) => `${f.table} ${f.file} (${f.write ? 'write' : 'read'})`)
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

  it('a table is read into another table\'s store only (READS names stores)', () => {
    const stores = new Set(Object.values(OWNER));
    expect(Object.values(READS).flat().filter((f) => !stores.has(f))).toEqual([]);
  });

  it('SQL naming a table appears only in its store (or where READS / NEXT_WAVE say)', () => {
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
