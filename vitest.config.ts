import { defineConfig } from 'vitest/config';
import { LongestFirstSequencer } from './tests/support/sequencer.js';

// `vitest run` (npm test, CI) runs every suite as one run: the main suite, the embedded defaults
// (vitest.embedded.config.ts) and the reliability sample (vitest.reliability.config.ts) share one pool of
// workers, longest files first, instead of three runs one after the other.
//
// Tests run against real postgres + redis-server (Debian packages), started per test file, so
// files run in parallel: each in its own process, with its own servers and (for the few files on
// Netlify's local runtime) its own build folder. Most of a file's time is spent waiting on its
// servers, so more files than cores run at once. tests/support/global-setup.ts gives the run a
// scratch directory on tmpfs and a Postgres data directory each file's Postgres copies.
export default defineConfig({
  test: {
    globalSetup: ['tests/support/global-setup.ts'],
    sequence: { sequencer: LongestFirstSequencer },
    pool: 'forks',
    maxWorkers: 4,
    projects: [
      {
        extends: true,
        test: {
          name: 'main',
          include: ['tests/**/*.test.ts'],
          exclude: ['tests/embedded/**', 'tests/reliability/**', 'node_modules/**'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
      { extends: './vitest.embedded.config.ts', test: { name: 'embedded' } },
      // Its files one at a time only for the full counts (npm run test:reliability); the sample runs alongside the rest.
      { extends: './vitest.reliability.config.ts', test: { name: 'reliability', fileParallelism: true } },
    ],
  },
});
