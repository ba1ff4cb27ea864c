/**
 * One home per concept, kept by grepping the source (lib/, netlify/, backend/): a statement that
 * changes an order lives in lib/orders/, a row of the outbox is written only by lib/messaging/.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..');
const SOURCE_DIRS = ['lib', 'netlify', 'backend'];

function sourceFiles(): { path: string; text: string }[] {
  const out: { path: string; text: string }[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (/\.(ts|mts|js|mjs)$/.test(entry.name)) out.push({ path: relative(ROOT, full).split('\\').join('/'), text: readFileSync(full, 'utf8') });
    }
  };
  for (const d of SOURCE_DIRS) {
    try {
      walk(join(ROOT, d));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  return out;
}

const UPDATE_ORDERS = /\bUPDATE\s+orders\b/i;
const INSERT_OUTBOX = /\bINSERT\s+INTO\s+outbound_messages\b/i;

/** Files (and the first offending line) where `pattern` occurs outside `home`. */
function offenders(pattern: RegExp, home: string): string[] {
  return sourceFiles()
    .filter((f) => !f.path.startsWith(home))
    .flatMap((f) => {
      const i = f.text.split('\n').findIndex((line) => pattern.test(line));
      return i < 0 ? [] : [`${f.path}:${i + 1}`];
    });
}
const occurrencesIn = (pattern: RegExp, home: string) => sourceFiles().filter((f) => f.path.startsWith(home) && pattern.test(f.text)).length;

describe('orders and outbox', () => {
  it('the patterns catch the statements they are about (so the rules cannot pass vacuously)', () => {
    expect(UPDATE_ORDERS.test('WITH u AS (\n  update  orders SET payment_status = $2')).toBe(true);
    expect(UPDATE_ORDERS.test('UPDATE orders_archive SET x = 1')).toBe(false);
    expect(INSERT_OUTBOX.test('insert into outbound_messages (idempotency_key)')).toBe(true);
    expect(occurrencesIn(UPDATE_ORDERS, 'lib/orders/')).toBeGreaterThan(0);
    expect(occurrencesIn(INSERT_OUTBOX, 'lib/messaging/')).toBeGreaterThan(0);
  });

  it('`UPDATE orders` appears only in lib/orders/', () => {
    expect(offenders(UPDATE_ORDERS, 'lib/orders/')).toEqual([]);
  });

  it('`INSERT INTO outbound_messages` appears only in lib/messaging/', () => {
    expect(offenders(INSERT_OUTBOX, 'lib/messaging/')).toEqual([]);
  });
});

describe('transport below the domain', () => {
  const importsOf = (dir: string, target: string) =>
    sourceFiles()
      .filter((f) => f.path.startsWith(dir))
      .filter((f) => new RegExp(`from '\\.\\./${target}/`).test(f.text))
      .map((f) => f.path);

  it('lib/whatsapp/ (Meta transport) and lib/messaging/ (the outbox) import nothing from lib/conversation/', () => {
    expect(importsOf('lib/whatsapp/', 'conversation')).toEqual([]);
    expect(importsOf('lib/messaging/', 'conversation')).toEqual([]);
  });
});

describe('Netlify Database', () => {
  it('no function or lib module loads @netlify/database: the connection string is read from its variable (lib/config.ts), the package is only a dependency that makes Netlify provision the database', () => {
    const loaders = sourceFiles().filter((f) => /['"]@netlify\/database['"]/.test(f.text)).map((f) => f.path);
    expect(loaders).toEqual([]);
    expect(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).dependencies).toHaveProperty('@netlify/database');
  });
});

describe('team inbox (lib/inbox)', () => {
  const WRITE_CONVERSATION_MESSAGES = /\b(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+conversation_messages\b/i;
  const WRITE_CONVERSATIONS = /\b(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+conversations\b/i;
  const filesWith = (pattern: RegExp) => sourceFiles().filter((f) => pattern.test(f.text)).map((f) => f.path).sort();

  it('message content is written only by the inbox store: its part of the recording statement and the retention run', () => {
    expect(filesWith(WRITE_CONVERSATION_MESSAGES)).toEqual(['lib/inbox/store-maintenance.ts', 'lib/inbox/store.ts']);
  });

  it('a conversation\'s mode and marks are written only by lib/inbox (the handover and an invite contact\'s first message use its statements)', () => {
    expect(filesWith(WRITE_CONVERSATIONS).filter((p) => !p.startsWith('lib/inbox/'))).toEqual([]);
    expect(filesWith(WRITE_CONVERSATIONS).filter((p) => p.startsWith('lib/inbox/')).length).toBeGreaterThan(0);
  });

  it('lib/inbox sends WhatsApp messages only through the outbox, and lib/messaging imports nothing from it', () => {
    expect(sourceFiles().filter((f) => f.path.startsWith('lib/inbox/') && /postGraphMessage/.test(f.text)).map((f) => f.path)).toEqual([]);
    expect(sourceFiles().filter((f) => f.path.startsWith('lib/messaging/') && /from '\.\.\/inbox\//.test(f.text)).map((f) => f.path)).toEqual([]);
  });
});

describe('the waitlist (docs/second-chances.md)', () => {
  const WRITE_WAITLIST = /\b(UPDATE\s+waitlist_entries|INSERT\s+INTO\s+waitlist_entries)\b/i;

  it('the pattern catches the statements it is about', () => {
    expect(WRITE_WAITLIST.test("UPDATE waitlist_entries SET status = 'offered'")).toBe(true);
    expect(WRITE_WAITLIST.test('insert into waitlist_entries (sku)')).toBe(true);
    expect(WRITE_WAITLIST.test('SELECT * FROM waitlist_entries')).toBe(false);
    expect(occurrencesIn(WRITE_WAITLIST, 'lib/waitlist/')).toBeGreaterThan(0);
  });

  it('waitlist entries are written only in lib/waitlist/', () => {
    expect(offenders(WRITE_WAITLIST, 'lib/waitlist/')).toEqual([]);
  });
});
