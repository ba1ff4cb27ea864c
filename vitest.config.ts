import { defineConfig } from 'vitest/config';

// Tests run against real postgres + redis-server (Debian packages), started per test file, so
// files run in parallel: each in its own process, with its own servers and (for the few files on
// Netlify's local runtime) its own build folder. Most of a file's time is spent waiting on its
// servers, so more files than cores run at once.
export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    exclude: ['tests/embedded/**', 'tests/reliability/**', 'node_modules/**'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 4,
  },
});
