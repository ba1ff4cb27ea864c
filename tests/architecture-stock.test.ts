/**
 * One home for stock: only lib/stock/ knows a Redis stock key (`stock:<sku>`, `hold:<id>`,
 * `holds:sku:<sku>`, `holds:exp`, the `sku:<sku>` fields of a hold, `lock:<name>`) or runs a Lua
 * script (EVAL/EVALSHA, createScript, `redis.call`). Everyone else (orders, payments, cleanup, the
 * admin API, the catalog, the conversation, the HTTP edges, the backend) goes through
 * lib/stock/index.ts. The production source (lib/, netlify/, backend/) is read from disk; dev/ and
 * tests/ may poke Redis directly.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SCANNED = ['lib', 'netlify', 'backend'];
const HOME = 'lib/stock/';

/** A quoted string starting with a stock key prefix; a prefix followed by a space is prose ("stock: required"). */
const KEY_LITERAL = /['"`](?:stock|holds?|sku|lock):(?!\s)/;
/** Running a script in Redis, or script text itself. */
const SCRIPT = /\.eval(?:sha)?(?:_?ro)?\s*\(|\bevalsha\b|\bcreateScript\s*\(|\bredis\.call\s*\(|\bEVAL(?:SHA)?\b/i;
/** lib/stock's inner files are its own: others import its index. */
const INNER_IMPORT = /from\s+['"][^'"]*\bstock\/(?!index\.js['"])[^'"]+['"]/;

type Finding = { file: string; line: number; text: string; rule: string };

/** Every line of `text` that breaks a rule (the caller decides whether the file is inside lib/stock/). */
function findingsIn(file: string, text: string): Finding[] {
  const out: Finding[] = [];
  text.split('\n').forEach((line, i) => {
    const rule = KEY_LITERAL.test(line) ? 'redis stock key' : SCRIPT.test(line) ? 'redis script' : INNER_IMPORT.test(line) ? 'lib/stock inner import' : null;
    if (rule) out.push({ file, line: i + 1, text: line.trim(), rule });
  });
  return out;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(path.join(root, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory()) return e.name === 'node_modules' ? [] : sourceFiles(rel);
    return /\.(?:[cm]?[jt]s)$/.test(e.name) ? [rel] : [];
  });
}

describe('lib/stock is the only home of the Redis stock layout and its scripts', () => {
  it('no stock key literal, script or inner lib/stock import outside lib/stock/ (lib/, netlify/, backend/)', () => {
    const files = SCANNED.flatMap(sourceFiles);
    expect(files.length).toBeGreaterThan(50);
    const findings = files.filter((f) => !f.startsWith(HOME)).flatMap((f) => findingsIn(f, readFileSync(path.join(root, f), 'utf8')));
    expect(findings.map((f) => `${f.file}:${f.line} (${f.rule}) ${f.text}`)).toEqual([]);
  });

  it('lib/stock itself holds the keys and the scripts (the scan looks where they are)', () => {
    const inside = sourceFiles('lib/stock').flatMap((f) => findingsIn(f, readFileSync(path.join(root, f), 'utf8')));
    expect(new Set(inside.map((f) => f.rule))).toEqual(new Set(['redis stock key', 'redis script']));
    expect(inside.some((f) => f.file === 'lib/stock/keys.ts' && f.text.includes('`stock:${sku}`'))).toBe(true);
  });

  it('the rule catches what the old layout had outside the module, and lets prose and other keys pass', () => {
    // Lines from before lib/stock existed (lib/cleanup.ts, lib/admin/holds.ts, lib/catalog-import.ts, lib/catalog-push.ts).
    const old = [
      'const holdKey = (orderId: string) => `hold:${orderId}`;',
      "const EXPIRY_INDEX = 'holds:exp';",
      "const UNLOCK = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;",
      '      .eval(UNLOCK, [key], [token])',
      '  const key = `lock:order:${orderId}`;',
      '  const h = await redis().hgetall<Record<string, unknown>>(`hold:${orderId}`);',
      "    .filter(([k]) => k.startsWith('sku:'))",
      '    const values = await redis().mget<(string | number | null)[]>(...chunk.map((s) => `stock:${s}`));',
      "const LOCK_KEY = 'lock:catalog-push';",
      "import { setAvailableStock } from '../stock/counters.js';",
    ];
    expect(old.filter((line) => findingsIn('old.ts', line).length === 0)).toEqual([]);
    const fine = [
      "if (product.stock === undefined) return reject(product.sku, 'stock: required for a row without variantSku');",
      'return `sku: duplicate SKU in this import (first at index ${dup})`;',
      "  const fresh = await redis().set(`backend-nonce:${verdict.nonce}`, 1, { nx: true, ex: REPLAY_WINDOW_SECONDS });",
      "import { availableStock, releaseHold } from './stock/index.js';",
      '    stock: Number(r.stock),',
    ];
    expect(fine.flatMap((line) => findingsIn('new.ts', line))).toEqual([]);
  });
});
