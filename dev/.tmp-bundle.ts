import { bundleLikeNetlify, functionModule } from './netlify-bundle.js';
const out = process.argv[2]!;
const { functions } = await bundleLikeNetlify(out);
for (const f of functions) console.log(f.name, functionModule(f));
