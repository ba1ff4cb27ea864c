/**
 * Bundles netlify/functions the way `netlify build` does: the settings read from netlify.toml by
 * @netlify/config, translated for @netlify/zip-it-and-ship-it as @netlify/build's functions step
 * does (packages/build/src/plugins_core/functions/zisi.ts), then zipFunctions. Used by
 * tests/bundle.test.ts and bench/cold-start.ts. Local-only.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { resolveConfig } from '@netlify/config';
import { zipFunctions, type FunctionResult } from '@netlify/zip-it-and-ship-it';
import { fileURLToPath } from 'node:url';

const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export type BundledFunction = FunctionResult & { dir: string; entries: string[] };
export type NetlifyManifest = { functions: { name: string; schedule?: string; routes?: { pattern: string }[] }[] };

export async function bundleLikeNetlify(outDir: string): Promise<{ functions: BundledFunction[]; manifest: NetlifyManifest; sourceDir: string }> {
  const { config } = await resolveConfig({ cwd: projectRoot, repositoryRoot: projectRoot, offline: true, context: 'production', mode: 'cli' });
  const sourceDir: string = config.functionsDirectory;
  const userNodeVersion = String(config.build?.environment?.NODE_VERSION ?? process.versions.node);
  const nodeVersion = userNodeVersion.split('.')[0] === process.versions.node.split('.')[0] ? process.versions.node : userNodeVersion;
  const functionsConfig = Object.fromEntries(
    Object.entries((config.functions ?? {}) as Record<string, Record<string, unknown>>).map(([pattern, c]) => [
      pattern,
      {
        externalNodeModules: c.external_node_modules,
        includedFiles: c.included_files,
        name: c.name,
        includedFilesBasePath: projectRoot,
        ignoredNodeModules: c.ignored_node_modules,
        nodeVersion,
        schedule: c.schedule,
        nodeBundler: c.node_bundler === 'esbuild' ? 'esbuild_zisi' : c.node_bundler,
        zipGo: true,
      },
    ]),
  );
  const zipDir = path.join(outDir, 'zips');
  const manifestPath = path.join(zipDir, 'manifest.json');
  await mkdir(zipDir, { recursive: true });
  const results = await zipFunctions([sourceDir], zipDir, {
    basePath: projectRoot,
    repositoryRoot: projectRoot,
    config: functionsConfig as never,
    manifest: manifestPath,
    configFileDirectories: [path.join(projectRoot, '.netlify', 'functions-internal')],
    internalSrcFolder: path.join(projectRoot, '.netlify', 'functions-internal'),
  });
  const functions = results.map((f) => {
    const dir = path.join(outDir, 'unzipped', f.name);
    mkdirSync(dir, { recursive: true });
    execFileSync('unzip', ['-qo', f.path, '-d', dir]);
    const entries = execFileSync('unzip', ['-Z1', f.path], { encoding: 'utf8' }).split('\n').filter(Boolean);
    return { ...f, dir, entries };
  });
  const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as NetlifyManifest;
  return { functions, manifest, sourceDir };
}

/** The function's own module inside an unzipped bundle (what the entry point's bootstrap imports). */
export const functionModule = (f: BundledFunction) => path.join(f.dir, 'netlify', 'functions', `${f.name}.mjs`);
