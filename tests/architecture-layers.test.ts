/**
 * Layers without loops (issue 24), computed from the sources (the TypeScript compiler's parse of every
 * import, static, re-export and dynamic `import()`, type-only ones included: a type is knowledge too):
 * - no module of lib/ outside lib/http imports lib/http (the domain throws DomainError, lib/errors.ts; the
 *   edge maps its kind to a status);
 * - no import cycle in lib/;
 * - no import from a lower layer to a higher one: kernel < adapters < domain < flows < http (LAYERS below);
 * - every route is declared in the one table, lib/http/routes.ts: each Netlify function's config.path is
 *   its table paths, and no other serving file holds a route pattern;
 * - no domain module builds a Response;
 * - lib/config.ts is the only reader of process.env in lib/;
 * - no loose file at the root of lib/ beyond the kernel (LAYERS[0]), and no lib/ file over 300 lines
 *   (each a shrinking ratchet: ROOT_PENDING, OVER_300).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { functionPaths, ROUTES } from '../lib/http/routes.js';

import { importsOf, parse, root, sourceFiles } from './support/sources.js';

/** lib/'s import graph: file → the lib/ files it imports (`./x.js` → `lib/.../x.ts`). */
function libGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sourceFiles('lib')) {
    const targets = importsOf(parse(file))
      .filter((s) => s.startsWith('.'))
      .map((s) => path.posix.normalize(path.posix.join(path.posix.dirname(file), s)).replace(/\.js$/, '.ts'));
    graph.set(file, [...new Set(targets.filter((t) => t.startsWith('lib/')))]);
  }
  return graph;
}

/** The strongly connected components of more than one file (or a file importing itself): Tarjan's. */
export function cycles(graph: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1 || graph.get(v)!.includes(v)) found.push(component.sort());
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

/**
 * The layers, lowest first; a file may import its own layer and those below. The first prefix that a
 * file's path starts with places it (so `lib/messaging/graph-client.ts` is an adapter, the rest of
 * lib/messaging/ domain). A lib/ file on no layer fails the test: a new file is placed on purpose.
 */
export const LAYERS: { name: string; files: string[] }[] = [
  {
    name: 'kernel',
    files: [
      'lib/config.ts', 'lib/config-schema.ts', 'lib/config-needs.ts', 'lib/log.ts', 'lib/db.ts', 'lib/redis.ts', 'lib/money.ts', 'lib/phone.ts', 'lib/identity.ts',
      'lib/zod.ts', 'lib/safe-text.ts', 'lib/chunks.ts', 'lib/bytes.ts', 'lib/lazy-require.ts', 'lib/lazy-module.ts', 'lib/work.ts', 'lib/errors.ts', 'lib/migrations.ts',
    ],
  },
  { name: 'adapters', files: ['lib/whatsapp/', 'lib/messaging/graph-client.ts', 'lib/messaging/send-pace.ts', 'lib/payments/', 'lib/stock/'] },
  {
    name: 'domain',
    files: ['lib/orders/', 'lib/messaging/', 'lib/inbound/', 'lib/catalog/', 'lib/customers/', 'lib/invites/', 'lib/alerts/', 'lib/waitlist/', 'lib/inbox/'],
  },
  { name: 'flows', files: ['lib/flows/', 'lib/conversation/', 'lib/admin/'] },
  { name: 'http', files: ['lib/http/'] },
];

/**
 * Folder circles (issue 24 opened the last two: lib/payments/ is the Stripe adapter below the domain, what applies
 * Stripe's facts to orders lives in lib/orders/ and the Stripe flow; the catalog import gets the orders'
 * stock-shortfall step from its flow, lib/admin/catalog-import.ts). A new one fails here.
 */
const KNOWN_FOLDER_CIRCLES: { circles: string[][]; mutual: string[] } = { circles: [], mutual: [] };

