// npm run stock:sync: rebuilds Redis's available counters and holds from Postgres (after a Redis loss).
import { rebuildRedisStock } from '../lib/stock-sync.js';

const result = await rebuildRedisStock();
console.log(`stock synced: ${result.skus} SKUs, ${result.holdsRestored} holds restored`);
