// npm run catalog:import -- <file.json|file.csv>: upserts products and variants (Postgres stock and
// the Redis available counters together); bad rows are reported and skipped, the others imported.
import { readFile } from 'node:fs/promises';
import { z } from '../lib/zod.js';
import { needs } from '../lib/config-needs.js';
import { runScript } from './cli.js';

const file = process.argv[2];
if (!file) {
  console.error('usage: npm run catalog:import -- <file.json|file.csv>');
  process.exit(2);
}
await runScript('npm run catalog:import', needs.catalogImport, async () => {
  const { CsvFormatError } = await import('../lib/catalog/index.js');
  const { importCatalogCsv, importCatalogJson } = await import('../lib/admin/catalog-import.js');
  let result;
  try {
    const text = await readFile(file, 'utf8');
    result = file.toLowerCase().endsWith('.csv') ? await importCatalogCsv(text) : await importCatalogJson(JSON.parse(text));
  } catch (error) {
    if (error instanceof z.ZodError) console.error(`invalid file: ${z.prettifyError(error)}`);
    else if (error instanceof CsvFormatError) console.error(`invalid file: ${error.problem}`);
    else if (error instanceof SyntaxError) console.error(`invalid file: ${error.message}`);
    else throw error;
    return 2;
  }
  console.log(`catalog imported: ${result.created} created, ${result.updated} updated (${result.variants} variants), ${result.rejected.length} rejected`);
  for (const r of result.rejected) console.log(`  rejected ${r.line ? `line ${r.line}` : `#${r.index}`} ${r.sku ?? '(no sku)'}: ${r.reason}`);
  return result.rejected.length ? 1 : 0;
});
