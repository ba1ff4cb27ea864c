import { defineConfig } from 'vitest/config';

// The smaller run on the embedded defaults `npm start` uses (PGlite, ioredis-mock).
export default defineConfig({
  test: {
    include: ['tests/embedded/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
