/**
 * Cold start of each function as Netlify deploys it: bundled with Netlify's own bundler
 * (dev/netlify-bundle.ts), unzipped, and imported in a fresh Node process, against a bare
 * `node -e ''` in the same rounds (interleaved, so machine load hits both alike). Reports the
 * median of each and the difference. What is measured is the module import (what runs before the
 * first request); modules a code path loads on first use (stripe, zod, the Postgres and Redis clients
 * behind the webhook POST) are not in it, by design.
 * Run alone: `npx tsx bench/cold-start.ts`; `npm run bench` runs it after the flows.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { bundleLikeNetlify, functionModule } from '../dev/netlify-bundle.js';

const RUNS = Number(process.env.BENCH_COLD_RUNS ?? 9);
/** Targets over a bare Node start, in ms. */
const TARGET_MS: Record<string, number> = { webhook: 60 };
const DEFAULT_TARGET_MS = 120;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

/** The child's own CPU time (user + system, all its threads): far less sensitive to other load than wall time. */
const REPORT_CPU = 'const u = process.cpuUsage(); process.stdout.write(String((u.user + u.system) / 1000));';

function timeNode(args: string[]): { ms: number; cpu: number } {
  const t = process.hrtime.bigint();
  const r = spawnSync(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: os.tmpdir(), env: { PATH: process.env.PATH }, encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  if (r.status !== 0) throw new Error(`node ${args.join(' ')} failed: ${r.stderr}`);
  return { ms, cpu: Number(r.stdout) };
}

export async function coldStart(): Promise<string> {
  const out = await mkdtemp(path.join(os.tmpdir(), 'cold-start-'));
  try {
    const { functions } = await bundleLikeNetlify(out);
    const samples = new Map<string, { ms: number; cpu: number }[]>([['bare', []], ...functions.map((f) => [f.name, []] as [string, { ms: number; cpu: number }[]])]);
    const importArgs = (file: string) => ['--input-type=module', '-e', `await import(${JSON.stringify(pathToFileURL(file).href)}); ${REPORT_CPU}`];
    for (const f of functions) timeNode(importArgs(functionModule(f))); // warm the file cache
    for (let i = 0; i < RUNS; i++) {
      samples.get('bare')!.push(timeNode(['-e', REPORT_CPU]));
      for (const f of functions) samples.get(f.name)!.push(timeNode(importArgs(functionModule(f))));
    }
    const of = (name: string, key: 'ms' | 'cpu') => median(samples.get(name)!.map((s) => s[key]));
    const [bare, bareCpu] = [of('bare', 'ms'), of('bare', 'cpu')];
    const lines = [
      `\n### cold start: bundled function imported in a fresh Node ${process.versions.node} process, median of ${RUNS}\n`,
      `Bare \`node -e ''\`: ${bare.toFixed(0)} ms (${bareCpu.toFixed(0)} ms CPU).\n`,
      '| function | import ms | over bare node ms | ratio | target ms | | CPU ms over bare |',
      '| --- | ---: | ---: | ---: | ---: | --- | ---: |',
    ];
    for (const f of functions) {
      const m = of(f.name, 'ms');
      const target = TARGET_MS[f.name] ?? DEFAULT_TARGET_MS;
      const verdict = m - bare <= target ? 'ok' : 'OVER';
      lines.push(`| ${f.name} | ${m.toFixed(0)} | +${(m - bare).toFixed(0)} | ${(m / bare).toFixed(2)}× | ≤ +${target} | ${verdict} | +${(of(f.name, 'cpu') - bareCpu).toFixed(0)} |`);
    }
    return lines.join('\n');
  } finally {
    await rm(out, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) console.log(await coldStart());
