// npm run migrate: applies migrations/*.sql to DATABASE_URL (needs only that; safe to run twice, and concurrently).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { needs } from '../lib/config-needs.js';
import { runScript } from './cli.js';

await runScript('npm run migrate', needs.migrate, async () => {
  const { migrate } = await import('../lib/migrations.js');
  const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'migrations');
  const result = await migrate(dir);
  console.log(`migrations applied: ${result.applied.join(', ') || 'none'}; already applied: ${result.skipped.length}`);
});
