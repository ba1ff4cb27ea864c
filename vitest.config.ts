import { defineConfig } from 'vitest/config';

// Tests run against real postgres + redis-server (Debian packages), started per test file.
// Files run one at a time: every stack's Netlify runtime builds functions into the same
// .netlify/functions-serve folder, so two at once would rebuild each other's functions.
export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    exclude: ['tests/embedded/**', 'tests/reliability/**', 'node_modules/**'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    fileParallelism: false,
  },
});