export function layerOf(file: string): number {
  let best = -1;
  let length = -1;
  LAYERS.forEach((layer, i) => {
    for (const prefix of layer.files) if (file.startsWith(prefix) && prefix.length > length) [best, length] = [i, prefix.length];
  });
  return best;
}

describe('layers without loops (lib/)', () => {
  const graph = libGraph();

  it('no module of lib/ outside lib/http imports lib/http', () => {
    const offending = [...graph].flatMap(([file, targets]) => (file.startsWith('lib/http/') ? [] : targets.filter((t) => t.startsWith('lib/http/')).map((t) => `${file} → ${t}`)));
    expect(offending).toEqual([]);
  });

  it('no import cycle in lib/', () => {
    expect(cycles(graph)).toEqual([]);
  });

  it('folders of lib/ that import each other are only the known ones (a ratchet: issue 24 opens them)', () => {
    // A folder (lib/orders/) or a root file (lib/config.ts) as one node; its arrows are its files' imports.
    const unit = (file: string) => (file.split('/').length > 2 ? `${file.split('/').slice(0, 2).join('/')}/` : file);
    const folders = new Map<string, string[]>();
    for (const [file, targets] of graph) folders.set(unit(file), [...new Set([...(folders.get(unit(file)) ?? []), ...targets.map(unit).filter((t) => t !== unit(file))])]);
    const mutual = [...folders].flatMap(([a, targets]) => targets.filter((b) => a < b && folders.get(b)!.includes(a)).map((b) => `${a} ⇄ ${b}`));
    expect({ circles: cycles(folders), mutual }).toEqual(KNOWN_FOLDER_CIRCLES);
  });

  it('the cycle finder finds a loop through three files, and none in a line', () => {
    const loop = new Map([['a', ['b']], ['b', ['c']], ['c', ['a']], ['d', ['a']]]);
    expect(cycles(loop)).toEqual([['a', 'b', 'c']]);
    expect(cycles(new Map([['a', ['b']], ['b', ['c']], ['c', []]]))).toEqual([]);
  });

  it('a file is placed by its longest prefix (the Graph client is an adapter below the outbox)', () => {
    expect(LAYERS[layerOf('lib/messaging/graph-client.ts')]!.name).toBe('adapters');
    expect(LAYERS[layerOf('lib/messaging/outbox.ts')]!.name).toBe('domain');
    expect(layerOf('lib/somewhere-new.ts')).toBe(-1);
  });

  it('every lib/ file is on a layer', () => {
    expect([...graph.keys()].filter((f) => layerOf(f) < 0)).toEqual([]);
  });

  it('no import runs from a lower layer to a higher one (kernel < adapters < domain < flows < http)', () => {
    const upward = [...graph].flatMap(([file, targets]) =>
      targets.filter((t) => layerOf(t) > layerOf(file)).map((t) => `${file} (${LAYERS[layerOf(file)]!.name}) → ${t} (${LAYERS[layerOf(t)]!.name})`),
    );
    expect(upward).toEqual([]);
  });

  it('no module of lib/ outside lib/http builds a Response (it returns domain results; the edge answers them)', () => {
    expect(sourceFiles('lib').filter((f) => !f.startsWith('lib/http/') && /\bnew Response\(|\bResponse\.json\(/.test(readFileSync(path.join(root, f), 'utf8')))).toEqual([]);
  });

  it('lib/config.ts is the only reader of process.env in lib/', () => {
    expect(sourceFiles('lib').filter((f) => f !== 'lib/config.ts' && /\bprocess\.env\b/.test(readFileSync(path.join(root, f), 'utf8')))).toEqual([]);
  });
});

describe('one route table (lib/http/routes.ts)', () => {
  it("each Netlify function's config.path is its paths in the table (none: Netlify's default path)", async () => {
    for (const file of sourceFiles('netlify/functions')) {
      const name = path.basename(file, '.ts');
      const mod = (await import(`../${file}`)) as { config?: { path?: string | string[] } };
      const declared = mod.config?.path === undefined ? [] : ([] as string[]).concat(mod.config.path);
      expect(declared, file).toEqual(functionPaths(name));
    }
    // Every door of the table is a function or the backend.
    const functions = new Set(sourceFiles('netlify/functions').map((f) => path.basename(f, '.ts')));
    expect(ROUTES.filter((r) => r.door !== 'backend' && !functions.has(r.door))).toEqual([]);
  });

  /** A string that declares a route: a path under /api/ or /w/, one with a `:param` segment, or a path of the table. */
  const tablePaths = new Set<string>(ROUTES.map((r) => r.path));
  const declaresRoute = (text: string) => /^\/(api|w)(\/|$)/.test(text) || /^\/[^\s]*\/:[A-Za-z_]/.test(text) || tablePaths.has(text);

  function routeLiterals(file: string): string[] {
    const source = parse(file);
    const found: string[] = [];
    const visit = (node: ts.Node) => {
      if ((ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) && declaresRoute(node.text)) {
        // A Netlify function's config.path is the literal Netlify needs: held against the table above.
        const inConfig = file.startsWith('netlify/functions/') && node.parent && ts.findAncestor(node, (n) => ts.isVariableDeclaration(n) && n.name.getText() === 'config');
        if (!inConfig) found.push(`${file}:${source.getLineAndCharacterOfPosition(node.getStart()).line + 1} ${node.text}`);
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
    return found;
  }

  it('no route is declared outside the table (lib/, backend/, netlify/, the local server)', () => {
    const serving = [...sourceFiles('lib'), ...sourceFiles('backend'), ...sourceFiles('netlify'), 'dev/invoke.ts', 'dev/server.ts'].filter((f) => f !== 'lib/http/routes.ts');
    expect(serving.flatMap(routeLiterals)).toEqual([]);
  });

  it('the rule finds route declarations, not URLs or comments', () => {
    expect(['/api/orders', '/w/invite/:token', '/healthz', '/orders/:id'].map(declaresRoute)).toEqual([true, true, true, true]);
    expect(['https://shop.example/w/invite/x', '/v21.0/123/messages', 'api', '/admin'].map(declaresRoute)).toEqual([false, false, false, false]);
  });
});

/**
 * Files still at the root of lib/ that belong in a folder of their concept: being rewritten by another helper
 * this wave (issue 24), they move after it. A ratchet: an entry that is no longer at the root fails.
 */
const ROOT_PENDING: string[] = [];

/**
 * lib/ files over 300 lines, with their length when listed; each is split next. A ratchet: a file not listed
 * fails when it grows over 300, a listed one fails once it is 300 or shorter (then it leaves the list).
 */
const OVER_300: Record<string, number> = {
};

const lineCount = (file: string) => {
  const text = readFileSync(path.join(root, file), 'utf8');
  return text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
};

describe('layout of lib/ (a folder per concept, small files)', () => {
  it('no loose file at the root of lib/ beyond the kernel (config, log, db, redis, the small value types)', () => {
    const kernel = new Set(LAYERS[0]!.files);
    const loose = sourceFiles('lib').filter((f) => f.split('/').length === 2 && !kernel.has(f));
    expect(loose.filter((f) => !ROOT_PENDING.includes(f))).toEqual([]);
    expect(ROOT_PENDING.filter((f) => !loose.includes(f))).toEqual([]); // moved: leaves the list
  });

  it('no lib/ file over 300 lines but the listed ones, and every listed one still over', () => {
    const over = sourceFiles('lib').filter((f) => lineCount(f) > 300);
    expect(over.filter((f) => !(f in OVER_300)).map((f) => `${f} ${lineCount(f)}`)).toEqual([]);
    expect(Object.keys(OVER_300).filter((f) => !over.includes(f))).toEqual([]); // split: leaves the list
  });
});
