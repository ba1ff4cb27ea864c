// npm run migrate: applies migrations/*.sql to DATABASE_URL (safe to run twice).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { migrate } from '../lib/migrations.js';

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'migrations');
const result = await migrate(dir);
console.log(`migrations applied: ${result.applied.join(', ') || 'none'}; already applied: ${result.skipped.length}`);
