/**
 * The HTTP edge has one home, lib/http/ (issue 12): checked on the source, so the rules survive.
 * - backend/ adapts lib/http handlers: it imports no netlify/functions file and no Netlify type
 *   (no faked Context);
 * - every netlify/functions file is a thin adapter: it imports only lib/http handlers (and
 *   Netlify's types) and builds no response itself;
 * - error bodies are built only in lib/http: outside it, no object with an `error` property that
 *   is sent (json(…), JSON.stringify(…), Response.json(…)), is a reply's `body`, or carries a
 *   `message` next to it; lib/ throws DomainError (lib/errors.ts) instead, and lib/http maps its kind;
 * - `FieldError` is declared once;
 * - zod comes only through lib/zod.ts (kept out of the functions' cold start);
 * - a request body is read only through lib/http/body.ts (its route's limit, issue 31).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { BACKEND_FUNCTIONS, functionPaths } from '../lib/http/routes.js';

import { importsOf, parse, root, sourceFiles } from './support/sources.js';

const propertyNamed = (o: ts.ObjectLiteralExpression, name: string) =>
  o.properties.some((p) => (ts.isPropertyAssignment(p) || ts.isShorthandPropertyAssignment(p)) && p.name.getText() === name);

/** `error: 'some_code'` (a string, not an Error value as in a log line's fields). */
const errorIsText = (o: ts.ObjectLiteralExpression) =>
  o.properties.some((p) => ts.isPropertyAssignment(p) && p.name.getText() === 'error' && (ts.isStringLiteral(p.initializer) || ts.isTemplateLiteral(p.initializer)));

const SENDERS = new Set(['json', 'JSON.stringify', 'Response.json', 'errorResponse']);

/** Object literals that are HTTP error bodies, as `file:line text`. */
export function errorBodies(source: ts.SourceFile): string[] {
  const found: string[] = [];
  const visit = (node: ts.Node) => {
    if (ts.isObjectLiteralExpression(node) && propertyNamed(node, 'error')) {
      const parent = node.parent;
      const sent = ts.isCallExpression(parent) && parent.arguments[0] === node && SENDERS.has(parent.expression.getText());
      const isBody = ts.isPropertyAssignment(parent) && parent.name.getText() === 'body';
      if (sent || isBody || (errorIsText(node) && propertyNamed(node, 'message'))) {
        const { line } = source.getLineAndCharacterOfPosition(node.getStart());
        found.push(`${source.fileName}:${line + 1} ${node.getText().slice(0, 80)}`);
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

const edgeFiles = [...sourceFiles('lib'), ...sourceFiles('netlify'), ...sourceFiles('backend')];

describe('the HTTP edge lives in lib/http', () => {
  it('backend/ imports no netlify/functions file and no Netlify type', () => {
    const offending = sourceFiles('backend').flatMap((f) => importsOf(parse(f)).filter((s) => /netlify\/functions|^@netlify\//.test(s)).map((s) => `${f} → ${s}`));
    expect(offending).toEqual([]);
  });

  it("the backend serves the invite link at the function's own path (both read the route table)", () => {
    const path_ = /path: '([^']+)'/.exec(readFileSync(path.join(root, 'netlify/functions/invite-redirect.ts'), 'utf8'))?.[1];
    expect(path_).toBe('/w/invite/:token');
    expect(functionPaths('invite-redirect')).toEqual([path_]);
    expect(BACKEND_FUNCTIONS).toContain('invite-redirect');
    expect(readFileSync(path.join(root, 'backend/server.ts'), 'utf8')).toMatch(/functionPaths\(name\)/);
  });

  it('each Netlify function only adapts a lib/http handler', () => {
    const functions = sourceFiles('netlify/functions');
    expect(functions.length).toBeGreaterThan(0);
    for (const f of functions) {
      const text = readFileSync(path.join(root, f), 'utf8');
      expect(importsOf(parse(f)).filter((s) => !/^\.\.\/\.\.\/lib\/http\/[\w-]+\.js$/.test(s) && s !== '@netlify/functions'), f).toEqual([]);
      expect(text, f).not.toMatch(/new Response\(|\bjson\(|Response\.json\(/);
    }
  });

  it('no error body is built outside lib/http', () => {
    const outside = edgeFiles.filter((f) => !f.startsWith(`lib${path.sep}http${path.sep}`));
    expect(outside.flatMap((f) => errorBodies(parse(f)))).toEqual([]);
  });

  it('the rule finds the shapes it is meant to find, and not zod options or internal results', () => {
    const sample = parse(
      'sample.ts',
      [
        "json({ error: 'nope' }, 400);",
        "const r = { status: 503, body: { error: 'down' } };",
        "throw Object.assign(new Error(), { error: 'x', message: 'y' });",
        "res.end(JSON.stringify({ error: 'internal error' }));",
        "log.error('outbox.failed', { message: { id }, error });",
        "z.string({ error: 'must be text' });",
        "return { error: 'not a WhatsApp webhook envelope' };",
      ].join('\n'),
    );
    expect(errorBodies(sample).map((s) => Number(s.split(':')[1]!.split(' ')[0]))).toEqual([1, 2, 3, 4]);
  });

  it("zod is imported only by lib/zod.ts (a direct import would be hoisted to the top of every bundle that reaches it)", () => {
    const direct = edgeFiles.filter((f) => f !== path.join('lib', 'zod.ts') && /^import\s+(?!type\b)[^;]*from\s+'zod(\/[^']*)?'/m.test(readFileSync(path.join(root, f), 'utf8')));
    expect(direct).toEqual([]);
  });

  it('a request body is read only through lib/http/body.ts, up to its route\'s limit (issue 31)', () => {
    // `req`/`request` is what the edges call an incoming Request; a Response's body (fetch) is not concerned.
    const unbounded = /\b(req|request)\.(text|json|arrayBuffer|formData|blob)\(\)|\bfor await \(const \w+ of req\)/;
    const offending = edgeFiles.filter((f) => f !== path.join('lib', 'http', 'body.ts') && unbounded.test(readFileSync(path.join(root, f), 'utf8')));
    expect(offending).toEqual([]);
    expect(unbounded.test('const raw = await req.text();')).toBe(true);
  });

  it('FieldError is declared once, in lib/errors.ts', () => {
    const declared = edgeFiles.filter((f) => /\b(type\s+FieldError\s*(<[^>]*>)?\s*=|interface\s+FieldError\b)/.test(readFileSync(path.join(root, f), 'utf8')));
    expect(declared).toEqual([path.join('lib', 'errors.ts')]);
  });
});
