// npm run catalog:import -- <file.json|file.csv>: upserts products and variants (Postgres stock and
// the Redis available counters together); bad rows are reported and skipped, the others imported.
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { CsvFormatError, importCatalogCsv, importCatalogJson } from '../lib/catalog-import.js';

const file = process.argv[2];
if (!file) {
  console.error('usage: npm run catalog:import -- <file.json|file.csv>');
  process.exit(2);
}
try {
  const text = await readFile(file, 'utf8');
  const result = file.toLowerCase().endsWith('.csv') ? await importCatalogCsv(text) : await importCatalogJson(JSON.parse(text));
  console.log(`catalog imported: ${result.created} created, ${result.updated} updated (${result.variants} variants), ${result.rejected.length} rejected`);
  for (const r of result.rejected) console.log(`  rejected ${r.line ? `line ${r.line}` : `#${r.index}`} ${r.sku ?? '(no sku)'}: ${r.reason}`);
  process.exit(result.rejected.length ? 1 : 0);
} catch (error) {
  if (error instanceof z.ZodError) console.error(`invalid file: ${z.prettifyError(error)}`);
  else if (error instanceof CsvFormatError || error instanceof SyntaxError) console.error(`invalid file: ${error.message}`);
  else console.error(`import failed: ${(error as Error).message}`);
  process.exit(2);
}
