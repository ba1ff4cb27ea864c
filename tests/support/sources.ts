import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

/** The repository's sources as the architecture tests read them (the TypeScript compiler's parse, nothing run). */
export const root = path.resolve(import.meta.dirname, '../..');

/** Every .ts file below `dir` (relative to the repository), as `dir/sub/file.ts`. */
export function sourceFiles(dir: string): string[] {
  return readdirSync(path.join(root, dir)).flatMap((name) => {
    const rel = path.join(dir, name);
    if (statSync(path.join(root, rel)).isDirectory()) return sourceFiles(rel);
    return rel.endsWith('.ts') ? [rel] : [];
  });
}

export const parse = (file: string, text = readFileSync(path.join(root, file), 'utf8')) => ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);

/** Every module a file names: static imports, re-exports and dynamic `import()` (type-only ones included). */
export function importsOf(source: ts.SourceFile): string[] {
  const out: string[] = [];
  const visit = (node: ts.Node) => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) out.push(node.moduleSpecifier.text);
    if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword && node.arguments[0] && ts.isStringLiteral(node.arguments[0])) out.push(node.arguments[0].text);
    ts.forEachChild(node, visit);
  };
  visit(source);
  return out;
}
