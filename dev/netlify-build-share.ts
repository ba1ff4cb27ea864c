/**
 * One build of the functions for all the stacks of a test run on Netlify's local runtime. Each such stack
 * would otherwise build every function itself (~20 s of CPU, mostly tracing node_modules), several at once.
 * When LOCAL_NETLIFY_BUILD names a directory (tests/support/global-setup.ts: in the run's scratch directory),
 * the first stack to create it builds into it as usual and then records each function's build data beside it
 * (`<dir>.json`); the other stacks wait for that record and serve the same build without building. Nothing
 * writes to a build after it is made, and sources do not change during a run. If the first stack fails or
 * dies before its record, the others build on their own, as without the variable.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';

export const SHARED_BUILD_ENV = 'LOCAL_NETLIFY_BUILD';
// As long as the first stack may take to build (within the 300 s a test gives a stack on Netlify's runtime to start).
const WAIT_MS = 270_000;

/** Build data of each function by name, as @netlify/functions-dev's builder returned it. */
export type BuildRecord = Record<string, unknown>;

export type SharedBuild =
  | { folder: string; role: 'build'; publish(record: BuildRecord): Promise<void>; fail(): void }
  | { folder: string; role: 'reuse'; record: BuildRecord };

/** The run's shared build, to make (first caller of the run) or to reuse; undefined: build on your own. */
export async function sharedBuild(): Promise<SharedBuild | undefined> {
  const folder = process.env[SHARED_BUILD_ENV];
  if (!folder) return undefined;
  const recordFile = `${folder}.json`;
  const failedFile = `${folder}.failed`;
  try {
    await mkdir(folder);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') return undefined;
    for (const deadline = Date.now() + WAIT_MS; Date.now() < deadline && !existsSync(failedFile); ) {
      if (existsSync(recordFile)) return { folder, role: 'reuse', record: JSON.parse(await readFile(recordFile, 'utf8')) as BuildRecord };
      await new Promise((r) => setTimeout(r, 200));
    }
    return undefined;
  }
  let settled = false;
  const fail = () => {
    if (settled) return;
    settled = true;
    writeFileSync(failedFile, '');
  };
  process.once('exit', fail); // killed or failed before the record: the others stop waiting
  return {
    folder,
    role: 'build',
    fail,
    async publish(record) {
      await writeFile(`${recordFile}.tmp`, JSON.stringify(record));
      await rename(`${recordFile}.tmp`, recordFile);
      settled = true;
      process.off('exit', fail);
    },
  };
}
