import { defineConfig } from 'vitest/config';

// The reliability suite (tests/reliability): fuzz, security, load, storms and faults, functions invoked in
// process against real postgres + redis-server. RELIABILITY_SCALE=full (npm run test:reliability) runs the
// full counts; without it (npm test, CI) a smaller sample with the same fixed seed.
const full = process.env.RELIABILITY_SCALE === 'full';

export default defineConfig({
  test: {
    include: ['tests/reliability/**/*.test.ts'],
    setupFiles: ['tests/reliability/support/log-leaks.ts'],
    testTimeout: full ? 60 * 60_000 : 180_000,
    hookTimeout: 120_000,
    pool: 'forks',
    fileParallelism: false,
  },
});
