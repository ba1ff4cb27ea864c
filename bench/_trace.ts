import { startLocalStack } from '../dev/stack.js';
import { ShopDriver } from '../bench/driver.js';
import { flows, seedBenchCatalog } from '../bench/flows.js';
const s = await startLocalStack({ data: 'real', seedDemoCatalog: false, functions: 'in-process', env: { LOG_LEVEL: 'error' } });
s.stripe!.setWebhookUrl(null); s.graph!.setWebhookUrl(null);
await seedBenchCatalog();
const d = new ShopDriver(s);
const want = (process.env.FLOWS ?? 'menu,button-reply,paid').split(',');
for (const f of flows.filter((f) => want.includes(f.key))) {
  for (const counting of [false, true]) {
    const ctx = await f.setup?.(d);
    if (counting) { process.env.TRACE_TRIPS = '1'; console.log(`==== ${f.key}`); }
    const r = await d.counted(...f.request(d, ctx));
    delete process.env.TRACE_TRIPS;
    if (counting) console.log(JSON.stringify(r.before200), JSON.stringify(r.total));
  }
}
await s.stop(); process.exit(0);
