// npm run stock:sync: rebuilds Redis's available counters and holds from Postgres (after a Redis loss).
import { needs } from '../lib/config-needs.js';
import { runScript } from './cli.js';

await runScript('npm run stock:sync', needs.stockSync, async () => {
  const { rebuildRedisStock } = await import('../lib/orders/stock-resync.js');
  const result = await rebuildRedisStock();
  console.log(`stock synced: ${result.skus} SKUs, ${result.holdsRestored} holds restored`);
});
